"""The scenario engine on a real (not yet COLO) lab: dry runs, failures, decisions, a VM dying mid-step."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from colotui.compat import pair_warnings, refusal
from colotui.lab import Lab, pair_from_lab
from colotui.qmp import QemuVersion, Session, Transcript
from colotui.qmp.probe import VMFacts, probe
from colotui.qmp.schema import Schema
from colotui.scenario import Decision, Engine, StepState, StepUpdate, find_scenario, load_scenario

from ..support.colo import observe, query, sent


@asynccontextmanager
async def sessions_for(lab: Lab, transcript: Transcript | None = None) -> AsyncIterator[dict[str, Session]]:
    """Connected sessions to the lab's primary and secondary, closed afterwards."""
    pair = pair_from_lab(lab.dir)
    sessions = {role: Session(ep.name, ep.qmp, transcript=transcript) for role, ep in pair.by_role().items()}
    for s in sessions.values():
        s.start()
    try:
        for s in sessions.values():
            assert await s.wait_connected(10), s.detail
        yield sessions
    finally:
        for s in sessions.values():
            await s.close()


class Script:
    """A decider that answers from a list, and records what it was asked."""

    def __init__(self, *answers: Decision) -> None:
        self.answers = list(answers)
        self.asked: list[StepUpdate] = []

    async def __call__(self, update: StepUpdate) -> Decision:
        self.asked.append(update)
        return self.answers.pop(0)


def user_scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text('title = "mine"\n' + body)
    return path


async def test_dry_run_renders_exact_messages_and_sends_nothing(lab: Lab) -> None:
    updates: list[StepUpdate] = []
    async with sessions_for(lab) as sessions:
        engine = Engine(find_scenario("startup"), sessions, lab.state().topology(), decide=Script(),
                        on_update=updates.append)
        requests = await engine.dry_run()
    ports = lab.state().ports
    by_step = {u.step.id: u.request for u in updates}
    assert len(requests) == 9 and all(u.state is StepState.PENDING for u in updates)
    assert by_step["secondary-nbd-server"].message() == {"execute": "nbd-server-start", "arguments": {
        "addr": {"type": "inet", "data": {"host": "127.0.0.2", "port": str(ports.nbd)}}}}
    export = by_step["secondary-export"]
    assert export.vm == "secondary" and export.arguments["node-name"].startswith("#block")
    assert by_step["primary-checkpoint-delay"].arguments == {"x-checkpoint-delay": 1000}
    assert by_step["primary-replication"].hmp.startswith("drive_add -n buddy driver=replication,mode=primary,"
                                                         f"file.driver=nbd,file.host=127.0.0.2,file.port={ports.nbd}")
    async with observe(lab.state().current("secondary")) as s:
        assert await query(s, "query-block-exports") == []
        assert (await query(s, "query-status"))["status"] == "inmigrate"


async def test_a_failed_step_stops_the_run_with_the_qmp_error(lab: Lab, tmp_path: Path) -> None:
    scenario = load_scenario(user_scenario(tmp_path, '''
[[step]]
id = "delete-typo"
target = "primary"
why = "a wrong id"
qmp = "object-del"
arguments = { id = "comp1" }

[[step]]
id = "after"
target = "primary"
why = "must not run"
qmp = "stop"
'''))
    transcript = Transcript(tmp_path / "t.jsonl")
    try:
        async with sessions_for(lab, transcript) as sessions:
            decide = Script(Decision.RUN, Decision.ABORT)
            result = await Engine(scenario, sessions, lab.state().topology(), decide=decide).run()
    finally:
        transcript.close()
    assert result.status == "failed"
    assert result.states == {"delete-typo": StepState.FAILED, "after": StepState.PENDING}
    assert result.last is not None and "QEMU refused it: GenericError" in result.last.message
    assert "comp1" in result.last.message
    assert [u.state for u in decide.asked] == [StepState.CONFIRM, StepState.FAILED]
    assert sent(tmp_path / "t.jsonl", "object-del") == [{"execute": "object-del", "arguments": {"id": "comp1"},
                                                         "id": sent(tmp_path / "t.jsonl", "object-del")[0]["id"]}]
    assert sent(tmp_path / "t.jsonl", "stop") == []


