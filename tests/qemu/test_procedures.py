"""The five COLO procedures end to end on a real lab with the counter guest (needs KVM).

Run on QEMU 7.2 (the system's), 10.0 (a Debian 13 root) and the newest Debian ships (sid: 11.1).
Two chains, each on its own lab and in both variants (the document's and upstream's). The first:
startup → kill the secondary → primary-failover → respawn → primary-resume → the new secondary
hangs (SIGSTOP) → primary-failover. The second: startup → kill the primary → secondary-failover →
respawn → secondary-resume → the primary hangs → secondary-failover. Each phase is checked
against what QEMU and the guest report, not against what colotui says.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from colotui.qmp import Event, QemuVersion, Session
from colotui.qmp.transcript import read_transcript
from colotui.runbook import runbook

from ..conftest import ALL_QEMUS, LabFactory
from ..support.colo import (
    count_checkpoints,
    counter_advances,
    disks_agree,
    hung,
    observe,
    query,
    run,
    sent,
    serial_counters,
    serial_size,
    start_colo,
)

pytestmark = [pytest.mark.kvm, ALL_QEMUS]


def quorum_children(graph: dict) -> list[str]:
    """The node names of colo-disk0's quorum children."""
    names = {n["id"]: n["name"] for n in graph["nodes"]}
    quorum = next(e["child"] for e in graph["edges"] if names[e["parent"]] == "colo-disk0")
    return [names[e["child"]] for e in graph["edges"] if e["parent"] == quorum]


def changes_by_hmp(transcript: Path) -> list[str]:
    """The HMP command lines sent that change something (not ``info …``, which discovery reads)."""
    lines = [m["arguments"]["command-line"] for m in sent(transcript, "human-monitor-command")]
    return [line for line in lines if not line.startswith("info ")]


async def node_driver(session: Session, node: str) -> str | None:
    nodes = await query(session, "query-named-block-nodes", {"flat": True})
    return next((n["drv"] for n in nodes if n["node-name"] == node), None)


@pytest.mark.parametrize("variant", ["doc", "upstream"])
async def test_primary_failover_then_primary_resume(labs: LabFactory, variant: str) -> None:
    """In the document's variant (HMP drive_add/drive_del of a replication node) and upstream's (blockdev-add
    and blockdev-del of an nbd node): the variant is chosen at startup only, and found again on the pair."""
    lab = await start_colo(labs, variant=None if variant == "doc" else variant)
    primary = lab.state().current("primary")
    hmp = {"doc": True, "upstream": False}[variant]
    async with observe(primary) as p:
        assert await node_driver(p, "replication0") == {"doc": "replication", "upstream": "nbd"}[variant]

    # a precondition stops the run before anything is sent: the secondary is still alive
    _result, events, transcript = await run(lab, "primary-failover", expect="failed")
    assert events[-1]["step"] == "cut-secondary"
    assert "secondary does not answer (down or hung): no (found answers" in events[-1]["message"]
    assert sent(transcript, "yank", oob=True) == [] and sent(transcript, "x-blockdev-change") == []

    await asyncio.to_thread(lab.kill, "secondary")
    _, events, transcript = await run(lab, "primary-failover")
    assert bool(changes_by_hmp(transcript)) == hmp
    assert bool(sent(transcript, "blockdev-del")) == (not hmp)
    # an HMP answer in text with its effect there is a warning, and said so (QEMU 11.1's drive_del of a node
    # whose NBD peer is dead says "Failed flush"); the runbook keeps it as a note
    warned = [e for e in events if e["state"] == "ok" and e["message"].startswith("warning: HMP said")]
    assert all(e["step"] == "delete-replication" and "replication0 is absent" in e["message"] for e in warned)
    if hmp and QemuVersion.search(lab.state().qemu["version"]) >= (11, 1, 0):
        assert warned and "Failed flush" in warned[0]["message"], "11.1 warns in text and deletes the node"
        assert "colotui: HMP drive_del replication0 said" in runbook(read_transcript(transcript))
    async with observe(primary) as p:
        status = await query(p, "query-status")
        assert status["status"] == "running"
        colo = await query(p, "query-colo-status")
        assert colo == {"mode": "none", "last-mode": "primary", "reason": "request"}
        objects = {o["name"] for o in await query(p, "qom-list", {"path": "/objects"})}
        assert not objects & {"comp0", "iothread1", "m0", "redire0", "redire1"}
    _, alone = await counter_advances(primary)

    # running it twice changes nothing: every step's effect is there already, and nothing is sent
    _, events, transcript = await run(lab, "primary-failover")
    done = [e for e in events if e["state"] == "ok"]
    assert len(done) == 9 and all(e["message"].startswith("already done: ") for e in done)
    assert [sent(transcript, c) for c in ("x-blockdev-change", "object-del", "x-colo-lost-heartbeat")] == [[]] * 3
    assert sent(transcript, "yank", oob=True) == []

    fresh = await asyncio.to_thread(lab.respawn)
    _, events, transcript = await run(lab, "primary-resume")
    assert bool(changes_by_hmp(transcript)) == hmp, "the variant is remembered for the pair"
    assert bool(sent(transcript, "blockdev-add")) == (not hmp)
    waiting = [e["message"] for e in events if e["state"] == "waiting"]
    assert "waiting for BLOCK_JOB_READY (device=resync) from primary (up to 600 s)" in waiting
    assert not any("{" in message for message in waiting), "waits are shown with their values filled in"
    async with observe(primary) as p, observe(fresh) as s:
        assert (await query(p, "query-colo-status"))["mode"] == "primary"
        assert (await query(s, "query-colo-status"))["mode"] == "secondary"
        assert await count_checkpoints(p, 4.0) >= 3
    await disks_agree(lab, primary, fresh, above=alone)

    # a second failover of the same primary, this time from a secondary that hangs (SIGSTOP: it keeps its
    # sockets and says nothing): its connections are cut out of band first, or the drain would wedge the
    # primary; the child to detach is looked up again, and goes
    async with hung(fresh, primary):
        started = time.monotonic()
        _, _, transcript = await run(lab, "primary-failover")
        assert time.monotonic() - started < 5, "a hung peer is found out and cut off at once"
        [yank] = sent(transcript, "yank", oob=True, vm=f"{primary.name}/oob")
        cut = {i.get("id") or i.get("node-name") or i["type"] for i in yank["arguments"]["instances"]}
        assert {"mirror0", "compare1", "migration"} <= cut and not cut & {"compare0", "compare0-0"}
        assert any(i["type"] == "block-node" for i in yank["arguments"]["instances"]), "the NBD client is cut"
        assert bool(sent(transcript, "blockdev-del")) == (not hmp)
        async with observe(primary) as p:
            graph = await query(p, "x-debug-query-block-graph")
            children = quorum_children(graph)
            assert len(children) == 1 and "replication0" not in {n["name"] for n in graph["nodes"]}, children
        await counter_advances(primary)
    # resumed, the old secondary finds nothing to rejoin: the primary goes on alone
    await asyncio.sleep(1.0)
    assert fresh.is_alive(), "the hung secondary, resumed, did not crash"
    async with observe(primary) as p:
        assert (await query(p, "query-colo-status"))["mode"] == "none"
    await counter_advances(primary)


