"""The counter guest's bytes match its assembly, and its sector and serial formats parse. It counts in QEMU
in tests/qemu/test_guest.py."""

from __future__ import annotations

from pathlib import Path

from colotui.lab.guest import asm_source, boot_sector, counter_from_sector, counters_in_serial

from ..conftest import nasm


def test_bytes_are_what_nasm_makes_of_the_listing(tmp_path: Path) -> None:
    assert nasm(asm_source(), tmp_path) == boot_sector()


def test_sector_and_serial_parsing() -> None:
    assert counter_from_sector(b"CLTU" + (300).to_bytes(4, "little") + bytes(504)) == 300
    assert counter_from_sector(bytes(512)) is None
    assert counters_in_serial("colotui-counter 0000000A\r\ncolotui-counter 0000000B\r\n") == [10, 11]
