"""The keys screen, written from the keymap in force, so it is never out of date."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .actions import ACTIONS, SCOPES
from .keymap import Keymap, bindings, shown


def keys_rows(keymap: Keymap) -> list[tuple[str, str, str, str]]:
    """(where, keys, what it does, binding id) for every action, in the keymap given."""
    rows = []
    for action in sorted(ACTIONS, key=lambda a: (list(SCOPES).index(a.scope), a.id)):
        keys = "  ".join(shown(k) for k in keymap.keys[action.id].split(","))
        rows.append((SCOPES[action.scope], keys, action.description, action.id))
    return rows


def keys_table(keymap: Keymap) -> Table:
    table = Table(title=f"Keys ({keymap.name})", title_style="bold", expand=True, show_edge=False)
    table.add_column("where", style="dim", no_wrap=True)
    table.add_column("keys", style="bold cyan", no_wrap=True)
    table.add_column("does")
    table.add_column("id", style="dim", no_wrap=True)
    for row in keys_rows(keymap):
        table.add_row(*row)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings("help")
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; height: 80%; border: round $accent; padding: 0 1; }
    """

    def __init__(self, keymap: Keymap) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(keys_table(self.keymap))
            yield Static(Text("\nctrl+p opens the command palette: every action and every procedure.", style="dim"))
