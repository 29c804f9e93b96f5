"""Opening a pair's sessions: the one way every command gets from endpoints to live QMP sessions.

The console, `colotui run`, `colotui shell`, the lab and the benchmarks all go
through `open_sessions`; it gives every session the same transcript, deadline
and reconnect policy, and closes them all however the block ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager

from ..pair import Endpoint, Pair, pair_record
from ..qmp import Address, LibvirtAddress, Session, Transcript

#: How long a command may wait for its reply unless told otherwise (seconds).
DEFAULT_DEADLINE = 10.0
#: Reconnect backoff (first, longest) in seconds: a COLO primary greets only once its secondary is there.
DEFAULT_BACKOFF = (0.1, 2.0)
#: How long a run waits for an out-of-band session's greeting: a free monitor greets in milliseconds; one that
#: does not is held by another client (a guard) or its QEMU is wedged, and waiting longer changes neither.
OOB_SETTLE = 1.0
#: How long an out-of-band command may take: the monitor's own thread answers at once, or the process is hung.
OOB_DEADLINE = 1.0


class PairSessions(Mapping[str, Session]):
    """Sessions by target name (``primary``, ``secondary``; or any names given), all started; and for
    an endpoint with a yank address, a second session held for out-of-band commands (`oob`).
    ``read_only``: every session sends only commands that only read (`Session.read_only`)."""

    def __init__(self, endpoints: Mapping[str, Endpoint], *, transcript: Transcript | None = None,
                 deadline: float = DEFAULT_DEADLINE, backoff: tuple[float, float] = DEFAULT_BACKOFF,
                 read_only: bool = False) -> None:
        self.transcript, self.deadline, self.backoff = transcript, deadline, backoff
        self.read_only = read_only
        self._sessions: dict[str, Session] = {}
        self._oob: dict[str, Session] = {}
        for name, endpoint in endpoints.items():
            self._open(name, endpoint)

    def _open(self, name: str, endpoint: Endpoint) -> None:
        """Start ``name``'s sessions to ``endpoint``: the main one, and the out-of-band one if it has an address."""
        self._sessions[name] = self._start(endpoint.name, endpoint.qmp, self.deadline)
        if endpoint.yank is not None:
            self._oob[name] = self._start(f"{endpoint.name}/oob", endpoint.yank, OOB_DEADLINE)

    def _start(self, name: str, address: Address, deadline: float) -> Session:
        session: Session
        if isinstance(address, LibvirtAddress):
            from ..qmp.libvirt import LibvirtSession  # only where libvirt is used
            session = LibvirtSession(name, address, deadline=deadline, transcript=self.transcript,
                                     backoff=self.backoff, read_only=self.read_only)
        else:
            session = Session(name, address, deadline=deadline, transcript=self.transcript, backoff=self.backoff,
                              read_only=self.read_only)
        session.start()
        return session

    def record(self, pair: Pair) -> None:
        """Which VMs play which role from now on, in the transcript: a replay attaches the same."""
        if self.transcript is not None:
            self.transcript.write("", "pair", pair_record(pair))

    def oob(self, name: str) -> Session | None:
        """The out-of-band session to ``name``'s VM, if it has a yank address."""
        return self._oob.get(name)

    def __getitem__(self, name: str) -> Session:
        return self._sessions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    async def wait_connected(self, timeout: float) -> bool:
        """True once every session is connected (waiting at most ``timeout`` seconds in all)."""
        done = await asyncio.gather(*(s.wait_connected(timeout) for s in self._sessions.values()))
        return all(done)

    async def wait_settled(self, names: Iterable[str], timeout: float) -> None:
        """Until each of ``names`` is connected or found with nothing listening, or ``timeout``: a VM that
        refuses is down at once, and is not waited for."""
        await asyncio.gather(*(self._sessions[n].wait_settled(timeout) for n in names),
                             *(s.wait_settled(min(timeout, OOB_SETTLE)) for n, s in self._oob.items() if n in names))

    async def replace(self, name: str, endpoint: Endpoint) -> Session:
        """Another VM now plays ``name`` (a respawned secondary): close its sessions, open them to ``endpoint``."""
        old = [self._sessions[name], *([self._oob.pop(name)] if name in self._oob else [])]
        self._open(name, endpoint)
        await asyncio.gather(*(s.close() for s in old))
        return self._sessions[name]

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in [*self._sessions.values(), *self._oob.values()]))


@asynccontextmanager
async def open_sessions(targets: Pair | Mapping[str, Endpoint], *, transcript: Transcript | None = None,
                        deadline: float = DEFAULT_DEADLINE, backoff: tuple[float, float] = DEFAULT_BACKOFF,
                        connect_timeout: float | None = None, read_only: bool = False) -> AsyncIterator[PairSessions]:
    """Sessions to a pair's VMs (by role) or to named endpoints, closed on leaving the block.
    With ``connect_timeout``, waits that long for them to connect first (going on either way:
    a session that did not connect says why, and keeps trying)."""
    endpoints = targets.by_role() if isinstance(targets, Pair) else targets
    sessions = PairSessions(endpoints, transcript=transcript, deadline=deadline, backoff=backoff, read_only=read_only)
    if isinstance(targets, Pair):
        sessions.record(targets)
    try:
        if connect_timeout is not None:
            await sessions.wait_connected(connect_timeout)
        yield sessions
    finally:
        await sessions.close()
