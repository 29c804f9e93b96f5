"""The net guest's traffic as a host client lives it: a lab in COLO with its traffic helper, the client's
replies, and a failover's window as the client saw it (from the fault to its first reply after it)."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from colotui.lab import Lab
from colotui.lab.traffic import Traffic, read_stats
from colotui.qmp import Event, Session

from ..conftest import LabFactory
from .colo import guest_counting, observe, run


async def colo_with_traffic(labs: LabFactory, traffic: str, settings: dict[str, object] | None = None,
                            name: str = "lab") -> Lab:
    """A net-guest lab (in ``labs``' directory ``name``) brought into COLO, its traffic helper running."""
    lab = await asyncio.to_thread(labs.up, name, guest="net", traffic=traffic)
    await run(lab, "startup", settings=settings)
    return lab


async def booted(lab: Lab) -> int:
    """Once the primary's guest counts and COLO's first checkpoint after it has passed: the last tick then."""
    primary = lab.state().current("primary")
    assert primary is not None
    await guest_counting(primary)
    async with observe(primary) as session:
        await first_checkpoint(session)
    stats = read_stats(lab.dir)
    return stats.last_tick or 0 if stats is not None else 0


async def until_replies(client: Traffic, count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    start = client.stats.replies
    while client.stats.replies < start + count:
        assert time.monotonic() < deadline, f"no {count} replies within {timeout:g} s: {client.stats.line()}"
        await asyncio.sleep(0.1)


async def first_checkpoint(session: Session, timeout: float = 8.0) -> None:
    """Let COLO's first checkpoint pass: a STOP, then RESUME (7.2 adds a second pair at once), a few seconds
    after the migration whatever the packets. The RESUME that ends the migration itself comes before it."""
    sub = session.subscribe(events={"STOP", "RESUME"})
    try:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while not ("STOP" in seen and "RESUME" in seen[seen.index("STOP"):]) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            seen += [n.name for n in sub.drain() if isinstance(n, Event)]
        await asyncio.sleep(0.5)
    finally:
        sub.close()

@dataclass
class Window:
    """A failover as the client lived it."""

    window_ms: float  # from the fault to the first reply to a request sent after it
    lost: int  # requests never answered
    lost_outside: int  # of those, sent more than 0.5 s before the fault or after the window
    longest_gap_ms: float  # between two replies


def failover_window(client: Traffic, fault: float, lookback: float = 1.0) -> Window:
    """``lookback``: how long before the fault a request counts as this failover's."""
    exchanges = [e for e in client.exchanges if e.sent >= fault - lookback]  # this failover's
    after = [e for e in exchanges if e.sent >= fault and e.replied is not None]
    assert after, f"no reply to any request sent after the fault: {client.stats.line()}"
    back = min(e.replied for e in after if e.replied is not None)
    settled = [e for e in exchanges if e.sent < time.monotonic() - 1.0]  # each had a second to be answered
    lost = [e for e in settled if e.replied is None]
    outside = [e for e in lost if e.sent < fault - 0.5 or e.sent > back]
    replies = sorted(e.replied for e in exchanges if e.replied is not None)
    gap = max((b - a for a, b in itertools.pairwise(replies)), default=0.0)
    return Window(round((back - fault) * 1000), len(lost), len(outside), round(gap * 1000))
