"""The host side of the net guest's traffic: a sink for its ticks and a client of its UDP service.

`colotui lab up --guest net` starts one per lab (``python -m colotui.lab.traffic DIR``, tracked by PID in
lab.json like the QEMUs). It counts the ticks the guest sends to 10.0.2.2 (whichever VM's output COLO lets
out), sends a request every 100 ms to the service port of the VM the network routes to, and writes what it
saw to ``DIR/traffic.json`` twice a second, for `lab status` and the console's traffic line.

The lab has no shared network to move an address on, so "the network" routes here: to the current primary
while its QEMU runs, else to the VM that runs (after a failover, the survivor). A hung primary keeps the
route until it is killed, as a real fence would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from ..files import loads, read_regular
from ..model.traffic import TrafficStats
from .netguest import reply_to, tick_counter
from .state import LabState

STATS_FILE = "traffic.json"
#: The most a report can be (it is a few hundred bytes).
STATS_LIMIT = 64 * 1024
REQUEST_EVERY = 0.1  # seconds
LOST_AFTER = 1.0  # a request unanswered this long is lost
SEEN = 100_000  # tick counters remembered (about three hours of ticks)
Route = Callable[[], "tuple[str, str, int] | None"]  # → (VM name, address, port), or None: nowhere to send


@dataclass
class Exchange:
    """One request and its reply (``replied`` is None while none came; after LOST_AFTER it is ``lost``, and a
    reply later than that is not counted)."""

    seq: int
    sent: float  # time.monotonic()
    replied: float | None = None
    lost: bool = False


@dataclass
class Traffic:
    """The sink (on ``tick_port``, if given) and the client; ``run`` until cancelled."""

    tick_port: int | None
    route: Route
    stats: TrafficStats = field(default_factory=TrafficStats)
    exchanges: deque[Exchange] = field(default_factory=lambda: deque(maxlen=5000))
    _tick_times: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    _seen: set[int] = field(default_factory=set)  # the last SEEN counters, to tell a repeat
    _seen_order: deque[int] = field(default_factory=deque)
    _last_reply: float | None = None
    _seq: int = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        sink = None
        if self.tick_port is not None:
            sink, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self._tick),
                                                          local_addr=("127.0.0.1", self.tick_port))
        client, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self._reply),
                                                        local_addr=("127.0.0.1", 0))
        try:
            while True:
                self._request(client)
                self._account()
                await asyncio.sleep(REQUEST_EVERY)
        finally:
            if sink is not None:
                sink.close()
            client.close()

    def _request(self, client: asyncio.DatagramTransport) -> None:
        if self.tick_port is not None and self.stats.ticks == 0:
            return  # the guest has not run yet (the primary waits for startup): asking now would only "lose"
        where = self.route()
        if where is None:
            return
        name, address, port = where
        self._seq += 1
        self.exchanges.append(Exchange(self._seq, time.monotonic()))
        self.stats.requests += 1
        self.stats.target = name
        client.sendto(f"seq {self._seq}".encode(), (address, port))

    def _tick(self, data: bytes, sender: object) -> None:
        counter = tick_counter(data)
        if counter is None:
            return
        kind = "repeated" if counter in self._seen else "late" if counter < (self.stats.last_tick or 0) else ""
        if kind:
            setattr(self.stats, f"ticks_{kind}", getattr(self.stats, f"ticks_{kind}") + 1)
            if kind == "late":
                self.stats.late_by = max(self.stats.late_by, (self.stats.last_tick or 0) - counter)
            print(f"{time.strftime('%H:%M:%S')} tick {counter} {kind} (after {self.stats.last_tick}), from {sender}",
                  file=sys.stderr, flush=True)  # into the helper's log: whose output, and when
        self._seen.add(counter)
        self._seen_order.append(counter)
        if len(self._seen_order) > SEEN:
            self._seen.discard(self._seen_order.popleft())
        self.stats.ticks += 1
        self.stats.last_tick = max(counter, self.stats.last_tick or 0)
        self._tick_times.append(time.monotonic())

    def _reply(self, data: bytes, sender: object) -> None:
        request = reply_to(data)
        if request is None or not request.startswith(b"seq "):
            return
        try:
            seq = int(request[4:])
        except ValueError:
            return
        now = time.monotonic()
        for exchange in reversed(self.exchanges):
            if exchange.seq == seq:
                if exchange.replied is None and not exchange.lost:
                    exchange.replied = now
                    self.stats.replies += 1
                    if self._last_reply is not None:
                        self.stats.longest_gap_ms = max(self.stats.longest_gap_ms, (now - self._last_reply) * 1000)
                    self._last_reply = now
                break

    def _account(self) -> None:
        now = time.monotonic()
        for exchange in reversed(self.exchanges):  # the newest first; older ones were judged already
            if now - exchange.sent > LOST_AFTER + 5.0:
                break
            if exchange.replied is None and not exchange.lost and now - exchange.sent > LOST_AFTER:
                exchange.lost = True
                self.stats.lost += 1
        answered = [e.replied - e.sent for e in itertools.islice(reversed(self.exchanges), 50)
                    if e.replied is not None]
        self.stats.rtt_ms = sorted(answered)[len(answered) // 2] * 1000 if answered else None
        recent = [t for t in self._tick_times if now - t < 5.0]
        self.stats.tick_rate = len(recent) / 5.0
        self.stats.updated = time.time()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receive: Callable[[bytes, object], None]) -> None:
        self.receive = receive

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.receive(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable while the route has no listener
        pass


class LabRoute:
    """The lab's "network": the current primary while its QEMU runs, else the VM that runs. It is asked ten times
    a second: lab.json is read again only when it changed; whether each QEMU still runs, every time."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._mtime: int | None = None
        self._state: LabState | None = None

    def __call__(self) -> tuple[str, str, int] | None:
        try:
            mtime = (self.directory / "lab.json").stat().st_mtime_ns
            if mtime != self._mtime:
                self._state, self._mtime = LabState.load(self.directory), mtime
        except (OSError, UserError):  # being rewritten, or gone: no route this time
            return None
        state = self._state
        if state is None or state.net is None:
            return None
        running = [vm for vm in state.vms if vm.state == "running" and vm.is_alive()]
        primary = state.current("primary")
        chosen = primary if primary in running else (running[-1] if running else None)
        return (chosen.name, chosen.address, state.net.service) if chosen else None


