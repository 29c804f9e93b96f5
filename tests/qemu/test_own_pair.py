"""An operator's own pair, built from command lines written in tests/support/handmade.py (its own ids, ports, QMP over
TCP): colotui discovers its topology, the doctor audits it, and every procedure runs with no topology file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import asdict

import pytest

from colotui.audit import discovered_topology
from colotui.discovery.settle import flatten
from colotui.pair import pair_from_addresses
from colotui.qmp.transcript import read_series

from ..conftest import ALL_QEMUS
from ..support.handmade import HandPair, hand_pair  # noqa: F401

pytestmark = [pytest.mark.kvm, ALL_QEMUS]


def colotui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "colotui", *args], capture_output=True, text=True, timeout=180,
                          input=stdin)


def addresses(pair: HandPair, *, swap: bool = False) -> list[str]:
    p, s = pair.current("primary"), pair.current("secondary")
    if swap:
        p, s = s, p
    return ["--primary", p.qmp, "--secondary", s.qmp, "--primary-yank", p.yank, "--secondary-yank", s.yank]


def run(pair: HandPair, name: str, *extra: str, swap: bool = False) -> list[dict]:
    out = colotui("run", name, *addresses(pair, swap=swap), "--yes", "--json", *extra)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 0, f"{name}: {out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr
    return lines


def discovered(pair: HandPair) -> dict[str, object]:
    p, s = pair.current("primary"), pair.current("secondary")
    settled, _ = asyncio.run(discovered_topology(pair_from_addresses(p.qmp, s.qmp)))
    values = flatten(settled.topology)
    return {k: v for k, v in values.items() if settled.source(k).kind == "discovered"}


def test_discovery_doctor_and_every_procedure_without_a_topology_file(hand_pair: HandPair) -> None:  # noqa: F811
    pair = hand_pair.start()
    ids, ports = asdict(pair.ids), pair.ports
    fresh = discovered(pair)
    # before startup: everything that exists is found, by what it is, under the test's own names
    for name in ("netdev", "nic", "disk", "parent", "secondary_replication", "mirror_chardev", "compare_chardev",
                 "compare_loop_server", "compare_loop_client", "compare_out_server", "compare_out_client",
                 "secondary_in", "secondary_out", "filter_mirror", "filter_redirect_in", "filter_redirect_out",
                 "secondary_filter_in", "secondary_filter_out", "iothread", "compare"):
        assert fresh[f"ids.{name}"] == ids[name], name
    assert {k: fresh[f"ports.{k}"] for k in ("mirror", "compare", "compare_loop", "compare_out")} == \
        {"mirror": ports.mirror, "compare": ports.compare, "compare_loop": ports.compare_loop,
         "compare_out": ports.compare_out}
    assert fresh["addr.primary"] == "127.0.0.1"

    out = colotui("doctor", pair.primary.qmp, pair.secondary.qmp)
    assert out.returncode == 0 and "0 errors" in out.stdout, out.stdout
    assert "sec-in → the primary's mir-out" in out.stdout and "cmp0: primary_in cmp-pri-c" in out.stdout

    # startup: the ports a fresh secondary will listen on show nowhere yet: given, as an operator would
    run(pair, "startup", "--set", f"ports.migration={ports.migration}", "--set", f"ports.nbd={ports.nbd}")
    colo = discovered(pair)
    assert colo["ids.replication_node"] == "replication0", "the node startup added"
    assert (colo["ports.migration"], colo["ports.nbd"], colo["addr.secondary"]) == \
        (ports.migration, ports.nbd, "127.0.0.2")
    out = colotui("doctor", pair.primary.qmp, pair.secondary.qmp)
    assert out.returncode == 0 and "nbd export: vda-base" in out.stdout and "writable" in out.stdout, out.stdout
    out = colotui("topology", pair.primary.qmp, pair.secondary.qmp)
    assert 'compare = "cmp0"' in out.stdout and "# the document's comp0" in out.stdout

    # a wrong id given by the operator: refused before anything is sent
    out = colotui("run", "primary-failover", *addresses(pair), "--set", "ids.compare=comp0", "--yes")
    assert out.returncode == 1 and "ids.compare = comp0 (--set), but primary" in out.stdout, out.stdout
    assert "cmp0 (colo-compare object)" in out.stdout and "nothing was sent" in out.stdout

    # the secondary dies; the primary fails over with what it shows (and what the pair showed before)
    pair.kill("secondary")
    run(pair, "primary-failover")
    pair.start_new_secondary()
    lines = run(pair, "primary-resume")  # the new secondary's ports: as the pair used them before
    assert not any(line.get("refused") for line in lines)
    assert discovered(pair)["ports.nbd"] == ports.nbd

    # the primary dies; the secondary takes over and listens for a new one with the old primary's names
    pair.kill("primary")
    run(pair, "secondary-failover")
    pair.start_new_secondary()
    survivor = pair.current("primary")
    # given in the old order (the new VM first): the roles come from the VMs
    lines = run(pair, "secondary-resume", swap=True)
    assert lines[-1]["state"] == "ok"
    now = discovered(pair)
    assert now["ids.mirror_chardev"] == "mir-out", "the old primary's names, remembered"
    assert (now["ids.compare_loop_server"], now["ports.compare_loop"], now["ports.compare_out"]) == \
        ("cmp-pri", ports.compare_loop, ports.compare_out), "its loops too, whatever the order of their ports"
    out = colotui("doctor", pair.current("secondary").qmp, survivor.qmp)  # either order
    assert out.returncode == 0, out.stdout
    assert "filter order" not in out.stdout


@pytest.mark.parametrize("fault, finding", [
    ({"secondary_in_port": -1}, "the secondary's sec-in connects to 127.0.0.1:"),
    ({"omit_secondary_filter_out": True}, "no filter-redirector queue=rx with outdev"),
    ({"incoming": "tcp"}, "already listens for the migration on 127.0.0.2:"),
], ids=["wrong-port", "filter-missing", "incoming-tcp"])
def test_doctor_names_the_fault(hand_pair: HandPair, fault: dict, finding: str) -> None:  # noqa: F811
    if fault.get("secondary_in_port") == -1:
        fault = {"secondary_in_port": hand_pair.unused_port()}
    pair = hand_pair.start(**fault)
    out = colotui("doctor", pair.primary.qmp, pair.secondary.qmp)
    assert out.returncode == 1, out.stdout
    errors = [line for line in out.stdout.splitlines() if line.startswith("ERROR")]
    assert any(finding in line for line in errors), out.stdout
    if "incoming" in fault:  # and startup stops at its first step, before anything is sent
        out = colotui("run", "startup", *addresses(pair), "--set", f"ports.nbd={pair.ports.nbd}", "--yes",
                      "--transcript", str(pair.dir / "t.jsonl"))
        assert out.returncode == 1 and "incoming migration is deferred: no (found listening" in out.stdout
        commands = [r["msg"]["execute"] for r in read_series(pair.dir / "t.jsonl")  # not the liveness probe
                    if r["dir"] == "send" and "execute" in r["msg"]]                    # (exec-oob) of the other VM
        assert commands and not [c for c in commands if c.startswith(("migrate-set", "nbd", "block-export"))]


def test_a_stopped_failover_is_picked_up_where_it_stopped(hand_pair: HandPair) -> None:  # noqa: F811
    pair = hand_pair.start()
    run(pair, "startup", "--set", f"ports.migration={pair.ports.migration}", "--set", f"ports.nbd={pair.ports.nbd}")
    pair.kill("secondary")
    # the operator confirms three steps and aborts at the fourth
    out = colotui("run", "primary-failover", *addresses(pair), stdin="y\ny\ny\na\n")
    assert out.returncode == 1 and "primary-failover: aborted" in out.stdout, out.stdout
    # a rerun from the start: says where the last one stopped, recognises what is done, finishes
    out = colotui("run", "primary-failover", *addresses(pair), "--yes")
    assert out.returncode == 0, out.stdout
    assert "stopped at step 4 delete-redirect-out" in out.stdout
    assert "detach-replication → primary  ok: already done" in out.stdout
    assert "delete-replication → primary  (doc)  ok: already done" in out.stdout
    assert os.environ.get("XDG_STATE_HOME"), "the record lives in the tests' own state directory"
