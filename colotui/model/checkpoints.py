"""Counting COLO checkpoints from the event stream.

In COLO ``query-migrate`` says only ``colo``: the checkpoints are visible as a
STOP/RESUME pair on each side (and a MIGRATION_PASS on the primary). Folding
them into a counter, a rate and the last pause keeps the event log readable and
costs QEMU no query at all.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW = 60.0  # seconds over which the rate is computed


@dataclass(frozen=True)
class CheckpointStats:
    count: int = 0
    per_minute: float = 0.0
    last_pause_ms: float | None = None
    pauses_ms: tuple[float, ...] = ()  # recent pauses, oldest first
    intervals_s: tuple[float, ...] = ()  # recent times between checkpoints, oldest first

    @property
    def steady_pauses_ms(self) -> tuple[float, ...]:
        """The recent pauses without the first checkpoint's (the migration's hand-over, often seconds: it would
        flatten every other bar of a sparkline), while it is among them."""
        return self.pauses_ms[1:] if len(self.pauses_ms) > 1 and self.count == len(self.pauses_ms) \
            else self.pauses_ms


class CheckpointCounter:
    """Feed it STOP and RESUME with QEMU's timestamps while the VM is in COLO."""

    def __init__(self, keep: int = 60) -> None:
        self.count = 0
        self._stopped_at: float | None = None
        self._times: deque[float] = deque()
        self._pauses: deque[float] = deque(maxlen=keep)
        self._intervals: deque[float] = deque(maxlen=keep)

    def stop(self, timestamp: float) -> None:
        self._stopped_at = timestamp

    def resume(self, timestamp: float) -> bool:
        """True if this RESUME closed a checkpoint."""
        if self._stopped_at is None:
            return False
        self._pauses.append(max(0.0, (timestamp - self._stopped_at) * 1000))
        self._stopped_at = None
        self.count += 1
        if self._times:
            self._intervals.append(timestamp - self._times[-1])
        self._times.append(timestamp)
        return True

    def reset_pending(self) -> None:
        """Forget a STOP whose RESUME will not come as a checkpoint (COLO ended)."""
        self._stopped_at = None

    def stats(self, now: float) -> CheckpointStats:
        while len(self._times) > 1 and self._times[0] < now - WINDOW:
            self._times.popleft()
        span = min(WINDOW, now - self._times[0]) if self._times else 0.0
        per_minute = len(self._times) * 60.0 / span if span >= 1.0 else 0.0
        return CheckpointStats(self.count, round(per_minute, 1),
                               self._pauses[-1] if self._pauses else None, tuple(self._pauses),
                               tuple(self._intervals))
