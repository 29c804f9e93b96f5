"""Fault injection at the exact moment: a VM signalled the instant a COLO checkpoint begins.

A peer that stops while the primary sends it a checkpoint (QEMU's big lock held) wedges the survivor's main
loop; one that stops between checkpoints does not. The primary sends STOP as each checkpoint begins, so a
signal sent on that event lands inside the checkpoint. `colotui lab hang|kill --during-checkpoint` uses it
(an operator's rehearsal), and so do the tests of the failovers that must survive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..qmp import (
    Address,
    DeadlineExceeded,
    Disconnected,
    Event,
    LinkChanged,
    LinkState,
    Ok,
    Session,
    Subscription,
    UnixAddress,
    Unreached,
)

#: The signals a strike sends, by the name a `Strike` gives them.
SIGNALS = {signal.SIGSTOP: "STOP", signal.SIGKILL: "KILL"}
#: How long a monitor may take to greet: a -qmp socket serves one client at a time, and a busy one greets
#: nobody else (nor does a VM whose main loop is wedged).
GREETING_WAIT = 2.0
#: The deadline of the in-band COLO check before anything is signalled.
COLO_CHECK_DEADLINE = 2.0
#: After the strike, before the survivor is asked: for a moment after STOP its main loop may still answer,
#: until the checkpoint's state is sent (with the big lock held) into a peer that no longer reads.
IN_BAND_SETTLE = 0.25
#: The survivor's in-band deadline: far above what a lab's checkpoint holds the lock for (a few ms); a
#: wedged main loop never answers.
IN_BAND_DEADLINE = 0.4


@dataclass(frozen=True)
class Strike:
    """What a strike did."""

    victim_pid: int
    signal: str  # "STOP" or "KILL"
    after_stop_s: float  # from the STOP event's arrival to the signal (seconds)
    tries: int  # checkpoints tried (until_wedged tries again at the next one)
    wedged: bool | None  # the survivor's main loop stalls in band after the strike (None: not checked)


async def strike_at_checkpoint(watch: Address, victim_pid: int, sig: signal.Signals, *,
                               survivor: Address | None = None, until_wedged: bool = False,
                               after_stop: float = 0.0, tries: int = 20, timeout: float = 5.0) -> Strike:
    """Signal ``victim_pid`` with ``sig`` (SIGSTOP or SIGKILL) ``after_stop`` seconds after the next STOP
    event on ``watch`` (a free monitor of the COLO primary). With ``survivor`` (a free monitor of the other
    VM; the same as ``watch`` when the victim is the secondary), say whether its main loop then stalls in
    band. ``until_wedged`` (SIGSTOP, with a survivor): while it still answers, SIGCONT the victim, let COLO
    go on, and strike again at a later checkpoint, ``tries`` checkpoints in all; the last strike is returned
    either way. A one-line `UserError` if a monitor cannot be reached, the pair is not in COLO, or no
    checkpoint begins within ``timeout`` seconds (then nothing was signalled)."""
    if sig not in SIGNALS:
        raise ValueError(f"a strike sends SIGSTOP or SIGKILL, not {sig.name}")
    if until_wedged and (sig is not signal.SIGSTOP or survivor is None):
        raise ValueError("until_wedged needs SIGSTOP and a survivor to ask")
    if tries < 1 or after_stop < 0 or timeout <= 0:
        raise ValueError("tries must be at least 1, after_stop at least 0 and timeout above 0")
    with _pinned(victim_pid) as victim:
        async with _monitors(watch, survivor) as (watching, asking):
            await _check_colo(watching, watch)
            events = watching.subscribe(events={"STOP", "RESUME"})
            try:
                attempt = _Attempt(victim_pid, victim, sig, watch, events, timeout)
                for number in range(1, (tries if until_wedged else 1) + 1):
                    strike = await attempt.strike(number, after_stop, asking, survivor)
                    if strike.wedged is not False or not until_wedged or number == tries:
                        return strike
                    await attempt.let_go()
            finally:
                events.close()
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _pinned(pid: int) -> Iterator[int]:
    """A pidfd of ``pid``: every signal of the strike goes to this process, even if it ends and its
    number is given to another meanwhile."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise UserError(f"no process {pid}: nothing was signalled") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _same(a: Address, b: Address) -> bool:
    """One monitor: a -qmp socket serves one client, so one session must serve both uses."""
    if isinstance(a, UnixAddress) and isinstance(b, UnixAddress):
        return Path(a.path).resolve() == Path(b.path).resolve()
    return a == b


