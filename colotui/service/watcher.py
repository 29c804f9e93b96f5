"""Keeps a `VMView` of one VM current, driven by its session's notices.

What changes often (run state, role, migration status) is asked every
``refresh_interval``; the structure (filters, chardevs, block graph, jobs) on
connect, after events that change it, after any command colotui sent, and
every few refreshes. COLO's STOP/RESUME pairs are counted as checkpoints and
cost no query, so an attached console stays light on QEMU.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..model.block import BlockJob, parse_jobs
from ..model.checkpoints import CheckpointCounter
from ..model.replies import COMPARE_PROPS, STRUCTURE_QUERIES, fast_changes, structure_changes
from ..model.vm import Compare, LogEntry, VMView
from ..qmp import CHECKPOINT_EVENTS, CommandError, Event, LinkChanged, LinkState, Ok, Session
from ..qmp.notices import CommandSent, Notice

#: Events that change what the structure refresh reads.
_STRUCTURE_EVENTS = frozenset({"MIGRATION", "COLO_EXIT", "JOB_STATUS_CHANGE", "BLOCK_JOB_COMPLETED",
                               "BLOCK_JOB_CANCELLED", "BLOCK_JOB_READY", "BLOCK_JOB_ERROR", "BLOCK_EXPORT_DELETED",
                               "DEVICE_DELETED", "NIC_RX_FILTER_CHANGED", "SHUTDOWN", "RESET"})
_DEBOUNCE = 0.2
_JOB_POLL = 1.0
LOG_LENGTH = 200


class VMWatcher:
    """Runs until cancelled; calls ``on_change`` with each new `VMView`."""

    def __init__(self, session: Session, address: str, on_change: Callable[[VMView], None], *,
                 refresh_interval: float = 5.0, structure_every: int = 3) -> None:
        self.session = session
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
        self._fast_due = time.monotonic() + refresh_interval
        self._fast_count = 0
        self._structure_due: float | None = None
        self._status_due: float | None = None
        self._jobs_due = 0.0  # while a job runs, its progress is asked at most every _JOB_POLL seconds

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        sub = self.session.subscribe(maxlen=1024)
        self._on_change(self.view)
        if self.session.connected:
            await self.refresh_all()
        try:
            while True:
                notice = sub.get_nowait()
                if notice is None:  # nothing waiting: sleep until the next notice or the next refresh due
                    try:
                        async with asyncio.timeout(max(0.0, self._next_due() - time.monotonic())):
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
        return min(dues)

    def _polling_jobs(self) -> bool:
        return any(not j.internal and j.status in ("created", "running", "ready", "standby", "waiting")
                   for j in self.view.jobs)

    async def _run_due(self) -> None:
        now = time.monotonic()
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
        due = time.monotonic() + _DEBOUNCE
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
        elif notice.state is LinkState.CONNECTED:
            self._add_log(f"QMP connected ({notice.detail})")
        self._publish(link=notice.state, link_detail=notice.detail)

    def _event(self, event: Event) -> None:
        in_colo = self.view.migration == "colo"
        if event.name == "STOP":  # in COLO a checkpoint, not a change of state worth showing
            if in_colo:
                self._counter.stop(event.timestamp)
            else:
                self._soon("status")
                self._publish(running=False)
        elif event.name == "RESUME":
            if self._counter.resume(event.timestamp):
                self._publish(checkpoints=self._counter.stats(event.timestamp))
            else:
                self._publish(running=True, status="running")
        if event.name in CHECKPOINT_EVENTS and (in_colo or event.name == "MIGRATION_PASS"):
            return
        if event.name == "MIGRATION":
            status = str(event.data.get("status", ""))
            if status != "colo":
                self._counter.reset_pending()
            self._publish(migration=status)
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

    def _add_log(self, text: str, severity: str = "info") -> None:
        self._seq += 1
        self._log.append(LogEntry(self._seq, time.time(), text, severity))
        self._publish(log=tuple(self._log))

    def _publish(self, **changes: Any) -> None:
        view = self.view.with_(**changes)
        if view != self.view:
            self.view = view
            self._on_change(view)

    # -- queries -----------------------------------------------------------------------------

    async def _ask(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        self.calls += 1
        reply = await self.session.execute(command, arguments)
        if isinstance(reply, Ok):
            return reply.value
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
        self._jobs_due = time.monotonic() + _JOB_POLL
        jobs = await self._ask("query-block-jobs")
        if isinstance(jobs, list):
            internal = tuple(j for j in self.view.jobs if j.internal)
            self._publish(jobs=self._with_rates(parse_jobs(jobs)) + internal)

    def _with_rates(self, jobs: tuple[BlockJob, ...]) -> tuple[BlockJob, ...]:
        """Each job with its copy rate since the previous look at it."""
        now, rated = time.monotonic(), []
        for job in jobs:
            before = self._job_marks.get(job.id)
            rate = (job.offset - before[1]) / (now - before[0]) if before and now > before[0] else 0.0
            rated.append(replace(job, rate=max(rate, 0.0)))
            self._job_marks[job.id] = (now, job.offset)
        self._job_marks = {k: v for k, v in self._job_marks.items() if any(j.id == k for j in jobs)}
        return tuple(rated)

    async def refresh_structure(self) -> None:
        """Filters, chardevs, objects, block graph, jobs, exports, migration settings."""
        replies = dict(zip(STRUCTURE_QUERIES, await asyncio.gather(
            *(self._ask(command, arguments) for command, arguments in STRUCTURE_QUERIES.values())), strict=True))
        changes = structure_changes(replies)
        if "jobs" in changes:
            changes["jobs"] = self._with_rates(changes["jobs"])
        if "objects" in changes:
            changes["compares"] = await self._compares([i for i, t in changes["objects"] if t == "colo-compare"])
        self._publish(**changes)

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
