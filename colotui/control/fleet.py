"""`colotui fleet`'s controller: one console controller per pair for the fleet's whole life, and its rows.

A QEMU ``-qmp`` socket serves one client, so the console opened on a row is a screen on that pair's own
controller. Every controller tells the fleet (`heard`): the fleet keeps the pair's views and judges its row
at every change, and hands the event on to the pair's console while one is open. So every pair's alerts
stay live while one console is open. A checkpoint changes only a row's rate, pause and sparkline: such
rows are told at most once a second, all pairs' together (`frame.Pacer`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

from ..model import VMView
from ..model.fleet import FleetRow, fleet_row
from ..scenario import offers
from .console import ConsoleController
from .events import ControllerTrouble, Event, PairChanged, Tell, VMChanged
from .frame import Pacer


@dataclass(frozen=True)
class RowsChanged:
    """These pairs' rows were judged again (draw them)."""

    names: frozenset[str]


@dataclass(frozen=True)
class PairNews:
    """Something to say about pair ``name`` while its console is not open; ``critical``: its row just turned
    critical (worth saying over another pair's console)."""

    name: str
    text: str
    severity: Literal["information", "error"] = "information"
    critical: bool = False


FleetEvent = RowsChanged | PairNews


@dataclass
class Member:
    """A pair of the fleet: its controller, its views as they came, its row, and its console's `Tell` while
    one is open."""

    name: str
    controller: ConsoleController
    views: dict[str, VMView]
    row: FleetRow
    console: Tell | None = None


def _only_checkpoints(new: FleetRow, old: FleetRow) -> bool:
    return replace(new, per_minute=old.per_minute, last_pause_ms=old.last_pause_ms, pauses_ms=old.pauses_ms) == old


class FleetController:
    """The pairs (name, controller) of a fleet, their rows, and where each pair's events go."""

    def __init__(self, pairs: Sequence[tuple[str, ConsoleController]]) -> None:
        self.members = {name: Member(name, c, dict(c.views), fleet_row(name, c.views["primary"],
                                                                        c.views["secondary"], offers()))
                        for name, c in pairs}
        self._tell: Callable[[FleetEvent], object] = lambda event: None
        self._pacer: Pacer[str, FleetRow] = Pacer(lambda rows: self._tell(RowsChanged(frozenset(rows))))

    @property
    def read_only(self) -> bool:
        return all(m.controller.read_only for m in self.members.values())

    def rows(self) -> list[FleetRow]:
        return [m.row for m in self.members.values()]

    def start(self, tell: Callable[[FleetEvent], object]) -> None:
        """Start every pair's controller; ``tell`` delivers the fleet's events to its screen."""
        self._tell = tell
        for name, member in self.members.items():
            member.controller.start(partial(self.heard, name))

    async def close(self) -> None:
        self._pacer.cancel()
        for member in self.members.values():
            await member.controller.close()

    def open(self, name: str, console: Tell) -> Member:
        """Pair ``name``'s console opens: its events go to ``console`` until `closed`."""
        member = self.members[name]
        member.console = console
        return member

    def closed(self, name: str) -> None:
        self.members[name].console = None

    def heard(self, name: str, event: Event) -> None:
        """Pair ``name``'s controller says ``event``: to its console while open; its views to the row always."""
        member = self.members[name]
        if member.console is not None:
            member.console(event)
        if isinstance(event, VMChanged):
            member.views[event.role] = event.view
            self._judge(member)
        elif isinstance(event, PairChanged):
            for role in event.roles:
                member.views[role] = event.views[role]
                if member.console is None:
                    self._tell(PairNews(name, f"{name}: the lab's {role} is now {event.views[role].name}"))
            self._judge(member)
        elif isinstance(event, ControllerTrouble) and member.console is None:
            self._tell(PairNews(name, f"{name}: {event.text}", "error"))

    def _judge(self, member: Member) -> None:
        """Judge the pair's row again now; tell it within a frame, or within a second if only its checkpoints
        moved."""
        before, member.row = member.row, fleet_row(member.name, member.views["primary"], member.views["secondary"],
                                                   offers())
        if member.row.severity == "critical" and before.severity != "critical" and member.console is None:
            self._tell(PairNews(member.name, f"{member.name}: {member.row.alert} (escape: back to the fleet)",
                                "error", critical=True))
        self._pacer.put(member.name, member.row, only_checkpoints=_only_checkpoints(member.row, before))
