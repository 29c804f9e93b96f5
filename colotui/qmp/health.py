"""Does a VM answer? Down, hung, or just its main loop stuck: three faults a failover must tell apart.

A VM that died refuses connections (or its socket is gone): down, at once. A VM
that hangs (a stopped process, a stalled host, a partition) keeps its socket and
sends nothing: not answering, once a deadline passes. A VM whose main loop is
blocked (a drain waiting on a hung peer) still answers out of band, on a
session that negotiated it: its monitor is blocked, but the VM is alive. The
in-band and out-of-band questions are asked together, so the verdict takes one
deadline, not two.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from .notices import Unreached
from .reply import CommandError, Disconnected, Ok
from .session import Session

#: How long a probe waits: a live QEMU answers in milliseconds.
PROBE_DEADLINE = 1.0


class Health(enum.Enum):
    ANSWERS = "answers"
    DOWN = "down"  # nothing listens, or the connection broke
    NOT_ANSWERING = "not answering"  # no greeting, or no reply in band nor out of band
    MONITOR_BLOCKED = "monitor blocked"  # in band stalls, out of band answers: QEMU's main loop is stuck

    @property
    def lost(self) -> bool:
        """Gone as far as COLO is concerned: a failover on the other side is what it needs."""
        return self in (Health.DOWN, Health.NOT_ANSWERING)


@dataclass(frozen=True)
class Verdict:
    health: Health
    detail: str  # for people: what was seen


async def probe(session: Session, oob: Session | None, deadline: float = PROBE_DEADLINE) -> Verdict:
    """Ask ``session`` (in band) and ``oob`` (out of band, if given) at once whether the VM answers."""
    if not session.connected:
        await session.wait_settled(deadline)
        if session.unreached is Unreached.NOTHING_LISTENS:
            return Verdict(Health.DOWN, session.detail)
        if not session.connected:
            return Verdict(Health.NOT_ANSWERING, f"no QMP greeting in {deadline:g} s ({session.detail})")
    inband = session.execute("query-status", deadline=deadline)
    if oob is not None and oob.connected and oob.oob_capable:
        reply, outofband = await asyncio.gather(
            inband, oob.execute("yank", {"instances": []}, deadline=deadline, oob=True))
    else:
        reply, outofband = await inband, None
    if isinstance(reply, Ok):
        status = reply.value.get("status", "?") if isinstance(reply.value, dict) else "?"
        return Verdict(Health.ANSWERS, f"answers ({status})")
    if isinstance(reply, Disconnected):
        return Verdict(Health.DOWN, reply.reason)
    if isinstance(outofband, (Ok, CommandError)):  # any answer out of band: the process is alive
        return Verdict(Health.MONITOR_BLOCKED, f"no reply in band in {deadline:g} s, but out of band it answers: "
                                               "its main loop is blocked")
    either = ", none out of band either" if oob is not None else " (and no out-of-band monitor to ask)"
    return Verdict(Health.NOT_ANSWERING, f"no reply in {deadline:g} s{either}")
