"""Reading a VM's wiring for discovery and the doctor: one round of queries, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ..discovery import swapped
from ..discovery.doctor import Finding, audit, deprecations, roles_of
from ..discovery.snapshot import COMPARE_LINKS, SNAPSHOT_QUERIES, Snapshot
from ..qmp import Ok, Session
from ..qmp.probe import FactsCache, VMFacts
from ..roles import ROLES, flipped

#: How long a snapshot may take: a live QEMU answers these in milliseconds; a hung one must not hold a run up.
SNAPSHOT_DEADLINE = 2.0


async def take_snapshot(session: Session, deadline: float = SNAPSHOT_DEADLINE) -> Snapshot | None:
    """The VM's wiring now, or None if it is not connected or does not answer ``query-status`` in time
    (a reply that fails, e.g. no ``query-colo-status`` in a QEMU without COLO, is left out)."""
    if not session.connected:
        return None
    keys = list(SNAPSHOT_QUERIES)
    answers = await asyncio.gather(*(session.execute(*SNAPSHOT_QUERIES[k], deadline=deadline) for k in keys))
    replies: dict[str, Any] = {k: a.value for k, a in zip(keys, answers, strict=True) if isinstance(a, Ok)}
    if "query-status" not in replies:
        return None
    compares = [o["name"] for o in replies.get("qom-list", []) if o.get("type") == "child<colo-compare>"]
    props: dict[str, dict[str, Any]] = {}
    for compare in compares:
        values = await asyncio.gather(*(session.execute("qom-get", {"path": f"/objects/{compare}", "property": p},
                                                        deadline=deadline) for p in COMPARE_LINKS))
        props[compare] = {p: v.value for p, v in zip(COMPARE_LINKS, values, strict=True) if isinstance(v, Ok)}
    replies["objects-props"] = props
    return Snapshot(session.name, replies)


async def snapshot_pair(sessions: Mapping[str, Session], connect_timeout: float) -> dict[str, Snapshot | None]:
    """Both VMs' snapshots (by the role they were given as), once each has connected or is found down."""
    roles = list(sessions)
    await asyncio.gather(*(sessions[r].wait_settled(connect_timeout) for r in roles))
    taken = await asyncio.gather(*(take_snapshot(sessions[r]) for r in roles))
    return dict(zip(roles, taken, strict=True))


async def examine_pair(sessions: Mapping[str, Session], connect_timeout: float,
                       facts: FactsCache | None = None) -> tuple[list[Finding], bool]:
    """The doctor's findings on a pair (each about the role its VM plays), and whether the VMs play the other
    way round from how they were given. Each answering VM's schema is read too (from ``facts`` if cached):
    a QEMU may mark COLO deprecated there."""
    taken = await snapshot_pair(sessions, connect_timeout)
    flip = swapped(taken["primary"], taken["secondary"])
    cache = facts or FactsCache()
    schemas = {}
    for role in ROLES:
        known = await cache.get(sessions[role], deadline=connect_timeout) if taken[role] is not None else None
        if isinstance(known, VMFacts):
            schemas[flipped(flip)[role]] = known.schema
    return audit(*roles_of(taken["primary"], taken["secondary"])) + deprecations(schemas), flip
