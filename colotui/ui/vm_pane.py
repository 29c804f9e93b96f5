"""One VM's pane: who it is and how it is doing, its checkpoints, its live tree, its alert and its event log.

COLO takes a checkpoint up to ten times a second; all a checkpoint changes on
screen is the one-line checkpoint strip, so the console stays cheap for the
host it often runs on (the tree and the header are redrawn only when what
they show changes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import RichLog, Static

from ..model.alerts import Alert
from ..model.checkpoints import CheckpointStats
from ..model.vm import VMView
from ..qmp import LinkState
from ..qmp.health import Health
from .vm_tree import VMTree

LINK_STYLE = {
    LinkState.CONNECTED: "bold green",
    LinkState.CONNECTING: "yellow",
    LinkState.DISCONNECTED: "bold red",
    LinkState.IDLE: "dim",
}
#: The link in one character, for a compact header (its detail line says more when it is not up).
LINK_MARK = {LinkState.CONNECTED: "●", LinkState.CONNECTING: "◌", LinkState.DISCONNECTED: "✗", LinkState.IDLE: "·"}
_LOG_STYLE = {"info": "", "warning": "yellow", "critical": "bold red"}
#: Run states a VM in COLO passes through at every checkpoint (and once after the migration).
_COLO_RUNNING = frozenset({"running", "colo", "finish-migrate"})
_BARS = "▁▂▃▄▅▆▇█"


def header_text(view: VMView, compact: bool = False) -> Text:
    """Identity on the first line; link, run state and role on the next two (one, when ``compact``);
    why it is not connected below."""
    text = Text()
    text.append(view.name, "bold")
    text.append(f"  {view.address}")
    text.append(f"  QEMU {view.version}" if view.version else "  QEMU ?", "cyan")
    status = view.status or "?"
    if view.in_colo and status in _COLO_RUNNING:  # paused only for a checkpoint: not worth a flicker
        status = "running (COLO)"
    known = "" if view.connected else " (last known)"
    state_style, role_style = ("bold" if view.connected else "dim"), "bold magenta"
    if compact:
        text.append("\n")
        text.append(LINK_MARK[view.link] + " ", LINK_STYLE[view.link])
        text.append(status + known, state_style)
        text.append(" · ")
        text.append(view.role, role_style)
    else:
        text.append("\nlink: ")
        text.append(view.link.value, LINK_STYLE[view.link])
        text.append("   run state: ")
        text.append(status + known, state_style)
        text.append("\nrole: ")
        text.append(view.role + known, role_style)
    if view.health is Health.DOWN and view.health_since is not None:
        text.append(f"\ndown since {time.strftime('%H:%M:%S', time.localtime(view.health_since))}", "bold")
    if not view.connected and view.link_detail:
        text.append(f"\n{view.link_detail}", "dim")
    elif view.connected and view.health in (Health.NOT_ANSWERING, Health.MONITOR_BLOCKED):
        text.append(f"\n{view.health.value.upper()}: {view.health_detail}", "bold red")
    return text


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as block characters, scaled from the smallest to the largest."""
    shown = list(values)[-width:] if width > 0 else []
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    span = high - low
    return "".join(_BARS[0 if span == 0 else min(7, int((v - low) / span * 8))] for v in shown)


_SPARK_MIN = 6  # a sparkline narrower than this says nothing


def checkpoint_text(stats: CheckpointStats, width: int) -> Text:
    """``checkpoints 34 · 69.9/min · pause 85 ms ▁▂█▁ · every ▇▇▇▇``, as much of it as ``width`` holds:
    the words shrink, then the times between checkpoints go, and the sparklines (recent pauses, recent
    intervals) fill what is left."""
    pause = f"{stats.last_pause_ms:.0f} ms" if stats.last_pause_ms is not None else "? ms"
    candidates = (
        (("checkpoints", f"{stats.count}", f" · {stats.per_minute:g}/min · pause {pause} "), " · every "),
        (("checkpoints", f"{stats.count}", f" · {stats.per_minute:g}/min · pause {pause} "), None),
        (("ckpt", f"{stats.count}", f" · {stats.per_minute:.0f}/min · {pause} "), " "),
        (("ckpt", f"{stats.count}", f" · {pause} "), None),
    )
    for (label, count, rest), between in candidates:
        if between is not None and len(stats.intervals_s) < 2:
            continue
        room = width - len(label) - 1 - len(count) - len(rest) - (len(between) if between else 0)
        if room >= (2 if between else 1) * _SPARK_MIN:
            break
    text = Text.assemble(label + " ", (count, "bold"), rest)
    room = max(0, room)
    share = room // 2 if between else room
    text.append(sparkline(stats.steady_pauses_ms, share), "cyan")
    if between:
        text.append(between)
        text.append(sparkline(stats.intervals_s, room - share), "cyan")
    return text


