"""A COLO pair as colotui works on it: its two VMs (endpoints), their topology, the roles.

Which pair a command works on is decided in `colotui.resolve`; a lab's pair
comes from `colotui.lab.pair_from_lab`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .qmp import Address, AddressError, parse_address
from .topology import Topology, load_topology

#: The two sides of a COLO pair, in the order colotui shows them.
ROLES = ("primary", "secondary")


@dataclass(frozen=True)
class Endpoint:
    """A VM to attach to: its name, QMP address, the address it carries COLO traffic on, and a second
    QMP address kept for out-of-band commands (a -qmp socket serves one client; a hung peer is cut off
    through this one, which carries nothing else)."""

    name: str
    qmp: Address
    address: str = ""
    yank: Address | None = None


@dataclass(frozen=True)
class Pair:
    """The two VMs, the topology that describes them, and the lab they came from (if any)."""

    primary: Endpoint
    secondary: Endpoint
    topology: Topology = field(default_factory=Topology)
    lab: Path | None = None  # a lab's roles change at respawn: the console follows it

    def by_role(self) -> dict[str, Endpoint]:
        return {"primary": self.primary, "secondary": self.secondary}


def pair_from_addresses(primary: str, secondary: str, topology: Path | None = None, *,
                        primary_yank: str | None = None, secondary_yank: str | None = None) -> Pair:
    """Two QMP addresses (and, optionally, each VM's second QMP address for out-of-band commands)."""
    try:
        p, s = parse_address(primary), parse_address(secondary)
        p_yank = parse_address(primary_yank) if primary_yank else None
        s_yank = parse_address(secondary_yank) if secondary_yank else None
    except AddressError as exc:
        raise UserError(str(exc)) from None
    topo = load_topology(topology) if topology is not None else Topology()
    return Pair(Endpoint("primary", p, topo.primary, p_yank), Endpoint("secondary", s, topo.secondary, s_yank), topo)
