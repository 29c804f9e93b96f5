"""The one run path: from "this procedure on this pair" to where it stopped, remembered.

`colotui run`, the console (its own pair's or a fleet's) and a replay's refusal all come here; what differs
between them is only how a step is confirmed and how progress is shown (a `Front`). So a refusal (read-only,
no connection, a pair that cannot run it) is decided here once, for every surface.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from ..pair import Pair
from ..qmp import Unreached
from ..qmp.probe import FactsCache
from ..roles import ROLES
from ..scenario import Decision, Engine, PreflightError, RunResult, Scenario, StepUpdate
from ..scenario.engine import cut_roles, find_wedged
from ..scenario.live import described
from ..scenario.model import ROLE_ALIASES
from ..scenario.plan import PlanRefused, by_role, make_plan
from ..scenario.record import Stopped, last_stop, remember, stopped_at
from ..service.guard import ask_guard
from ..service.sessions import PairSessions

#: Why a read-only console (`--read-only`) runs no procedure, the failover key's included.
READ_ONLY = ("this console is read-only: procedures change the VMs (start it without --read-only to run one); "
             "nothing was sent")
NOT_CONNECTED = "this console is not connected to any VM"

Said = Literal["note", "warning"]


class Front(Protocol):
    """What a surface supplies to a run: confirmation and display, nothing of the sequence."""

    def planned(self, scenario: Scenario, vms: dict[str, str]) -> None:
        """The procedure as it will run (the pair's variant) and each role's VM as "name (QEMU x.y)"."""

    def say(self, kind: Said, text: str) -> None:
        """A note or a warning about the run, before or between steps."""

    def update(self, update: StepUpdate) -> None:
        """A step moved."""

    async def decide(self, update: StepUpdate) -> Decision:
        """A step to confirm, or a failure to answer."""

    async def resume(self, stopped: Stopped) -> bool:
        """The last run on this pair stopped at ``stopped``: go on from there (True) or from the start."""


@dataclass(frozen=True)
class Request:
    """Which procedure, and how: ``start`` a step's id or number (``--from``); ``resume`` from where the last
    run stopped without asking; ``dry_run`` shows every step and sends nothing that changes a VM."""

    scenario: Scenario
    start: str | None = None
    resume: bool = False
    dry_run: bool = False
    settle: float = 5.0  # how long to wait for the VMs the steps talk to


@dataclass(frozen=True)
class Outcome:
    status: str  # the run's ("passed", "failed", "aborted", …), or "refused", or "dry run"
    result: RunResult | None = None
    refused: str | None = None


def refusal(sessions: PairSessions | None, read_only: str | None) -> str | None:
    """Why no procedure runs at all here (asked before one is even picked): ``read_only`` says why a
    surface sends nothing that changes a VM."""
    if read_only is not None:
        return read_only
    return NOT_CONNECTED if sessions is None else None


async def run(request: Request, pair: Pair, sessions: PairSessions | None, front: Front, *,
              read_only: str | None = None, facts: FactsCache | None = None) -> Outcome:
    """Plan ``request``'s procedure on ``pair`` (roles, topology, up-front checks), run it step by step
    through ``front``, and remember where it stopped."""
    scenario = request.scenario
    if (refused := refusal(sessions, read_only)) is not None:
        return Outcome("refused", refused=refused)
    if pair.pacemaker and not request.dry_run:
        from ..service.pacemaker import manual_refusal  # crm_mon's XML: read only for a cluster's pair

        if (managed := await manual_refusal(pair.pacemaker)) is not None:
            return Outcome("refused", refused=managed)
    assert sessions is not None
    # wait for the VMs the steps talk to; a VM only checked (a failover's dead or hung peer) is
    # asked when its check comes, and one that refuses connections is down at once
    await sessions.wait_settled(scenario.targets, request.settle)
    if (unreached := await _hand_to_guard(scenario, pair, sessions, front, request.settle)) is not None:
        return Outcome("refused", refused=unreached)
    # a survivor its peer wedged mid-checkpoint answers nothing in band: found first, it is not read for the plan
    wedged = await find_wedged(cut_roles(scenario), sessions.__getitem__, sessions.oob)
    try:
        plan = await make_plan(scenario, sessions, pair, unread=set(wedged))
    except PlanRefused as exc:
        return Outcome("refused", refused=str(exc))
    scenario = plan.scenario
    engine = Engine(scenario, by_role(plan, sessions), plan.settled.topology, decide=front.decide,
                    on_update=front.update, facts=facts or FactsCache(),
                    oob=lambda role: sessions.oob(plan.roles[role]),
                    wedged={role: wedged[key] for role, key in plan.roles.items() if key in wedged})
    front.planned(scenario, _vms(engine))
    for warning in _without_oob(scenario, engine):
        front.say("warning", warning)
    for note in plan.notes:
        front.say("note", note)
    missing = await engine.upfront()
    if missing:
        return Outcome("refused", refused="; ".join(missing) + " — nothing was sent")
    if request.dry_run:
        await engine.dry_run()
        return Outcome("dry run")
    try:
        for warning in await engine.preflight():
            front.say("warning", warning)
        start = await _start(request, scenario, pair, front)
    except (PreflightError, PlanRefused) as exc:
        return Outcome("refused", refused=str(exc))
    result = await engine.run(start)
    remember(pair, stopped_at(scenario, result), scenario.name)
    return Outcome(result.status, result)


async def _start(request: Request, scenario: Scenario, pair: Pair, front: Front) -> int:
    """The step to start at: ``--from``; with ``resume``, where the last run stopped; else the front says."""
    if request.start is not None:
        try:
            return scenario.index_of(request.start)
        except ValueError as exc:
            raise PlanRefused(f"{exc} — nothing was sent") from None
    stopped = last_stop(scenario.name, pair)
    if stopped is None or not any(s.id == stopped.step for s in scenario.steps):
        if request.resume:
            front.say("note", f"no stopped run of {scenario.name} on this pair to resume: starting at step 1")
        return 0
    if request.resume:
        front.say("note", stopped.describe())
        return scenario.index_of(stopped.step)
    return scenario.index_of(stopped.step) if await front.resume(stopped) else 0


async def _hand_to_guard(scenario: Scenario, pair: Pair, sessions: PairSessions, front: Front,
                         settle: float) -> str | None:
    """Why a VM the steps send to cannot be reached (`_unreached`), or None. A target that takes the connection
    but sends no greeting (wedged) is first handed to the pair's guard, which holds a session opened before the
    hang (`colotui guard`): cut loose, it greets this run."""
    for role in sorted(scenario.targets):
        if sessions[role].connected or not _wedged_guess(scenario, sessions, role):
            continue
        reply = await ask_guard(pair, role)
        if reply is None or not reply.ok:
            said = _unreached(scenario, sessions)
            return said if reply is None else f"{said} (the pair's guard could not cut it: {reply.error})"
        front.say("note", f"{reply.vm} was wedged: the pair's guard cut its connections to its peer out of band "
                          f"({described(reply.yanked)})")
        if not await sessions[role].wait_connected(settle):
            return f"{sessions[role].name} still sends no QMP greeting after the guard's cut — nothing was sent"
    return _unreached(scenario, sessions)


def _wedged_guess(scenario: Scenario, sessions: PairSessions, role: str) -> bool:
    """``role``'s VM takes connections but sends no greeting, and a step cuts it loose: likely wedged."""
    cuts = any(s.command.yank and ROLE_ALIASES.get(s.target, s.target) == role for s in scenario.steps)
    return cuts and sessions[role].unreached is Unreached.NO_GREETING


def _unreached(scenario: Scenario, sessions: PairSessions) -> str | None:
    """Why a VM the steps send to cannot be reached, once, with what to do; None when all are connected."""
    for role in sorted(scenario.targets):
        session = sessions[role]
        if session.connected:
            continue
        if _wedged_guess(scenario, sessions, role):
            return (f"{session.name} takes the connection but sends no QMP greeting: its main loop is wedged, most "
                    "likely by its peer hung in the middle of a checkpoint (or another client holds that -qmp "
                    "socket), and no new session can reach it — nothing was sent. Cut it loose from a session "
                    "opened before the hang (keep `colotui guard` running beside the pair: a run hands it the cut; "
                    "or press f in a console that was connected), or SIGKILL the hung peer, which frees it, and run "
                    "this again")
        return f"{session.name} is not connected: {session.detail} — nothing was sent"
    return None


def _vms(engine: Engine) -> dict[str, str]:
    """Each role's VM and its QEMU as its greeting said: nothing is asked (a failover's peer may be hung)."""
    vms = {}
    for role in ROLES:
        session = engine.session(role)
        known = session.version if session.connected else None
        vms[role] = f"{session.name} ({f'QEMU {known}' if known else f'not connected: {session.detail}'})"
    return vms


def _without_oob(scenario: Scenario, engine: Engine) -> Iterable[str]:
    for role in sorted(scenario.targets):
        if any(s.command.yank for s in scenario.steps if ROLE_ALIASES.get(s.target, s.target) == role) \
                and engine.oob(role) is None:
            yield (f"{role} has no out-of-band monitor (a second -qmp; --{role}-yank ADDR): its yank goes through "
                   "the main session, and waits behind it if that is busy")
