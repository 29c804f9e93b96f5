"""Keeps a `VMView` of one VM current, driven by its session's notices.

What changes often (run state, role, migration status) is asked every
``refresh_interval``; the structure (filters, chardevs, block graph, jobs) on
connect, after events that change it, after any command colotui sent, and
every few refreshes. COLO's STOP/RESUME pairs are counted as checkpoints and
cost no query, so an attached console stays light on QEMU.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..model.block import BlockJob, parse_jobs
from ..model.checkpoints import CheckpointCounter
from ..model.replies import COMPARE_PROPS, STRUCTURE_QUERIES, fast_changes, structure_changes
from ..model.vm import Compare, LogEntry, VMView
from ..qmp import CHECKPOINT_EVENTS, CommandError, DeadlineExceeded, Event, LinkChanged, LinkState, Ok, Session
from ..qmp.health import Health, probe
from ..qmp.notices import CommandSent, Notice, Unreached
from .clock import SYSTEM_CLOCK, Clock

#: Events that change what the structure refresh reads.
#: What reads every block node's driver state (qcow2's specific info among it).
BLOCK_NODE_QUERIES = frozenset({"x-debug-query-block-graph", "query-named-block-nodes"})
#: An incoming migration's states before it ends (in COLO, completed, or failed).
INCOMING_ACTIVE = frozenset({"setup", "active", "device", "postcopy-active", "pre-switchover"})
_STRUCTURE_EVENTS = frozenset({"MIGRATION", "COLO_EXIT", "JOB_STATUS_CHANGE", "BLOCK_JOB_COMPLETED",
                               "BLOCK_JOB_CANCELLED", "BLOCK_JOB_READY", "BLOCK_JOB_ERROR", "BLOCK_EXPORT_DELETED",
                               "DEVICE_DELETED", "NIC_RX_FILTER_CHANGED", "SHUTDOWN", "RESET"})
_DEBOUNCE = 0.2
_JOB_POLL = 1.0
LOG_LENGTH = 200
#: How long a watcher's read may take before the VM is asked whether it answers at all (seconds): out of COLO,
#: before the first checkpoint after COLO (re)starts (the longest: it sends what the resume dirtied), and while a
#: checkpoint runs longer than usual (then only until it is overdue: the stall's probe tells a hang then).
QUERY_DEADLINE = 2.0
#: Otherwise in COLO each checkpoint holds QEMU's lock for its pause (milliseconds): a read may take this many
#: recent pauses, and at least `COLO_QUERY_FLOOR` seconds, so a peer hung mid-checkpoint is found in a second.
COLO_QUERY_PAUSES = 10
COLO_QUERY_FLOOR = 0.5
#: While checkpoints have stalled, how often the VM is asked again whether it answers (seconds).
STALLED_PROBE_EVERY = 2.0
#: How long the watcher's probe waits for an answer: it only raises an alert, so it may be quick (a procedure's
#: `answers` check, which allows a failover, waits longer).
WATCH_PROBE_DEADLINE = 0.5


class VMWatcher:
    """Runs until cancelled; calls ``on_change`` with each new `VMView`."""

    def __init__(self, session: Session, address: str, on_change: Callable[[VMView], None], *,
                 oob: Session | None = None, refresh_interval: float = 5.0, structure_every: int = 3,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        """``oob``: a second session to the VM, for out-of-band questions (it tells a blocked main loop
        from a hung VM); ``clock``: a replay's, where the session is a recording."""
        self.clock = clock
        self.session = session
        self.oob = oob
        self.view = VMView(session.name, address, session.state, session.detail)
        self.calls = 0  # QMP commands this watcher has sent (for the benchmark)
        self._on_change = on_change
        self._refresh_interval = refresh_interval
        self._structure_every = structure_every
        self._counter = CheckpointCounter()
        self._log: deque[LogEntry] = deque(maxlen=LOG_LENGTH)
        self._seq = 0
        self._compare_cache: dict[str, Compare] = {}
        self._job_marks: dict[str, tuple[float, int]] = {}  # job id → (when, offset) at the last look
        self._fast_due = self.clock.monotonic() + refresh_interval
        self._fast_count = 0
        self._structure_due: float | None = None
        self._status_due: float | None = None
        self._jobs_due = 0.0  # while a job runs, its progress is asked at most every _JOB_POLL seconds
        self._last_checkpoint = self.clock.monotonic()  # or since COLO began
        self._stall_at = self._last_checkpoint + 1.8  # when the next checkpoint is overdue (in COLO)
        self._probe_due: float | None = None
        self._colo_checkpoints = 0  # since COLO last (re)started, or since this watcher began
        self._stop_seen: float | None = None  # when the checkpoint under way began (its STOP came), here
        self._sub = session.subscribe(maxlen=1024)  # from now: a replay may play notices before `run` starts

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        sub = self._sub
        if self.oob is None:
            self._add_log("no out-of-band monitor (a second -qmp address): a hung peer is cut off through the "
                          "main session, and a blocked main loop looks like a hung VM", "warning")
        self._on_change(self.view)
        if self.session.connected:
            await self.refresh_all()
        try:
            while True:
                notice = sub.get_nowait()
                if notice is None:  # nothing waiting: sleep until the next notice or the next refresh due
                    wait = self.clock.real(max(0.0, self._next_due() - self.clock.monotonic()))
                    try:
                        async with asyncio.timeout(wait):
                            notice = await sub.get()
                    except TimeoutError:
                        notice = None
                if notice is not None:
                    await self._handle(notice)
                await self._run_due()
        finally:
            sub.close()

    def _next_due(self) -> float:
        dues = [self._fast_due]
        if self._structure_due is not None:
            dues.append(self._structure_due)
        if self._status_due is not None:
            dues.append(self._status_due)
        if self._polling_jobs():
            dues.append(self._jobs_due)
        if self.view.migration == "colo" and not self.view.checkpoints_stalled:
            dues.append(self._stall_at)
        if self._probe_due is not None:
            dues.append(self._probe_due)
        return min(dues)

    def _expect_checkpoint(self) -> None:
        """The next checkpoint is overdue after half again the usual interval (as seen since COLO last
        (re)started, at least the configured delay; else that delay, else a second), and a little more."""
        fresh = min(10, self._colo_checkpoints - 1)  # intervals since COLO (re)started: a resume may change it
        recent = self.view.checkpoints.intervals_s[-fresh:] if fresh > 0 else ()
        delay = (self.view.checkpoint_delay_ms or 1000) / 1000
        usual = max(statistics.median(recent), delay) if recent else delay
        self._last_checkpoint = self.clock.monotonic()
        self._stall_at = self._last_checkpoint + max(1.0, 1.5 * usual + 0.3)

    def _polling_jobs(self) -> bool:
        return any(not j.internal and j.status in ("created", "running", "ready", "standby", "waiting")
                   for j in self.view.jobs)

    async def _run_due(self) -> None:
        now = self.clock.monotonic()
        # overdue only once every notice that came is read: a loop that was late (a loaded host) may hold the
        # RESUME that ends the checkpoint
        if self.view.migration == "colo" and now >= self._stall_at and not self.view.checkpoints_stalled \
                and not len(self._sub):
            self._add_log(f"checkpoints stalled: none for {now - self._last_checkpoint:.1f} s", "critical")
            self._publish(checkpoints_stalled=True)
            self._probe_due = now
        if self._probe_due is not None and now >= self._probe_due:
            self._probe_due = now + STALLED_PROBE_EVERY if self.view.checkpoints_stalled else None
            await self.check_health()
        if not self.session.connected:
            self._fast_due = now + self._refresh_interval
            return
        if self._structure_due is not None and now >= self._structure_due:
            self._structure_due = None
            await self.refresh_structure()
        if self._status_due is not None and now >= self._status_due:
            self._status_due = None
            await self._fast()
        if now >= self._fast_due:
            self._fast_due = now + self._refresh_interval
            self._fast_count += 1
            if self._fast_count % self._structure_every == 0:
                await self.refresh_all()
            else:
                await self._fast()
        elif self._polling_jobs() and now >= self._jobs_due:
            await self._jobs()

    def _soon(self, what: str) -> None:
        due = self.clock.monotonic() + _DEBOUNCE
        if what == "structure":
            self._structure_due = min(self._structure_due or due, due)
        else:
            self._status_due = min(self._status_due or due, due)

    # -- notices -----------------------------------------------------------------------------

    async def _handle(self, notice: Notice) -> None:
        if isinstance(notice, LinkChanged):
            self._link(notice)
            if notice.state is LinkState.CONNECTED:
                await self.refresh_all()
        elif isinstance(notice, CommandSent):
            self._soon("structure")
        elif isinstance(notice, Event):
            self._event(notice)

    def _link(self, notice: LinkChanged) -> None:
        if notice.state is LinkState.DISCONNECTED:
            self._add_log(f"QMP connection lost: {notice.detail}", "critical")
            self._counter.reset_pending()
            self._health(Health.DOWN, notice.detail)
        elif notice.state is LinkState.CONNECTED:
            self._add_log(f"QMP connected ({notice.detail})")
            self._health(Health.ANSWERS, notice.detail)
        elif notice.unreached is Unreached.NOTHING_LISTENS:  # down, at once
            self._health(Health.DOWN, notice.detail)
        elif notice.unreached is Unreached.NO_GREETING:  # the socket takes connections, QEMU says nothing: hung
            self._health(Health.NOT_ANSWERING, notice.detail)
        self._publish(link=notice.state, link_detail=notice.detail)

    def _health(self, health: Health, detail: str) -> None:
        if health is not self.view.health and self.view.health is not None:
            severity = "info" if health is Health.ANSWERS else "critical"
            self._add_log(f"{health.value}: {detail}" if health is not Health.ANSWERS else "answers again", severity)
        since = self.clock.time() if health is not self.view.health else self.view.health_since
        self._publish(health=health, health_detail=detail, health_since=since)

    async def check_health(self) -> None:
        """Ask the VM, in band and out of band at once, whether it answers."""
        self.calls += 1 + (self.oob is not None)
        verdict = await probe(self.session, self.oob, WATCH_PROBE_DEADLINE)
        self._health(verdict.health, verdict.detail)

    def _event(self, event: Event) -> None:
        in_colo = self.view.migration == "colo"
        if event.name == "STOP":  # in COLO a checkpoint, not a change of state worth showing
            if in_colo:
                self._counter.stop(event.timestamp)
                self._stop_seen = self.clock.monotonic()
            else:
                self._soon("status")
                self._publish(running=False)
        elif event.name == "RESUME":
            self._stop_seen = None
            if self._counter.resume(event.timestamp):
                self._colo_checkpoints += 1
                self._publish(checkpoints=self._counter.stats(event.timestamp))
                self._checkpointed()
            else:
                self._publish(running=True, status="running")
        if event.name in CHECKPOINT_EVENTS and (in_colo or event.name == "MIGRATION_PASS"):
            return
        if event.name == "MIGRATION":
            status = str(event.data.get("status", ""))
            if status != "colo":
                self._counter.reset_pending()
                self._publish(migration=status, checkpoints_stalled=False)
            else:  # COLO begins (again): the first checkpoint is due from now, and an earlier COLO_EXIT is over
                self._colo_checkpoints = 0
                self._expect_checkpoint()
                self._publish(migration=status, checkpoints_stalled=False, colo_exit=None)
        severity = "info"
        if event.name == "COLO_EXIT":
            severity = "critical" if event.data.get("reason") == "error" else "warning"
            self._publish(colo_exit=tuple(sorted((k, str(v)) for k, v in event.data.items())))
        elif event.name in ("BLOCK_JOB_ERROR", "GUEST_PANICKED", "SHUTDOWN"):
            severity = "warning"
        data = " ".join(f"{k}={v}" for k, v in event.data.items())
        self._add_log(f"{event.name} {data}".strip(), severity)
        if event.name in _STRUCTURE_EVENTS:
            self._soon("structure")
            self._soon("status")

    def _checkpointed(self) -> None:
        self._expect_checkpoint()
        if self.view.checkpoints_stalled:
            self._add_log("checkpoints flow again")
            self._publish(checkpoints_stalled=False)
            self._probe_due = self.clock.monotonic()

    def _add_log(self, text: str, severity: str = "info") -> None:
        self._seq += 1
        self._log.append(LogEntry(self._seq, self.clock.time(), text, severity))
        self._publish(log=tuple(self._log))

    def _publish(self, **changes: Any) -> None:
        view = self.view.with_(**changes)
        if view != self.view:
            self.view = view
            self._on_change(view)

    # -- queries -----------------------------------------------------------------------------

    def query_deadline(self) -> float:
        """The deadline of the next read: low while checkpoints flow as usual, the ordinary one around the
        first after COLO (re)starts, and while one lasts longer than usual until it is overdue (see
        `QUERY_DEADLINE`): a read must not hold the watcher past the moment a stall is noticed."""
        pauses = self.view.checkpoints.pauses_ms[-10:]
        if self.view.migration != "colo" or not pauses or self._colo_checkpoints < 1:
            return QUERY_DEADLINE
        low = min(QUERY_DEADLINE, max(COLO_QUERY_FLOOR, COLO_QUERY_PAUSES * statistics.median(pauses) / 1000))
        now = self.clock.monotonic()
        if self._stop_seen is not None and (now - self._stop_seen) * 1000 > 3 * max(pauses):
            return min(QUERY_DEADLINE, max(low, self._stall_at - now))  # until it is overdue, not beyond
        return low

    async def _ask(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        self.calls += 1
        reply = await self.session.execute(command, arguments, deadline=self.query_deadline())
        if isinstance(reply, Ok):
            if self.view.health not in (None, Health.ANSWERS) and self.session.connected:
                self._health(Health.ANSWERS, "it answers again")
            return reply.value
        if isinstance(reply, DeadlineExceeded) and self._probe_due is None:
            self._probe_due = self.clock.monotonic()  # late: does it answer at all?
        if isinstance(reply, CommandError) and reply.error_class == "CommandNotFound":
            return _MISSING
        return None

    async def _fast(self) -> None:
        status, colo, migrate = await asyncio.gather(self._ask("query-status"), self._ask("query-colo-status"),
                                                     self._ask("query-migrate"))
        version = self.session.version
        changes = fast_changes(status, None if colo is _MISSING else colo, migrate, colo_missing=colo is _MISSING)
        changes["version"] = str(version) if version else None
        if changes.get("migration", "colo") != "colo":
            self._counter.reset_pending()
        self._publish(**changes)

    async def _jobs(self) -> None:
        self._jobs_due = self.clock.monotonic() + _JOB_POLL
        jobs = await self._ask("query-block-jobs")
        if isinstance(jobs, list):
            internal = tuple(j for j in self.view.jobs if j.internal)
            self._publish(jobs=self._with_rates(parse_jobs(jobs)) + internal)

    def _with_rates(self, jobs: tuple[BlockJob, ...]) -> tuple[BlockJob, ...]:
        """Each job with its copy rate since the previous look at it."""
        now, rated = self.clock.monotonic(), []
        for job in jobs:
            before = self._job_marks.get(job.id)
            rate = (job.offset - before[1]) / (now - before[0]) if before and now > before[0] else 0.0
            rated.append(replace(job, rate=max(rate, 0.0)))
            self._job_marks[job.id] = (now, job.offset)
        self._job_marks = {k: v for k, v in self._job_marks.items() if any(j.id == k for j in jobs)}
        return tuple(rated)

    async def refresh_structure(self) -> None:
        """Filters, chardevs, objects, block graph, jobs, exports, migration settings; the block nodes are not
        asked of a VM taking an incoming migration (their fields stay as they were read before)."""
        asked = {name: query for name, query in STRUCTURE_QUERIES.items()
                 if not (name in BLOCK_NODE_QUERIES and self._receiving())}
        replies = dict(zip(asked, await asyncio.gather(
            *(self._ask(command, arguments) for command, arguments in asked.values())), strict=True))
        changes = structure_changes(replies)
        if "jobs" in changes:
            changes["jobs"] = self._with_rates(changes["jobs"])
        if "objects" in changes:
            changes["compares"] = await self._compares([i for i, t in changes["objects"] if t == "colo-compare"])
        self._publish(**changes)

    def _receiving(self) -> bool:
        """An incoming migration is under way here (a secondary before COLO): QEMU 7.2 aborts
        (qcow2_get_specific_info: Assertion 'false') when its block nodes are read while the migration's end
        activates its images, as a watcher did on the MIGRATION event."""
        return self.view.status == "inmigrate" and self.view.migration in INCOMING_ACTIVE

    async def _compares(self, ids: list[str]) -> tuple[Compare, ...]:
        """colo-compare settings, read once per object (qom-get for each property)."""
        for obj in ids:
            if obj not in self._compare_cache:
                values = await asyncio.gather(*(self._ask("qom-get", {"path": f"/objects/{obj}", "property": p})
                                                for p in COMPARE_PROPS))
                known = zip(COMPARE_PROPS, values, strict=True)
                self._compare_cache[obj] = Compare(obj, tuple((p, str(v)) for p, v in known
                                                              if v is not None and v is not _MISSING))
        for gone in set(self._compare_cache) - set(ids):
            del self._compare_cache[gone]
        return tuple(self._compare_cache[i] for i in ids)

    async def refresh_all(self) -> None:
        """Everything, at once (pipelined on the one connection): the first full view comes fast."""
        await asyncio.gather(self._fast(), self.refresh_structure())


_MISSING = object()  # the command does not exist on this QEMU
