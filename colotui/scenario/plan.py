"""Before a procedure's first command: who plays which role, the topology from the live VMs, and
everything that can be checked up front. Nothing is sent unless all of it holds.

Roles come from the VMs (the order an operator gave is only the first guess),
so after a failover nothing needs swapping. Ids and ports are discovered;
what the operator gave must agree with what the VMs show; what neither shows
comes from the lab, the QMP address, or the COLO-FT document, and says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from ..discovery import Snapshot, discover, plays, swapped
from ..discovery.settle import CHOICES, Settled, flatten, settle
from ..pair import Pair
from ..qmp import Session, TcpAddress
from ..roles import ROLES, flipped
from ..service.snapshots import take_snapshot
from ..topology import VARIANTS
from .model import Scenario
from .record import see, seen_values
from .template import placeholders

#: What each address is for, in a message that asks for it.
_ADDRESS_USE = {"addr.primary": "the primary's address, where its chardevs listen for the secondary",
                "addr.secondary": "the secondary's address, where its NBD server and incoming migration listen"}


#: How long the VM a procedure does not send to may take to connect, when its role must be asked (seconds).
OTHER_CONNECT = 2.0


class PlanRefused(Exception):
    """The procedure cannot start on this pair; the message says why and what to give."""


@dataclass(frozen=True)
class Plan:
    roles: dict[str, str]  # the role a procedure addresses → the key of the session that plays it
    settled: Settled
    notes: tuple[str, ...]
    scenario: Scenario  # the procedure as it runs here: the steps of the pair's variant


def _used(scenario: Scenario) -> set[str]:
    names: set[str] = set()
    for step in scenario.steps:
        for command in (step.command, step.otherwise):
            if command is not None:
                names |= set(placeholders([command.arguments, command.hmp]))
        for check in (*step.require, *step.done, *(w.until for w in step.waits if w.until)):
            names |= set(placeholders(check.expected))
        names |= {n for w in step.waits for n in placeholders(w.data)}
    return names


def known_values(pair: Pair, roles: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """What is known beforehand, by the role each VM plays now: a lab's own record first, then what the
    pair's VMs showed in earlier runs, then each VM's address."""
    known: dict[str, tuple[Any, str]] = seen_values(pair)
    if pair.known is not None:  # how the lab was built; not how its procedures are run (the variant)
        source = f"the lab's lab.json ({pair.lab})" if pair.lab else "the pair's topology"
        known |= {k: (v, source) for k, v in flatten(pair.known).items() if k not in CHOICES}
    by_key = pair.by_role()
    for role in ROLES:
        endpoint = by_key[roles[role]]
        if pair.known is not None and pair.lab is not None:
            continue  # a lab knows its addresses by role already
        if endpoint.address:
            known[f"addr.{role}"] = (endpoint.address, f"{endpoint.name}'s address")
        elif isinstance(endpoint.qmp, TcpAddress) and endpoint.qmp.host not in ("0.0.0.0", "::", ""):
            known[f"addr.{role}"] = (endpoint.qmp.host, f"the host of {endpoint.name}'s QMP address {endpoint.qmp}")
    return known


async def snapshots(scenario: Scenario, sessions: Mapping[str, Session],
                    unread: AbstractSet[str] = frozenset()) -> dict[str, Snapshot | None]:
    """The VMs the steps send to, and the other one only if they do not settle the roles alone (a
    failover's dead or hung peer is not waited for). ``unread``: targets not to read (wedged: they would
    answer nothing), taken to play the role they were given."""
    targets = sorted(scenario.targets)
    others = {role: asyncio.ensure_future(_other(sessions[role])) for role in ROLES if role not in targets}
    try:  # the others are asked at once, beside: a target's silence need not be waited out twice
        read = [r for r in targets if r not in unread]
        taken: dict[str, Snapshot | None] = dict.fromkeys(targets)
        taken |= dict(zip(read, await asyncio.gather(*(take_snapshot(sessions[r]) for r in read)), strict=True))
        unsettled = any(taken[r] is None or plays(taken[r]) not in (None, r) for r in read)  # type: ignore[arg-type]
        for role, other in others.items():
            taken[role] = await other if unsettled else None
    finally:
        for other in others.values():
            other.cancel()
    return taken


async def _other(session: Session) -> Snapshot | None:
    await session.wait_settled(OTHER_CONNECT)
    return await take_snapshot(session)


async def make_plan(scenario: Scenario, sessions: Mapping[str, Session], pair: Pair,
                    unread: AbstractSet[str] = frozenset()) -> Plan:
    """Raises `PlanRefused` with the reason when the procedure must not start. ``unread``: see `snapshots`."""
    taken = await snapshots(scenario, sessions, unread)
    flip = swapped(taken["primary"], taken["secondary"])
    roles = flipped(flip)
    found = discover(taken[roles["primary"]], taken[roles["secondary"]])
    settled = settle(found, given=pair.given, given_from=pair.given_from or "given", known=known_values(pair, roles))
    if settled.conflicts:
        raise PlanRefused("; ".join(settled.conflicts) + " — nothing was sent (correct or drop the given value)")
    # remembered: what is sure now, found on the VMs or known from before; not what was told apart by port
    values = flatten(settled.topology)
    see(pair, {name: values[name] for name, source in settled.sources.items()
               if source.kind == "known" or (source.kind == "discovered" and not found[name].guess)
               or (source.kind == "given" and name in CHOICES)})
    variant = settled.topology.variant
    chosen = scenario.for_variant(variant)
    used = {n for n in _used(chosen) if not n.startswith("live.")}
    notes = []
    if scenario.variants:
        source = settled.source("variant")
        why = "the default; --variant upstream for the other" if source.kind == "default" else source.describe()
        notes.append(f"variant {variant} ({why}): {VARIANTS[variant]}")
    if flip:
        notes.append(f"{pair.by_role()['secondary'].name} plays the primary and {pair.by_role()['primary'].name} "
                     "the secondary (as the VMs report)")
    for name in sorted(used):
        source = settled.source(name)
        if source.kind != "default":
            continue
        if name in _ADDRESS_USE:
            raise PlanRefused(f"{name} is not known ({_ADDRESS_USE[name]}): no VM shows it yet; give --set "
                              f"{name}=ADDRESS (or a topology file) — nothing was sent")
        if name.startswith("ports."):
            notes.append(f"{name} = {flatten(settled.topology)[name]}: the document's default (no VM shows it); "
                         f"--set {name}=N to choose another")
    return Plan(roles, settled, tuple(notes), chosen)


def by_role(plan: Plan, sessions: Mapping[str, Session]) -> dict[str, Session]:
    """The sessions by the role their VM plays."""
    return {role: sessions[plan.roles[role]] for role in ROLES}
