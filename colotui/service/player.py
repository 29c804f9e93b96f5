"""Plays a recording into replay sessions: the recording's clock, play, pause, speed, step and skip.

The player is the clock the replayed console's watchers keep (`Clock`), and it
hands each replay session its link changes, events and commands as the clock
reaches their moments, so the same watchers build the same views as they did
live. Skipping ahead plays every moment on the way, without waiting, and lets
the watchers read each one before the next: checkpoint counts, the event log and
alerts come out as they were. Going back is starting again (`rewind`) and
skipping ahead to the moment wanted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from ..errors import UserError
from ..pair import Endpoint, Pair, pair_from_record
from ..qmp import CHECKPOINT_EVENTS, Address, LinkState, UnixAddress
from ..qmp.recording import Moment, Recording
from ..qmp.replay import ReplaySession
from .sessions import DEFAULT_DEADLINE, PairSessions

#: The speeds a replay offers (times real time).
SPEEDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: Skipping ahead, how many checkpoint events may wait for the watchers at once (a subscription holds 1024).
SKIP_BATCH = 256
#: While paused, a watcher looks at the clock again this often (real seconds).
PAUSED_LOOK = 1.0


class Player:
    """The recording's clock and the hand that plays it (see the module's docstring)."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.speed = SPEEDS[0]
        self.playing = False
        self._at = recording.start  # the recording's time while paused, or when play (or a speed) began
        self._since = 0.0  # real monotonic time when play (or a speed) began
        self._cursor = 0  # the next moment of the timeline to play
        self._sessions: dict[str, ReplaySession] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.exact = False  # questions look at one moment (a seek's look at everything), not along the play
        self.on_pair: Callable[[Pair], Awaitable[None]] | None = None
        self.on_moment: Callable[[Moment], object] = lambda moment: None  # commands sent and notes, for people

    # -- the clock (`colotui.service.clock.Clock`) ---------------------------------------------------

    def now(self) -> float:
        if not self.playing:
            return self._at
        return min(self.recording.end, self._at + (time.monotonic() - self._since) * self.speed)

    def monotonic(self) -> float:
        return self.now()

    def time(self) -> float:
        return self.now()

    def real(self, seconds: float) -> float:
        return seconds / self.speed if self.playing else min(seconds, PAUSED_LOOK)

    # -- what the operator does ----------------------------------------------------------------------

    def play(self) -> None:
        if not self.playing:
            if self._at >= self.recording.end:
                return
            self._since, self.playing = time.monotonic(), True
            self._wake.set()

    def pause(self) -> None:
        self._at, self.playing = self.now(), False
        self._wake.set()

    def set_speed(self, speed: float) -> None:
        self._at, self._since, self.speed = self.now(), time.monotonic(), speed
        self._wake.set()

    def next_moment(self) -> float | None:
        """When the next thing worth stopping at happens: an event (not a checkpoint's), a link that comes up
        or goes down, a command sent, other VMs in the roles."""
        now = self.now()
        for moment in self.recording.timeline[self._cursor:]:
            if moment.t > now and _worth_a_stop(moment):
                return moment.t
        return None

    async def skip_to(self, t: float) -> None:
        """Pause at ``t`` (not before now), having played every moment on the way and let it be read."""
        async with self._lock:
            self.playing = False
            timeline = self.recording.timeline
            while self._cursor < len(timeline) and timeline[self._cursor].t <= t:
                moment = timeline[self._cursor]
                self._at = max(self._at, moment.t)
                self._cursor += 1
                await self._play(moment)
                if not _checkpoint(moment) or self._backlog() > SKIP_BATCH:  # a checkpoint is read without a
                    await self._settle(quick=True)  # question: many can wait for the watcher together
            self._at = max(self._at, min(t, self.recording.end))
            await self._settle()
        self._wake.set()

    def rewind(self) -> None:
        """Back to the start, paused; the sessions made so far are forgotten (their owner closes them)."""
        self.playing, self._at, self._cursor = False, self.recording.start, 0
        self._sessions.clear()

    # -- the pair and its sessions -------------------------------------------------------------------

    def first_pair(self) -> Pair:
        """The pair the console attached first; for a transcript that never said (a `colotui run`, an
        older colotui), its first two VMs in the order they appear."""
        pairs = self.recording.pairs()
        if pairs:
            return pair_from_record(pairs[0].data)
        names = [name for name in self.recording.vms if name and not name.endswith("/oob")]
        if not names:
            raise UserError("the transcript holds no VM's messages")
        first, second = names[0], names[1] if len(names) > 1 else "(none)"
        return Pair(Endpoint(first, _nowhere(first)), Endpoint(second, _nowhere(second)))

    def sessions(self, endpoints: Mapping[str, Endpoint]) -> PairSessions:
        """Replay sessions for ``endpoints``, as `open_sessions` gives live ones."""
        return ReplaySessions(endpoints, self)

    def session(self, name: str, address: Address, deadline: float) -> ReplaySession:
        session = ReplaySession(name, address, self.recording.vms.get(name), self.now, deadline=deadline,
                                exact=lambda: self.exact)
        self._sessions[name] = session
        return session

    # -- playing -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Play moments as the clock reaches them, until cancelled."""
        timeline = self.recording.timeline
        while True:
            self._wake.clear()
            async with self._lock:
                if self._cursor < len(timeline) and timeline[self._cursor].t <= self.now():
                    self._cursor += 1
                    await self._play(timeline[self._cursor - 1])
                    continue
            if self.playing and self.now() >= self.recording.end:
                self.pause()
            wait = None
            if self.playing:
                until = timeline[self._cursor].t if self._cursor < len(timeline) else self.recording.end
                wait = max(0.0, until - self.now()) / self.speed
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _play(self, moment: Moment) -> None:
        if moment.kind == "pair":
            try:
                pair = pair_from_record(moment.data)
            except UserError:
                return
            if self.on_pair is not None:
                await self.on_pair(pair)
            return
        session = self._sessions.get(moment.vm)
        if moment.kind == "link" and session is not None:
            session.play_link(moment.data)
        elif moment.kind == "event" and session is not None:
            session.play_event(moment.data)
        elif moment.kind == "send":
            if session is not None:
                session.play_sent(moment.data)
            self.on_moment(moment)
        elif moment.kind == "note":
            self.on_moment(moment)

    def _backlog(self) -> int:
        return sum(s.backlog for s in self._sessions.values())

    async def _settle(self, quick: bool = False) -> None:
        """Until the watchers have handled what they were handed, with the reads it made them do (``quick``:
        that is all; else a few turns more, for what those reads set off)."""
        for _ in range(10_000):
            if not self._backlog():
                break
            await asyncio.sleep(0)
        for _ in range(0 if quick else 20):
            await asyncio.sleep(0)


