"""A COLO pair as colotui works on it: its two VMs (endpoints), their topology, the roles.

Which pair a command works on is decided in `colotui.resolve`; a lab's pair
comes from `colotui.lab.pair_from_lab`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import UserError
from .qmp import Address, AddressError, UnixAddress, parse_address
from .roles import ROLES
from .topology import Topology, topology_values


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
    """The two VMs, what is known of their topology beforehand, and the lab they came from (if any).

    Procedures discover the topology from the VMs; ``given`` values (a topology file, ``--set``) override
    what is discovered and must agree with it; ``known`` (a lab's) fills what the VMs cannot show."""

    primary: Endpoint
    secondary: Endpoint
    known: Topology | None = None
    lab: Path | None = None  # a lab's roles change at respawn: the console follows it
    given: Mapping[str, Any] = field(default_factory=dict)
    given_from: str = ""
    pacemaker: str | None = None  # the Pacemaker resource the pair is: manual procedures need it in maintenance

    def by_role(self) -> dict[str, Endpoint]:
        return {"primary": self.primary, "secondary": self.secondary}


def pair_from_addresses(primary: str, secondary: str, topology: Path | None = None, *,
                        primary_yank: str | None = None, secondary_yank: str | None = None,
                        settings: Mapping[str, Any] | None = None) -> Pair:
    """Two QMP addresses (and, optionally, each VM's second QMP address for out-of-band commands); a
    topology file's values and ``settings`` (``--set``) are given values."""
    try:
        p, s = parse_address(primary), parse_address(secondary)
        p_yank = parse_address(primary_yank) if primary_yank else None
        s_yank = parse_address(secondary_yank) if secondary_yank else None
    except AddressError as exc:
        raise UserError(str(exc)) from None
    given = dict(topology_values(topology)) if topology is not None else {}
    given |= settings or {}
    sources = [str(topology)] if topology is not None else []
    sources += (["--variant"] if set(settings) == {"variant"} else ["--set"]) if settings else []
    return Pair(Endpoint("primary", p, str(given.get("addr.primary", "")), p_yank),
                Endpoint("secondary", s, str(given.get("addr.secondary", "")), s_yank),
                given=given, given_from=" and ".join(sources))


#: What gives a pair's Pacemaker resource instead of a name: none (it is not one).
NO_CLUSTER = "none"


def colod_resource(address: Address) -> str | None:
    """The Pacemaker resource whose QMP socket ``address`` is, by where colod's agent puts them
    (``$HA_RSCTMP/RESOURCE/qmp.sock`` and ``qmp-yank.sock``; HA_RSCTMP is /run/resource-agents by default)."""
    if not isinstance(address, UnixAddress) or address.path.name not in ("qmp.sock", "qmp-yank.sock"):
        return None
    base = Path(os.environ.get("HA_RSCTMP", "/run/resource-agents"))
    return address.path.parent.name if address.path.parent.parent == base else None


def with_cluster(pair: Pair, named: str | None) -> Pair:
    """``pair`` with its Pacemaker resource: ``named`` (``none``: not one), else what its sockets say."""
    if named is None:
        found = {r for e in pair.by_role().values() for a in (e.qmp, e.yank) if a and (r := colod_resource(a))}
        named = found.pop() if len(found) == 1 else None
    return replace(pair, pacemaker=None if named == NO_CLUSTER else named)


def pair_record(pair: Pair) -> dict[str, dict[str, str | None]]:
    """The pair's VMs by role, as a transcript keeps them (a replay attaches what the console attached)."""
    return {role: {"name": e.name, "qmp": _spelled(e.qmp), "address": e.address,
                   "yank": _spelled(e.yank) if e.yank else None} for role, e in pair.by_role().items()}


def _spelled(address: Address) -> str:
    """An address as `parse_address` reads it back, whatever the current directory holds."""
    return f"unix:{address.path}" if isinstance(address, UnixAddress) else str(address)


def pair_from_record(record: Mapping[str, Any]) -> Pair:
    """The pair a transcript's record names (`pair_record`); raises `UserError` on a record that is not one."""
    try:
        ends = {role: Endpoint(str(record[role]["name"]), parse_address(str(record[role]["qmp"])),
                               str(record[role].get("address") or ""),
                               parse_address(str(record[role]["yank"])) if record[role].get("yank") else None)
                for role in ROLES}
    except (KeyError, TypeError, AttributeError, AddressError) as exc:
        raise UserError(f"a pair record in the transcript is not one: {exc}") from None
    return Pair(ends["primary"], ends["secondary"])
