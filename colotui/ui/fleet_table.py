"""The fleet's table: one line per pair, drawn line by line, so that a pair's new checkpoints redraw its line only.

A general table widget redraws every cell of every row when one cell
changes; with ten pairs checkpointing, that alone would cost more than the
pairs' sessions. Here each row is rendered once when it changes and kept as a
strip; a frame copies the strips, and the cursor is a style laid over one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from ..model.fleet import FleetRow
from .keymap import bindings
from .vm_pane import LINK_MARK, LINK_STYLE, sparkline

#: The table's columns: key and heading.
COLUMNS = (("mark", ""), ("name", "pair"), ("primary", "primary"), ("secondary", "secondary"),
           ("roles", "roles"), ("state", "COLO state"), ("rate", "ckpt/min"), ("pause", "pause"),
           ("pauses", "recent pauses"), ("links", "links"), ("alert", "alert"))
KEYS = [key for key, _ in COLUMNS]
SPARK = 12  # recent pauses shown
GAP = 2  # spaces between columns
_MARK = {"critical": ("✖", "bold red"), "warning": ("▲", "yellow"), "": ("✓", "green")}
_CURSOR = Style(bgcolor="grey30")
#: The table's own keys (moving its cursor); the fleet screen has the others.
TABLE_KEYS = ("fleet.down", "fleet.up", "fleet.first", "fleet.last")


def by_id(scope: str, *ids: str, keep: bool = True) -> list[BindingType]:
    """The bindings of ``scope`` with these ids (``keep``) or all but these."""
    return [b for b in bindings(scope) if isinstance(b, Binding) and (b.id in ids) == keep]


def row_cells(row: FleetRow) -> tuple[Text, ...]:
    """The row's cells, in `COLUMNS` order."""
    mark, style = _MARK.get(row.severity, _MARK[""])
    state_style = "green" if row.state == "COLO running" else "yellow" if row.state.startswith("running alone") \
        else "bold red" if "lost" in row.state or row.state == "two primaries" else ""
    links = Text()
    for link in row.links:
        links.append(LINK_MARK[link], LINK_STYLE[link])
    alert = row.alert + (f" [{row.offer}]" if row.offer else "")
    pause = f"{row.last_pause_ms:.0f} ms" if row.last_pause_ms is not None else "–"
    return (Text(mark, style), Text(row.name, "bold"), Text(row.primary), Text(row.secondary), Text(row.roles),
            Text(row.state, state_style), Text(f"{row.per_minute:g}", justify="right"), Text(pause),
            Text(sparkline(row.pauses_ms, SPARK), "cyan"), links, Text(alert, style if row.severity else ""))


class FleetTable(Widget, can_focus=True):
    """Rows of `FleetRow`, a heading and a cursor; `show` takes the rows in order and which of them changed."""

    BINDINGS: ClassVar[list[BindingType]] = by_id("fleet", *TABLE_KEYS)
    DEFAULT_CSS = "FleetTable { height: auto; }"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[FleetRow] = []
        self.cursor = 0
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._widths = [0] * len(COLUMNS)
        self._strips: dict[str, Strip] = {}  # a row as drawn, for the widths in force
        self._heading: Strip | None = None

    @property
    def order(self) -> list[str]:
        return [row.name for row in self.rows]

    @property
    def selected(self) -> str | None:
        return self.rows[self.cursor].name if 0 <= self.cursor < len(self.rows) else None

    def cell(self, name: str, column: str) -> str:
        """What a cell shows, as text."""
        return self._cells[name][KEYS.index(column)].plain

    def show(self, rows: Sequence[FleetRow], changed: set[str]) -> None:
        """Draw ``rows`` in this order: all of them if the order or a column's width changed, else the lines
        of the ``changed`` ones only. The cursor stays on its pair."""
        selected = self.selected
        order = [row.name for row in rows]
        for row in rows:
            if row.name in changed or row.name not in self._cells:
                self._cells[row.name] = row_cells(row)
                self._strips.pop(row.name, None)
        fitted = [max([len(label)] + [self._cells[name][i].cell_len for name in order])
                  for i, (_, label) in enumerate(COLUMNS[:-1])] + [0]  # the last column is not padded
        if order == self.order:  # columns only widen while the rows stay: no redraw for a rate of 9.5, then 10
            fitted = [max(old, new) for old, new in zip(self._widths, fitted, strict=True)]
        redraw_all = order != self.order or fitted != self._widths
        self.rows = list(rows)
        if selected in order:
            self.cursor = order.index(selected)
        self.cursor = max(0, min(self.cursor, len(rows) - 1))
        if redraw_all:
            self._widths, self._strips, self._heading = fitted, {}, None
            self.refresh(layout=True)
            return
        for y, name in enumerate(order, start=1):
            if name in changed:
                self.refresh(Region(0, y, self.size.width, 1))

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(self.rows) + 1

    def _strip(self, cells: Sequence[Text], style: str = "") -> Strip:
        line = Text(style=style, no_wrap=True, overflow="crop")
        for i, (cell, width) in enumerate(zip(cells, self._widths, strict=True)):
            if i:
                line.append(" " * GAP)
            padded = cell.copy()
            if i < len(cells) - 1:
                padded.align(cell.justify if cell.justify in ("left", "right") else "left", width)
            line.append_text(padded)
        return Strip(line.render(self.app.console)).crop_extend(0, self.size.width, None)

    def render_line(self, y: int) -> Strip:
        if y == 0:
            if self._heading is None:
                self._heading = self._strip([Text(label) for _, label in COLUMNS], "bold")
            return self._heading
        if y > len(self.rows):
            return Strip.blank(self.size.width)
        name = self.rows[y - 1].name
        strip = self._strips.get(name)
        if strip is None:
            strip = self._strips[name] = self._strip(self._cells[name])
        return strip.apply_style(_CURSOR) if y - 1 == self.cursor and self.has_focus else strip

    def on_resize(self, event: events.Resize) -> None:
        self._strips, self._heading = {}, None

    def _move(self, to: int) -> None:
        before, self.cursor = self.cursor, max(0, min(to, len(self.rows) - 1))
        for y in (before, self.cursor):
            self.refresh(Region(0, y + 1, self.size.width, 1))
        self.scroll_to_region(Region(0, self.cursor + 1, 1, 1))

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_cursor_to(self, index: int) -> None:
        self._move(index if index >= 0 else len(self.rows) - 1)

    def on_click(self, event: events.Click) -> None:
        if 1 <= event.y <= len(self.rows):
            self._move(event.y - 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
