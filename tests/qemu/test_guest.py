"""The counter guest: its bytes match its assembly, and it really counts in QEMU."""

from __future__ import annotations

import asyncio
import time

from colotui.lab.guest import counters_in_serial, read_disk_counter
from colotui.qmp import Ok, Session, UnixAddress

from ..conftest import PlainVM


async def test_guest_counts_on_serial_and_disk(guest_vm: PlainVM) -> None:
    deadline = time.monotonic() + 20
    seen: list[int] = []
    while time.monotonic() < deadline and len(seen) < 5:
        await asyncio.sleep(0.2)
        seen = counters_in_serial(guest_vm.serial.read_text(errors="replace"))
    assert seen[:5] == [1, 2, 3, 4, 5], seen
    session = Session("guest", UnixAddress(guest_vm.qmp))
    session.start()
    try:
        assert await session.wait_connected(5)
        assert isinstance(await session.execute("stop"), Ok)  # stopping flushes the disk
        printed = counters_in_serial(guest_vm.serial.read_text(errors="replace"))[-1]
        # written, maybe not yet printed
        assert read_disk_counter(guest_vm.qemu, guest_vm.disk) in (printed, printed + 1)
    finally:
        await session.close()
