"""The procedures' two variants, and what QEMU's version and schema change in them: return-path with
x-colo, deprecation warnings. Plain Python (the end-to-end runs are in test_procedures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colotui.commands.options import parse_settings
from colotui.compat import deprecated_colo, deprecation_lines, needs_return_path, pair_warnings
from colotui.config import load_config
from colotui.discovery import Snapshot
from colotui.discovery.doctor import audit, deprecations
from colotui.errors import UserError
from colotui.qmp import QemuVersion
from colotui.qmp.probe import VMFacts
from colotui.qmp.schema import Schema
from colotui.resolve import resolve_pair
from colotui.scenario import find_scenario, load_scenario
from colotui.scenario.render import adapt_for
from colotui.tomlfile import FileError
from colotui.topology import topology_values

GOOD = '''
[[step]]
id = "one"
target = "primary"
why = "because"
qmp = "query-status"
variant = "{variant}"
'''


def sends(scenario_name: str, variant: str) -> list[str]:
    scenario = find_scenario(scenario_name).for_variant(variant)
    assert [s.number for s in scenario.steps] == list(range(1, len(scenario.steps) + 1)), "numbered again"
    return [s.command.hmp.split()[0] if s.command.hmp else s.command.name for s in scenario.steps]


def test_each_variant_attaches_and_detaches_the_secondary_its_own_way() -> None:
    for name in ("startup", "primary-resume", "secondary-resume"):
        doc, upstream = sends(name, "doc"), sends(name, "upstream")
        assert "drive_add" in doc and "blockdev-add" not in doc
        assert "blockdev-add" in upstream and "drive_add" not in upstream
        assert len(doc) == len(upstream), "one step stands for the other"
    assert sends("primary-failover", "doc")[2] == "drive_del"
    assert sends("primary-failover", "upstream")[2] == "blockdev-del"
    assert "human-monitor-command" not in sends("primary-failover", "upstream")
    assert sends("secondary-failover", "doc") == sends("secondary-failover", "upstream"), "nothing to choose there"
    nbd = next(s for s in find_scenario("startup").steps if s.id == "primary-nbd-node")
    assert nbd.variant == "upstream" and nbd.command.arguments is not None
    assert nbd.command.arguments["driver"] == "nbd" and nbd.command.arguments["detect-zeroes"] == "on"


def test_a_variant_is_checked_where_it_is_written(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD.format(variant="upstream"))
    assert load_scenario(good).steps[0].variant == "upstream"
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.format(variant="newest"))
    with pytest.raises(FileError) as error:
        load_scenario(bad)
    assert "bad.toml:7" in str(error.value) and "doc, upstream" in str(error.value)
    topology = tmp_path / "pair.toml"
    topology.write_text('variant = "upstream"\n')
    assert topology_values(topology) == {"variant": "upstream"}
    topology.write_text('primary = "10.0.0.1"\nvariant = "fast"\n')
    with pytest.raises(FileError, match=r"pair.toml:2.*doc, upstream"):
        topology_values(topology)
    assert parse_settings(["variant=upstream"]) == {"variant": "upstream"} == parse_settings([], "upstream")
    with pytest.raises(UserError, match="variant is one of doc, upstream"):
        parse_settings(["variant=fast"])
    # a number --set takes is one QEMU takes: x-checkpoint-delay is a uint32 there, as in a topology file
    assert parse_settings(["checkpoint_delay_ms=4294967295"]) == {"checkpoint_delay_ms": 2**32 - 1}
    with pytest.raises(UserError, match="checkpoint_delay_ms takes a number"):
        parse_settings(["checkpoint_delay_ms=4294967296"])


def test_x_colo_takes_return_path_only_where_qemu_wants_it() -> None:
    caps = {"capabilities": [{"capability": "x-colo", "state": True}, {"capability": "events", "state": True}]}
    newest = adapt_for("migrate-set-capabilities", caps, None, QemuVersion(11, 1, 3))
    assert newest == {"capabilities": [{"capability": "x-colo", "state": True},
                                       {"capability": "return-path", "state": True},
                                       {"capability": "events", "state": True}]}
    for older in (QemuVersion(7, 2, 22), QemuVersion(10, 0, 13)):
        assert adapt_for("migrate-set-capabilities", caps, None, older) == caps
    off = {"capabilities": [{"capability": "x-colo", "state": False}]}
    assert adapt_for("migrate-set-capabilities", off, None, QemuVersion(11, 1, 3)) == off
    assert needs_return_path(QemuVersion(11, 0, 0)) and not needs_return_path(QemuVersion(10, 2, 9))


def schema_marking(deprecated: str | None) -> Schema:
    """A schema shaped like QEMU's (enum members with features), with one COLO member marked deprecated."""
    members = [{"name": n, **({"features": ["deprecated"]} if n == deprecated else
                              {"features": ["unstable"]} if n == "x-colo" else {})}
               for n in ("xbzrle", "x-colo", "events")]
    return Schema([
        {"name": "MigrationCapability", "meta-type": "enum", "values": [m["name"] for m in members],
         "members": members},
        {"name": "x-colo-lost-heartbeat", "meta-type": "command", "arg-type": "0", "ret-type": "0",
         "features": ["unstable", "deprecated"] if deprecated == "command" else ["unstable"]},
    ])


