"""A console's engine room: the pair's sessions, a watcher per VM, the QMP console, procedures.

The controller owns everything that talks to QEMU (through the session service), decides what a change
means, and tells its front in plain events (`events`); no widget ever sees a session. It decides a role
change itself (another VM plays a role: attach it, unless a procedure runs; then say so), drops the late
word of a VM no longer shown, and paces what it tells (`frame.Pacer`). The screen starts it with the
function that delivers its events, and the app closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

from ..config import Config
from ..discovery.doctor import Finding
from ..model import VMView
from ..model.pacemaker import ClusterState
from ..model.traffic import TrafficStats
from ..pair import Endpoint, Pair
from ..qmp import LibvirtAddress, Transcript
from ..qmp.probe import FactsCache
from ..repl.history import History
from ..repl.runner import Repl
from ..repl.safety import Confirm, Policy
from ..roles import ROLES, flipped
from ..scenario import Scenario
from ..service import pacemaker
from ..service.clock import SYSTEM_CLOCK, Clock
from ..service.sessions import PairSessions
from ..service.snapshots import examine_pair
from ..service.watcher import VMWatcher
from . import procedures
from .events import ClusterChanged, ControllerTrouble, Event, PairChanged, Tell, TrafficChanged, VMChanged
from .frame import Pacer
from .procedures import Front, Outcome, Request

#: Given the pair in use, yields the pair whenever other VMs play its roles (`colotui.lab.follow`).
Follower = Callable[[Callable[[], Pair]], AsyncIterator[Pair]]
#: A lab's traffic reports as they come (`colotui.lab.traffic.watch_stats`), for a lab with the net guest.
TrafficSource = Callable[[], AsyncIterator[TrafficStats]]
#: Opens the sessions to a pair's VMs by role (a replay's come from its player).
SessionSource = Callable[[Mapping[str, Endpoint]], PairSessions]


class ConsoleController:
    """Sessions, watchers, the REPL and procedures for one pair; ``follow``: a source of the pair as it
    changes (a lab's); ``connect=False`` opens nothing (recorded views arrive as events: snapshots,
    layout tests); ``sessions_for`` opens the sessions (default: live ones); ``repl=False``: no QMP console."""

    #: Why this console sends nothing that changes a VM, when it sends nothing (``read_only``).
    READ_ONLY = procedures.READ_ONLY

    def __init__(self, pair: Pair, *, config: Config | None = None, transcript: Transcript | None = None,
                 read_only: bool = False, history: History | None = None, follow: Follower | None = None,
                 traffic: TrafficSource | None = None, connect: bool = True, clock: Clock = SYSTEM_CLOCK,
                 sessions_for: SessionSource | None = None, repl: bool = True) -> None:
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
        self.running = False  # a procedure runs: the roles stay as they are until it ends
        self.cluster: ClusterState | None = None  # what Pacemaker shows of the pair's resource, if it is one
        self._sessions_for = sessions_for or self._live_sessions
        self._with_repl = repl
        self._tell: Tell = lambda event: None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._shown: dict[str, VMView] = {}
        self._pacer: Pacer[str, VMView] = Pacer(self._deliver)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, tell: Tell) -> None:
        """Open the sessions and start watching; ``tell`` delivers the controller's events to its front."""
        self._tell = tell
        if not self.connect or self.sessions is not None:
            return
        self.attach(self.pair)
        if self.follow is not None:
            self.spawn("follow", self._follow(self.follow))
        if self.traffic is not None:
            self.spawn("traffic", self._traffic(self.traffic))
        if self.pair.pacemaker:
            self.spawn("pacemaker", self._cluster(self.pair.pacemaker))

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._pacer.cancel()
        if self.sessions is not None:
            await self.sessions.close()

    def tell(self, event: Event) -> None:
        """Say ``event`` to the front."""
        self._tell(event)

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of the controller's; if it fails, the front hears of it (never a traceback)."""
        task = asyncio.get_running_loop().create_task(work, name=f"colotui-{name}")
        self._tasks[name] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._tasks.get(name) is finished:
                del self._tasks[name]
            if not finished.cancelled() and finished.exception() is not None:
                self.tell(ControllerTrouble(f"{name} stopped: {finished.exception()!r}"))

        task.add_done_callback(done)

    def _live_sessions(self, endpoints: Mapping[str, Endpoint]) -> PairSessions:
        return PairSessions(endpoints, transcript=self.transcript, deadline=self.config.deadline,
                            read_only=self.read_only)

    # -- the VMs -----------------------------------------------------------------------------------

    def attach(self, pair: Pair) -> None:
        """Open sessions to ``pair``'s VMs and watch both (after `detach`, or at start); tells `PairChanged`
        for the roles another VM plays than before."""
        moved = tuple(role for role in ROLES if pair.by_role()[role] != self.pair.by_role()[role])
        self.pair = self._same_cluster(pair)
        for role in moved:
            self.views[role] = _blank(pair, role)
        self.sessions = self._sessions_for(pair.by_role())
        self.sessions.record(pair)
        for role in ROLES:
            self._watch(role)
        if moved:
            self.tell(PairChanged(pair, moved, dict(self.views)))

    async def detach(self) -> None:
        """Stop watching both VMs and close their sessions (a replay going back starts again from nothing)."""
        for role in ROLES:
            await self._unwatch(role)
        if self.sessions is not None:
            await self.sessions.close()
        self.sessions = None

    def _watch(self, role: str) -> None:
        assert self.sessions is not None
        endpoint = self.pair.by_role()[role]

        def changed(view: VMView) -> None:
            if self.watchers.get(role) is watcher:  # not a late word from the VM that played the role before
                self._changed(role, view)

        watcher = VMWatcher(self.sessions[role], _shown_address(endpoint), changed,
                            oob=self.sessions.oob(role), refresh_interval=self.config.refresh_interval,
                            clock=self.clock)
        self.watchers[role] = watcher
        self.spawn(f"watch-{role}", watcher.run())

    def _changed(self, role: str, view: VMView) -> None:
        self.views[role] = view
        shown = self._shown.get(role)
        self._pacer.put(role, view, only_checkpoints=shown is not None and
                        view.with_(checkpoints=shown.checkpoints) == shown)

    def _deliver(self, pending: dict[str, VMView]) -> None:
        self._shown |= pending
        for role, view in pending.items():
            self.tell(VMChanged(role, view))

    def refresh(self) -> None:
        """Ask each connected VM everything again now."""
        for role, watcher in self.watchers.items():
            if watcher.session.connected:
                self.spawn(f"refresh-{role}", watcher.refresh_all())

    async def read_all(self) -> None:
        """Ask each connected VM everything again, and wait for the answers."""
        await asyncio.gather(*(w.refresh_all() for w in self.watchers.values() if w.session.connected))

    async def _follow(self, follow: Follower) -> None:
        async for pair in follow(lambda: self.pair):
            if not self.running:  # else the follower says it again once the procedure is over
                await self.use(pair)

    async def _traffic(self, source: TrafficSource) -> None:
        async for stats in source():
            self.tell(TrafficChanged(stats))

    async def _cluster(self, resource: str) -> None:
        """The cluster's view of the pair's resource, read every refresh interval (told when it changes)."""
        while True:
            state = await pacemaker.look(resource)
            if state != self.cluster:
                self.cluster = state
                if self.repl is not None:
                    self.repl.policy = replace(self.repl.policy, managed=state.refusal)
                self.tell(ClusterChanged(state))
            await asyncio.sleep(self.config.refresh_interval)

    async def use(self, pair: Pair) -> list[str]:
        """Attach the VMs that play the roles now, and tell `PairChanged`; returns the roles whose VM changed."""
        changed = [role for role in ROLES if pair.by_role()[role] != self.pair.by_role()[role]]
        self.pair = pair = self._same_cluster(pair)
        if not changed:
            return changed
        if self.sessions is not None:
            self.sessions.record(pair)
        for role in changed:
            await self._unwatch(role)
            if self.sessions is not None:
                await self.sessions.replace(role, pair.by_role()[role])
                self._watch(role)
        if self.repl is not None:
            self.repl = self._new_repl()
        self.tell(PairChanged(pair, tuple(changed), dict(self.views)))
        return changed

    def _same_cluster(self, pair: Pair) -> Pair:
        """``pair`` (a lab's respawn, a swap) is still the Pacemaker resource the console was given."""
        return pair if pair.pacemaker or not self.pair.pacemaker else replace(pair, pacemaker=self.pair.pacemaker)

    async def _unwatch(self, role: str) -> None:
        """Stop watching ``role``'s VM and forget what was seen of it (the view starts blank for the VM that
        plays it in ``self.pair``)."""
        task = self._tasks.pop(f"watch-{role}", None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.watchers.pop(role, None)
        self.views[role] = _blank(self.pair, role)
        self._pacer.drop(role)
        self._shown.pop(role, None)

    # -- the QMP console and procedures ----------------------------------------------------------

    def open_repl(self) -> Repl | None:
        """The QMP console on the pair's sessions, made when a console screen first shows it (a pair in a
        fleet whose console is never opened needs none); None when not connected."""
        if self.repl is None and self.sessions is not None:
            self.repl = self._new_repl()
        return self.repl

    def _new_repl(self) -> Repl | None:
        if not self._with_repl or self.sessions is None:
            return None
        managed = self.cluster.refusal if self.cluster else \
            f"the pair is Pacemaker resource {self.pair.pacemaker!r}, not read yet; nothing was sent" \
            if self.pair.pacemaker else None
        policy = Policy(self.read_only, Confirm.COLO if self.config.confirm_repl_in_colo else Confirm.NEVER, managed)

        async def in_colo(role: str) -> bool:
            return self.views[role].in_colo

        if self.history is None:
            self.history = History()
        return Repl(self.sessions, policy=policy, history=self.history, facts=self.facts, in_colo=in_colo)

    def procedure_refusal(self) -> str | None:
        """Why this console runs no procedure at all, if it runs none (asked before one is even picked)."""
        return self.READ_ONLY if self.read_only else None

    async def run_procedure(self, scenario: Scenario, front: Front) -> Outcome:
        """Run ``scenario`` on the pair through the one run path, ``front`` confirming and showing it; while
        it runs, the roles stay with the VMs it started on."""
        self.running = True
        try:
            return await procedures.run(Request(scenario), self.pair, self.sessions, front,
                                        read_only=self.procedure_refusal(), facts=self.facts)
        finally:
            self.running = False

    async def doctor(self) -> list[tuple[str, Finding]]:
        """The doctor's findings on the pair, each with the pane (role as given) it is about ("" for both)."""
        if self.sessions is None:
            return []
        findings, flip = await examine_pair({r: self.sessions[r] for r in ROLES}, 2.0, self.facts)
        pane = flipped(flip)
        return [(pane.get(f.role, ""), f) for f in findings]


def _blank(pair: Pair, role: str) -> VMView:
    endpoint = pair.by_role()[role]
    return VMView(endpoint.name, _shown_address(endpoint))


def _shown_address(endpoint: Endpoint) -> str:
    """What a pane says the VM is at: its COLO address, else its QMP address (a libvirt URI is long, and its
    domain is what an operator knows the VM by)."""
    qmp = endpoint.qmp
    return endpoint.address or (f"libvirt:{qmp.domain}" if isinstance(qmp, LibvirtAddress) else str(qmp))