@contextlib.asynccontextmanager
async def _monitors(watch: Address, survivor: Address | None) -> AsyncIterator[tuple[Session, Session | None]]:
    """Sessions on ``watch`` and on ``survivor`` (one if they are the same monitor), greeted before any
    signal: a VM whose main loop is wedged greets no new connection."""
    addresses = [watch] if survivor is None or _same(watch, survivor) else [watch, survivor]
    sessions = [Session(f"fault-{i}", address, deadline=COLO_CHECK_DEADLINE, backoff=(0.05, 0.5))
                for i, address in enumerate(addresses)]
    try:
        for session in sessions:
            session.start()
        for session, address in zip(sessions, addresses, strict=True):
            await _greeted(session, address)
        yield sessions[0], (None if survivor is None else sessions[-1])
    finally:
        for session in sessions:
            await session.close()


async def _greeted(session: Session, address: Address) -> None:
    await session.wait_settled(GREETING_WAIT)
    if session.connected:
        return
    if session.unreached is Unreached.NOTHING_LISTENS:
        raise UserError(f"{session.detail}: nothing was signalled")
    raise UserError(f"no QMP greeting from {address} within {GREETING_WAIT:g} s (another client holds that "
                    "monitor: a -qmp socket serves one at a time; or its QEMU is hung): nothing was signalled")


async def _check_colo(session: Session, address: Address) -> None:
    """Refuse at once a VM that is not in COLO (no checkpoint will begin), rather than after ``timeout``."""
    reply = await session.execute("query-colo-status", deadline=COLO_CHECK_DEADLINE)
    if isinstance(reply, Ok) and reply.value.get("mode") == "none":
        raise UserError(f"{address} is not in COLO (COLO mode none): no checkpoint will begin; "
                        "nothing was signalled")
    if isinstance(reply, DeadlineExceeded):
        raise UserError(f"{address} does not answer in band within {COLO_CHECK_DEADLINE:g} s (its main loop "
                        "is blocked: is the pair wedged already?); nothing was signalled")
    if isinstance(reply, Disconnected):
        raise UserError(f"lost {address}: {reply.reason}; nothing was signalled")


class _Attempt:
    """The strikes of one `strike_at_checkpoint`, and what lets the victim go between them."""

    def __init__(self, pid: int, pidfd: int, sig: signal.Signals, watch: Address, events: Subscription,
                 timeout: float) -> None:
        self.pid, self.pidfd, self.sig = pid, pidfd, sig
        self.watch, self.events, self.timeout = watch, events, timeout
        self.left = "nothing was signalled"  # what the victim is left as, should a wait fail

    async def strike(self, number: int, after_stop: float, asking: Session | None,
                     survivor: Address | None) -> Strike:
        self.events.drain()  # a STOP read before now began a checkpoint that may be over
        arrived = await self._next("STOP", f"no checkpoint began on {self.watch} within {self.timeout:g} s "
                                           "(no STOP event: is the pair in COLO?)")
        if after_stop:
            await asyncio.sleep(max(0.0, arrived + after_stop - time.monotonic()))
        self._send(self.sig)
        struck = time.monotonic()
        self.left = f"pid {self.pid} has SIG{SIGNALS[self.sig]}"
        wedged = None if asking is None or survivor is None else await self._stalls(asking, survivor)
        return Strike(self.pid, SIGNALS[self.sig], struck - arrived, number, wedged)

    async def let_go(self) -> None:
        """SIGCONT the victim and wait until its checkpoint ends (COLO goes on), for the next strike."""
        self.events.drain()
        self._send(signal.SIGCONT)
        self.left = f"pid {self.pid} was continued (SIGCONT)"
        await self._next("RESUME", f"COLO did not go on after SIGCONT: no checkpoint ended on {self.watch} "
                                   f"within {self.timeout:g} s")

    async def _next(self, name: str, none_came: str) -> float:
        """Until the event ``name`` arrives on the watched monitor; the moment it did (monotonic)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    notice = await self.events.get()
            except TimeoutError:
                raise UserError(f"{none_came}; {self.left}") from None
            if isinstance(notice, Event) and notice.name == name:
                return time.monotonic()
            if isinstance(notice, LinkChanged) and notice.state is not LinkState.CONNECTED:
                raise UserError(f"lost {self.watch} waiting for {name}: {notice.detail}; {self.left}")

    def _send(self, sig: signal.Signals) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            raise UserError(f"process {self.pid} has ended: SIG{sig.name[3:]} was not sent; {self.left}") from None

    async def _stalls(self, asking: Session, survivor: Address) -> bool:
        """Whether the survivor's main loop stalls in band now (wedged by the stopped peer)."""
        await asyncio.sleep(IN_BAND_SETTLE)
        reply = await asking.execute("query-status", deadline=IN_BAND_DEADLINE)
        if isinstance(reply, Disconnected):
            raise UserError(f"lost {survivor} after the strike: {reply.reason}; {self.left}")
        return isinstance(reply, DeadlineExceeded)
