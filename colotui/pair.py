"""Which two VMs colotui works on, and the topology that describes them.

Both `colotui connect` and `colotui run` take either ``--lab DIR`` (everything
from the lab's lab.json) or two QMP addresses and, for procedures, a topology file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import Profile
from .errors import UserError
from .qmp import Address, AddressError, parse_address
from .topology import Topology, load_topology


@dataclass(frozen=True)
class Endpoint:
    """A VM to attach to: its name, QMP address, and the address it carries COLO traffic on."""

    name: str
    qmp: Address
    address: str = ""


@dataclass(frozen=True)
class Pair:
    primary: Endpoint
    secondary: Endpoint
    topology: Topology = field(default_factory=Topology)

    def by_role(self) -> dict[str, Endpoint]:
        return {"primary": self.primary, "secondary": self.secondary}


def pair_from_lab(directory: Path) -> Pair:
    """The lab's current primary and secondary (after a respawn: the survivor and the new one)."""
    from .lab import LabState

    state = LabState.load(Path(directory))
    state.refresh()
    endpoints = {}
    for role in ("primary", "secondary"):
        vm = state.current(role)
        if vm is None:
            raise UserError(f"the lab in {directory} has no {role}")
        endpoints[role] = Endpoint(vm.name, parse_address(vm.qmp), vm.address)
    return Pair(endpoints["primary"], endpoints["secondary"], state.topology())


def pair_from_addresses(primary: str | None, secondary: str | None, topology: Path | None = None) -> Pair:
    if primary is None or secondary is None:
        raise UserError("give the primary's and the secondary's QMP addresses, or --lab DIR")
    try:
        p, s = parse_address(primary), parse_address(secondary)
    except AddressError as exc:
        raise UserError(str(exc)) from None
    topo = load_topology(topology) if topology is not None else Topology()
    return Pair(Endpoint("primary", p, topo.primary), Endpoint("secondary", s, topo.secondary), topo)


def pair_from_profile(profile: Profile) -> Pair:
    """A connection profile of the config file: a lab, or two addresses and a topology."""
    if profile.lab is not None:
        return pair_from_lab(profile.lab)
    return pair_from_addresses(profile.primary, profile.secondary, profile.topology)