async def test_retry_then_skip_goes_on_and_reports_the_skip(lab: Lab, tmp_path: Path) -> None:
    scenario = load_scenario(user_scenario(tmp_path, '''
[[step]]
id = "needs-an-object"
target = "secondary"
why = "precondition that fails"
qmp = "object-del"
arguments = { id = "{ids.rewriter}" }
require = [ { object = "nothing-here" } ]
confirm = false

[[step]]
id = "harmless"
target = "secondary"
why = "a query"
qmp = "query-status"
confirm = false
'''))
    async with sessions_for(lab) as sessions:
        decide = Script(Decision.RETRY, Decision.SKIP)
        result = await Engine(scenario, sessions, lab.state().topology(), decide=decide).run()
        async with observe(lab.state().current("secondary")) as s:
            objects = {o["name"] for o in await query(s, "qom-list", {"path": "/objects"})}
    assert len(decide.asked) == 2 and all("object nothing-here is present" in u.message for u in decide.asked)
    assert result.status == "skipped"
    assert result.states == {"needs-an-object": StepState.SKIPPED, "harmless": StepState.OK}
    assert "rew0" in objects, "a failed precondition sends nothing"


async def test_a_vm_dying_mid_step_is_reported_not_waited_out(lab: Lab, tmp_path: Path) -> None:
    scenario = load_scenario(user_scenario(tmp_path, '''
[[step]]
id = "wait-forever"
target = "secondary"
why = "wait for an event that will not come"
qmp = "query-status"
confirm = false
wait = { event = "NEVER_HAPPENS", timeout = 120 }
'''))
    updates: list[StepUpdate] = []

    def on_update(update: StepUpdate) -> None:
        updates.append(update)
        if update.state is StepState.WAITING:
            lab.kill("secondary")

    async with sessions_for(lab) as sessions:
        decide = Script(Decision.ABORT)
        result = await asyncio.wait_for(Engine(scenario, sessions, lab.state().topology(), decide=decide,
                                               on_update=on_update).run(), 20)
    assert result.status == "failed"
    assert "lost the connection to secondary" in result.last.message


async def test_versions_and_builds_that_cannot_do_colo_are_refused(lab: Lab) -> None:
    async with observe(lab.state().current("primary")) as p:
        facts = await probe(p)
    assert isinstance(facts, VMFacts) and refusal(facts) is None
    entries = [e for e in facts.schema._by_name.values() if e["name"] != "x-colo-lost-heartbeat"]
    without_colo = VMFacts(facts.version, facts.package, Schema(entries))
    assert "built without COLO" in refusal(without_colo)
    assert "10.0.0–10.0.6" in refusal(VMFacts(QemuVersion(10, 0, 2), "", facts.schema))
    assert "10.1.0–10.1.2" in refusal(VMFacts(QemuVersion(10, 1, 0), "", facts.schema))
    assert refusal(VMFacts(QemuVersion(10, 0, 7), "", facts.schema)) is None
    warnings = pair_warnings({"primary": facts, "secondary": VMFacts(QemuVersion(10, 0, 13), "", facts.schema)})
    assert warnings and "different QEMU versions" in warnings[0]


def colotui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "colotui", *args], capture_output=True, text=True, timeout=120)