def read_stats(directory: Path) -> TrafficStats | None:
    """The last report of a lab's traffic, or None if there is none."""
    try:
        return TrafficStats.from_dict(loads(read_regular(Path(directory) / STATS_FILE, STATS_LIMIT).decode()))
    except (OSError, ValueError, UserError):  # none yet, or damaged: the next report replaces it
        return None


async def _serve(directory: Path, tick_port: int) -> None:
    traffic = Traffic(tick_port, LabRoute(directory))
    task = asyncio.create_task(traffic.run())
    target, tmp = directory / STATS_FILE, directory / f".{STATS_FILE}.tmp"
    while not task.done():
        await asyncio.sleep(0.5)
        tmp.write_text(json.dumps(asdict(traffic.stats)) + "\n")
        os.replace(tmp, target)
    task.result()


async def watch_stats(directory: Path, interval: float = 1.0) -> AsyncIterator[TrafficStats]:
    """The lab's traffic report each time the helper writes a new one."""
    last: TrafficStats | None = None
    while True:
        stats = await asyncio.to_thread(read_stats, directory)
        if stats is not None and stats != last:
            last = stats
            yield stats
        await asyncio.sleep(interval)


def has_traffic(directory: Path) -> bool:
    """Whether the lab runs the net guest (and so a traffic helper)."""
    try:
        return LabState.load(directory).net is not None
    except UserError:
        return False


def main(argv: list[str]) -> int:
    directory, tick_port = Path(argv[0]), int(argv[1])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(directory, tick_port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
