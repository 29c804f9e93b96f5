"""`colotui fleet`'s screen: one row per COLO pair, worst alert first; a row opens that pair's console.

The `FleetController` holds the pairs, judges their rows and says which changed (`RowsChanged`, paced:
within a frame, or a second for checkpoints only); this screen draws those lines only (`FleetTable`), in
the filter's and the sort's order. The console opened on a row is a `MainScreen` on the pair's own
controller (escape comes back; the controller keeps watching); a pair that turns critical meanwhile is
said over it as a notification.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from ..control.fleet import FleetController, PairNews, RowsChanged
from ..model.fleet import SORTS, ordered
from .fleet_table import TABLE_KEYS, FleetTable, by_id
from .help import HelpScreen
from .keymap import Keymap
from .main_screen import MainScreen
from .messages import Told


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = by_id("fleet", *TABLE_KEYS, keep=False) + by_id(
        "app", "app.quit", "app.help")
    DEFAULT_CSS = """
    FleetScreen #filter { display: none; }
    FleetScreen #filter.shown { display: block; }
    FleetScreen #rows { height: 1fr; }
    """

    def __init__(self, pairs: FleetController, keymap: Keymap) -> None:
        super().__init__()
        self.keymap = keymap
        self.pairs = pairs
        self.sort = SORTS[0]
        self.text = ""  # the filter
        self._dirty: set[str] = set()  # rows judged again while a console covered the fleet

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
        self._draw(set(self.pairs.members))
        self.pairs.start(lambda event: self.post_message(Told(event)))
        self.table.focus()

    # -- what the fleet's controller says ----------------------------------------------------------

    def on_told(self, message: Told) -> None:
        event = message.event
        if isinstance(event, RowsChanged):
            self._dirty |= event.names
            if self.app.screen is self:  # else drawn when the fleet shows again
                self.on_screen_resume()
        elif isinstance(event, PairNews):
            if not event.critical:
                self.notify(event.text, severity=event.severity, timeout=20 if event.severity == "error" else 5)
            elif self.app.screen is not self:  # another pair's console is open: say it there
                self.app.notify(event.text, severity="error", timeout=15)

    def on_screen_resume(self) -> None:
        dirty, self._dirty = self._dirty, set()
        self._draw(dirty)

    # -- the table -------------------------------------------------------------------------------

    def _draw(self, dirty: set[str]) -> None:
        """The rows in the filter's and the sort's order; of those already drawn, the ``dirty`` ones changed."""
        self.table.show(ordered(self.pairs.rows(), self.sort, self.text), dirty)

    def _subtitle(self) -> None:
        shown = f" · filter: {self.text!r}" if self.text else ""
        read_only = " · read-only" if self.pairs.read_only else ""
        self.sub_title = f"fleet: {len(self.pairs.members)} pairs · sorted by {self.sort}{shown}{read_only}"

    # -- the operator's actions ------------------------------------------------------------------

    def action_open_pair(self) -> None:
        if self.table.selected is not None:
            self.open_pair(self.table.selected)

    def open_pair(self, name: str) -> None:
        """That pair's console, on the fleet's controller of it."""
        member = self.pairs.members[name]
        console = MainScreen(member.controller, self.keymap, back=partial(self._back, name))
        console.views = dict(member.views)  # as the fleet heard them
        console.sub_title = f"{name} · escape: back to the fleet"
        self.pairs.open(name, console.tell)
        self.app.push_screen(console)

    def _back(self, name: str) -> None:
        self.pairs.closed(name)
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
