"""QMP addresses as users type them: a unix socket path, ``host:port``, or a libvirt domain.

A libvirt domain is spelled as libvirt spells a connection, with the domain as one more query parameter:
``qemu:///system?domain=NAME`` (or ``qemu+ssh://host/system?domain=NAME``, ``qemu+unix:///system?socket=
PATH&domain=NAME``): what ``virsh -c URI`` takes, plus the domain ``virsh`` would be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

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


@dataclass(frozen=True, slots=True)
class LibvirtAddress:
    """A domain's QMP monitor, reached through libvirtd (which holds the domain's own monitor socket)."""

    uri: str  # the libvirt connection, as virsh -c takes it
    domain: str

    def __str__(self) -> str:
        return f"{self.uri}{'&' if '?' in self.uri else '?'}domain={quote(self.domain, safe='')}"


Address = UnixAddress | TcpAddress | LibvirtAddress


def parse_address(text: str) -> Address:
    """Read ``/path/to/qmp.sock``, ``unix:PATH``, ``host:port`` or ``tcp:host:port``.

    Anything with a slash, or that names an existing file, is a socket path:
    ``qmp.sock`` in the current directory must not be mistaken for a host.
    """
    text = text.strip()
    if not text:
        raise AddressError("empty QMP address")
    if re.match(r"^qemu(\+[a-z]+)?://", text):
        return _libvirt(text)
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


def _libvirt(text: str) -> LibvirtAddress:
    """The connection's own parameters stay as typed (libvirt reads them unescaped, as virsh does)."""
    base, _, query = text.partition("?")
    if re.match(r"^[^/]*//[^/@]*:[^/@]*@", base):
        raise AddressError("a libvirt URI with a password in it would go into the records: give it through "
                           "libvirt's auth.conf instead")
    parts = [part for part in query.split("&") if part]
    domains = [unquote(part[len("domain="):]) for part in parts if part.startswith("domain=")]
    if len(domains) != 1 or not domains[0]:
        raise AddressError(f"{text!r}: a libvirt address names one domain, e.g. qemu:///system?domain=NAME")
    rest = "&".join(part for part in parts if not part.startswith("domain="))
    return LibvirtAddress(f"{base}?{rest}" if rest else base, domains[0])
