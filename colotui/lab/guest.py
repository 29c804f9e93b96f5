"""The lab's test guest: a 512-byte boot sector that counts, on disk and on serial.

It gives COLO real work and lets tests prove nothing is lost: at boot it reads
its counter from LBA 1 (``CLTU`` + little-endian u32; zero if absent), then
forever increments it, writes the sector back through the BIOS (so every
increment is a disk write through quorum/replication), prints
``colotui-counter XXXXXXXX`` (hex) on COM1 and waits 100 ms.

The bytes are built here from the listing below: each row is the machine code
``nasm -f bin`` emits for the 16-bit assembly beside it (the tests re-assemble
the same text with nasm and compare), so no assembler is needed to run a lab.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

from ..errors import UserError
from .qemu import QemuInstall

MAGIC = b"CLTU"
COUNTER_LBA = 1
SERIAL_PREFIX = "colotui-counter "

# (machine code in hex, assembly) — rows without code are directives and labels.
LISTING: tuple[tuple[str, str], ...] = (
    ("", "bits 16"),
    ("", "org 0x7c00"),
    ("", "SECTOR equ 0x7e00                ; where LBA 1 is kept in memory"),
    ("", "start:"),
    ("FA", "    cli"),
    ("31C0", "    xor ax, ax"),
    ("8ED8", "    mov ds, ax"),
    ("8EC0", "    mov es, ax"),
    ("8ED0", "    mov ss, ax"),
    ("BC007C", "    mov sp, 0x7c00"),
    ("FB", "    sti"),
    ("FC", "    cld"),
    ("8816B57C", "    mov [drive], dl              ; the BIOS boot drive"),
    ("B402", "    mov ah, 0x02                 ; read LBA 1"),
    ("E85D00", "    call disk"),
    ("66813E007E434C5455", "    cmp dword [SECTOR], 'CLTU'"),
    ("7412", "    je next"),
    ("66C706007E434C5455", "    mov dword [SECTOR], 'CLTU'   ; a fresh disk: start from zero"),
    ("66C706047E00000000", "    mov dword [SECTOR+4], 0"),
    ("", "next:"),
    ("66FF06047E", "    inc dword [SECTOR+4]"),
    ("B403", "    mov ah, 0x03                 ; write LBA 1"),
    ("E83600", "    call disk"),
    ("BEA17C", "    mov si, prefix"),
    ("E84100", "    call puts"),
    ("66A1047E", "    mov eax, [SECTOR+4]"),
    ("B90800", "    mov cx, 8                    ; eight hex digits"),
    ("", "hex:"),
    ("66C1C004", "    rol eax, 4"),
    ("6650", "    push eax"),
    ("240F", "    and al, 0x0f"),
    ("0430", "    add al, '0'"),
    ("3C39", "    cmp al, '9'"),
    ("7602", "    jbe digit"),
    ("0407", "    add al, 7"),
    ("", "digit:"),
    ("E83200", "    call putc"),
    ("6658", "    pop eax"),
    ("E2E9", "    loop hex"),
    ("BEB27C", "    mov si, crlf"),
    ("E81D00", "    call puts"),
    ("B486", "    mov ah, 0x86                 ; BIOS wait CX:DX microseconds"),
    ("B90100", "    mov cx, 0x0001"),
    ("BAA086", "    mov dx, 0x86a0               ; 100000 us"),
    ("CD15", "    int 0x15"),
    ("EBC0", "    jmp next"),
    ("", "disk:                            ; AH=2 read / AH=3 write LBA 1 <-> SECTOR"),
    ("B001", "    mov al, 1"),
    ("B90200", "    mov cx, 0x0002               ; cylinder 0, sector 2"),
    ("30F6", "    xor dh, dh                   ; head 0"),
    ("8A16B57C", "    mov dl, [drive]"),
    ("BB007E", "    mov bx, SECTOR"),
    ("CD13", "    int 0x13"),
    ("C3", "    ret"),
    ("", "puts:                            ; print the NUL-terminated string at SI"),
    ("AC", "    lodsb"),
    ("84C0", "    test al, al"),
    ("7405", "    jz puts_done"),
    ("E80300", "    call putc"),
    ("EBF6", "    jmp puts"),
    ("", "puts_done:"),
    ("C3", "    ret"),
    ("", "putc:                            ; AL -> COM1, once it can take a byte"),
    ("52", "    push dx"),
    ("50", "    push ax"),
    ("BAFD03", "    mov dx, 0x3fd"),
    ("", "putc_wait:"),
    ("EC", "    in al, dx"),
    ("A820", "    test al, 0x20"),
    ("74FB", "    jz putc_wait"),
    ("58", "    pop ax"),
    ("BAF803", "    mov dx, 0x3f8"),
    ("EE", "    out dx, al"),
    ("5A", "    pop dx"),
    ("C3", "    ret"),
    ("636F6C6F7475692D636F756E7465722000", "prefix: db 'colotui-counter ', 0"),
    ("0D0A00", "crlf: db 13, 10, 0"),
    ("00", "drive: db 0"),
    ("", "times 510-($-$$) db 0"),
    ("", "dw 0xaa55"),
)


def listing_source(listing: tuple[tuple[str, str], ...]) -> str:
    """A listing's assembly column as nasm source."""
    return "\n".join(asm for _, asm in listing) + "\n"


def asm_source() -> str:
    """The guest as nasm source."""
    return listing_source(LISTING)


def boot_sector() -> bytes:
    """The 512 bytes of the guest's boot sector."""
    code = bytes.fromhex("".join(hexcode for hexcode, _ in LISTING))
    if len(code) > 510:
        raise AssertionError("guest code does not fit in a boot sector")
    return code.ljust(510, b"\0") + b"\x55\xaa"


def write_raw_disk(path: Path, size: int, code: bytes | None = None) -> None:
    """A sparse raw disk image of ``size`` bytes that boots the guest (``code``, the counter guest by default)."""
    with Path(path).open("wb") as f:
        f.write(boot_sector() if code is None else code)
        f.truncate(size)


def counter_from_sector(sector: bytes) -> int | None:
    """The counter stored in LBA 1, or None if the guest never wrote it."""
    if len(sector) < 8 or sector[:4] != MAGIC:
        return None
    counter: int = struct.unpack_from("<I", sector, 4)[0]
    return counter


_SERIAL_LINE = re.compile(re.escape(SERIAL_PREFIX) + r"([0-9A-F]{8})")


def counters_in_serial(text: str) -> list[int]:
    """Every counter value the guest printed, in order."""
    return [int(m, 16) for m in _SERIAL_LINE.findall(text)]


def read_disk_counter(install: QemuInstall, image: Path) -> int | None:
    """The counter in LBA 1 of a (possibly running) VM's image, read with ``qemu-io -r -U``.

    A running QEMU may hold newer data in its caches; COLO flushes at every
    checkpoint (the VM stops), so read after one.
    """
    out = subprocess.run(install.argv(install.io, "-r", "-U", "-c", f"read -v {COUNTER_LBA * 512} 8",
                                      install.qemu_path(image)), capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise UserError(f"cannot read {image}: {(out.stderr or out.stdout).strip()}")
    match = re.match(r"^[0-9a-f]+:\s+((?:[0-9a-f]{2} ){7}[0-9a-f]{2})", out.stdout)
    return counter_from_sector(bytes.fromhex(match[1].replace(" ", ""))) if match else None
