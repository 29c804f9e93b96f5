"""A VM's network side as data: netdevs with their filters in chain order, and chardevs.

Only HMP ``info network`` tells the order of the filters on a netdev, which is
what decides where a packet goes; ``query-chardev`` tells, per socket, whether
it listens or connects, where, and to whom it is connected now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ENTRY = re.compile(r"^(?P<indent>\s*(?:\\\s*)?)(?P<id>[^\s:]+): (?P<props>.*)$")
_FILTER = re.compile(r"^\s*-\s*(?P<id>[^\s:]+): (?P<props>.*)$")


def _props(text: str) -> dict[str, str]:
    result = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            result[key.strip()] = value.strip()
    return result


@dataclass(frozen=True)
class Filter:
    id: str
    type: str
    queue: str
    status: str
    indev: str = ""
    outdev: str = ""
    position: str = "tail"
    insert: str = "behind"


@dataclass(frozen=True)
class Netdev:
    id: str
    type: str
    nic: str = ""  # the guest device on it, e.g. "e0 (rtl8139)"
    filters: tuple[Filter, ...] = ()


def parse_info_network(text: str) -> tuple[Netdev, ...]:
    """Netdevs and their filters from HMP ``info network`` (filters in chain order)."""
    netdevs: list[Netdev] = []
    nic = ""
    for line in text.replace("\r", "").splitlines():
        if not line.strip() or line.strip() == "filters:":
            continue
        match = _FILTER.match(line)
        if match and netdevs:
            p = _props(match["props"])
            f = Filter(match["id"], p.get("type", "?"), p.get("queue", ""), p.get("status", ""), p.get("indev", ""),
                       p.get("outdev", ""), p.get("position", "tail"), p.get("insert", "behind"))
            last = netdevs[-1]
            netdevs[-1] = Netdev(last.id, last.type, last.nic, (*last.filters, f))
            continue
        match = _ENTRY.match(line)
        if match is None:
            continue
        p = _props(match["props"])
        if p.get("type") == "nic" and "\\" not in match["indent"]:
            nic = f"{match['id']} ({p.get('model', 'nic')})"
            continue
        netdevs.append(Netdev(match["id"], p.get("type", "?"), nic if "\\" in match["indent"] else ""))
        nic = ""
    return tuple(netdevs)


@dataclass(frozen=True)
class Chardev:
    """A character device; for sockets, which end it is and whether a peer is there."""

    label: str
    backend: str  # "tcp", "unix", "file", "vc"…
    server: bool = False
    local: str = ""  # the address it listens on (server) or its own end (connected client)
    peer: str = ""  # the other end, when connected
    connected: bool = False
    frontend_open: bool = False

    @property
    def exposed(self) -> bool:
        """A listener on every interface: anyone who can reach the host can read raw guest packets."""
        return self.server and self.backend == "tcp" and self.local.rsplit(":", 1)[0] in ("0.0.0.0", "[::]", "::")

    def describe(self) -> str:
        """Short: ``listens A ← B`` / ``listens A, no peer`` / ``→ B`` / ``→ B NOT CONNECTED``."""
        if self.backend not in ("tcp", "unix"):
            return self.backend
        if self.server:
            return f"listens {self.local} ← {self.peer}" if self.connected else f"listens {self.local}, no peer"
        return f"→ {self.peer}" if self.connected else f"→ {self.peer} NOT CONNECTED"


def parse_chardev(entry: dict[str, Any]) -> Chardev:
    """One ``query-chardev`` entry. Filenames look like ``tcp:A,server=on <-> B``,
    ``tcp:A <-> B`` or ``disconnected:tcp:A,server=on``."""
    filename = str(entry.get("filename", ""))
    label, frontend = str(entry.get("label", "")), bool(entry.get("frontend-open", False))
    connected = not filename.startswith("disconnected:")
    spec = filename.removeprefix("disconnected:")
    here, _, there = spec.partition(" <-> ")
    backend, _, rest = here.partition(":")
    if backend not in ("tcp", "unix"):
        return Chardev(label, backend or filename, frontend_open=frontend)
    parts = rest.split(",")
    address, server = parts[0], "server=on" in parts[1:]
    if server:
        return Chardev(label, backend, True, address, there, connected and bool(there), frontend)
    if connected and there:
        return Chardev(label, backend, False, address, there, True, frontend)
    return Chardev(label, backend, False, "", address, False, frontend)
