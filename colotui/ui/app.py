"""The console: both VMs side by side, alerts, and procedures stepped through.

The app owns one `Session` per VM (the QMP session service) and hands it to
the watchers and the scenario engine; widgets only ever receive messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header

from ..config import Config
from ..errors import UserError
from ..model import VMView, VMWatcher
from ..model.alerts import assess
from ..pair import Endpoint, Pair, pair_from_lab
from ..paths import state_dir
from ..qmp import Session, Transcript
from ..qmp.probe import FactsCache
from ..repl.history import History
from ..repl.runner import Repl
from ..repl.safety import Confirm, Policy
from ..runbook import export
from ..scenario import Engine, PreflightError, Scenario, StepUpdate, catalogue, find_scenario
from .help import HelpScreen
from .keymap import actions
from .messages import ProcedureFinished, StepChanged, VMChanged
from .procedure import ProcedurePanel, ScenarioPicker
from .repl_pane import ReplPane
from .vm_pane import VMPane
from .vm_tree import VMTree

ROLES = ("primary", "secondary")
LAB_POLL = 2.0  # seconds between looks at a followed lab's lab.json


class ColotuiApp(App[None]):
    """Opens one QMP session per VM and shows them side by side."""

    TITLE = "colotui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark,f1", "help", "Keys", id="app.help"),
        Binding("ctrl+r,f5", "refresh", "Refresh", id="app.refresh"),
        Binding("p", "pick_procedure", "Procedures", id="app.procedures"),
        Binding("f", "offered_procedure", "Failover", id="app.failover"),
        Binding("escape", "close_procedure", "Close procedure", id="app.close_procedure", show=False),
        Binding("1", "focus_pane('primary')", "Primary pane", id="app.focus_primary", show=False),
        Binding("2", "focus_pane('secondary')", "Secondary pane", id="app.focus_secondary", show=False),
        Binding("e", "export", "Export runbook", id="app.export", show=False),
        Binding("colon,f2", "open_repl", "QMP console", id="app.repl"),
    ]

    def __init__(self, pair: Pair, *, transcript: Transcript | None = None, config: Config | None = None,
                 keymap: dict[str, str] | None = None, keymap_name: str = "default", notice: str | None = None,
                 lab_dir: Path | None = None, connect: bool = True, read_only: bool = False,
                 history: History | None = None) -> None:
        """``keymap``: binding id → keys in force (``keymap_name`` says where it came from);
        ``notice``: something to tell the operator at start (a keymap that was refused).
        ``lab_dir``: follow that lab (a respawned secondary is attached as it appears).
        ``connect=False`` opens no session: views arrive only as `VMChanged` messages (recorded
        views, screenshots, layout tests). ``read_only``: the QMP console refuses every command
        that may change a VM; ``history``: its history (default: the one shared with the shell)."""
        super().__init__()
        self.config = config or Config()
        self.pair = pair
        self.lab_dir = lab_dir
        self.connect = connect
        self.transcript = transcript
        self.deadline = self.config.deadline
        self.refresh_interval = self.config.refresh_interval
        self.keymap = keymap or {}
        self.keymap_name = keymap_name
        self.notice = notice
        self.read_only = read_only
        self.history = history if history is not None else History()
        if self.keymap:
            self.set_keymap(self.keymap)
        if self.config.theme:
            self.theme = self.config.theme
        self.sessions: dict[str, Session] = {}
        self.watchers: dict[str, VMWatcher] = {}
        self.views: dict[str, VMView] = {role: VMView(ep.name, ep.address or str(ep.qmp))
                                         for role, ep in pair.by_role().items()}
        self.facts = FactsCache()
        self.running_procedure = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for role in ROLES:
                yield VMPane(self.views[role], role)
        yield ProcedurePanel()
        yield ReplPane()
        yield Footer()

    def on_mount(self) -> None:
        if self.notice:
            self.notify(self.notice, severity="error", timeout=20)
        if not self.connect:
            return
        for role, ep in self.pair.by_role().items():
            self._attach_vm(role, ep)
        self._attach_repl()
        if self.lab_dir is not None:
            self.set_interval(LAB_POLL, self._follow_lab)

    def _attach_vm(self, role: str, ep: Endpoint) -> None:
        session = Session(ep.name, ep.qmp, deadline=self.deadline, transcript=self.transcript)
        self.sessions[role] = session

        def changed(view: VMView) -> None:
            self.post_message(VMChanged(role, view))

        watcher = VMWatcher(session, ep.address or str(ep.qmp), changed, refresh_interval=self.refresh_interval)
        self.watchers[role] = watcher
        session.start()
        self.run_worker(watcher.run(), name=f"watch-{role}", group=f"watch-{role}")

    def _attach_repl(self) -> None:
        """The QMP console on the current sessions (again after a role changed hands)."""
        policy = Policy(self.read_only, Confirm.COLO if self.config.confirm_repl_in_colo else Confirm.NEVER)

        async def in_colo(role: str) -> bool:
            return self.views[role].in_colo

        repl = Repl(self.sessions, policy=policy, history=self.history, facts=self.facts, in_colo=in_colo)
        self.query_one(ReplPane).attach(repl)

    def action_open_repl(self) -> None:
        self.query_one(ReplPane).open()

    async def _detach_vm(self, role: str) -> None:
        self.workers.cancel_group(self, f"watch-{role}")
        await self.sessions.pop(role).close()
        del self.watchers[role]

    async def _follow_lab(self) -> None:
        """A lab's roles change at respawn: attach the VM that plays each role now."""
        assert self.lab_dir is not None
        try:
            pair = pair_from_lab(self.lab_dir)
        except UserError:
            return
        if self.running_procedure or pair == self.pair:
            return
        for role, ep in pair.by_role().items():
            if ep != self.pair.by_role()[role]:
                await self._detach_vm(role)
                self.views[role] = VMView(ep.name, ep.address or str(ep.qmp))
                self.query_one(f"#pane-{role}", VMPane).retarget(self.views[role])
                self._attach_vm(role, ep)
                self.notify(f"the lab's {role} is now {ep.name}")
        self.pair = pair
        self._attach_repl()

    async def on_unmount(self) -> None:
        self.workers.cancel_all()
        for session in self.sessions.values():
            await session.close()

    # -- the VMs ---------------------------------------------------------------------------------

    def on_vmchanged(self, message: VMChanged) -> None:
        if message.view.name != self.views[message.role].name:
            return  # from the VM that played this role before a respawn: its watcher is gone
        self.views[message.role] = message.view
        if not self.screen_stack or not self.query(VMPane):  # a last message while the app closes
            return
        self.query_one(f"#pane-{message.role}", VMPane).show(message.view)
        alerts = assess(self.views["primary"], self.views["secondary"])
        for role in ROLES:
            self.query_one(f"#pane-{role}", VMPane).alert(alerts.get(role))

    def key_for(self, action_id: str) -> str:
        """The first key bound to an action in the keymap in force, for hints on screen."""
        keys = self.keymap.get(action_id) or actions()[action_id].keys
        return keys.split(",")[0].replace("question_mark", "?")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap, self.keymap_name))

    def action_focus_pane(self, role: str) -> None:
        self.query_one(f"#pane-{role}", VMPane).query_one(VMTree).focus()

    def action_export(self) -> None:
        if self.transcript is None:
            self.notify("this session keeps no transcript", severity="warning")
            return
        self.transcript.flush()
        try:
            jsonl, markdown = export(self.transcript.path, state_dir() / "exports")
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"transcript: {jsonl}\nrunbook: {markdown}", title="exported", timeout=15)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every action (with its keys) and every procedure."""
        yield from super().get_system_commands(screen)
        for action in actions().values():
            if action.scope != "app" or action.id == "app.close_procedure":
                continue
            keys = self.keymap.get(action.id, action.keys).replace("question_mark", "?")
            binding = next(b for b in self.BINDINGS if isinstance(b, Binding) and b.id == action.id)
            yield SystemCommand(action.description, f"keys: {keys}  ({action.id})",
                                partial(self.run_action, binding.action))
        for entry in catalogue().values():
            if entry.error is None:
                yield SystemCommand(f"Run procedure: {entry.name}", f"{entry.title} ({entry.origin})",
                                    partial(self.start_procedure, entry.name))

    def action_refresh(self) -> None:
        for watcher in self.watchers.values():
            if watcher.session.connected:
                self.run_worker(watcher.refresh_all(), group="refresh")

    # -- procedures ------------------------------------------------------------------------------

    def action_pick_procedure(self) -> None:
        if self.running_procedure:
            self.notify("a procedure is running: finish or abort it first", severity="warning")
            return
        self.push_screen(ScenarioPicker(catalogue()), self._picked)

    def _picked(self, name: str | None) -> None:
        if name:
            self.start_procedure(name)

    def action_offered_procedure(self) -> None:
        for role in ROLES:
            alert = self.query_one(f"#pane-{role}", VMPane).current_alert
            if alert is not None and alert.offer:
                self.start_procedure(alert.offer)
                return
        self.notify("no failover is called for: both sides look alive", severity="information")

    def action_close_procedure(self) -> None:
        panel = self.query_one(ProcedurePanel)
        if not self.running_procedure:
            panel.close()

    def start_procedure(self, name: str) -> None:
        if self.running_procedure:
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
        panel = self.query_one(ProcedurePanel)
        decide = panel.decide if self.config.confirm_procedure_steps else panel.decide_failures_only
        engine = Engine(scenario, self.sessions, self.pair.topology, decide=decide,
                        on_update=self._step_changed, facts=self.facts)
        try:
            for warning in await engine.preflight():
                self.notify(warning, severity="warning", timeout=10)
            result = await engine.run()
            status = result.status
        except PreflightError as exc:
            self.notify(f"refused: {exc}", severity="error", timeout=15)
            status = "refused"
        self.post_message(ProcedureFinished(status))

    def _step_changed(self, update: StepUpdate) -> None:
        self.post_message(StepChanged(update))

    def on_step_changed(self, message: StepChanged) -> None:
        update = message.update
        self.query_one(ProcedurePanel).show_update(update)
        busy = update.state.value in ("confirm", "running", "waiting", "failed")
        for role in ROLES:
            pane = self.query_one(f"#pane-{role}", VMPane)
            pane.set_class(busy and self.sessions[role].name == update.vm, "target")

    def on_procedure_finished(self, message: ProcedureFinished) -> None:
        self.running_procedure = False
        self.query_one(ProcedurePanel).finish(message.status)
        for role in ROLES:
            self.query_one(f"#pane-{role}", VMPane).remove_class("target")
        self.notify(f"procedure {message.status}", severity="information" if message.status == "passed" else "error")
