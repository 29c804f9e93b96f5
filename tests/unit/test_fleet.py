"""`colotui fleet` without a screen: what a row says a pair needs, which pairs the command line and the config
give, and a fleet with no pairs or a bad lab in one line. The table, the console a row opens and three real
labs at once are in tests/ui/test_fleet.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from colotui.cli import build_parser, main
from colotui.commands.fleet import fleet_pairs
from colotui.config import load_config
from colotui.errors import UserError
from colotui.model.checkpoints import CheckpointStats
from colotui.model.fleet import fleet_row
from colotui.model.replies import view_from_replies
from colotui.model.vm import VMView
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.scenario import offers

DATA = Path(__file__).parents[1] / "data"
REFUSED = "cannot connect to /run/s.sock: connection refused"


def recorded(name: str, address: str, dump: str) -> VMView:
    return view_from_replies(name, address, json.loads((DATA / f"{dump}.json").read_text()))


def ticking(per_minute: float) -> CheckpointStats:
    return CheckpointStats(100, per_minute, 80.0, tuple(80.0 + i % 7 for i in range(30)))


def offline_views(network: str) -> dict[str, dict[str, VMView]]:
    """Three pairs as recorded: one healthy, one whose secondary is lost, one running alone after a failover."""
    def colo(role: str, host: int, rate: float) -> VMView:
        return recorded(role, f"{network}.{host}", f"introspect-{role}-colo").with_(checkpoints=ticking(rate))

    return {
        "alpha": {"primary": colo("primary", 1, 30), "secondary": colo("secondary", 2, 30)},
        "bravo": {"primary": colo("primary", 3, 60), "secondary": colo("secondary", 4, 60).with_(
            link=LinkState.CONNECTING, link_detail=REFUSED, health=Health.DOWN, health_detail=REFUSED)},
        "charlie": {"primary": recorded("primary", f"{network}.5", "introspect-primary-after-pfailover"),
                    "secondary": VMView("secondary", f"{network}.6")},
    }


def test_a_row_says_what_the_pair_needs() -> None:
    views = offline_views("10.9.0")
    lost = fleet_row("bravo", **views["bravo"], offers=offers())
    assert lost.severity == "critical" and lost.offer == "primary-failover" and lost.alert.startswith("SECONDARY LOST")
    assert lost.state == "COLO, secondary lost" and lost.links == (LinkState.CONNECTED, LinkState.CONNECTING)
    healthy = fleet_row("alpha", **views["alpha"], offers=offers())
    assert (healthy.state, healthy.roles, healthy.alert, healthy.per_minute) == ("COLO running", "primary / secondary",
                                                                                 "", 30)
    alone = fleet_row("charlie", **views["charlie"], offers=offers())
    assert alone.state == "running alone (primary)" and alone.roles.startswith("alone /") and alone.severity == ""


def test_fleet_without_pairs_or_with_a_bad_lab_says_so_in_one_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "config.toml"
    empty.write_text("")
    assert main(["fleet", "--config", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("colotui: no pairs: give --lab DIR or --profile NAME") and err.count("\n") == 1
    assert main(["fleet", "--config", str(empty), "--lab", str(tmp_path / "nolab")]) == 1
    err = capsys.readouterr().err
    assert err == f"colotui: no lab in {tmp_path / 'nolab'} (no lab.json): start one with `colotui lab up --dir " \
                  f"{tmp_path / 'nolab'}`\n"
    assert main(["fleet", "--config", str(empty), "--profile", "nope"]) == 1
    assert capsys.readouterr().err.startswith("colotui: no profile 'nope'")


def test_without_flags_the_fleet_is_every_profile_of_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod]\nprimary = "10.0.0.1:4444"\nsecondary = "10.0.0.2:4444"\n'
                      '[profiles.staging]\nprimary = "/run/p.sock"\nsecondary = "/run/s.sock"\n')
    args = build_parser().parse_args(["fleet", "--config", str(config)])
    pairs = fleet_pairs(args, load_config(config))
    assert [(name, str(pair.primary.qmp)) for name, pair in pairs] == [("prod", "10.0.0.1:4444"),
                                                                       ("staging", "/run/p.sock")]
    args = build_parser().parse_args(["fleet", "--config", str(config), "--profile", "staging", "--profile",
                                      "staging"])
    with pytest.raises(UserError, match=re.escape("staging#1 and staging#2 share the VM at /run/p.sock: give each "
                                                  "pair once")):
        fleet_pairs(args, load_config(config))  # a QMP socket serves one client