def test_cli_run_dry_run_json_and_exit_statuses(lab: Lab, tmp_path: Path) -> None:
    out = colotui("run", "primary-failover", "--lab", str(lab.dir), "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["step"] for line in lines][:3] == ["cut-secondary", "detach-replication", "delete-replication"]
    cut = lines[0]["request"]
    assert cut["exec-oob"] == "yank", "out of band"
    assert {i.get("id") for i in cut["arguments"]["instances"]} == {"mirror0", "compare1"}, \
        "only what faces the peer: never a monitor, nor colo-compare's local loops"
    assert lines[1]["request"]["arguments"]["child"].startswith("<live.replication_child: ")

    out = colotui("run", "secondary-failover", "--lab", str(lab.dir), "--yes")
    assert out.returncode == 1 and "primary does not answer (down or hung): no" in out.stdout
    assert "failed" in out.stdout

    out = colotui("run", "startup", "--lab", str(lab.dir), "--from", "no-such-step")
    assert out.returncode == 1 and "has no step 'no-such-step'" in out.stderr

    bad = user_scenario(tmp_path, '[[step]]\nid = "x"\ntarget = "primary"\nwhy = "w"\nqmp = "stop"\nwait = 3\n')
    out = colotui("run", str(bad), "--lab", str(lab.dir), "--yes")
    assert out.returncode == 1 and f"{bad}:7: step x: wait must be a table" in out.stderr

    out = colotui("run", "startup", "--lab", str(lab.dir))  # no --yes, nothing on stdin: aborts at once
    assert out.returncode == 1 and "aborted" in out.stdout


def test_cli_run_with_addresses_and_a_topology_file(lab: Lab) -> None:
    state = lab.state()
    topology = lab.dir / "topology.toml"
    out = colotui("run", "startup", "--primary", state.current("primary").qmp, "--secondary",
                  state.current("secondary").qmp, "--topology", str(topology), "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    nbd = next(json.loads(line) for line in out.stdout.splitlines() if '"secondary-nbd-server"' in line)
    assert nbd["request"]["arguments"]["addr"]["data"] == {"host": "127.0.0.2", "port": str(state.ports.nbd)}
    # without the file, on unix sockets: the secondary's address for NBD and migration shows nowhere yet
    pair = ["--primary", state.current("primary").qmp, "--secondary", state.current("secondary").qmp]
    out = colotui("run", "startup", *pair, "--yes")
    assert out.returncode == 1 and "refused: addr.secondary is not known" in out.stdout, out.stdout
    assert "--set addr.secondary=ADDRESS" in out.stdout
    out = colotui("run", "startup", *pair, "--set", "addr.secondary=127.0.0.2", "--dry-run", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    nbd = next(json.loads(line) for line in out.stdout.splitlines() if '"secondary-nbd-server"' in line)
    assert nbd["request"]["arguments"]["addr"]["data"] == {"host": "127.0.0.2", "port": "9999"}, \
        "a port no VM shows yet is the document's"


def test_cli_run_on_addresses_holds_the_yank_monitors_it_is_given(lab: Lab, tmp_path: Path) -> None:
    """An operator's own pair: each VM's second -qmp, given as --*-yank or in a profile, is held as an out-of-band
    session (the `answers` check asks it); without one, `colotui run` says the yank goes through the main session."""
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    assert primary is not None and secondary is not None
    pair = ["--primary", primary.qmp, "--secondary", secondary.qmp, "--topology", str(lab.dir / "topology.toml")]
    yank = ["--primary-yank", primary.qmp_yank, "--secondary-yank", secondary.qmp_yank]
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.mine]\nprimary = "{primary.qmp}"\nsecondary = "{secondary.qmp}"\n'
                      f'topology = "{lab.dir / "topology.toml"}"\nprimary_yank = "{primary.qmp_yank}"\n'
                      f'secondary_yank = "{secondary.qmp_yank}"\n')
    no_oob = "warning: primary has no out-of-band monitor"
    for name, given in (("flags", pair + yank), ("profile", ["--config", str(config), "--profile", "mine"])):
        transcript = tmp_path / f"{name}.jsonl"
        out = colotui("run", "primary-failover", *given, "--yes", "--transcript", str(transcript))
        assert out.returncode == 1 and "secondary does not answer (down or hung): no" in out.stdout, out.stdout
        assert no_oob not in out.stdout, name
        probes = [json.loads(line) for line in transcript.read_text().splitlines()]
        assert any(line["vm"] == "secondary/oob" and line["dir"] == "send" and "exec-oob" in line["msg"]
                   for line in probes), f"{name}: the live secondary was asked out of band too"
        assert sent(transcript, "yank", oob=True) == [], "the precondition stopped the run: nothing was cut"

    out = colotui("run", "primary-failover", *pair, "--yes")
    assert out.returncode == 1 and no_oob in out.stdout
    out = colotui("run", "primary-failover", "--lab", str(lab.dir), "--primary-yank", primary.qmp_yank)
    assert out.returncode == 1 and "--primary-yank and --secondary-yank go with addresses" in out.stderr
