"""One VM's pane: who it is and how it is doing, its live tree, its alert and its event log."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, RichLog, Sparkline, Static

from ..model.alerts import Alert
from ..model.vm import VMView
from ..qmp import LinkState
from .vm_tree import VMTree

_LINK_STYLE = {
    LinkState.CONNECTED: "bold green",
    LinkState.CONNECTING: "yellow",
    LinkState.DISCONNECTED: "bold red",
    LinkState.IDLE: "dim",
}
_LOG_STYLE = {"info": "", "warning": "yellow", "critical": "bold red"}
#: Run states a VM in COLO passes through at every checkpoint (and once after the migration).
_COLO_RUNNING = frozenset({"running", "colo", "finish-migrate"})


def header_text(view: VMView) -> Text:
    """Identity on the first line, state on the second; why it is not connected on a third."""
    text = Text()
    text.append(view.name, "bold")
    text.append(f"  {view.address}")
    text.append(f"  QEMU {view.version}" if view.version else "  QEMU ?", "cyan")
    text.append("\nlink: ")
    text.append(view.link.value, _LINK_STYLE[view.link])
    text.append("   run state: ")
    status = view.status or "?"
    if view.in_colo and status in _COLO_RUNNING:  # paused only for a checkpoint: not worth a flicker
        status = "running (COLO)"
    text.append(status if view.connected else f"{status} (last known)", "bold" if view.connected else "dim")
    text.append("\nrole: ")
    text.append(view.role if view.connected else f"{view.role} (last known)", "bold magenta")
    if not view.connected and view.link_detail:
        text.append(f"\n{view.link_detail}", "dim")
    return text


class VMPane(Vertical):
    """Shows one `VMView`; the app calls `show` and `alert` as messages arrive."""

    DEFAULT_CSS = """
    VMPane { border: round $primary; padding: 0 1; width: 1fr; }
    VMPane.target { border: double $warning; }
    VMPane > .header { height: auto; }
    VMPane > .alert { height: auto; display: none; background: $error; color: $text; padding: 0 1; }
    VMPane > .alert.warning { background: $warning-darken-2; }
    VMPane > .alert.shown { display: block; }
    VMPane > RichLog { height: 7; border-top: solid $primary-darken-2; background: $surface; }
    VMPane > .sparks { height: 1; display: none; }
    VMPane > .sparks.shown { display: block; }
    VMPane > .sparks > Label { width: auto; color: $text-muted; }
    VMPane > .sparks > Sparkline { width: 1fr; margin-right: 1; }
    """

    def __init__(self, view: VMView, role: str, **kwargs: object) -> None:
        super().__init__(id=f"pane-{role}", **kwargs)  # type: ignore[arg-type]
        self.view = view
        self.role = role
        self.current_alert: Alert | None = None
        self._logged = 0
        self._header = header_text(view)

    def compose(self) -> ComposeResult:
        yield Static(self._header, classes="header")
        yield Static("", classes="alert")
        with Horizontal(classes="sparks"):
            yield Label("pause ms ")
            yield Sparkline([], id="pauses")
            yield Label("between s ")
            yield Sparkline([], id="intervals")
        yield VMTree()
        yield RichLog(max_lines=500, wrap=False, markup=False)

    def on_mount(self) -> None:
        self.border_title = f"{self.role}: {self.view.name}"

    def show(self, view: VMView) -> None:
        previous, self.view = self.view, view
        self.border_title = f"{self.role}: {view.name}"
        header = header_text(view)
        if header != self._header:
            self._header = header
            self.query_one(".header", Static).update(header)
        if view.structure_known:
            self.query_one(VMTree).show(view)
        cp = view.checkpoints
        if cp != previous.checkpoints:
            self.query_one(".sparks").set_class(len(cp.intervals_s) > 1, "shown")
            self.query_one("#pauses", Sparkline).data = list(cp.pauses_ms)
            self.query_one("#intervals", Sparkline).data = list(cp.intervals_s)
        log = self.query_one(RichLog)
        for entry in view.log:
            if entry.seq > self._logged:
                stamp = time.strftime("%H:%M:%S", time.localtime(entry.at))
                log.write(Text.assemble((stamp + " ", "dim"), (entry.text, _LOG_STYLE[entry.severity])))
                self._logged = entry.seq

    def retarget(self, view: VMView) -> None:
        """Another VM now plays this role (a respawned secondary): start its log afresh."""
        self._logged = 0
        self.query_one(RichLog).clear()
        self.show(view)

    def alert(self, alert: Alert | None) -> None:
        if alert == self.current_alert:
            return
        self.current_alert = alert
        banner = self.query_one(".alert", Static)
        banner.set_class(alert is not None, "shown")
        banner.set_class(alert is not None and alert.severity == "warning", "warning")
        if alert is not None:
            key = self.app.key_for("app.failover")  # type: ignore[attr-defined]
            offer = f"\n→ press {key} to run {alert.offer} on this VM" if alert.offer else ""
            banner.update(Text(alert.text + offer, style="bold"))