@pytest.mark.parametrize("variant", ["doc", "upstream"])
async def test_secondary_failover_then_secondary_resume(labs: LabFactory, variant: str) -> None:
    lab = await start_colo(labs, variant=None if variant == "doc" else variant)
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")

    # note a counter value, then let a whole checkpoint start after it and complete
    async with observe(primary) as p:
        sub = p.subscribe(events={"STOP", "RESUME"})
        noted_at, noted = time.time(), serial_counters(primary)[-1]
        stopped = False
        while True:
            notice = await asyncio.wait_for(sub.get(), 5)
            if isinstance(notice, Event) and notice.name == "STOP" and notice.timestamp > noted_at:
                stopped = True
            elif isinstance(notice, Event) and notice.name == "RESUME" and stopped:
                break
        await asyncio.to_thread(lab.kill, "primary")

    offset = serial_size(secondary)
    await run(lab, "secondary-failover")
    async with observe(secondary) as s:
        assert (await query(s, "query-status"))["status"] == "running"
        assert (await query(s, "query-colo-status")) == {"mode": "none", "last-mode": "secondary", "reason": "request"}
        chardevs = {c["label"]: c["filename"] for c in await query(s, "query-chardev")}
        ports = state.ports
        assert chardevs["mirror0"].startswith(f"disconnected:tcp:{secondary.address}:{ports.mirror},server=on")
        assert "red0" not in chardevs and "red1" not in chardevs
    await counter_advances(secondary)
    after = serial_counters(secondary, offset)
    assert after and min(after) >= noted, f"the secondary went on from {min(after)}, below {noted} (lost work)"

    fresh = await asyncio.to_thread(lab.respawn)
    assert fresh.address == primary.address
    _, events, transcript = await run(lab, "secondary-resume")
    assert bool(changes_by_hmp(transcript)) == (variant == "doc"), "the variant is remembered for the pair"
    async with observe(secondary) as p:
        assert await node_driver(p, "replication0") == {"doc": "replication", "upstream": "nbd"}[variant]
    mirror = next(e for e in events if e["step"] == "add-mirror" and e["state"] == "ok")
    assert mirror["request"]["arguments"]["insert"] == "before"
    async with observe(secondary) as p, observe(fresh) as s:
        network = await query(p, "human-monitor-command", {"command-line": "info network"})
        order = [line.split(":")[0].strip(" -") for line in network.splitlines() if line.strip().startswith("- ")]
        assert order.index("m0") < order.index("rew0") and order.index("redire1") < order.index("rew0"), order
        assert (await query(p, "query-colo-status")) == {"mode": "primary", "last-mode": "secondary",
                                                         "reason": "none"}
        assert (await query(s, "query-colo-status"))["mode"] == "secondary"
        assert await count_checkpoints(p, 4.0) >= 3
    await disks_agree(lab, secondary, fresh, above=max(after))

    # now the primary hangs (SIGSTOP): the secondary cuts it off out of band and takes over
    async with hung(secondary, secondary):
        started = time.monotonic()
        _, _, transcript = await run(lab, "secondary-failover")
        assert time.monotonic() - started < 5, "a hung peer is found out and cut off at once"
        [yank] = sent(transcript, "yank", oob=True, vm=f"{fresh.name}/oob")
        assert {i.get("id", i["type"]) for i in yank["arguments"]["instances"]} == {"red0", "red1", "migration"}
        async with observe(fresh) as s:
            assert (await query(s, "query-colo-status"))["mode"] == "none"
        await counter_advances(fresh)
    await asyncio.sleep(1.0)
    assert secondary.is_alive(), "the hung primary, resumed, did not crash"
    await counter_advances(fresh)
