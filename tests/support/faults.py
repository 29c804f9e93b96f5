"""Faults in the middle of a procedure: bring a real lab to where a procedure starts, kill (SIGKILL) or
hang (SIGSTOP) one VM just before step k, and look at what colotui then says and offers.

One case is (procedure, step, victim, signal). The victim is the VM the step targets or the other one
(its peer). Each case gets a fresh lab. What happened is kept as a `CaseResult`; with
``COLOTUI_FAULT_RESULTS=FILE`` every case appends one JSON line to FILE, from which
``scripts/fault-table`` writes the table in docs/faults.md.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from colotui.control.terminal import Options, run_scenario
from colotui.lab import Lab, VMRecord, pair_from_lab
from colotui.lab.faults import strike_at_checkpoint
from colotui.lab.guest import read_disk_counter
from colotui.model.alerts import Alert, assess
from colotui.model.vm import VMView
from colotui.qmp import Transcript, UnixAddress
from colotui.roles import ROLES, other
from colotui.scenario import find_scenario, offers
from colotui.scenario.engine import Decision, StepState, StepUpdate
from colotui.scenario.model import ROLE_ALIASES
from colotui.scenario.record import last_stop
from colotui.service.sessions import PairSessions, open_sessions
from colotui.service.watcher import VMWatcher

from ..conftest import LabFactory
from .colo import run, serial_counters, start_colo

#: The procedures of the matrix, and how a lab gets to where each starts.
PROCEDURES = ("startup", "primary-failover", "secondary-failover", "primary-resume", "secondary-resume")
#: The deadline of every QMP command in a faulted run (seconds): a hung VM is found out after this.
DEADLINE = 3.0


@dataclass
class CaseResult:
    procedure: str
    step: int
    step_id: str
    victim: str  # "target" or "peer"
    victim_vm: str
    signal: str  # KILL or STOP
    fired_at: str = ""  # the step the fault came before (k, or the next one sent if k was done already)
    qemu: str = ""
    status: str = ""  # how the run ended: passed, failed, aborted, refused
    seconds: float = 0.0
    said: str = ""  # the last failure's one line, or the refusal
    done: list[str] = field(default_factory=list)  # the steps the record says were done
    sent: list[str] = field(default_factory=list)  # the commands the transcript shows were sent (in band)
    alerts: dict[str, str] = field(default_factory=dict)  # role → the alert's text
    offer: str | None = None  # the procedure the console offers, and on which side
    offer_on: str | None = None
    followed: str = ""  # how the offered procedure ended
    counter_advances: bool | None = None
    disk_counter: int | None = None
    noted: dict[str, int] = field(default_factory=dict)  # each running guest's counter just before the fault
    noted_counter: int | None = None  # the survivor's, which its disk must not go below
    fenced: str | None = None  # the VM killed first, as the alert asked
    peer_lost: str = "—"  # failovers: the peer killed "between" checkpoints, or hung "during" one
    wedged: bool | None = None  # "during": the survivor's main loop no longer answered in band
    alerts_after_fence: dict[str, str] = field(default_factory=dict)

    def write(self) -> None:
        target = os.environ.get("COLOTUI_FAULT_RESULTS")
        if target:
            with open(target, "a") as out:
                out.write(json.dumps(asdict(self)) + "\n")


#: The side each procedure starts without.
LOST = {"primary-failover": "secondary", "secondary-failover": "primary", "primary-resume": "secondary",
        "secondary-resume": "primary"}
#: x-checkpoint-delay when the peer is lost during a checkpoint: production's, where most hangs land in one.
DURING_DELAY_MS = 200


async def bring_to(labs: LabFactory, procedure: str, peer_lost: str = "between") -> Lab:
    """A lab where ``procedure`` starts: fresh (startup); in COLO with one side killed (the failovers; with
    ``peer_lost`` "during", still whole at 200 ms checkpoints: `lose_peer_mid_checkpoint` hangs it); a
    failed-over survivor with a fresh secondary beside it (the resumes)."""
    if procedure == "startup":
        return await asyncio.to_thread(labs.up)
    if peer_lost == "during":
        assert procedure.endswith("-failover"), "a peer is lost during a checkpoint before a failover"
        return await start_colo(labs, settings={"checkpoint_delay_ms": DURING_DELAY_MS})
    lab = await start_colo(labs)
    dead = LOST[procedure]
    await asyncio.to_thread(lab.kill, dead)
    if procedure.endswith("-failover"):
        return lab
    await run(lab, f"{'primary' if dead == 'secondary' else 'secondary'}-failover")
    await asyncio.to_thread(lab.respawn)
    return lab


def steps_of(procedure: str) -> list[str]:
    return [s.id for s in find_scenario(procedure).for_variant("doc").steps]


def victim_of(lab: Lab, procedure: str, step_id: str, victim: str) -> tuple[str, VMRecord]:
    """The role and VM a case strikes: the step's target, or the other one."""
    step = next(s for s in find_scenario(procedure).for_variant("doc").steps if s.id == step_id)
    role = ROLE_ALIASES.get(step.target, step.target)
    if victim == "peer":
        role = other(role)
    vm = lab.state().current(role)
    assert vm is not None, f"the lab has no {role}"
    return role, vm