class CheckpointStrip(Widget):
    """One line while the VM is in COLO: how many checkpoints, how often, how long they pause it."""

    DEFAULT_CSS = "CheckpointStrip { height: 1; display: none; } CheckpointStrip.shown { display: block; }"

    def __init__(self) -> None:
        super().__init__()
        self.stats = CheckpointStats()
        self.stalled = False

    def show(self, stats: CheckpointStats, in_colo: bool, stalled: bool) -> None:
        self.set_class(in_colo and (stats.count > 0 or stalled), "shown")
        if (stats, stalled) != (self.stats, self.stalled):
            self.stats, self.stalled = stats, stalled
            self.refresh()

    def render(self) -> Text:
        if self.stalled:
            return Text.assemble(("STALLED ", "bold red"), checkpoint_text(self.stats, self.size.width - 8))
        return checkpoint_text(self.stats, self.size.width)


class VMPane(Vertical):
    """Shows one `VMView`; the main screen calls `show` and `alert` as messages arrive."""

    DEFAULT_CSS = """
    VMPane { border: round $primary; padding: 0 1; width: 1fr; }
    VMPane.target { border: double $warning; }
    VMPane > .header { height: auto; width: 1fr; }
    VMPane > .alert { height: auto; display: none; background: $error; color: $text; padding: 0 1; }
    VMPane > .alert.warning { background: $warning-darken-2; }
    VMPane > .alert.shown { display: block; }
    VMPane > RichLog { height: 7; border-top: solid $primary-darken-2; background: $surface; }
    VMPane.compact > RichLog { height: 3; }
    VMPane.down { text-opacity: 60%; }
    VMPane.down > .alert { text-opacity: 100%; }
    """

    def __init__(self, view: VMView, role: str, key_for: Callable[[str], str]) -> None:
        super().__init__(id=f"pane-{role}")
        self.view = view
        self.role = role
        self.key_for = key_for
        self.current_alert: Alert | None = None
        self._logged = 0
        self._header = header_text(view)

    def compose(self) -> ComposeResult:
        yield Static(self._header, classes="header")
        yield Static("", classes="alert")
        yield CheckpointStrip()
        yield VMTree()
        yield RichLog(max_lines=500, wrap=False, markup=False)

    def on_mount(self) -> None:
        self.border_title = f"{self.role}: {self.view.name}"

    def set_compact(self, compact: bool) -> None:
        """A small terminal: header lines merged, a shorter event log."""
        if compact != self.has_class("compact"):
            self.set_class(compact, "compact")
            self._update_header(self.view)

    def _update_header(self, view: VMView) -> None:
        header = header_text(view, self.has_class("compact"))
        if header != self._header:
            self._header = header
            self.query_one(".header", Static).update(header)

    def show(self, view: VMView) -> None:
        previous, self.view = self.view, view
        if view.name != previous.name:
            self.border_title = f"{self.role}: {view.name}"  # setting it repaints the whole pane
        self.set_class(view.health is Health.DOWN, "down")  # dimmed: what it shows is the last known
        self._update_header(view)
        self.query_one(CheckpointStrip).show(view.checkpoints, view.in_colo, view.checkpoints_stalled)
        if view.structure_known:
            self.query_one(VMTree).show(view)
        if view.log is not previous.log:
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
            offer = f"\n→ press {self.key_for('app.failover')} to run {alert.offer} on this VM" if alert.offer else ""
            banner.update(Text(alert.text + offer, style="bold"))
