"""The net guest in a plain QEMU (no COLO): it ticks and answers over UDP. Its bytes, its payload and the
traffic helper's accounting are in tests/unit/test_netguest.py."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from colotui.lab import QemuInstall, process
from colotui.lab.guest import counters_in_serial, write_raw_disk
from colotui.lab.netguest import image, reply_to, tick_counter

from ..conftest import ACCEL, temp_root

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
