"""The keys screen, written from the keymap in force, so it is never out of date."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .keymap import actions

_SCOPES = {"app": "Anywhere", "procedure": "Procedure panel", "picker": "Procedure picker", "tree": "A VM's tree",
           "repl": "QMP console", "confirm": "Confirmation", "help": "This screen"}


def keys_rows(keymap: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(where, keys, what it does, binding id) for every action, in the keymap given."""
    rows = []
    for action in sorted(actions().values(), key=lambda a: (list(_SCOPES).index(a.scope), a.id)):
        keys = keymap.get(action.id, action.keys).replace("question_mark", "?").replace(",", "  ")
        rows.append((_SCOPES.get(action.scope, action.scope), keys, action.description, action.id))
    return rows


def keys_table(keymap: dict[str, str], source: str) -> Table:
    table = Table(title=f"Keys ({source})", title_style="bold", expand=True, show_edge=False)
    table.add_column("where", style="dim", no_wrap=True)
    table.add_column("keys", style="bold cyan", no_wrap=True)
    table.add_column("does")
    table.add_column("id", style="dim", no_wrap=True)
    for row in keys_rows(keymap):
        table.add_row(*row)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; height: 80%; border: round $accent; padding: 0 1; }
    """

    def __init__(self, keymap: dict[str, str], source: str) -> None:
        super().__init__()
        self.keymap, self.source = keymap, source

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(keys_table(self.keymap, self.source))
            yield Static(Text("\nctrl+p opens the command palette: every action and every procedure.", style="dim"))
