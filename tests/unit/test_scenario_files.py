"""Scenario files: every built-in procedure in scenarios/ loads, and every mistake is named with file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from colotui.qmp.schema import Schema
from colotui.scenario import catalogue, find_scenario, load_scenario
from colotui.scenario.render import build_request
from colotui.scenario.template import MissingVariable, render, topology_variables
from colotui.tomlfile import FileError
from colotui.topology import Ports, Topology

#: The built-in procedures: the files of the repository's scenarios/ (a wheel carries them inside the package).
PROCEDURES = sorted(path.stem for path in (Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))

GOOD_STEP = '''
[[step]]
id = "one"
target = "primary"
why = "because"
qmp = "query-status"
'''


def test_every_procedure_in_scenarios_is_built_in_and_loads() -> None:
    entries = catalogue()
    assert {"startup", "primary-failover", "secondary-failover"} <= set(PROCEDURES), PROCEDURES
    assert sorted(e for e in entries if entries[e].origin == "built-in") == PROCEDURES
    for name in PROCEDURES:
        assert entries[name].error is None, entries[name].error
        scenario = find_scenario(name)
        assert scenario.steps and all(step.why for step in scenario.steps)


def test_procedures_follow_the_document() -> None:
    failover = find_scenario("primary-failover").for_variant("doc")
    sent = [s.command.hmp.split()[0] if s.command.hmp else s.command.name for s in failover.steps]
    assert sent == ["yank", "x-blockdev-change", "drive_del", "object-del", "object-del", "object-del",
                    "object-del", "object-del", "x-colo-lost-heartbeat"], "the document's steps, after a yank"
    assert failover.steps[0].command.yank == "peer" and failover.steps[0].require[0].kind == "answers"
    assert failover.steps[1].command.arguments == {"parent": "{ids.disk}", "child": "{live.replication_child}"}
    secondary = find_scenario("secondary-failover")
    assert [s.command.name for s in secondary.steps[:3]] == ["yank", "nbd-server-stop", "x-colo-lost-heartbeat"]
    resume = find_scenario("secondary-resume")
    assert resume.steps == find_scenario("primary-resume").steps and resume.title == "Secondary resume"
    startup = find_scenario("startup")
    assert startup.index_of("secondary-capabilities") < startup.index_of("secondary-incoming") < \
        startup.index_of("primary-migrate"), "x-colo must be on before the secondary listens"


def write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "line", "reason"), [
    ('title = "x"\n' + GOOD_STEP + 'colour = "red"\n', 8, "unknown field 'colour'"),
    ('title = "x"\n' + GOOD_STEP.replace('"primary"', '"tertiary"'), 5, "unknown target 'tertiary'"),
    (GOOD_STEP + 'arguments = \'{"id": "m0",}\'\n', 7, "arguments are not valid JSON"),
    (GOOD_STEP + 'arguments = { id = "{ids.nope}" }\n', 7, "{ids.nope} is not a variable"),
    (GOOD_STEP + 'arguments = { id = "{live.nope}" }\n', 7, "live values: parent_node"),
    (GOOD_STEP + GOOD_STEP, 9, "an earlier step has the same id"),
    (GOOD_STEP + 'hmp = "info status"\n', 6, "none or several of qmp =, hmp = and yank ="),
    (GOOD_STEP.replace('qmp = "query-status"', 'yank = "everything"'), 6, 'give yank = "peer"'),
    (GOOD_STEP + 'require = [ { answers = "no" } ]\n', 7, "answers must be true or false"),
    (GOOD_STEP + 'require = [ { colour = "primary" } ]\n', 7, "unknown field 'colour' in require"),
    (GOOD_STEP + 'require = [ { link = "sideways" } ]\n', 7, 'link must be "up" or "down"'),
    (GOOD_STEP + 'wait = { event = "STOP", timeout = -1 }\n', 7, "positive number of seconds"),
    (GOOD_STEP.replace('why = "because"\n', ""), 2, "needs why ="),
    ('title = "x"\n[[step]\nid = "a"\n', 2, "not valid TOML"),
    ('title = "nothing to do"\n', None, "at least one [[step]]"),
    ('offered_when = "tertiary-lost"\n' + GOOD_STEP, 1, "offered_when = 'tertiary-lost' is no situation an alert "
     "offers a procedure for (situations: secondary-lost, primary-lost, resume-unfinished-was-primary, "
     "resume-unfinished-was-secondary)"),
    ('offered_when = ["secondary-lost"]\n' + GOOD_STEP, 1, "offered_when = ['secondary-lost'] is no situation"),
    ('offered_when = "' + "x" * 100_000 + '"\n' + GOOD_STEP, 1, "offered_when = '" + "x" * 62 + "… is no situation"),
])
def test_mistakes_are_named_with_file_line_and_reason(tmp_path: Path, text: str, line: int | None,
                                                      reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FileError) as err:
        load_scenario(path)
    assert err.value.line == line, str(err.value)
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_user_scenarios_are_listed_and_a_broken_one_says_why(tmp_path: Path) -> None:
    write(tmp_path, 'title = "Mine"\n' + GOOD_STEP, "mine.toml")
    write(tmp_path, GOOD_STEP + 'bogus = 1\n', "broken.toml")
    entries = catalogue([tmp_path])
    assert entries["mine"].title == "Mine" and entries["mine"].origin == str(tmp_path)
    assert entries["broken"].error and "unknown field 'bogus'" in entries["broken"].error
    out = subprocess.run([sys.executable, "-m", "colotui", "run", "--list", "--scenarios", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "mine" in out.stdout and "ERROR" in out.stdout
    out = subprocess.run([sys.executable, "-m", "colotui", "run", str(tmp_path / "broken.toml"), "--show"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "broken.toml:7: step one: unknown field 'bogus'" in out.stderr
    assert "Traceback" not in out.stderr


def test_offered_when_is_a_known_situation_of_a_file_the_console_can_name(tmp_path: Path) -> None:
    bad = write(tmp_path, 'title = "x"\noffered_when = "tertiary-lost"\n' + GOOD_STEP, "bad.toml")
    out = subprocess.run([sys.executable, "-m", "colotui", "run", str(bad), "--show"], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr == (f"colotui: {bad}:2: offered_when = 'tertiary-lost' is no situation an alert offers a "
                          "procedure for (situations: secondary-lost, primary-lost, resume-unfinished-was-primary, "
                          "resume-unfinished-was-secondary)\n")
    spaced = write(tmp_path, 'offered_when = "secondary-lost"\n' + GOOD_STEP, "my failover.toml")
    with pytest.raises(FileError, match=r"my failover.toml:1: a procedure an alert offers needs a file name of "
                                        r"letters, digits, _ \. - \(not 'my failover'\)"):
        load_scenario(spaced)
    own = write(tmp_path, 'extends = "primary-failover"\noffered_when = "primary-lost"\n', "mine.toml")
    assert load_scenario(own).offered_when == "primary-lost", "a file that extends another claims its own"
    plain = write(tmp_path, 'extends = "primary-failover"\n', "plain.toml")
    assert load_scenario(plain).offered_when is None, "and inherits none"
    assert find_scenario("primary-failover").offered_when == "secondary-lost"


def test_templates_keep_types_and_drop_nulls() -> None:
    variables = topology_variables(Topology(ports=Ports.from_base(20000))) | {"live.x": None}
    rendered = render({"port": "{ports.nbd}", "delay": "{checkpoint_delay_ms}", "uri": "tcp:{addr.secondary}:"
                       "{ports.migration}", "insert": "{live.x}", "raw": "{{literal}}"}, variables)
    assert rendered == {"port": "20009", "delay": 1000, "uri": "tcp:127.0.0.2:20008", "raw": "{literal}"}
    with pytest.raises(MissingVariable):
        render("{ids.nothing}", variables)


def test_rendering_follows_the_schema() -> None:
    """Version-aware rendering; the old schemas are synthesized (no QEMU < 6.0 can run here)."""
    resume = find_scenario("primary-resume")
    variables = topology_variables(Topology()) | {"live.rewriter_insert": "before",
                                                  "live.rewriter_position": "id=rew0", "live.parent_node": "#b1"}
    add_mirror = resume.steps[resume.index_of("add-mirror")]
    old = Schema([{"name": "object-add", "meta-type": "command", "arg-type": "A"},
                  {"name": "A", "meta-type": "object", "members": [
                      {"name": "qom-type", "type": "str"}, {"name": "id", "type": "str"},
                      {"name": "props", "type": "any", "default": None}]}])
    request = build_request(add_mirror, "primary", "p", variables, old)
    assert request.arguments == {"qom-type": "filter-mirror", "id": "m0", "props": {
        "netdev": "hn0", "queue": "tx", "outdev": "mirror0", "insert": "before", "position": "id=rew0"}}
    flat = build_request(add_mirror, "primary", "p", variables, None)
    assert flat.arguments["netdev"] == "hn0" and "props" not in flat.arguments

    export = resume.steps[resume.index_of("secondary-export")]
    without = Schema([{"name": "nbd-server-add", "meta-type": "command", "arg-type": "0"}])
    assert build_request(export, "secondary", "s", variables, without).message() == {
        "execute": "nbd-server-add", "arguments": {"device": "parent0", "writable": True}}
    assert build_request(export, "secondary", "s", variables, None).command == "block-export-add"


def test_topology_files_round_trip_and_say_where_they_are_wrong(tmp_path: Path) -> None:
    from colotui.discovery.settle import flatten, unflatten
    from colotui.topology import dump_topology, topology_values

    topology = Topology(primary="10.0.0.1", secondary="10.0.0.2", ports=Ports.from_base(20000), checkpoint_delay_ms=500)
    path = tmp_path / "pair.toml"
    path.write_text(dump_topology(topology))
    assert topology_values(path) == flatten(topology) and unflatten(topology_values(path)) == topology
    path.write_text(dump_topology(topology).replace("nbd = 20009", "nbd = 70000"))
    with pytest.raises(FileError) as err:
        topology_values(path)
    assert "ports.nbd = 70000 is not a TCP port" in str(err.value) and err.value.line is not None
    path.write_text('primary = "10.0.0.1"\nprimry = "x"\n')
    with pytest.raises(FileError, match=r"pair.toml:2: unknown setting 'primry'"):
        topology_values(path)
    path.write_text('[ids]\ncompare = "cmp0"\n')
    assert topology_values(path) == {"ids.compare": "cmp0"}, "only what the file sets is given"
