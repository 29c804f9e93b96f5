"""The console's one screen: both VMs side by side, the procedure panel and the QMP console.

It lays the widgets out for the terminal at hand and reacts to the
controller's messages; the operator's actions (keys, palette) land here and are
handed to the controller. Nothing here talks to QEMU. In a fleet, the fleet
owns the controller (it keeps watching while this screen is closed) and hands
this screen the messages about its pair; ``back`` returns to the fleet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ..control.console import ConsoleController
from ..control.events import ClusterChanged, ControllerTrouble, Event, PairChanged, Recorded, TrafficChanged, VMChanged
from ..control.procedures import Said
from ..errors import UserError
from ..model import VMView
from ..model.alerts import assess
from ..paths import state_dir
from ..roles import ROLES
from ..runbook import export
from ..scenario import Decision, Scenario, StepUpdate, catalogue, find_scenario, offers
from ..scenario.record import Stopped
from .cluster_line import ClusterLine
from .doctor import DoctorScreen
from .help import HelpScreen
from .keymap import Keymap, bindings
from .messages import ProcedureFinished, StepChanged, Told
from .procedure import ProcedurePanel, ScenarioPicker, fitting
from .repl_pane import ReplPane
from .traffic_line import TrafficLine
from .vm_pane import VMPane
from .vm_tree import VMTree

#: The header's word for a console started with --read-only.
READ_ONLY_TITLE = "read-only"
#: Below either size the layout is compact: header lines merged, short event logs.
COMPACT_BELOW = (100, 32)
#: Below this (columns, rows) the panes cannot show a VM's state: the screen says the size it needs instead.
MIN_SIZE = (60, 16)


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings("app")
    DEFAULT_CSS = """
    MainScreen.compact ProcedurePanel { height: 12; }
    MainScreen.compact ReplPane { height: 12; }
    MainScreen #size-gate { display: none; width: 100%; height: 100%; content-align: center middle; }
    MainScreen.too-small > * { display: none; }
    MainScreen.too-small > #size-gate { display: block; }
    """

    def __init__(self, controller: ConsoleController, keymap: Keymap,
                 back: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.keymap = keymap
        self.back = back  # in a fleet: what returns to it (escape, once no procedure panel is open)
        self.views: dict[str, VMView] = dict(controller.views)  # as shown
        self.running_procedure = False
        self.mouse_captured = True

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for role in ROLES:
                yield VMPane(self.views[role], role, self.keymap.key_for)
        yield TrafficLine()
        yield ClusterLine()
        yield ProcedurePanel(self.keymap.key_for)
        yield ReplPane()
        yield Footer()
        yield Static(id="size-gate")

    def on_mount(self) -> None:
        if self.controller.read_only:  # said where the operator always sees it, beside the pair's name in a fleet
            self.sub_title = " · ".join(part for part in (self.sub_title, READ_ONLY_TITLE) if part)
        if self.back is None:  # its own controller; a fleet's is started by the fleet, and posts here through it
            self.controller.start(self.tell)
        if self.controller.cluster is not None:  # a fleet's pair, read before its console opened
            self.query_one(ClusterLine).show(self.controller.cluster)
        self._judge()
        repl = self.controller.open_repl()
        if repl is not None:
            self.query_one(ReplPane).attach(repl)

    def on_resize(self, event: events.Resize) -> None:
        compact = event.size.width < COMPACT_BELOW[0] or event.size.height < COMPACT_BELOW[1]
        self.set_class(compact, "compact")
        small = event.size.width < MIN_SIZE[0] or event.size.height < MIN_SIZE[1]
        self.query_one("#size-gate", Static).update(
            f"colotui needs a terminal of at least {MIN_SIZE[0]}x{MIN_SIZE[1]}; this one is "
            f"{event.size.width}x{event.size.height}. The pair is still watched: make it larger.")
        self.set_class(small, "too-small")
        for pane in self.query(VMPane):
            pane.set_compact(compact)

    def action_toggle_mouse(self) -> None:
        """Mouse capture off (the terminal selects text: copy a reply, an address) or on again."""
        # Textual turns mouse reporting on and off only in its driver (each of its drivers has both)
        switch = getattr(self.app._driver, "_disable_mouse_support" if self.mouse_captured
                         else "_enable_mouse_support", None)
        if switch is None:
            return
        switch()
        self.mouse_captured = not self.mouse_captured
        self.notify("mouse on: clicks and scrolling go to the console" if self.mouse_captured else
                    f"mouse off: select text as in any terminal ({self.keymap.key_for('app.mouse')} turns it on)")

    def pane(self, role: str) -> VMPane:
        return self.query_one(f"#pane-{role}", VMPane)

    # -- what the controller says ----------------------------------------------------------------

    def tell(self, event: Event) -> None:
        """The controller's way in: its events arrive as messages, in order."""
        self.post_message(Told(event))

    def on_told(self, message: Told) -> None:
        event = message.event
        if isinstance(event, VMChanged):
            self.views[event.role] = event.view
            self.pane(event.role).show(event.view)
            self._judge()
        elif isinstance(event, PairChanged):
            self._pair_changed(event)
        elif isinstance(event, TrafficChanged):
            self.query_one(TrafficLine).show(event.stats)
        elif isinstance(event, ClusterChanged):
            self.query_one(ClusterLine).show(event.state)
        elif isinstance(event, ControllerTrouble):
            self.notify(event.text, severity="error", timeout=20)
        elif isinstance(event, Recorded):
            self.recorded(event)

    def _judge(self) -> None:
        alerts = assess(self.views["primary"], self.views["secondary"], offers())
        for role in ROLES:
            self.pane(role).alert(alerts.get(role))

    def _pair_changed(self, event: PairChanged) -> None:
        """The controller attached the VMs that play ``event.roles`` now: their panes start again."""
        for role in event.roles:
            self.views[role] = event.views[role]
            self.pane(role).retarget(self.views[role])
            self.notify(f"{self.views[role].name} plays the {role} now")
        self._judge()
        if self.controller.repl is not None:
            self.query_one(ReplPane).attach(self.controller.repl)

    def recorded(self, event: Recorded) -> None:
        """A replay's moment (only a replay's screen shows them)."""

    # -- the operator's actions ------------------------------------------------------------------

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.keymap))

    def action_refresh(self) -> None:
        self.controller.refresh()

    def action_focus_pane(self, role: str) -> None:
        self.pane(role).query_one(VMTree).focus()

    def action_open_repl(self) -> None:
        self.query_one(ReplPane).open()

    def action_export(self) -> None:
        transcript = self.controller.transcript
        if transcript is None:
            self.notify("this session keeps no transcript", severity="warning")
            return
        transcript.flush()
        try:
            jsonl, markdown = export(transcript.path, state_dir() / "exports")
        except (OSError, UserError) as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"transcript: {jsonl}\nrunbook: {markdown}", title="exported", timeout=15)

    def action_doctor(self) -> None:
        self.run_worker(self._doctor(), group="doctor", exclusive=True)

    async def _doctor(self) -> None:
        findings = await self.controller.doctor()
        if not findings:
            self.notify("the doctor needs a connected pair", severity="warning")
            return
        self.app.push_screen(DoctorScreen(findings), self._show_finding)

    def _show_finding(self, where: tuple[str, str] | None) -> None:
        if where is None:
            return
        pane, key = where
        tree = self.pane(pane).query_one(VMTree)
        if not tree.reveal(key):
            self.notify(f"{key} is not in the {pane}'s tree now", severity="warning")

    # -- procedures ------------------------------------------------------------------------------

    def _refuse_procedures(self) -> bool:
        """Say, in one line, why this console runs no procedure, if it runs none."""
        refused = self.controller.procedure_refusal()
        if refused is not None:
            self.notify(f"refused: {refused}", severity="warning", timeout=10)
        return refused is not None

    def action_pick_procedure(self) -> None:
        if self._refuse_procedures():
            return
        if self.running_procedure:
            self.notify("a procedure is running: finish or abort it first", severity="warning")
            return
        alerts = {role: alert for role in ROLES if (alert := self.pane(role).current_alert) is not None}
        self.app.push_screen(ScenarioPicker(catalogue(), fitting(self.views, alerts)), self._picked)

    def _picked(self, name: str | None) -> None:
        if name:
            self.start_procedure(name)

    def action_offered_procedure(self) -> None:
        if self._refuse_procedures():
            return
        for role in ROLES:
            alert = self.pane(role).current_alert
            if alert is not None and alert.offer:
                self.start_procedure(alert.offer)
                return
        self.notify("no failover is called for: both sides look alive", severity="information")

    def action_close_procedure(self) -> None:
        """Close the procedure panel (not while it runs); with none open, back to the fleet (in one)."""
        panel = self.query_one(ProcedurePanel)
        if self.running_procedure:
            return
        if panel.has_class("shown") or self.back is None:
            panel.close()
        else:
            self.back()

    def start_procedure(self, name: str) -> None:
        if self.running_procedure or self._refuse_procedures():
            return
        try:
            scenario = find_scenario(name)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.running_procedure = True
        self.query_one(ProcedurePanel).start(scenario)
        self._run_procedure(scenario)

    @work(group="procedure", exclusive=True)
    async def _run_procedure(self, scenario: Scenario) -> None:
        outcome = await self.controller.run_procedure(scenario, _PanelFront(self))
        if outcome.refused is not None:
            self.notify(f"refused: {outcome.refused}", severity="error", timeout=15)
        self.post_message(ProcedureFinished(outcome.status))

    def on_step_changed(self, message: StepChanged) -> None:
        update = message.update
        self.query_one(ProcedurePanel).show_update(update)
        busy = update.state.value in ("confirm", "running", "waiting", "failed")
        for role in ROLES:
            self.pane(role).set_class(busy and self.views[role].name == update.vm, "target")

    def on_procedure_finished(self, message: ProcedureFinished) -> None:
        self.running_procedure = False
        self.query_one(ProcedurePanel).finish(message.status)
        for role in ROLES:
            self.pane(role).remove_class("target")
        self.notify(f"procedure {message.status}", severity="information" if message.status == "passed" else "error")


class _PanelFront:
    """The console's front for a run: the procedure panel confirms and shows it, notifications say the rest."""

    def __init__(self, screen: MainScreen) -> None:
        self.screen = screen
        self.panel = screen.query_one(ProcedurePanel)
        self._decide = self.panel.decide if screen.controller.config.confirm_procedure_steps \
            else self.panel.decide_failures_only

    def planned(self, scenario: Scenario, vms: dict[str, str]) -> None:
        self.panel.start(scenario)

    def say(self, kind: Said, text: str) -> None:
        self.screen.notify(text, severity="warning", timeout=10)

    def update(self, update: StepUpdate) -> None:
        self.screen.post_message(StepChanged(update))

    async def decide(self, update: StepUpdate) -> Decision:
        return await self._decide(update)

    async def resume(self, stopped: Stopped) -> bool:
        self.say("note", f"{stopped.describe()}; steps already done are recognised and not sent again")
        return False
