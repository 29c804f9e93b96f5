"""QMP addresses as users type them: a unix socket path or ``host:port``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$")


class AddressError(ValueError):
    """The text is neither a socket path nor ``host:port``."""


@dataclass(frozen=True, slots=True)
class UnixAddress:
    path: Path

    def target(self) -> str:
        """What `qemu.qmp` connects to."""
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True, slots=True)
class TcpAddress:
    host: str
    port: int

    def target(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


Address = UnixAddress | TcpAddress


def parse_address(text: str) -> Address:
    """Read ``/path/to/qmp.sock``, ``unix:PATH``, ``host:port`` or ``tcp:host:port``.

    Anything with a slash, or that names an existing file, is a socket path:
    ``qmp.sock`` in the current directory must not be mistaken for a host.
    """
    text = text.strip()
    if not text:
        raise AddressError("empty QMP address")
    if text.startswith("unix:"):
        return UnixAddress(Path(text[5:]))
    if text.startswith("tcp:"):
        text = text[4:]
    elif "/" in text or _exists(text):
        return UnixAddress(Path(text))
    match = _HOST_PORT.match(text)
    if match is None:
        raise AddressError(f"{text!r} is neither a unix socket path nor host:port")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise AddressError(f"port {port} in {text!r} is out of range")
    return TcpAddress(match["v6"] or match["host"], port)


def _exists(name: str) -> bool:
    """Whether a file ``name`` is here (a name too long for one names none: not an error)."""
    try:
        return Path(name).exists()
    except OSError:
        return False
