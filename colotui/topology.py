"""The names and numbers a COLO pair is built from.

Command lines (the lab) and procedures (scenarios) both take their addresses,
ports and object ids from here, so the two can never disagree. Defaults are the
ids of QEMU's COLO-FT document; ports are chosen per lab.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .tomlfile import dump_flat, load_toml


@dataclass(frozen=True)
class Ports:
    """TCP ports; the primary listens on the first four, the secondary on the last two."""

    mirror: int = 9003  # primary's filter-mirror copy of guest tx → secondary's red0
    compare: int = 9004  # secondary's red1 (its guest tx) → primary's colo-compare secondary_in
    compare_loop: int = 9001  # primary-local: redire1 → colo-compare primary_in
    compare_out: int = 9005  # primary-local: colo-compare outdev → redire0
    migration: int = 9998  # secondary's incoming migration
    nbd: int = 9999  # secondary's NBD server (the primary's replication writes)

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Six ports in ``base+1 .. base+9``, laid out like the document's 9001..9999."""
        return cls(mirror=base + 3, compare=base + 4, compare_loop=base + 1, compare_out=base + 5,
                   migration=base + 8, nbd=base + 9)

    def all(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]


@dataclass(frozen=True)
class Ids:
    """QEMU object, chardev, drive and node ids used by the procedures."""

    netdev: str = "hn0"
    nic: str = "e0"
    disk: str = "colo-disk0"  # the quorum drive the guest sees, on both sides
    parent: str = "parent0"  # secondary: its copy of the disk; also the NBD export name
    secondary_replication: str = "childs0"  # secondary: the replication drive under the quorum
    replication_node: str = "replication0"  # primary: the replication node added as quorum child
    mirror_chardev: str = "mirror0"
    compare_chardev: str = "compare1"
    compare_loop_server: str = "compare0"
    compare_loop_client: str = "compare0-0"
    compare_out_server: str = "compare_out"
    compare_out_client: str = "compare_out0"
    secondary_in: str = "red0"  # secondary: receives the primary's mirrored tx
    secondary_out: str = "red1"  # secondary: sends its guest's tx to colo-compare
    filter_mirror: str = "m0"
    filter_redirect_in: str = "redire0"
    filter_redirect_out: str = "redire1"
    secondary_filter_in: str = "f1"
    secondary_filter_out: str = "f2"
    rewriter: str = "rew0"
    iothread: str = "iothread1"
    compare: str = "comp0"
    resync_job: str = "resync"


#: The most ``x-checkpoint-delay`` QEMU takes (milliseconds; it is a uint32 there).
MAX_CHECKPOINT_DELAY_MS = 2**32 - 1

#: How the procedures attach, and detach, the primary's link to the secondary's disk: each step of a
#: scenario is in both variants unless it names one (``variant = "upstream"``).
VARIANTS = {
    "doc": "QEMU's COLO-FT document: HMP drive_add of a replication node over NBD, HMP drive_del on failover",
    "upstream": "as QEMU's maintainers run it now: blockdev-add of an nbd node (detect-zeroes on), blockdev-del "
                "on failover; no HMP",
}


@dataclass(frozen=True)
class Topology:
    """A COLO pair: the data-plane address of each side, its ports, its ids, and the procedures' variant."""

    primary: str = "127.0.0.1"
    secondary: str = "127.0.0.2"
    ports: Ports = field(default_factory=Ports)
    ids: Ids = field(default_factory=Ids)
    checkpoint_delay_ms: int = 1000
    variant: str = "doc"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Topology:
        return cls(primary=data["primary"], secondary=data["secondary"],
                   ports=Ports(**data.get("ports", {})), ids=Ids(**data.get("ids", {})),
                   checkpoint_delay_ms=data.get("checkpoint_delay_ms", 1000), variant=data.get("variant", "doc"))


def topology_values(path: Path) -> dict[str, Any]:
    """The values a topology file sets, flat (``ids.disk``, ``ports.nbd``, ``addr.primary``…): what it
    leaves out is discovered from the VMs."""
    data = _checked(path)
    values: dict[str, Any] = {f"addr.{k}": data[k] for k in ("primary", "secondary") if k in data}
    values |= {f"{section}.{k}": v for section in ("ports", "ids") for k, v in data.get(section, {}).items()}
    for key in ("checkpoint_delay_ms", "variant"):
        if key in data:
            values[key] = data[key]
    return values


def _checked(path: Path) -> dict[str, Any]:
    data, where = load_toml(path)
    known = {f.name for f in fields(Topology)}
    for key in data:
        if key not in known:
            raise where.error(f"unknown setting {key!r} (known: {', '.join(sorted(known))})", where.key(key))
    for section, cls, kind in (("ports", Ports, int), ("ids", Ids, str)):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise where.error(f"{section} must be a table", where.key(section))
        names = {f.name for f in fields(cls)}
        for key, value in table.items():
            if key not in names:
                raise where.error(f"unknown {section[:-1]} {key!r} (known: {', '.join(sorted(names))})",
                                  where.key(key, section))
            if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, str) and "\0" in value):
                raise where.error(f"{section}.{key} must be {'a number' if kind is int else 'a string'}",
                                  where.key(key, section))
            if isinstance(value, int) and not 0 < value < 65536:
                raise where.error(f"ports.{key} = {value} is not a TCP port", where.key(key, section))
    for key in ("primary", "secondary"):
        if key in data and (not isinstance(data[key], str) or "\0" in data[key]):
            raise where.error(f"{key} must be an address (a string)", where.key(key))
    if "variant" in data and (not isinstance(data["variant"], str) or data["variant"] not in VARIANTS):
        raise where.error(f"variant = {data['variant']!r}: give one of {', '.join(VARIANTS)}", where.key("variant"))
    delay = data.get("checkpoint_delay_ms", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_CHECKPOINT_DELAY_MS:
        raise where.error(f"checkpoint_delay_ms must be a number of milliseconds (0 to {MAX_CHECKPOINT_DELAY_MS})",
                          where.key("checkpoint_delay_ms"))
    return data


def dump_topology(topology: Topology) -> str:
    return ("# A COLO pair for colotui: addresses, ports and QEMU ids (see colotui/topology.py).\n"
            + dump_flat(topology.to_dict()))
