"""The console's engine room: the pair's sessions, a watcher per VM, the QMP console, procedures.

The controller owns everything that talks to QEMU (through the session
service) and tells the screen what happened with messages; no widget ever sees
a session. It is plain asyncio: the screen starts it with the function that
posts its messages, and the app closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from textual.message import Message

from ..config import Config
from ..discovery.doctor import Finding
from ..model import VMView
from ..model.traffic import TrafficStats
from ..pair import ROLES, Pair, pair_record
from ..qmp import Transcript
from ..qmp.probe import FactsCache
from ..repl.history import History
from ..repl.runner import Repl
from ..repl.safety import Confirm, Policy
from ..scenario import Decision, Engine, PreflightError, Scenario, StepUpdate
from ..scenario.plan import PlanRefused, by_role, make_plan
from ..scenario.record import last_stop, remember, stopped_at
from ..service.clock import SYSTEM_CLOCK, Clock
from ..service.sessions import PairSessions
from ..service.snapshots import examine_pair
from ..service.watcher import VMWatcher
from .messages import ControllerTrouble, PairChanged, StepChanged, TrafficChanged, VMChanged

#: VM changes within one frame reach the screen as one message per VM (at most one repaint per pane).
FRAME = 1 / 60
#: A change that is only more checkpoints (up to ten a second) waits this long, gathering the next ones:
#: the count on screen moves once a second, and the console stays cheap for the host it often runs on.
CHECKPOINT_PAINT = 1.0


#: Why a read-only console (`--read-only`) runs no procedure, the failover key's included.
READ_ONLY_PROCEDURES = ("this console is read-only: procedures change the VMs (start it without --read-only "
                        "to run one); nothing was sent")

#: Given the pair in use, yields the pair whenever other VMs play its roles (`colotui.lab.follow`).
Follower = Callable[[Callable[[], Pair]], AsyncIterator[Pair]]
#: A lab's traffic reports as they come (`colotui.lab.traffic.watch_stats`), for a lab with the net guest.
TrafficSource = Callable[[], AsyncIterator[TrafficStats]]


class ConsoleController:
    """Sessions, watchers, the REPL and procedures for one pair; ``follow``: a source of the pair as it
    changes (a lab's); ``connect=False`` opens nothing (recorded views arrive as messages: snapshots,
    layout tests)."""

    def __init__(self, pair: Pair, *, config: Config | None = None, transcript: Transcript | None = None,
                 read_only: bool = False, history: History | None = None, follow: Follower | None = None,
                 traffic: TrafficSource | None = None, connect: bool = True, clock: Clock = SYSTEM_CLOCK) -> None:
        self.pair = pair
        self.clock = clock
        self.follow = follow
        self.traffic = traffic
        self.config = config or Config()
        self.transcript = transcript
        self.read_only = read_only
        self.history = history
        self.connect = connect
        self.facts = FactsCache()
        self.sessions: PairSessions | None = None
        self.watchers: dict[str, VMWatcher] = {}
        self.views: dict[str, VMView] = {role: _blank(pair, role) for role in ROLES}
        self.repl: Repl | None = None
        self._post: Callable[[Message], object] = lambda message: None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, VMView] = {}
        self._delivered: dict[str, VMView] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._flush_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, post: Callable[[Message], object]) -> None:
        """Open the sessions and start watching; ``post`` delivers messages to the screen."""
        self._post = post
        if not self.connect or self.sessions is not None:
            return
        self.sessions = self._open_sessions()
        self._record_pair()
        for role in ROLES:
            self._watch(role)
        if self.follow is not None:
            self._spawn("follow", self._follow(self.follow))
        if self.traffic is not None:
            self._spawn("traffic", self._traffic(self.traffic))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._flush is not None:
            self._flush.cancel()
        if self.sessions is not None:
            await self.sessions.close()

    def _open_sessions(self) -> PairSessions:
        return PairSessions(self.pair.by_role(), transcript=self.transcript, deadline=self.config.deadline,
                            read_only=self.read_only)

    def _record_pair(self) -> None:
        """Which VMs play which role from now on, in the transcript: a replay attaches the same."""
        if self.transcript is not None:
            self.transcript.write("", "pair", pair_record(self.pair))

    def _spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of the controller's; if it fails, the screen hears of it (never a traceback)."""
        task = asyncio.get_running_loop().create_task(work, name=f"colotui-{name}")
        self._tasks[name] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._tasks.get(name) is finished:
                del self._tasks[name]
            if not finished.cancelled() and finished.exception() is not None:
                self._post(ControllerTrouble(f"{name} stopped: {finished.exception()!r}"))

        task.add_done_callback(done)

    # -- the VMs -----------------------------------------------------------------------------------

    def _watch(self, role: str) -> None:
        assert self.sessions is not None
        endpoint = self.pair.by_role()[role]

        def changed(view: VMView) -> None:
            if self.watchers.get(role) is watcher:  # not a late word from the VM that played the role before
                self._changed(role, view)

        watcher = VMWatcher(self.sessions[role], endpoint.address or str(endpoint.qmp), changed,
                            oob=self.sessions.oob(role), refresh_interval=self.config.refresh_interval,
                            clock=self.clock)
        self.watchers[role] = watcher
        self._spawn(f"watch-{role}", watcher.run())

    def _changed(self, role: str, view: VMView) -> None:
        self.views[role] = view
        self._pending[role] = view
        shown = self._delivered.get(role)
        only_checkpoints = shown is not None and view.with_(checkpoints=shown.checkpoints) == shown
        loop = asyncio.get_running_loop()
        due = loop.time() + (CHECKPOINT_PAINT if only_checkpoints else FRAME)
        if self._flush is not None and due < self._flush_at:
            self._flush.cancel()
            self._flush = None
        if self._flush is None:
            self._flush, self._flush_at = loop.call_at(due, self._deliver), due

    def _deliver(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, {}
        self._delivered |= pending
        for role, view in pending.items():
            self._post(VMChanged(role, view))

    def refresh(self) -> None:
        """Ask each connected VM everything again now."""
        for role, watcher in self.watchers.items():
            if watcher.session.connected:
                self._spawn(f"refresh-{role}", watcher.refresh_all())

    async def _follow(self, follow: Follower) -> None:
        async for pair in follow(lambda: self.pair):
            self._post(PairChanged(pair))

    async def _traffic(self, source: TrafficSource) -> None:
        async for stats in source():
            self._post(TrafficChanged(stats))

    async def use(self, pair: Pair) -> list[str]:
        """Attach the VMs that play the roles now; returns the roles whose VM changed."""
        changed = [role for role in ROLES if pair.by_role()[role] != self.pair.by_role()[role]]
        self.pair = pair
        if self.sessions is None or not changed:
            return changed
        self._record_pair()
        for role in changed:
            await self._unwatch(role)
            await self.sessions.replace(role, pair.by_role()[role])
            self._watch(role)
        if self.repl is not None:
            self.repl = self._new_repl()
        return changed

    async def _unwatch(self, role: str) -> None:
        """Stop watching ``role``'s VM and forget what was seen of it (the view starts blank for the VM that
        plays it in ``self.pair``)."""
        task = self._tasks.pop(f"watch-{role}", None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.watchers.pop(role, None)
        self.views[role] = _blank(self.pair, role)
        self._pending.pop(role, None)
        self._delivered.pop(role, None)

    # -- the QMP console and procedures ----------------------------------------------------------

    def open_repl(self) -> Repl | None:
        """The QMP console on the pair's sessions, made when a console screen first shows it (a pair in a
        fleet whose console is never opened needs none); None when not connected."""
        if self.repl is None and self.sessions is not None:
            self.repl = self._new_repl()
        return self.repl

    def _new_repl(self) -> Repl | None:
        assert self.sessions is not None
        policy = Policy(self.read_only, Confirm.COLO if self.config.confirm_repl_in_colo else Confirm.NEVER)

        async def in_colo(role: str) -> bool:
            return self.views[role].in_colo

        if self.history is None:
            self.history = History()
        return Repl(self.sessions, policy=policy, history=self.history, facts=self.facts, in_colo=in_colo)

    def procedure_refusal(self) -> str | None:
        """Why this console runs no procedure at all, if it runs none (asked before one is even picked)."""
        return READ_ONLY_PROCEDURES if self.read_only else None

    async def run_procedure(self, scenario: Scenario, decide: Callable[[StepUpdate], Awaitable[Decision]],
                            warn: Callable[[str], None],
                            planned: Callable[[Scenario], None] = lambda scenario: None) -> str:
        """Run ``scenario`` on the pair, each step shown as it moves (`StepChanged`); its final status.
        ``planned`` gets the procedure as it will run (the steps of the pair's variant) before its first step.
        Raises `PreflightError` when the pair's QEMUs cannot run it, or this console runs none."""
        if (refused := self.procedure_refusal()) is not None:
            raise PreflightError(refused)
        if self.sessions is None:
            raise PreflightError("this console is not connected to any VM")
        sessions = self.sessions
        try:
            plan = await make_plan(scenario, sessions, self.pair)
        except PlanRefused as exc:
            raise PreflightError(str(exc)) from None
        scenario = plan.scenario
        planned(scenario)
        engine = Engine(scenario, by_role(plan, sessions), plan.settled.topology, decide=decide,
                        oob=lambda role: sessions.oob(plan.roles[role]), on_update=self._step_changed,
                        facts=self.facts)
        for note in plan.notes:
            warn(note)
        missing = await engine.upfront()
        if missing:
            raise PreflightError("; ".join(missing) + " — nothing was sent")
        for warning in await engine.preflight():
            warn(warning)
        stopped = last_stop(scenario.name, self.pair)
        if stopped is not None:
            warn(f"{stopped.describe()}; steps already done are recognised and not sent again")
        result = await engine.run()
        remember(self.pair, stopped_at(scenario, result), scenario.name)
        return result.status

    async def doctor(self) -> list[tuple[str, Finding]]:
        """The doctor's findings on the pair, each with the pane (role as given) it is about ("" for both)."""
        if self.sessions is None:
            return []
        findings, flip = await examine_pair({r: self.sessions[r] for r in ROLES}, 2.0, self.facts)
        pane = {"primary": "secondary", "secondary": "primary"} if flip else {r: r for r in ROLES}
        return [(pane.get(f.role, ""), f) for f in findings]

    def _step_changed(self, update: StepUpdate) -> None:
        self._post(StepChanged(update))


def _blank(pair: Pair, role: str) -> VMView:
    endpoint = pair.by_role()[role]
    return VMView(endpoint.name, endpoint.address or str(endpoint.qmp))