def test_a_deprecated_colo_is_warned_about() -> None:
    assert deprecated_colo(schema_marking(None)) == []
    assert deprecated_colo(schema_marking("xbzrle")) == [], "only COLO's parts count"
    assert deprecated_colo(schema_marking("x-colo")) == ["x-colo"]
    assert deprecated_colo(schema_marking("command")) == ["the command x-colo-lost-heartbeat"]
    facts = VMFacts(QemuVersion(12, 0, 0), "", schema_marking("x-colo"))
    [warning] = pair_warnings({"primary": facts})
    assert warning.startswith("primary: QEMU 12.0.0 marks COLO deprecated in its schema (x-colo)")
    output = ("qemu-system-x86_64: warning: short-form boolean option 'server' deprecated\n"
              "qemu-system-x86_64: warning: COLO migration framework is deprecated\n"
              "qemu-system-x86_64: warning: COLO migration framework is deprecated\nguest says hello\n")
    assert deprecation_lines(output) == [
        "qemu-system-x86_64: warning: COLO migration framework is deprecated",
        "qemu-system-x86_64: warning: short-form boolean option 'server' deprecated"]


def waiting_secondary(version: tuple[int, int, int], caps: dict[str, bool]) -> Snapshot:
    """The recorded 7.2 secondary, as it was before its migration: waiting, with ``caps`` set."""
    replies = json.loads((Path(__file__).parents[1] / "data" / "introspect-secondary-colo.json").read_text())
    replies["query-version"]["qemu"] = dict(zip(("major", "minor", "micro"), version, strict=True))
    replies["query-colo-status"] = {"mode": "none", "last-mode": "none", "reason": "none"}
    replies["query-status"] = {"status": "inmigrate", "running": False}
    replies["query-migrate-capabilities"] = [
        {"capability": c["capability"], "state": caps.get(c["capability"], False)}
        for c in replies["query-migrate-capabilities"]]
    return Snapshot("secondary", replies)


def test_the_doctor_knows_which_qemu_wants_return_path() -> None:
    both = {"x-colo": True, "return-path": True, "events": True}

    def return_path_errors(version: tuple[int, int, int], caps: dict[str, bool]) -> list[str]:
        return [f.text for f in audit(None, waiting_secondary(version, caps))
                if f.check == "return-path" and f.level == "error"]

    [error] = return_path_errors((7, 2, 22), both)
    assert "QEMU 7.2.22 never enters COLO with return-path" in error
    assert return_path_errors((10, 0, 13), both)
    assert return_path_errors((11, 1, 3), both) == []
    assert return_path_errors((7, 2, 22), {"x-colo": True}) == []


def test_a_profile_chooses_the_variant_of_its_pair(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod]\nprimary = "10.0.0.1:4444"\nsecondary = "10.0.0.2:4444"\nvariant = "upstream"\n')
    pair = resolve_pair(load_config(config), profile="prod")
    assert pair.given == {"variant": "upstream"} and pair.given_from == "profile prod"
    config.write_text('[profiles.prod]\nprimary = "10.0.0.1:4444"\nsecondary = "10.0.0.2:4444"\nvariant = "new"\n')
    with pytest.raises(FileError, match=r"config.toml:4: profile 'prod': variant is one of doc, upstream"):
        load_config(config)


def test_the_doctor_warns_of_a_deprecated_colo_on_the_vm_it_is_about() -> None:
    [finding] = deprecations({"primary": schema_marking(None), "secondary": schema_marking("x-colo")})
    assert (finding.level, finding.check, finding.role) == ("warning", "deprecated", "secondary")
    assert "marks COLO deprecated (x-colo)" in finding.text
