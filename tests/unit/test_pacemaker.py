"""The cluster's view of a COLO pair, read from what Pacemaker's own crm_mon prints of cluster states that
Pacemaker's own tools made (tests/support/cib.py), and the refusal of manual procedures while it manages the pair."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from colotui.config import load_config
from colotui.model.pacemaker import SCORES, describe, maintenance_on, spelled
from colotui.pair import Endpoint, Pair, with_cluster
from colotui.qmp import parse_address
from colotui.resolve import resolve_pair
from colotui.service.pacemaker import in_maintenance, manual_refusal, read_cluster

from ..support import cib


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert cib.missing() is None, cib.missing()
    directory = tmp_path_factory.mktemp("cib")
    return {state: cib.make(directory, state) for state in cib.STATES}


def _read(monkeypatch: pytest.MonkeyPatch, path: Path, name: str = cib.CLONE) -> list[str]:
    monkeypatch.setenv("CIB_file", str(path))
    view = asyncio.run(read_cluster())
    return describe(view, name, asyncio.run(in_maintenance(name)))


def test_a_pair_in_sync_shows_both_nodes_with_their_scores_spelled_out(states, monkeypatch) -> None:
    lines = _read(monkeypatch, states["in sync"])
    assert lines == [
        "Pacemaker: colo-clone (ocf:colo:colo) managed: Pacemaker fails it over itself; manual procedures are refused",
        "  node-a: online; Promoted; score 101 promoted primary",
        "  node-b: online; Unpromoted; score 100 secondary in sync"]


def test_each_state_reads_as_what_happened(states, monkeypatch) -> None:
    alone = _read(monkeypatch, states["primary alone"])
    assert "  node-b: online; Unpromoted; score 0 inconsistent (resync not finished)" in alone
    assert any(line.startswith("  failed: colo_monitor_10000 on node-b error") for line in alone), alone
    fenced = _read(monkeypatch, states["fenced peer"])
    assert "  node-b: offline (fenced or stopped); Stopped; score unset" in fenced
    assert "  node-a: online; Promoted; score 101 promoted primary" in fenced
    lost = _read(monkeypatch, states["lost peer"])
    assert lost[2].startswith("  node-b: UNCLEAN (lost, not fenced yet)"), lost
    # the primitive's name finds the clone too (colod's sockets are under the primitive's name)
    assert _read(monkeypatch, states["maintenance"], cib.PRIMITIVE)[0] == \
        "Pacemaker: colo-clone (ocf:colo:colo) in maintenance: Pacemaker does not act on it"
    assert _read(monkeypatch, states["cluster maintenance"])[0].endswith(
        "the cluster is in maintenance-mode: Pacemaker does not act")


def test_every_score_colods_agent_sets_is_spelled() -> None:
    assert [spelled(score) for score in (101, 100, 11, 10, 0)] == [f"{s} {SCORES[s]}" for s in (101, 100, 11, 10, 0)]
    assert spelled(7) == "7 not a score colod sets" and spelled(None) == "unset"


@pytest.mark.parametrize("state", ["in sync", "primary alone", "fenced peer", "lost peer"])
def test_a_managed_pair_refuses_manual_procedures_with_the_command_that_lets_them(states, monkeypatch, state,
                                                                                 tmp_path) -> None:
    copy = tmp_path / "cib.xml"
    copy.write_bytes(states[state].read_bytes())
    monkeypatch.setenv("CIB_file", str(copy))
    refused = asyncio.run(manual_refusal(cib.PRIMITIVE))
    assert refused is not None and "\n" not in refused
    assert refused.startswith("Pacemaker manages colo-clone (promoted on node-a): anything done by hand now would")
    assert maintenance_on(cib.CLONE) in refused and refused.endswith("nothing was sent")
    cib.apply(copy, maintenance_on(cib.CLONE))  # what the operator is told to run, run by Pacemaker's own tool
    assert asyncio.run(manual_refusal(cib.PRIMITIVE)) is None


def test_a_cluster_that_cannot_be_read_refuses_in_one_line(monkeypatch, tmp_path, states) -> None:
    monkeypatch.setenv("CIB_file", str(tmp_path / "absent.xml"))
    refused = asyncio.run(manual_refusal("colo"))
    assert refused == ("the pair is Pacemaker resource 'colo' and crm_mon read no cluster: Could not connect to "
                       "the CIB: No such device or address; if no cluster runs on either node, give --pacemaker "
                       "none; nothing was sent")
    monkeypatch.setenv("CIB_file", str(states["in sync"]))
    assert asyncio.run(manual_refusal("web")) == ("Pacemaker has no resource 'web' (crm_mon shows colo-clone); "
                                                  "nothing was sent")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "crm_mon not found" in (asyncio.run(manual_refusal("colo")) or "")


def _pair(qmp: str, yank: str | None = None) -> Pair:
    return Pair(Endpoint("primary", parse_address(qmp), yank=parse_address(yank) if yank else None),
                Endpoint("secondary", parse_address("127.0.0.1:4444")))


def test_a_pair_on_colods_sockets_is_its_resource_unless_told_otherwise(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("HA_RSCTMP", raising=False)
    assert with_cluster(_pair("/run/resource-agents/colo/qmp.sock"), None).pacemaker == "colo"
    assert with_cluster(_pair("/srv/colo/qmp.sock"), None).pacemaker is None
    assert with_cluster(_pair("/srv/qmp", "/run/resource-agents/vm7/qmp-yank.sock"), None).pacemaker == "vm7"
    assert with_cluster(_pair("/run/resource-agents/colo/qmp.sock"), "none").pacemaker is None
    assert with_cluster(_pair("/srv/qmp"), "web").pacemaker == "web"
    monkeypatch.setenv("HA_RSCTMP", str(tmp_path))
    assert with_cluster(_pair(str(tmp_path / "colo" / "qmp.sock")), None).pacemaker == "colo"


def test_a_profile_names_its_resource_and_the_command_line_overrides_it(tmp_path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[profiles.prod]\nprimary = "/srv/a.sock"\nsecondary = "/srv/b.sock"\n'
                           'pacemaker = "colo-clone"\n')
    config = load_config(config_file)
    assert resolve_pair(config, profile="prod").pacemaker == "colo-clone"
    assert resolve_pair(config, profile="prod", pacemaker="none").pacemaker is None
    assert resolve_pair(config, addresses=("/srv/a.sock", "/srv/b.sock")).pacemaker is None
