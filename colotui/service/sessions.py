"""Opening a pair's sessions: the one way every command gets from endpoints to live QMP sessions.

The console, `colotui run`, `colotui shell`, the lab and the benchmarks all go
through `open_sessions`; it gives every session the same transcript, deadline
and reconnect policy, and closes them all however the block ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager

from ..pair import Endpoint, Pair
from ..qmp import Session, Transcript

#: How long a command may wait for its reply unless told otherwise (seconds).
DEFAULT_DEADLINE = 10.0
#: Reconnect backoff (first, longest) in seconds: a COLO primary greets only once its secondary is there.
DEFAULT_BACKOFF = (0.1, 2.0)


class PairSessions(Mapping[str, Session]):
    """Sessions by target name (``primary``, ``secondary``; or any names given), all started."""

    def __init__(self, endpoints: Mapping[str, Endpoint], *, transcript: Transcript | None = None,
                 deadline: float = DEFAULT_DEADLINE, backoff: tuple[float, float] = DEFAULT_BACKOFF) -> None:
        self.transcript, self.deadline, self.backoff = transcript, deadline, backoff
        self.endpoints = dict(endpoints)
        self._sessions = {name: self._open(ep) for name, ep in self.endpoints.items()}

    def _open(self, endpoint: Endpoint) -> Session:
        session = Session(endpoint.name, endpoint.qmp, deadline=self.deadline, transcript=self.transcript,
                          backoff=self.backoff)
        session.start()
        return session

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

    async def replace(self, name: str, endpoint: Endpoint) -> Session:
        """Another VM now plays ``name`` (a respawned secondary): close its session, open one to ``endpoint``."""
        old = self._sessions[name]
        self.endpoints[name] = endpoint
        self._sessions[name] = self._open(endpoint)
        await old.close()
        return self._sessions[name]

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self._sessions.values()))


@asynccontextmanager
async def open_sessions(targets: Pair | Mapping[str, Endpoint], *, transcript: Transcript | None = None,
                        deadline: float = DEFAULT_DEADLINE, backoff: tuple[float, float] = DEFAULT_BACKOFF,
                        connect_timeout: float | None = None) -> AsyncIterator[PairSessions]:
    """Sessions to a pair's VMs (by role) or to named endpoints, closed on leaving the block.
    With ``connect_timeout``, waits that long for them to connect first (going on either way:
    a session that did not connect says why, and keeps trying)."""
    endpoints = targets.by_role() if isinstance(targets, Pair) else targets
    sessions = PairSessions(endpoints, transcript=transcript, deadline=deadline, backoff=backoff)
    try:
        if connect_timeout is not None:
            await sessions.wait_connected(connect_timeout)
        yield sessions
    finally:
        await sessions.close()
