"""One topology for a run, from what was given, discovered, known and the document's defaults.

Precedence: a value the operator gave (a topology file, ``--set``) over one
discovered on the VMs, over one known from elsewhere (a lab's lab.json, a QMP
address's host), over the COLO-FT document's default. A given value that
contradicts a discovered one is a conflict: the run is refused before
anything is sent. Every value keeps its source, for dry runs and
``colotui topology``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..topology import Ids, Ports, Topology
from .derive import Discovered


def flatten(topology: Topology) -> dict[str, Any]:
    """``{"addr.primary": …, "ports.nbd": 9999, "ids.disk": …, "checkpoint_delay_ms": …}``."""
    values: dict[str, Any] = {"addr.primary": topology.primary, "addr.secondary": topology.secondary,
                              "checkpoint_delay_ms": topology.checkpoint_delay_ms, "variant": topology.variant}
    values |= {f"ports.{k}": v for k, v in asdict(topology.ports).items()}
    values |= {f"ids.{k}": v for k, v in asdict(topology.ids).items()}
    return values


def unflatten(values: Mapping[str, Any]) -> Topology:
    ports = {f.name: int(values[f"ports.{f.name}"]) for f in fields(Ports) if f"ports.{f.name}" in values}
    ids = {f.name: str(values[f"ids.{f.name}"]) for f in fields(Ids) if f"ids.{f.name}" in values}
    base = Topology()
    return Topology(primary=str(values.get("addr.primary", base.primary)),
                    secondary=str(values.get("addr.secondary", base.secondary)),
                    ports=Ports(**ports), ids=Ids(**ids),
                    checkpoint_delay_ms=int(values.get("checkpoint_delay_ms", base.checkpoint_delay_ms)),
                    variant=str(values.get("variant", base.variant)))


#: Every name a topology has, in the order `colotui topology` prints them.
NAMES = tuple(flatten(Topology()))


#: Names that are the operator's choice, not a fact of the VMs: what is given wins over what is found without
#: a conflict (a pair started the document's way may fail over the upstream way).
CHOICES = frozenset({"variant"})


@dataclass(frozen=True)
class Source:
    kind: str  # given | discovered | known | default
    where: str

    def describe(self) -> str:
        return {"default": "the document's default", "given": f"given ({self.where})",
                "known": f"known from {self.where}"}.get(self.kind, self.where)


@dataclass(frozen=True)
class Settled:
    topology: Topology
    sources: dict[str, Source]
    conflicts: tuple[str, ...]

    def source(self, name: str) -> Source:
        return self.sources[name]


def settle(discovered: Discovered, *, given: Mapping[str, Any] = {}, given_from: str = "given",
           known: Mapping[str, tuple[Any, str]] = {}) -> Settled:
    """The topology to run with; ``known`` maps a name to (value, where it is known from)."""
    defaults = flatten(Topology())
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    conflicts = []
    for name in NAMES:
        found = discovered.get(name)
        if name in given:
            values[name], sources[name] = given[name], Source("given", given_from)
            if found is not None and str(found.value) != str(given[name]) and name not in CHOICES:
                conflicts.append(f"{name} = {given[name]} ({given_from}), but {found.where.split(':', 1)[0]} has "
                                 f"{found.value} ({found.where.split(': ', 1)[-1]})")
        elif found is not None and not (found.guess and name in known):
            values[name], sources[name] = found.value, Source("discovered", found.where)
        elif name in known:
            values[name], sources[name] = known[name][0], Source("known", known[name][1])
        else:
            values[name], sources[name] = defaults[name], Source("default", "")
    return Settled(unflatten(values), sources, tuple(conflicts))
