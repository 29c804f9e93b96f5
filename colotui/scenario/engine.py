"""Runs a scenario step by step against live VMs: a state machine with no UI in it.

Each step goes pending → checking → (confirm) → running → waiting → ok, or
ends failed or skipped. Progress leaves as `StepUpdate` values through
``on_update``; every choice (run this step? retry, skip or abort a failure?)
is asked of ``decide``, which the TUI and the headless runner each provide.
A failure always stops and asks: the engine never goes past one on its own,
and leaves the VMs as they are for inspection.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..compat import pair_warnings, refusal
from ..qmp import (
    CommandError,
    DeadlineExceeded,
    Disconnected,
    Event,
    LinkChanged,
    LinkState,
    Ok,
    Reply,
    Session,
    Subscription,
)
from ..qmp.health import Health, Verdict, probe
from ..qmp.probe import FactsCache, VMFacts
from ..roles import other
from ..topology import Topology
from .checks import CheckResult, evaluate
from .live import LIVE, Asker, LiveError, described, peer_connections, peer_connections_out_of_band
from .model import ROLE_ALIASES, Check, Scenario, Step, Wait
from .render import Request, build_request
from .template import MissingVariable, placeholders, render, topology_variables


class StepState(enum.Enum):
    PENDING = "pending"
    CHECKING = "checking"
    CONFIRM = "confirm"  # waiting for the operator
    RUNNING = "running"
    WAITING = "waiting"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class Decision(enum.Enum):
    RUN = "run"
    SKIP = "skip"
    RETRY = "retry"
    ABORT = "abort"


@dataclass(frozen=True)
class StepUpdate:
    """Where one step stands; enough for a UI line or one JSON object."""

    scenario: str
    step: Step
    state: StepState
    total: int
    vm: str
    request: Request | None = None
    checks: tuple[CheckResult, ...] = ()
    reply: Any = None
    message: str = ""
    elapsed: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "step": self.step.id, "number": self.step.number, "total": self.total,
            "state": self.state.value, "target": self.step.target, "vm": self.vm, "variant": self.step.variant,
            "request": self.request.message() if self.request else None,
            "checks": [{"check": c.check.describe(), "ok": c.ok, "found": c.found} for c in self.checks],
            "reply": self.reply, "message": self.message, "elapsed": round(self.elapsed, 4),
        }


@dataclass
class RunResult:
    scenario: str
    status: str  # passed | failed | aborted | skipped (finished, but some steps were skipped)
    states: dict[str, StepState] = field(default_factory=dict)
    last: StepUpdate | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


Decide = Callable[[StepUpdate], Awaitable[Decision]]


#: How long the version and schema of a VM may take to come: a live QEMU sends them in milliseconds.
FACTS_DEADLINE = 2.0
#: How long a yank step's target may take to answer in band (asked with one out-of-band question beside it)
#: before its main loop counts as wedged and the cut goes first, out of band (seconds).
WEDGE_PROBE = 1.0
#: How long a wedged verdict stands before it is asked again (seconds): from the run's start to its first cut.
VERDICT_KEPT = 5.0
#: While a step waits, how often the VMs it talks to are asked whether they still answer (seconds).
WATCH_EVERY = 1.0


class PreflightError(Exception):
    """The pair cannot run this scenario at all (a refused QEMU version)."""


class _StepFailed(Exception):
    def __init__(self, message: str, reply: Any = None) -> None:
        super().__init__(message)
        self.reply = reply


def _describe_failure(reply: Reply, vm: str) -> str:
    """One line that names the VM: what went wrong with the command sent to it."""
    if isinstance(reply, CommandError):
        return f"{vm}'s QEMU refused it: {reply.error_class}: {reply.desc}"
    if isinstance(reply, DeadlineExceeded):
        return f"{vm}: {reply.message}; it may be hung or dead"
    if isinstance(reply, Disconnected):
        return f"{vm}: connection lost ({reply.reason}); it may have died"
    return f"{vm}: {reply.message}"


def _matches(data: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    return all(k in data and (_matches(data[k], v) if isinstance(v, Mapping) and isinstance(data[k], Mapping)
                              else data[k] == v) for k, v in want.items())


def cut_roles(scenario: Scenario) -> set[str]:
    """The roles a yank step of ``scenario`` cuts loose from their peer."""
    return {ROLE_ALIASES.get(s.target, s.target) for s in scenario.steps if s.command.yank}


async def find_wedged(roles: Iterable[str], session: Callable[[str], Session],
                      oob: Callable[[str], Session | None]) -> dict[str, Verdict]:
    """Which of ``roles``' VMs have a wedged main loop now (no reply in band within `WEDGE_PROBE`, an answer
    out of band), asked at once; a VM with no out-of-band session cannot tell, and is not among them."""
    async def verdict(role: str) -> Verdict | None:
        main, outofband = session(role), oob(role)
        if outofband is None or not outofband.connected or not outofband.oob_capable or not main.connected:
            return None
        return await probe(main, outofband, WEDGE_PROBE)

    ordered = sorted(roles)
    verdicts = await asyncio.gather(*(verdict(role) for role in ordered))
    return {role: v for role, v in zip(ordered, verdicts, strict=True)
            if v is not None and v.health is Health.MONITOR_BLOCKED}


class Engine:
    """Runs one scenario on a pair of sessions (by role) with one topology."""

    def __init__(self, scenario: Scenario, sessions: Mapping[str, Session], topology: Topology, *,
                 decide: Decide, on_update: Callable[[StepUpdate], None] = lambda u: None,
                 facts: FactsCache | None = None, poll_interval: float = 0.2,
                 oob: Callable[[str], Session | None] = lambda role: None,
                 wedged: Mapping[str, Verdict] | None = None) -> None:
        """``oob``: each role's out-of-band session, if it has one (yank steps go through it). ``wedged``: the
        roles found wedged just now (`find_wedged`), if the caller asked already. A scenario whose variant is
        not chosen yet runs in the topology's."""
        self.scenario = scenario if scenario.variant is not None else scenario.for_variant(topology.variant)
        self.sessions = sessions
        self.oob = oob
        self.topology = topology
        self.decide = decide
        self.on_update = on_update
        self.facts = facts or FactsCache()
        self.poll_interval = poll_interval
        self.states: dict[str, StepState] = {s.id: StepState.PENDING for s in self.scenario.steps}
        self.variables = topology_variables(topology)
        self._wedged: set[str] | None = None if wedged is None else set(wedged)
        self._verified: dict[str, tuple[CheckResult, ...]] = {}  # step id → its peer's checks, held at its cut
        # role → when it was found wedged, and how
        self._verdicts = {role: (time.monotonic(), v) for role, v in (wedged or {}).items()}

    # -- helpers -----------------------------------------------------------------------------------

    def session(self, role: str) -> Session:
        return self.sessions[ROLE_ALIASES.get(role, role)]

    def _emit(self, step: Step, state: StepState, **kwargs: Any) -> StepUpdate:
        self.states[step.id] = state
        update = StepUpdate(self.scenario.name, step, state, len(self.scenario.steps),
                            self.session(step.target).name, **kwargs)
        self.on_update(update)
        return update

    async def _facts(self, role: str) -> VMFacts | None:
        """What kind of QEMU ``role`` is, if it says so promptly (a hung VM must not hold a step up)."""
        session = self.session(role)
        if not session.connected:
            return None
        facts = await self.facts.get(session, deadline=FACTS_DEADLINE)
        return facts if isinstance(facts, VMFacts) else None

    async def wedged(self) -> set[str]:
        """The roles a yank step cuts loose whose main loop is wedged now (in band silent, out of band
        answering): asked once, before the first step (unless the run found them already). Nothing is asked of
        them in band before their cut, which goes first (`_cut_first`): each question would wait out its whole
        deadline."""
        if self._wedged is None:
            found = await find_wedged(cut_roles(self.scenario), self.session, self.oob)
            self._wedged = set(found)
            self._verdicts.update({role: (time.monotonic(), v) for role, v in found.items()})
        return self._wedged

    async def _verdict(self, role: str, *, fresh: bool = False) -> Verdict | None:
        """Whether ``role`` answers, in band and out of band at once; None where it has no out-of-band session
        to tell a wedged main loop from a hung VM. A wedged verdict of the last `VERDICT_KEPT` seconds stands
        (unless ``fresh``): the first step need not wait out the silence `wedged` just waited out."""
        session, oob = self.session(role), self.oob(role)
        if oob is None or not oob.connected or not oob.oob_capable or not session.connected:
            return None
        kept = self._verdicts.get(role)
        if not fresh and kept is not None and time.monotonic() - kept[0] < VERDICT_KEPT:
            return kept[1]
        verdict = await probe(session, oob, WEDGE_PROBE)
        if verdict.health is Health.MONITOR_BLOCKED:
            self._verdicts[role] = (time.monotonic(), verdict)
        else:
            self._verdicts.pop(role, None)
        return verdict

    async def preflight(self) -> list[str]:
        """Probe every connected VM the steps send to; raise `PreflightError` on a refused one. A VM only
        checked (a failover's dead or hung peer) is not asked: it would hold the procedure up for nothing.

        Returns warnings (e.g. different QEMU versions) for the operator.
        """
        known: dict[str, VMFacts] = {}
        for role in sorted(self.scenario.targets - await self.wedged()):
            facts = await self._facts(role)
            if facts is None:
                continue
            reason = refusal(facts)
            if reason is not None:
                raise PreflightError(f"{self.session(role).name}: {reason}")
            known[role] = facts
        return pair_warnings(known)

    async def _variables(self, step: Step, *, strict: bool) -> dict[str, Any]:
        """Topology variables plus the live ones this step uses, asked of its target now."""
        variables = dict(self.variables)
        commands = [c for c in (step.command, step.otherwise) if c is not None]
        wanted = {name[5:] for c in commands for name in placeholders([c.arguments, c.hmp])
                  if name.startswith("live.")}
        session = self.session(step.target)
        ask = Asker(session, self.topology)
        for name in sorted(wanted):
            try:
                if not session.connected:
                    raise LiveError(f"{session.name} is not connected")
                variables[f"live.{name}"] = await LIVE[name](ask)
            except LiveError as exc:
                if strict:
                    raise _StepFailed(f"cannot work out {{live.{name}}}: {exc}") from None
                variables[f"live.{name}"] = f"<live.{name}: {exc}>"
        return variables

    async def _yank_request(self, step: Step, role: str, *, strict: bool) -> Request:
        """The out-of-band ``yank`` of this VM's connections to its peer, looked up now."""
        session = self.session(step.target)
        try:
            if not session.connected:
                raise LiveError(f"{session.name} is not connected")
            instances: list[Any] = await peer_connections(Asker(session, self.topology), role)
        except LiveError as exc:
            if strict:
                raise _StepFailed(f"cannot list {session.name}'s connections to its peer: {exc}") from None
            instances = [f"<looked up when the step runs: {exc}>"]
        return Request("yank", {"instances": instances}, oob=True, role=role, vm=session.name)

    async def _request(self, step: Step, *, strict: bool = True) -> Request:
        role = ROLE_ALIASES.get(step.target, step.target)
        if step.command.yank:
            return await self._yank_request(step, role, strict=strict)
        variables = await self._variables(step, strict=strict)
        facts = await self._facts(step.target)
        try:
            return build_request(step, role, self.session(step.target).name, variables,
                                 facts.schema if facts else None, facts.version if facts else None)
        except MissingVariable as exc:
            raise _StepFailed(f"cannot render the step: {exc}") from None

    def _rendered(self, check: Check) -> Check:
        return replace(check, expected=render(check.expected, self.variables))

    def _described(self, wait: Wait) -> str:
        """What a wait waits for, with its values filled in (``device=resync``, not ``device={ids.resync_job}``)."""
        until = self._rendered(wait.until) if wait.until is not None else None
        return replace(wait, data=render(wait.data, self.variables), until=until).describe()

    async def _check_all(self, checks: tuple[Check, ...]) -> tuple[CheckResult, ...]:
        """Each check against its VM now; checks of one VM share the answers."""
        askers: dict[str, Asker] = {}
        results = []
        for check in checks:
            role = ROLE_ALIASES.get(check.target, check.target)
            ask = askers.setdefault(role, Asker(self.session(role), self.topology))
            across = other(role)
            peer = askers.setdefault(across, Asker(self.session(across), self.topology))
            facts = await self._facts(role) if check.kind == "command" else None
            results.append(await evaluate(self._rendered(check), ask, facts.schema if facts else None,
                                          self.oob(role), peer))
        return tuple(results)

    async def upfront(self) -> list[str]:
        """Before the first step: every step's requirement that an object, chardev or block node exists,
        where no earlier step makes or names it (so it must exist now) and the step is not done already.
        What is missing, one line each; empty if all is there."""
        earlier = ""
        checks, where = [], []
        wedged = await self.wedged()
        for step in self.scenario.steps:
            for check in step.require:
                if check.kind in ("object", "chardev", "block_node") and check.present \
                        and str(check.expected) not in earlier \
                        and ROLE_ALIASES.get(check.target, check.target) not in wedged:
                    checks.append(check)
                    where.append(step)
            earlier += json.dumps([c.arguments for c in (step.command, step.otherwise) if c]) + str(step.command.hmp)
        results = await self._check_all(tuple(checks))
        missing = []
        for step, result in zip(where, results, strict=True):
            if not result.ok and not await self.already_done(step):
                missing.append(f"step {step.number} {step.id} needs {result.text}")
        return missing

    async def already_done(self, step: Step) -> tuple[CheckResult, ...]:
        """The step's ``done`` checks if every one holds now (its effect is there: a rerun skips it), else ()."""
        if not step.done:
            return ()
        results = await self._check_all(step.done)
        return results if all(r.ok for r in results) else ()

    # -- one step ----------------------------------------------------------------------------------

    async def _send(self, request: Request, step: Step) -> Any:
        session = self.session(step.target)
        if request.oob:  # its own monitor if the VM has one: a busy or blocked main session cannot delay it
            oob = self.oob(ROLE_ALIASES.get(step.target, step.target))
            if oob is not None and oob.connected:
                session = oob
        reply = await session.execute(request.command, request.arguments, oob=request.oob and session.oob_capable)
        if not isinstance(reply, Ok):
            raise _StepFailed(_describe_failure(reply, self.session(step.target).name))
        return reply.value

    async def _judge_hmp(self, step: Step, line: str, said: str) -> str:
        """HMP answers in text, error or not: judge the command by its effect. Where the step's ``done``
        checks hold now, the text is a warning (QEMU 11.1's drive_del of a node whose NBD peer is dead
        says "Failed flush …" and deletes it); otherwise it is the error. Returns the warning."""
        text = " / ".join(line.strip() for line in said.strip().splitlines() if line.strip())
        if not step.done:
            raise _StepFailed(f"HMP reported an error: {text}", said)
        checks = await self._check_all(step.done)
        unmet = [c for c in checks if not c.ok]
        if unmet:
            raise _StepFailed(f"HMP reported an error: {text} ({'; '.join(c.text for c in unmet)})", said)
        effect = "; ".join(c.text for c in checks)
        self.session(step.target).note(f"HMP {line} said \"{text}\": a warning, its effect is there ({effect})")
        return f"warning: HMP said \"{text}\", but the effect is there ({effect})"

    async def _wait_event(self, wait: Wait, sub: Subscription) -> None:
        session = self.session(wait.target)
        want = render(wait.data, self.variables)
        deadline = time.monotonic() + wait.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _StepFailed(f"waited {wait.timeout:g} s for {self._described(wait)}; it did not come")
            try:
                notice = await asyncio.wait_for(sub.get(), remaining)
            except TimeoutError:
                continue
            if isinstance(notice, LinkChanged) and notice.state is not LinkState.CONNECTED:
                raise _StepFailed(f"lost the connection to {session.name} while waiting for {self._described(wait)}: "
                                  f"{notice.detail}")
            if isinstance(notice, Event) and notice.name == wait.event and _matches(notice.data, want):
                return
            if isinstance(notice, Event) and notice.name == wait.event == "MIGRATION" \
                    and notice.data.get("status") in ("failed", "cancelled"):  # it will not come now
                raise _StepFailed(f"{session.name}'s migration {notice.data['status']} while waiting for "
                                  f"{self._described(wait)}")

    async def _guarded(self, waiting: Coroutine[Any, Any, None], what: str) -> None:
        """Wait, but fail as soon as a VM the procedure talks to stops answering (dies, or hangs: no reply in
        band nor out of band): a disk copy to a dead secondary would otherwise wait out its 600 s."""
        watched = [role for role in sorted(self.scenario.targets) if self.session(role).connects]  # ever reached
        watch = asyncio.ensure_future(self._until_lost(watched))
        wait = asyncio.ensure_future(waiting)
        try:
            await asyncio.wait({wait, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (wait, watch):
                if not task.done():
                    task.cancel()
        if wait.done() and not wait.cancelled():
            wait.result()  # its own failure, if any
            return
        name, verdict = watch.result()
        raise _StepFailed(f"{name} is {verdict.health.value} ({verdict.detail}) while waiting for {what}")

    async def _lost_besides(self, step: Step, said: str) -> str:
        """After a failure, the other VM the procedure talks to if it is lost now (and ``said`` does not name
        it yet): often the real cause (the primary's drive_add fails because the new secondary just died)."""
        target = ROLE_ALIASES.get(step.target, step.target)
        for role in sorted(self.scenario.targets - {target}):
            session = self.session(role)
            if session.name in said:
                continue
            verdict = await probe(session, self.oob(role))
            if verdict.health.lost:
                return f" — {session.name} is {verdict.health.value} ({verdict.detail})"
        return ""

    async def _until_lost(self, roles: list[str]) -> tuple[str, Verdict]:
        """The first of ``roles``' VMs found lost, looked at every `WATCH_EVERY` seconds."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            for role in roles:
                verdict = await probe(self.session(role), self.oob(role))
                if verdict.health.lost:
                    return self.session(role).name, verdict

    async def _wait_until(self, wait: Wait) -> None:
        assert wait.until is not None
        session = self.session(wait.target)
        deadline = time.monotonic() + wait.timeout
        while True:
            if not session.connected:
                raise _StepFailed(f"lost the connection to {session.name} while waiting until "
                                  f"{self._described(wait)}: {session.detail}")
            result = (await self._check_all((wait.until,)))[0]
            if result.ok:
                return
            if time.monotonic() > deadline:
                raise _StepFailed(f"waited {wait.timeout:g} s until {self._described(wait)}; found {result.found}")
            await asyncio.sleep(self.poll_interval)

    async def _cut_first(self, step: Step) -> tuple[StepState | None, StepUpdate | None, str]:
        """A yank step whose target's main loop is wedged (its peer stopped in the middle of a checkpoint
        holds QEMU's big lock there: the drain waits on the NBD client to the peer) answers nothing in band,
        its checks included. Then its cut goes first, out of band, once the checks of the peer hold (it must
        be lost); the step then runs as always, in band again. Returns (None, None, "") where the target
        answers or cannot be asked out of band; (FAILED/SKIPPED, update, "") where it ends here; else
        (None, None, what was cut)."""
        role = ROLE_ALIASES.get(step.target, step.target)
        session, oob = self.session(role), self.oob(role)
        verdict = await self._verdict(role)
        if verdict is None or verdict.health is not Health.MONITOR_BLOCKED or oob is None:
            return None, None, ""
        peer = tuple(c for c in step.require if ROLE_ALIASES.get(c.target, c.target) != role)
        checks = await self._check_all(peer)
        if unmet := [c for c in checks if not c.ok]:
            return StepState.FAILED, self._emit(step, StepState.FAILED, checks=checks, message=(
                f"not sent: {session.name}'s main loop is wedged ({verdict.detail}), and "
                + "; ".join(c.text for c in unmet))), ""
        try:
            instances = await peer_connections_out_of_band(oob, self.topology, role)
        except LiveError as exc:
            message = f"not sent: {session.name}'s main loop is wedged, and {exc}"
            return StepState.FAILED, self._emit(step, StepState.FAILED, checks=checks, message=message), ""
        request = Request("yank", {"instances": instances}, oob=True, role=role, vm=session.name)
        wedged = (f"{session.name}'s main loop is wedged ({verdict.detail}): its connections to the peer are cut "
                  "out of band first, before its own checks")
        if step.confirm:
            confirm = self._emit(step, StepState.CONFIRM, request=request, checks=checks,
                                 message=f"{step.why}\n{wedged}")
            decision = await self.decide(confirm)
            if decision is Decision.SKIP:
                self._emit(step, StepState.SKIPPED, request=request, checks=checks, message="skipped by the operator")
                return StepState.SKIPPED, None, ""
            if decision is not Decision.RUN:
                raise _Aborted(confirm)
        self._emit(step, StepState.RUNNING, request=request, checks=checks, message=wedged)
        started = time.monotonic()
        try:
            await self._send(request, step)
        except _StepFailed as exc:
            return StepState.FAILED, self._emit(step, StepState.FAILED, request=request, checks=checks,
                                                message=f"{wedged}; that cut failed: {exc}",
                                                elapsed=time.monotonic() - started), ""
        session.note(f"{wedged}: yanked {len(instances)} ({described(instances)})")
        self._verified[step.id] = checks  # the peer's, asked once
        return None, None, f"cut out of band first, its main loop wedged: {described(instances)}"

    async def _requirements(self, step: Step) -> tuple[CheckResult, ...]:
        """The step's ``require`` checks now; those of its peer held at a cut that went first are not asked again."""
        verified = self._verified.pop(step.id, ())
        role = ROLE_ALIASES.get(step.target, step.target)
        return verified + await self._check_all(
            tuple(c for c in step.require if not verified or ROLE_ALIASES.get(c.target, c.target) == role))

    async def _attempt(self, step: Step) -> tuple[StepState, StepUpdate | None]:
        """One try at a step: OK, SKIPPED, or FAILED (with the update that says why); ABORT raises."""
        self._emit(step, StepState.CHECKING)
        cut = ""
        if step.command.yank:
            ended, failure, cut = await self._cut_first(step)
            if ended is not None:
                return ended, failure
        then = f"{cut}; then: " if cut else ""  # a failure after the cut says it was made
        if already := await self.already_done(step):
            self._emit(step, StepState.OK, checks=already,
                       message="already done: " + "; ".join(c.text for c in already))
            return StepState.OK, None
        checks = await self._requirements(step)
        unmet = [c for c in checks if not c.ok]
        if unmet:  # preconditions first: they say what is wrong better than a value that cannot be found
            message = then + "not sent: " + "; ".join(c.text for c in unmet)
            message += await self._lost_besides(step, message)
            return StepState.FAILED, self._emit(step, StepState.FAILED, request=await self._request(step, strict=False),
                                                checks=checks, message=message)
        try:
            request = await self._request(step)
        except _StepFailed as exc:
            return StepState.FAILED, self._emit(step, StepState.FAILED, checks=checks, message=f"{then}not sent: {exc}")
        if step.confirm and not cut:  # a cut that went first was confirmed then
            confirm = self._emit(step, StepState.CONFIRM, request=request, checks=checks, message=step.why)
            decision = await self.decide(confirm)
            if decision is Decision.SKIP:
                self._emit(step, StepState.SKIPPED, request=request, checks=checks, message="skipped by the operator")
                return StepState.SKIPPED, None
            if decision is not Decision.RUN:
                raise _Aborted(confirm)
        subs = {id(w): self.session(w.target).subscribe(maxlen=4096, events={w.event})
                for w in step.waits if w.event is not None}
        try:
            self._emit(step, StepState.RUNNING, request=request, checks=checks, message=step.why)
            started = time.monotonic()
            reply = await self._send(request, step)
            warning = ""
            if request.hmp is not None and isinstance(reply, str) and reply.strip():
                warning = await self._judge_hmp(step, request.hmp, reply)
            for wait in step.waits:
                self._emit(step, StepState.WAITING, request=request, checks=checks, reply=reply,
                           message=f"waiting for {self._described(wait)} (up to {wait.timeout:g} s)",
                           elapsed=time.monotonic() - started)
                waiting = self._wait_event(wait, subs[id(wait)]) if wait.event else self._wait_until(wait)
                await self._guarded(waiting, self._described(wait))
        except _StepFailed as exc:
            return StepState.FAILED, self._emit(step, StepState.FAILED, request=request, checks=checks,
                                                reply=exc.reply, message=then + str(exc) + await self._lost_besides(
                                                    step, str(exc)),
                                                elapsed=time.monotonic() - started)
        finally:
            for sub in subs.values():
                sub.close()
        self._emit(step, StepState.OK, request=request, checks=checks, reply=reply,
                   message="; ".join(m for m in (cut, warning) if m), elapsed=time.monotonic() - started)
        return StepState.OK, None

    # -- the whole scenario ------------------------------------------------------------------------

    async def run(self, start: int = 0) -> RunResult:
        """Run steps from index ``start``; stops at the first failure the operator does not retry or skip."""
        result = RunResult(self.scenario.name, "passed", self.states)
        try:
            for step in self.scenario.steps[start:]:
                while True:
                    state, failure = await self._attempt(step)
                    if state is not StepState.FAILED:
                        break
                    assert failure is not None
                    result.last = failure
                    decision = await self.decide(failure)
                    if decision is Decision.RETRY:
                        continue
                    if decision is Decision.SKIP:
                        self._emit(step, StepState.SKIPPED, request=failure.request, checks=failure.checks,
                                   message=f"skipped after failing: {failure.message}")
                        state = StepState.SKIPPED
                        break
                    result.status = "failed"
                    return result
                if state is StepState.SKIPPED:
                    result.status = "skipped"
        except _Aborted as exc:
            result.status, result.last = "aborted", exc.update
        return result

    async def dry_run(self) -> list[Request]:
        """Every step's request as it would be sent now, without sending anything."""
        requests = []
        for step in self.scenario.steps:
            request = await self._request(step, strict=False)
            requests.append(request)
            already = await self.already_done(step)
            note = " (already done, would not be sent: " + "; ".join(c.text for c in already) + ")" if already else ""
            self._emit(step, StepState.PENDING, request=request, checks=already, message=step.why + note)
        return requests


class _Aborted(Exception):
    def __init__(self, update: StepUpdate) -> None:
        super().__init__("aborted")
        self.update = update
