"""What the lab's traffic helper saw of the net guest's packets (`lab/traffic.py` writes it, the console and
`lab status` show it): plain data."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class TrafficStats:
    """What `lab status` and the console show of the guest's traffic."""

    ticks: int = 0
    last_tick: int | None = None
    tick_rate: float = 0.0  # per second, over the last few seconds
    ticks_repeated: int = 0  # counters that came out twice: a rollback COLO's output commit forbids
    ticks_late: int = 0  # ticks that came after a later one: output held (in colo-compare) and let out late
    late_by: int = 0  # the most ticks a late one came behind: a checkpoint's flush reorders a few (newest
    #                   first); output stranded for seconds and let out later shows as many
    requests: int = 0
    replies: int = 0
    lost: int = 0
    rtt_ms: float | None = None  # the median of the last replies
    longest_gap_ms: float = 0.0  # the longest time without a reply while requests went out
    target: str = ""
    updated: float = 0.0  # time.time() of this report

    @classmethod
    def from_dict(cls, data: Any) -> TrafficStats | None:
        """A report as the helper wrote it (`dataclasses.asdict`); None if it is not one (a damaged file)."""
        if not isinstance(data, dict):
            return None
        blank = cls()
        for name, value in data.items():
            if name in _UNSEEN and value is None:
                continue
            expected = _UNSEEN.get(name) or type(getattr(blank, name, None))
            if name not in _FIELDS or isinstance(value, bool) or not (
                    isinstance(value, expected) or (expected is float and isinstance(value, int))):
                return None
        return cls(**data)

    def line(self) -> str:
        rate = f"{self.tick_rate:.1f}/s"
        rtt = f"{self.rtt_ms:.1f} ms" if self.rtt_ms is not None else "—"
        back = (f", {self.ticks_repeated} repeated" if self.ticks_repeated else "") + \
            (f", {self.ticks_late} late (by up to {self.late_by})" if self.ticks_late else "")
        return (f"ticks {self.ticks} ({rate}, last {self.last_tick if self.last_tick is not None else '—'}{back}); "
                f"requests to {self.target or '—'}: {self.requests} sent, {self.replies} answered, {self.lost} lost, "
                f"rtt {rtt}, longest gap {self.longest_gap_ms:.0f} ms")


_FIELDS = frozenset(f.name for f in fields(TrafficStats))
#: Fields that are None until something was seen, and their type after.
_UNSEEN: dict[str, type] = {"last_tick": int, "rtt_ms": float}
