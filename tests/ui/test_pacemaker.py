"""The console and the fleet on pairs that are Pacemaker resources: the cluster's view (from crm_mon on cluster
states Pacemaker's own tools made, tests/support/cib.py) shows under the panes and follows the cluster; `colotui
fleet --pacemaker` makes a pair of each COLO resource."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from colotui.commands.fleet import fleet_pairs
from colotui.config import Config, load_config
from colotui.control.console import ConsoleController
from colotui.errors import UserError
from colotui.model.pacemaker import maintenance_on
from colotui.repl.outcome import Refused
from colotui.ui.cluster_line import ClusterLine

from ..support import cib
from ..support.apps import OFFLINE_PAIR, console_app
from ..support.colo import until


async def test_the_console_shows_the_cluster_and_follows_it(tmp_path, monkeypatch) -> None:
    cluster = cib.make(tmp_path, "in sync")
    monkeypatch.setenv("CIB_file", str(cluster))
    app = console_app(replace(OFFLINE_PAIR, pacemaker=cib.PRIMITIVE), config=Config(refresh_interval=0.2))
    async with app.run_test(size=(160, 48)) as pilot:
        line = app.main.query_one(ClusterLine)
        await until(pilot, lambda: line.state is not None, "the cluster's line")
        assert line.state is not None and line.display
        assert line.state.line == ("colo-clone managed · node-a Promoted, score 101 promoted primary · "
                                   "node-b Unpromoted, score 100 secondary in sync")
        assert line.state.refusal is not None and maintenance_on(cib.CLONE) in line.state.refusal
        repl = app.main.controller.repl
        assert repl is not None
        refused = await repl.submit("x-colo-lost-heartbeat")  # by hand, under the cluster: refused, not sent
        assert isinstance(refused, Refused) and refused.reason == \
            f"x-colo-lost-heartbeat changes a VM: {line.state.refusal}"
        assert not isinstance(await repl.submit("query-status"), Refused)  # reading is fine (the VM is down here)
        cib.apply(cluster, maintenance_on(cib.CLONE))
        await until(pilot, lambda: line.state is not None and line.state.refusal is None, "maintenance seen")
        assert line.state.line.startswith("colo-clone in maintenance · ")
        assert "pacemaker colo-clone in maintenance" in str(line.render())
        assert repl.policy.managed is None


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"lab": None, "profile": None, "pacemaker": True, **given})


def test_fleet_makes_a_pair_of_each_colo_resource(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CIB_file", str(cib.make(tmp_path, "in sync")))
    config_file = tmp_path / "config.toml"
    config_file.write_text('[pacemaker]\nqmp = "/srv/{node}/{resource}.sock"\nyank = "/srv/{node}/{resource}-y"\n')
    (name, pair), = fleet_pairs(_args(), load_config(config_file))
    assert (name, pair.pacemaker) == ("colo-clone", "colo-clone")
    assert (str(pair.primary.qmp), str(pair.secondary.qmp)) == ("/srv/node-a/colo.sock", "/srv/node-b/colo.sock")
    assert str(pair.primary.yank) == "/srv/node-a/colo-y"
    # a profile that names the resource is that pair, with its own addresses
    config_file.write_text('[profiles.prod]\nprimary = "127.0.0.1:4000"\nsecondary = "127.0.0.2:4000"\n'
                           'pacemaker = "colo"\n')
    (name, pair), = fleet_pairs(_args(), load_config(config_file))
    assert (name, str(pair.primary.qmp), pair.pacemaker) == ("prod", "127.0.0.1:4000", "colo")


def test_fleet_says_what_is_missing_in_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CIB_file", str(cib.make(tmp_path, "fenced peer")))
    with pytest.raises(UserError) as default:  # colod's socket path has no {node}: one VM's only, here
        fleet_pairs(_args(), Config())
    assert str(default.value).startswith("--pacemaker: colo-clone's VMs on node-a and node-b would both be "
                                         "/run/resource-agents/colo/qmp.sock: set [pacemaker] qmp")
    monkeypatch.setenv("CIB_file", str(Path(tmp_path) / "absent.xml"))
    with pytest.raises(UserError) as absent:
        fleet_pairs(_args(), Config())
    assert str(absent.value) == "--pacemaker: crm_mon read no cluster: Could not connect to the CIB: No such " \
                                "device or address"


async def test_a_respawned_pair_is_still_the_clusters(tmp_path) -> None:
    controller = ConsoleController(replace(OFFLINE_PAIR, pacemaker=cib.PRIMITIVE), connect=False)
    respawned = replace(OFFLINE_PAIR, secondary=replace(OFFLINE_PAIR.secondary, name="secondary-2"))
    assert await controller.use(respawned) == ["secondary"]  # what a lab's follower hands over: no resource named
    assert controller.pair.pacemaker == cib.PRIMITIVE and controller.pair.secondary.name == "secondary-2"