@dataclass
class Watching:
    views: dict[str, VMView]
    sessions: PairSessions
    transcript: Path


@asynccontextmanager
async def watching(lab: Lab) -> AsyncIterator[Watching]:
    """The pair as the console holds it: one session per VM and an out-of-band one beside it, the console's
    watchers keeping each view current from before the fault on; the faulted run goes through the same
    sessions, as a procedure started in the console does."""
    views: dict[str, VMView] = {}
    path = lab.dir / f"transcript-fault-{time.monotonic_ns()}.jsonl"
    transcript = Transcript(path)
    try:
        async with open_sessions(pair_from_lab(lab.dir), transcript=transcript, deadline=DEADLINE) as sessions:
            watchers = [VMWatcher(sessions[role], "", lambda view, role=role: views.__setitem__(role, view),
                                  oob=sessions.oob(role), refresh_interval=0.5) for role in ROLES]
            tasks = [asyncio.create_task(w.run()) for w in watchers]
            try:
                deadline = time.monotonic() + 15
                while not (len(views) == 2 and all(v.structure_known or (v.health is not None and v.health.lost)
                                                   for v in views.values())):
                    assert time.monotonic() < deadline, "the watchers read both VMs (or find one lost)"
                    await asyncio.sleep(0.2)
                yield Watching(views, sessions, path)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        transcript.close()


async def lose_peer_mid_checkpoint(lab: Lab, case: CaseResult) -> None:
    """SIGSTOP the side the failover starts without the moment a checkpoint begins, again at later ones until
    the survivor's main loop is wedged (the case of issue 25), with the watching sessions open already."""
    state = lab.state()
    primary, lost = state.current("primary"), state.current(LOST[case.procedure])
    survivor = state.current(other(LOST[case.procedure]))
    assert primary is not None and lost is not None and survivor is not None
    strike = await strike_at_checkpoint(UnixAddress(Path(primary.qmp_spare)), lost.pid, signal.SIGSTOP,
                                        survivor=UnixAddress(Path(survivor.qmp_spare)), until_wedged=True)
    case.wedged = strike.wedged


