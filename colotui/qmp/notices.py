"""Events and link changes, fanned out to subscribers through bounded buffers.

COLO emits STOP and RESUME at every checkpoint, on both sides, for as long as it
runs. Anything that keeps every event (as qemu.qmp's own listeners do) grows
without bound; here each subscriber owns a fixed-size buffer, drops the oldest
notice when it is full and counts what it dropped, so a slow reader loses
history, never memory.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: What COLO emits at every checkpoint for as long as it runs: STOP and RESUME on both sides,
#: MIGRATION_PASS on the primary. Counted and folded, never shown one by one.
CHECKPOINT_EVENTS = ("STOP", "RESUME", "MIGRATION_PASS")


class LinkState(enum.Enum):
    """Where a session's connection to its QEMU stands."""

    IDLE = "idle"  # not started, or closed
    CONNECTING = "connecting"  # no socket yet, or waiting for the greeting
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # lost; a reconnect is scheduled


class Unreached(enum.Enum):
    """What a connection attempt found when it did not get through, when that says something."""

    NOTHING_LISTENS = "nothing listens"  # no socket, or connection refused: the VM is down
    NO_GREETING = "no greeting"  # the socket took the connection and QEMU says nothing: hung (or a COLO
    # primary that greets only once its secondary is there)


@dataclass(frozen=True, slots=True)
class Event:
    """A QMP event as QEMU sent it."""

    vm: str
    name: str
    data: dict[str, Any]
    timestamp: float  # QEMU's own clock, seconds since the epoch

    @classmethod
    def from_message(cls, vm: str, msg: dict[str, Any]) -> Event:
        """From QEMU's message; parts not of QMP's shape (a peer that is not QEMU) are taken as absent."""
        ts, data = msg.get("timestamp"), msg.get("data")
        try:
            seconds = float(ts["seconds"]) + float(ts.get("microseconds", 0)) / 1e6 if isinstance(ts, dict) else 0.0
        except (KeyError, TypeError, ValueError):
            seconds = 0.0
        return cls(vm, str(msg.get("event", "")), dict(data) if isinstance(data, dict) else {}, seconds)


@dataclass(frozen=True, slots=True)
class LinkChanged:
    """The session's connection changed state; ``detail`` says why, for people; ``unreached``, for code."""

    vm: str
    state: LinkState
    detail: str = ""
    unreached: Unreached | None = None


@dataclass(frozen=True, slots=True)
class CommandSent:
    """colotui sent a command that may change the VM (any but a query); views refresh after it."""

    vm: str
    command: str
    ok: bool


Notice = Event | LinkChanged | CommandSent


class Subscription:
    """A bounded queue of notices for one reader.

    Iterate it (``async for notice in sub``) or ``await sub.get()``. When the
    reader falls behind by more than ``maxlen`` notices the oldest are dropped
    and counted in ``dropped``.
    """

    def __init__(self, maxlen: int, accept: Callable[[Notice], bool] | None = None) -> None:
        if maxlen < 1:
            raise ValueError("a subscription needs room for at least one notice")
        self._buffer: deque[Notice] = deque(maxlen=maxlen)
        self._accept = accept
        self._ready = asyncio.Event()
        self._closed = False
        self._in_hand = False  # a notice taken, and the reader has not come back for the next one yet
        self.dropped = 0

    def put(self, notice: Notice) -> None:
        if self._closed or (self._accept is not None and not self._accept(notice)):
            return
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(notice)
        self._ready.set()

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def unfinished(self) -> int:
        """Notices not handled yet: those waiting, and the one the reader took and is still busy with."""
        return len(self._buffer) + self._in_hand

    def get_nowait(self) -> Notice | None:
        self._in_hand = bool(self._buffer)
        if not self._buffer:
            return None
        notice = self._buffer.popleft()
        if not self._buffer:
            self._ready.clear()
        return notice

    def drain(self) -> list[Notice]:
        items = list(self._buffer)
        self._in_hand = False
        self._buffer.clear()
        self._ready.clear()
        return items

    async def get(self) -> Notice:
        """Wait for the next notice; raises `StopAsyncIteration` once closed and empty."""
        self._in_hand = False
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            await self._ready.wait()
        notice = self._buffer.popleft()
        self._in_hand = True
        if not self._buffer and not self._closed:
            self._ready.clear()
        return notice

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Notice:
        return await self.get()


def event_filter(names: Iterable[str]) -> Callable[[Notice], bool]:
    """Accept link changes and the named events only."""
    wanted = frozenset(names)
    return lambda n: isinstance(n, LinkChanged) or (isinstance(n, Event) and n.name in wanted)


class Hub:
    """Delivers every notice to every open subscription."""

    def __init__(self) -> None:
        # (subscription, made here): those made here close with the hub; fed ones belong to their reader
        self._subs: list[tuple[Subscription, bool]] = []

    def subscribe(self, maxlen: int = 512, accept: Callable[[Notice], bool] | None = None) -> Subscription:
        sub = Subscription(maxlen, accept)
        self._subs.append((sub, True))
        return sub

    def feed(self, sub: Subscription) -> None:
        """Deliver into ``sub`` too: a reader merging several sessions in arrival order; it closes ``sub``."""
        self._subs.append((sub, False))

    @property
    def backlog(self) -> int:
        """Notices delivered and not handled yet, over every subscription (a replay skipping ahead waits
        for its watchers to finish what each notice made them ask, before the clock moves on)."""
        return sum(sub.unfinished for sub, _ in self._subs if not sub.closed)

    def publish(self, notice: Notice) -> None:
        live = []
        for entry in self._subs:
            if not entry[0].closed:
                entry[0].put(notice)
                live.append(entry)
        self._subs = live

    def close(self) -> None:
        for sub, made_here in self._subs:
            if made_here:
                sub.close()
        self._subs = []
