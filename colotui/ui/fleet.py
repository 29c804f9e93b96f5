"""`colotui fleet`: one row per COLO pair, worst alert first; a row opens that pair's console.

A QEMU ``-qmp`` socket serves one client, so the fleet holds one
`ConsoleController` per pair for as long as it runs, and the console opened on
a row is a `MainScreen` on that same controller (escape comes back; the
controller keeps watching). Every controller posts through `FleetScreen.deliver`:
the fleet keeps the pair's views for its row, and hands the message on to the
pair's console while it is open. So every pair's alerts stay live while one
console is open; a pair that turns critical then is also said as a notification.

A checkpoint changes only a row's rate, pause and sparkline: rows are redrawn
for that at most once a second, the changed lines only (`FleetTable`); all
pairs' changes within that time are drawn together.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input

from ..model import VMView
from ..model.fleet import SORTS, FleetRow, fleet_row, ordered
from ..scenario import offers
from .controller import CHECKPOINT_PAINT, FRAME, ConsoleController
from .fleet_table import TABLE_KEYS, FleetTable, by_id
from .help import HelpScreen
from .keymap import Keymap
from .main_screen import MainScreen
from .messages import ControllerTrouble, FromPair, PairChanged, VMChanged


def _only_checkpoints(new: FleetRow, old: FleetRow) -> bool:
    return replace(new, per_minute=old.per_minute, last_pause_ms=old.last_pause_ms,
                                       pauses_ms=old.pauses_ms) == old


@dataclass
class _Member:
    """A pair of the fleet: its controller (for the fleet's whole life), its views as they came, its row."""

    name: str
    controller: ConsoleController
    views: dict[str, VMView]
    row: FleetRow
    console: MainScreen | None = None  # while its console is open


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = by_id("fleet", *TABLE_KEYS, keep=False) + by_id(
        "app", "app.quit", "app.help")
    DEFAULT_CSS = """
    FleetScreen #filter { display: none; }
    FleetScreen #filter.shown { display: block; }
    FleetScreen #rows { height: 1fr; }
    """

    def __init__(self, pairs: Sequence[tuple[str, ConsoleController]], keymap: Keymap) -> None:
        super().__init__()
        self.keymap = keymap
        self.members = {name: _Member(name, c, dict(c.views), fleet_row(name, c.views["primary"],
                                                                         c.views["secondary"], offers()))
                        for name, c in pairs}
        self.sort = SORTS[0]
        self.text = ""  # the filter
        self._dirty: set[str] = set()
        self._flush: Timer | None = None
        self._flush_at = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: name, address, roles, state, alert", id="filter")
        with VerticalScroll(id="rows"):
            yield FleetTable()
        yield Footer()

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def on_mount(self) -> None:
        self._subtitle()
        self._draw(set(self.members))
        for name, member in self.members.items():
            member.controller.start(partial(self.deliver, name))
        self.table.focus()

    # -- what the controllers say ----------------------------------------------------------------

    def deliver(self, name: str, message: Message) -> None:
        """A controller's message about pair ``name``: to the pair's console while it is open (a VM's
        change to the fleet as well), else to the fleet."""
        member = self.members[name]
        if member.console is not None:
            member.console.post_message(message)
            if not isinstance(message, VMChanged):
                return
        self.post_message(FromPair(name, message))

    async def on_from_pair(self, event: FromPair) -> None:
        member, message = self.members[event.name], event.message
        if isinstance(message, VMChanged):
            if message.view.name != member.controller.pair.by_role()[message.role].name:
                return  # from the VM that played this role before a respawn
            member.views[message.role] = message.view
            self._changed(member)
        elif isinstance(message, PairChanged) and member.console is None:
            for role in await member.controller.use(message.pair):
                member.views[role] = member.controller.views[role]
                self.notify(f"{member.name}: the lab's {role} is now {member.views[role].name}")
            self._changed(member)
        elif isinstance(message, ControllerTrouble):
            self.notify(f"{member.name}: {message.text}", severity="error", timeout=20)

    def _changed(self, member: _Member) -> None:
        """Judge the pair's row again now; draw it within a frame, or within a second if only its
        checkpoints moved."""
        before, member.row = member.row, fleet_row(member.name, member.views["primary"], member.views["secondary"],
                                                   offers())
        if member.row.severity == "critical" and before.severity != "critical" and member.console is None \
                and self.app.screen is not self:  # another pair's console is open: say it there
            self.app.notify(f"{member.name}: {member.row.alert} (escape: back to the fleet)", severity="error",
                            timeout=15)
        self._dirty.add(member.name)
        due = time.monotonic() + (CHECKPOINT_PAINT if _only_checkpoints(member.row, before) else FRAME)
        if self._flush is not None and due < self._flush_at:
            self._flush.stop()
            self._flush = None
        if self._flush is None:
            self._flush, self._flush_at = self.set_timer(due - time.monotonic(), self._redraw), due

    def _redraw(self) -> None:
        self._flush = None
        if self.app.screen is not self:
            return  # drawn when the fleet shows again; the dirty rows wait
        dirty, self._dirty = self._dirty, set()
        self._draw(dirty)

    def on_screen_resume(self) -> None:
        dirty, self._dirty = self._dirty, set()
        self._draw(dirty)

    # -- the table -------------------------------------------------------------------------------

    def _draw(self, dirty: set[str]) -> None:
        """The rows in the filter's and the sort's order; of those already drawn, the ``dirty`` ones changed."""
        self.table.show(ordered((m.row for m in self.members.values()), self.sort, self.text), dirty)

    def _subtitle(self) -> None:
        shown = f" · filter: {self.text!r}" if self.text else ""
        read_only = " · read-only" if all(m.controller.read_only for m in self.members.values()) else ""
        self.sub_title = f"fleet: {len(self.members)} pairs · sorted by {self.sort}{shown}{read_only}"

    # -- the operator's actions ------------------------------------------------------------------

    def action_open_pair(self) -> None:
        if self.table.selected is not None:
            self.open_pair(self.table.selected)

    def open_pair(self, name: str) -> None:
        """That pair's console, on the fleet's controller of it."""
        member = self.members[name]
        member.console = MainScreen(member.controller, self.keymap, back=partial(self._back, member))
        member.console.views = dict(member.views)  # as the fleet heard them
        member.console.sub_title = f"{name} · escape: back to the fleet"
        self.app.push_screen(member.console)

    def _back(self, member: _Member) -> None:
        member.console = None
        self.app.pop_screen()

    def action_cycle_sort(self) -> None:
        self.sort_by(SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)])

    def sort_by(self, sort: str) -> None:
        self.sort = sort
        self._subtitle()
        self._draw(set())

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self._filter("")
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.remove_class("shown")
        self.table.focus()

    def _filter(self, text: str) -> None:
        self.text = text.strip()
        self._subtitle()
        self._draw(set())

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.keymap))
