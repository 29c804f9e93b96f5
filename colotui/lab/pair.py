"""The lab as a pair: the VMs that play its roles now, and following them as a respawn changes them.

A pair read from a lab remembers it (`Pair.lab`); `follow` reads lab.json
again every few seconds and yields the pair whenever it differs from the one
in use (again at the next look if the consumer did not take it up, e.g.
during a procedure). The console is handed `follow` for a lab's pair.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from ..errors import UserError
from ..pair import Endpoint, Pair
from ..qmp import parse_address
from ..roles import ROLES
from .state import LabState

#: Seconds between looks at a followed lab's lab.json.
INTERVAL = 2.0


def pair_from_lab(directory: Path) -> Pair:
    """The lab's current primary and secondary (after a respawn: the survivor and the new one)."""
    state = LabState.load(Path(directory))
    state.refresh()
    endpoints = {}
    for role in ROLES:
        vm = state.current(role)
        if vm is None:
            raise UserError(f"the lab in {directory} has no {role}")
        endpoints[role] = Endpoint(vm.name, parse_address(vm.qmp), vm.address,
                                   parse_address(vm.qmp_yank) if vm.qmp_yank else None)
    return Pair(endpoints["primary"], endpoints["secondary"], known=state.topology(), lab=Path(directory))


async def follow(in_use: Callable[[], Pair], interval: float = INTERVAL) -> AsyncIterator[Pair]:
    """The lab's pair whenever other VMs play its roles than in the pair ``in_use()``, with what the operator
    gave for it (``--set``, ``--variant``); nothing for a pair that came from no lab."""
    lab = in_use().lab
    if lab is None:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            now = await asyncio.to_thread(pair_from_lab, lab)
        except UserError:  # lab.json half-written, or the lab torn down: look again later
            continue
        current = in_use()
        now = replace(now, given=current.given, given_from=current.given_from)
        if now != current:
            yield now
