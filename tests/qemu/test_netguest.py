"""The net guest: its bytes match its assembly, and in a plain QEMU (no COLO) it ticks and answers over UDP."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from colotui.lab import QemuInstall, process
from colotui.lab.guest import counters_in_serial, write_raw_disk
from colotui.lab.netguest import asm_source, image, reply_to, tick_counter

from ..conftest import ACCEL, nasm, temp_root


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


#: How long SeaBIOS may take to boot the guest (seen here: 5 s under nested KVM on a loaded host).
BOOT = 30.0


def _udp(timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    return sock


@pytest.mark.parametrize("traffic", ["same", "differ"])
def test_it_ticks_and_answers(qemu: QemuInstall, traffic: str) -> None:
    """Our own command line (no lab): the guest's ticks reach the host through QEMU's user network, and a
    request through a hostfwd port comes back with its payload; TSCs only where the mode or '!' asks."""
    directory = temp_root(qemu)
    ticks, client = _udp(), _udp()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        service = probe.getsockname()[1]
    raw = directory / "disk.raw"
    write_raw_disk(raw, 1 << 20, image(traffic, ticks.getsockname()[1]))
    qmp = directory / "qmp.sock"
    argv = qemu.argv(qemu.system, "-accel", ACCEL, "-cpu", "qemu64", "-m", "32", "-display", "none",
                     "-qmp", f"unix:{qemu.qemu_path(qmp)},server=on,wait=off",
                     "-serial", f"file:{qemu.qemu_path(directory / 'serial.log')}",
                     "-netdev", f"user,id=n0,hostfwd=udp:127.0.0.1:{service}-:7",
                     "-device", "rtl8139,netdev=n0,romfile=",
                     "-drive", f"if=ide,file={qemu.qemu_path(raw)},format=raw")
    pid = process.spawn(argv, directory / "qemu.log")
    marker = f"unix:{qemu.qemu_path(qmp)},server=on,wait=off"
    try:
        seen = []
        ticks.settimeout(BOOT)  # the first tick comes once SeaBIOS has booted the guest
        for _ in range(5):
            payload = ticks.recv(200)
            ticks.settimeout(5.0)
            seen.append(tick_counter(payload))
            assert (len(payload.split()) == 3) == (traffic == "differ"), payload  # the TSC, in differ mode only
        assert seen == sorted(seen) and seen[-1] is not None and seen[-1] > seen[0], seen
        for request in (b"seq 1", b"!seq 2"):
            client.sendto(request, ("127.0.0.1", service))
            deadline = time.monotonic() + 5
            while True:  # the first request may wait for the guest's ARP answer to QEMU's user network
                reply = client.recv(200)
                if reply_to(reply) == request or time.monotonic() > deadline:
                    break
            assert reply_to(reply) == request, reply
            has_tsc = len(reply.split()) == len(request.split()) + 2
            assert has_tsc == (traffic == "differ" or request.startswith(b"!")), reply
        printed = counters_in_serial((directory / "serial.log").read_text(errors="replace"))
        assert printed[:3] == [1, 2, 3]  # and it counts on serial, as the counter guest does
    finally:
        process.stop(pid, marker, sig=9)
        ticks.close()
        client.close()
        shutil.rmtree(directory, ignore_errors=True)


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
