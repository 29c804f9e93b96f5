"""Keeps a `VMView` of one VM current, driven by its session's events.

Queries run on connect, after events that change what they report, and on a
slow periodic refresh; STOP/RESUME (two per COLO checkpoint) only flip the
running flag and schedule one debounced status query, so an idle console costs
QEMU about one call a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..qmp import CommandError, Event, LinkChanged, LinkState, Ok, Session
from .vm import ColoStatus, VMView

#: Events after which the role or run state is worth asking for again.
_REFRESH_ON = frozenset({"COLO_EXIT", "MIGRATION", "SHUTDOWN", "RESET", "SUSPEND", "WAKEUP", "GUEST_PANICKED"})
_STATUS_DEBOUNCE = 0.3


class VMWatcher:
    """Runs until cancelled; calls ``on_change`` with each new `VMView`."""

    def __init__(self, session: Session, address: str, on_change: Callable[[VMView], None],
                 refresh_interval: float = 5.0) -> None:
        self.session = session
        self.view = VMView(session.name, address, session.state, session.detail)
        self._on_change = on_change
        self._refresh_interval = refresh_interval
        self._status_task: asyncio.Task[None] | None = None

    def _publish(self, **changes: object) -> None:
        view = self.view.with_(**changes)
        if view != self.view:
            self.view = view
            self._on_change(view)

    async def run(self) -> None:
        sub = self.session.subscribe(maxlen=256)
        self._on_change(self.view)
        if self.session.connected:
            await self.refresh()
        try:
            while True:
                try:
                    notice = await asyncio.wait_for(sub.get(), self._refresh_interval)
                except TimeoutError:
                    if self.session.connected:
                        await self.refresh()
                    continue
                await self._handle(notice)
        finally:
            sub.close()
            if self._status_task is not None:
                self._status_task.cancel()

    async def _handle(self, notice: Event | LinkChanged) -> None:
        if isinstance(notice, LinkChanged):
            self._publish(link=notice.state, link_detail=notice.detail)
            if notice.state is LinkState.CONNECTED:
                await self.refresh()
            return
        if notice.name == "STOP":
            self._publish(running=False)
            self._schedule_status()
        elif notice.name == "RESUME":
            self._publish(running=True, status="running")
        elif notice.name in _REFRESH_ON:
            await self.refresh()

    def _schedule_status(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
        self._status_task = asyncio.create_task(self._query_status(after=_STATUS_DEBOUNCE))

    async def _query_status(self, after: float = 0.0) -> None:
        await asyncio.sleep(after)
        reply = await self.session.execute("query-status")
        if isinstance(reply, Ok):
            self._publish(status=reply.value.get("status"), running=reply.value.get("running"))

    async def refresh(self) -> None:
        """Ask QEMU again for everything the view shows."""
        version = self.session.version
        self._publish(version=".".join(map(str, version)) if version else None)
        await self._query_status()
        reply = await self.session.execute("query-colo-status")
        if isinstance(reply, Ok):
            self._publish(colo=ColoStatus.from_reply(reply.value), colo_available=True)
        elif isinstance(reply, CommandError) and reply.error_class == "CommandNotFound":
            self._publish(colo=None, colo_available=False)