async def faulted_run(lab: Lab, case: CaseResult, watch: Watching) -> None:
    """Run the case's procedure on the watched sessions, signalling its victim just before its step is sent;
    fill in how it ended."""
    role, victim = victim_of(lab, case.procedure, case.step_id, case.victim)
    case.victim_vm, case.qemu = victim.name, str(lab.state().qemu["version"])
    fired = False

    async def decide(update: StepUpdate) -> Decision:
        nonlocal fired
        if update.state is StepState.CONFIRM:  # the first step from k on that is sent (k may be done already)
            if update.step.number >= case.step and not fired:
                case.fired_at = update.step.id
                fired = True
                case.noted = {vm.name: serial_counters(vm)[-1] for vm in lab.state().vms
                              if vm.state == "running" and serial_counters(vm)}
                if case.signal == "KILL":
                    await asyncio.to_thread(lab.kill, role)
                else:
                    os.kill(victim.pid, signal.SIGSTOP)
            return Decision.RUN
        return Decision.ABORT  # a failure stops the run, as --yes does

    out = io.StringIO()
    started = time.monotonic()
    result = await run_scenario(find_scenario(case.procedure), pair_from_lab(lab.dir),
                                Options(yes=True, json_lines=True, deadline=DEADLINE),
                                transcript=None, out=out, decide=decide, sessions=watch.sessions)
    case.seconds = round(time.monotonic() - started, 2)
    assert result is not None
    case.status = result.status
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    refused = [line["refused"] for line in lines if "refused" in line]
    case.said = refused[0] if refused else (result.last.message if result.last and result.status != "passed"
                                            else "")
    stopped = last_stop(case.procedure, pair_from_lab(lab.dir))
    case.done = list(stopped.done) if stopped is not None else \
        [s.id for s in find_scenario(case.procedure).for_variant("doc").steps] if result.passed else []
    case.sent = [e["msg"].get("execute") or e["msg"].get("exec-oob") for e in map(json.loads,
                 watch.transcript.read_text().splitlines()) if e["dir"] == "send"]
    assert fired or result.status != "passed", "the fault was injected"


async def settled_alerts(views: dict[str, VMView], settle: float = 10.0) -> dict[str, Alert]:
    """The alerts once the views stop changing them (a hung VM is found out by a probe, after a while)."""
    deadline = time.monotonic() + settle
    last: dict[str, Alert] | None = None
    steady = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = assess(views["primary"], views["secondary"], offers())
        steady = steady + 1 if now == last else 0
        last = now
        if steady >= 4:
            break
    return last or {}


async def fence(lab: Lab, case: CaseResult, alerts: dict[str, Alert], watch: Watching) -> dict[str, Alert]:
    """Do what an operator is told to do first, kill the VM that blocks the other (colotui cannot), and
    return the alerts that follow."""
    name = next((a.fence for a in alerts.values() if a.fence), None)
    if name is None:
        return alerts
    case.fenced = name
    vm = next(v for v in lab.state().vms if v.name == name)
    role = next(r for r in ROLES if (current := lab.state().current(r)) is not None and current.name == name)
    os.kill(vm.pid, signal.SIGCONT)  # so that SIGKILL's end is seen at once, like a killed host's
    await asyncio.to_thread(lab.kill, role)
    after = await settled_alerts(watch.views)
    case.alerts_after_fence = {role: alert.text for role, alert in after.items()}
    return after


async def follow_offer(lab: Lab, case: CaseResult, alerts: dict[str, Alert]) -> None:
    """Run the procedure the alert offers; then the survivor's guest must count on, and its disk hold at
    least the counter it had before the fault."""
    offered = [a for a in alerts.values() if a.offer]
    if not offered:
        return
    case.offer, case.offer_on = offered[0].offer, offered[0].offer_on
    assert case.offer is not None and case.offer_on is not None
    result, _, _ = await run(lab, case.offer, expect=None)  # how it ended is recorded, and checked by the test
    case.followed = result.status
    survivor = lab.state().current(case.offer_on)
    assert survivor is not None
    case.noted_counter = case.noted.get(survivor.name)
    deadline = time.monotonic() + 10  # a guest that never ran (the fault came before the migration) boots now
    while not serial_counters(survivor) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    before = serial_counters(survivor)
    await asyncio.sleep(1.5)
    after = serial_counters(survivor)
    case.counter_advances = bool(before and after and after[-1] > before[-1])
    case.disk_counter = await asyncio.to_thread(read_disk_counter, lab.state().install(), Path(survivor.images["disk"]))
