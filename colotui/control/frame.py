"""When a change reaches the screen: within a frame, or within a second when it is only more checkpoints.

One pacing for every controller (a console's VM views, a fleet's rows): changes gather per key until their
flush, so a burst is one repaint, and checkpoint counts (up to ten a second) move on screen once a second,
keeping the console cheap for the host it often runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

#: Changes within one frame reach the screen together (at most one repaint per thing shown).
FRAME = 1 / 60
#: A change that is only more checkpoints waits this long, gathering the next ones.
CHECKPOINT_PAINT = 1.0

K = TypeVar("K")
V = TypeVar("V")


class Pacer(Generic[K, V]):
    """Holds the latest value per key until the flush, which hands them all to ``flush`` at once."""

    def __init__(self, flush: Callable[[dict[K, V]], object]) -> None:
        self._flush = flush
        self._pending: dict[K, V] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._at = 0.0

    def put(self, key: K, value: V, *, only_checkpoints: bool) -> None:
        """``value`` for ``key``, shown within a frame, or within a second if it is ``only_checkpoints``."""
        self._pending[key] = value
        loop = asyncio.get_running_loop()
        due = loop.time() + (CHECKPOINT_PAINT if only_checkpoints else FRAME)
        if self._timer is not None and due < self._at:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer, self._at = loop.call_at(due, self._due), due

    def drop(self, key: K) -> None:
        """Forget what waits for ``key`` (its VM is no longer the one shown)."""
        self._pending.pop(key, None)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, {}
        if pending:
            self._flush(pending)