class ReplaySessions(PairSessions):
    """A pair's replay sessions (and their out-of-band twins), made by the player."""

    def __init__(self, endpoints: Mapping[str, Endpoint], player: Player) -> None:
        self.player = player
        super().__init__(endpoints, deadline=DEFAULT_DEADLINE)

    def _start(self, name: str, address: Address, deadline: float) -> ReplaySession:
        return self.player.session(name, address, deadline)


def _checkpoint(moment: Moment) -> bool:
    return moment.kind == "event" and moment.data.get("event") in CHECKPOINT_EVENTS


def _worth_a_stop(moment: Moment) -> bool:
    if moment.kind == "event":
        return not _checkpoint(moment)
    if moment.kind == "link":
        return not moment.vm.endswith("/oob") and moment.data.state in (LinkState.CONNECTED, LinkState.DISCONNECTED)
    return moment.kind in ("send", "pair")


def _nowhere(name: str) -> UnixAddress:
    """An address for a VM the transcript names but never placed (it is never connected to)."""
    return UnixAddress(Path(f"(recorded: {name})"))



def open_recording(path: Path) -> Recording:
    """The recording in a transcript (a file, or a rotated series as one timeline: the live file, any
    member or the series' name); raises `UserError` with a line for people."""
    from ..qmp.transcript import read_series, read_transcript

    series = not path.is_file() or path.name.endswith((".jsonl", ".jsonl.gz"))  # else a file renamed by hand
    try:
        return Recording.from_entries(read_series(path) if series else read_transcript(path))
    except FileNotFoundError:
        raise UserError(f"no transcript at {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:  # a file renamed by hand with a line that is not an entry; no entry at all
        raise UserError(f"{path} is not a colotui transcript: {exc}") from None


def parse_when(text: str, start: float, end: float, now: float) -> float:
    """A moment of a recording from what an operator types: ``03:12`` or ``03:12:05`` (the first such time
    of day in it, local time), ``2026-11-30 03:12:05``, ``90`` (seconds from its start), ``+30`` / ``-10``
    (from now), ``start`` or ``end``. Raises `ValueError` with a line for people."""
    text = text.strip()
    if text in ("start", "end"):
        return start if text == "start" else end
    parts: list[int] = []
    try:
        if text[:1] in "+-":
            at = now + float(text)
        elif text.replace(".", "", 1).isdigit():
            at = start + float(text)
        elif " " in text or "T" in text:
            at = time.mktime(time.strptime(text.replace("T", " ").split(".")[0], "%Y-%m-%d %H:%M:%S"))
        else:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
    except ValueError:
        raise ValueError(f"not a moment: {text!r} (03:12:05, 2026-11-30 03:12:05, 90, +30, -10, start, end)") \
            from None
    if not parts:
        return _within(at, start, end)
    hour, minute, second = [*parts, 0][:3]
    day = time.localtime(start)
    for days in range(int((end - start) // 86400) + 2):
        at = time.mktime((day.tm_year, day.tm_mon, day.tm_mday + days, hour, minute, second, 0, 0, -1))
        if start - 1 <= at <= end:
            return max(at, start)
    raise ValueError(f"{text} is not in the recording ({_clock(start)} to {_clock(end)})")


def _within(t: float, start: float, end: float) -> float:
    if not start - 1 <= t <= end + 1:
        raise ValueError(f"{_clock(t)} is not in the recording ({_clock(start)} to {_clock(end)})")
    return min(max(t, start), end)


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
