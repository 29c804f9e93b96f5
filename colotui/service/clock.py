"""The time a watcher keeps: the system's, or a replay's (the recording's time, which pauses and runs fast)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Now, for intervals (seconds)."""

    def time(self) -> float:
        """Now, as a wall clock (seconds since the epoch), for what is shown."""

    def real(self, seconds: float) -> float:
        """How long ``seconds`` of this clock take in real time (a paused clock: a while, then look again)."""


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def real(self, seconds: float) -> float:
        return seconds


SYSTEM_CLOCK = SystemClock()
