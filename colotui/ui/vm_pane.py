"""One VM's pane: a header that says who it is and how it is doing."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..model import VMView
from ..qmp import LinkState

_LINK_STYLE = {
    LinkState.CONNECTED: "bold green",
    LinkState.CONNECTING: "yellow",
    LinkState.DISCONNECTED: "bold red",
    LinkState.IDLE: "dim",
}


def header_text(view: VMView) -> Text:
    """The header as rich text: identity on the first line, state on the next."""
    text = Text()
    text.append(view.name, "bold")
    text.append(f"  {view.address}")
    text.append(f"  QEMU {view.version}" if view.version else "  QEMU ?", "cyan")
    text.append("\nlink: ")
    text.append(view.link.value, _LINK_STYLE[view.link])
    text.append("   run state: ")
    connected = view.link is LinkState.CONNECTED
    status = view.status or "?"
    text.append(status if connected else f"{status} (stale)", "bold" if connected else "dim")
    text.append("   role: ")
    text.append(view.role, "bold magenta")
    if view.link is not LinkState.CONNECTED and view.link_detail:
        text.append(f"\n{view.link_detail}", "dim")
    return text


class VMPane(Vertical):
    """Shows one `VMView`; updated by the app when a `VMChanged` arrives."""

    DEFAULT_CSS = """
    VMPane { border: round $primary; padding: 0 1; width: 1fr; }
    VMPane > .header { height: auto; }
    """

    def __init__(self, view: VMView, **kwargs: object) -> None:
        super().__init__(id=f"vm-{view.name}", **kwargs)  # type: ignore[arg-type]
        self.view = view

    def compose(self) -> ComposeResult:
        yield Static(header_text(self.view), classes="header")

    def show(self, view: VMView) -> None:
        self.view = view
        self.border_title = view.name
        self.query_one(".header", Static).update(header_text(view))
