"""The doctor's findings in the console: one line each, worst first; enter shows the finding's node."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ..discovery.doctor import Finding
from .keymap import bindings

_STYLE = {"ok": "green", "warning": "yellow", "error": "bold red"}
_ORDER = {"error": 0, "warning": 1, "ok": 2}


class DoctorScreen(ModalScreen[tuple[str, str] | None]):
    """Dismissed with (pane, tree node key) for the chosen finding, or None."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("doctor")
    DEFAULT_CSS = """
    DoctorScreen { align: center middle; }
    DoctorScreen > OptionList { width: 90%; height: auto; max-height: 85%; border: round $accent; }
    """

    def __init__(self, findings: list[tuple[str, Finding]]) -> None:
        super().__init__()
        self.findings = sorted(findings, key=lambda pf: _ORDER[pf[1].level])

    def compose(self) -> ComposeResult:
        options = []
        for i, (pane, f) in enumerate(self.findings):
            text = Text.assemble((f"{f.level.upper():<8}", _STYLE[f.level]), (f"{f.check}: ", "bold"), f.text)
            if f.node:
                text.append(f"  → {pane} {f.node}", "dim")
            options.append(Option(text, id=str(i)))
        counts = {level: sum(f.level == level for _, f in self.findings) for level in _ORDER}
        findings = OptionList(*options)
        findings.border_title = (f"Doctor: {counts['error']} errors, {counts['warning']} warnings, "
                                 f"{counts['ok']} ok")
        findings.border_subtitle = "enter: show it in the tree"
        yield findings

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        pane, finding = self.findings[int(event.option.id or 0)]
        self.dismiss((pane, finding.node) if pane and finding.node else None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
