"""The net guest: its bytes match its assembly, its payload parses, and the traffic helper counts what it sees;
in a plain QEMU (no COLO) it ticks and answers over UDP in tests/qemu/test_netguest.py."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from colotui.lab.netguest import asm_source, image, reply_to, tick_counter

from ..conftest import nasm


def test_bytes_are_what_nasm_makes_of_the_listing(tmp_path: Path) -> None:
    built = nasm(asm_source(), tmp_path)
    assert image("same", 4444) == built  # the listing's own config: mode 0, tick port 4444 (dw 0x5c11)
    differ = image("differ", 4444)
    assert [i for i in range(len(built)) if differ[i] != built[i]] == [1024 + 4]  # only the mode byte


def test_payload_parsing() -> None:
    assert tick_counter(b"colotui-tick 0000002A") == 42
    assert tick_counter(b"colotui-tick 0000002A 00003B380AE34CA1") == 42
    assert tick_counter(b"something else") is None
    assert reply_to(b"colotui-reply seq 7") == b"seq 7"
    assert reply_to(b"colotui-reply !seq 7 00003B380AE34CA1") == b"!seq 7"
    assert reply_to(b"colotui-tick 00000001") is None
    with pytest.raises(ValueError):
        image("sometimes", 4444)


async def test_the_traffic_helper_counts_what_it_sees() -> None:
    """Its accounting, against a stand-in service that drops every third request and a sender of ticks that
    repeats one and sends one late: what the real guest does is in test_traffic."""
    import asyncio

    from colotui.lab.traffic import LOST_AFTER, Traffic

    service = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    service.bind(("127.0.0.1", 0))
    service.setblocking(False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        tick_port = probe.getsockname()[1]
    asking = [True]
    traffic = Traffic(tick_port, lambda: ("stand-in", "127.0.0.1", service.getsockname()[1]) if asking[0] else None)
    task = asyncio.create_task(traffic.run())
    answered = 0
    try:
        await asyncio.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as guest:
            for counter in (1, 2, 3, 3, 5, 4, 6):  # 3 twice (a rollback), 4 after 5 (late by 1)
                guest.sendto(f"colotui-tick {counter:08X}".encode(), ("127.0.0.1", tick_port))
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    request, sender = service.recvfrom(100)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                if int(request.split()[1]) % 3:
                    service.sendto(b"colotui-reply " + request, sender)
                    answered += 1
        asking[0] = False  # no route: it stops asking
        await asyncio.sleep(LOST_AFTER + 0.3)  # every request sent is judged by now
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        service.close()
    stats = traffic.stats
    assert (stats.ticks, stats.last_tick, stats.ticks_repeated, stats.ticks_late, stats.late_by) == (7, 6, 1, 1, 1)
    assert stats.replies == answered and stats.requests == answered + stats.lost, stats
    assert stats.lost >= stats.requests // 3, stats  # every third, and any the stand-in had no time for
    assert stats.rtt_ms is not None and stats.rtt_ms < 100 and stats.target == "stand-in"
    assert "1 repeated" in stats.line() and "1 late (by up to 1)" in stats.line()
