"""Procedures in the console: pick a scenario, then step through it with the engine.

The panel holds no procedure logic. It shows the engine's `StepUpdate` values
(the steps and their states, and for the current step the exact QMP, its
target, the checks as found and any error in full) and answers the engine's
questions with the operator's key presses.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import ClassVar

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ..model import VMView
from ..model.alerts import Alert
from ..qmp.redact import redact_message
from ..scenario import Decision, Scenario, StepState, StepUpdate
from ..scenario.loader import Entry
from .keymap import bindings

_ICON = {StepState.PENDING: ("·", "dim"), StepState.CHECKING: ("?", "yellow"), StepState.CONFIRM: ("▶", "bold yellow"),
         StepState.RUNNING: ("…", "yellow"), StepState.WAITING: ("⧗", "yellow"), StepState.OK: ("✓", "green"),
         StepState.FAILED: ("✗", "bold red"), StepState.SKIPPED: ("↷", "magenta")}


class ScenarioPicker(ModalScreen[str | None]):
    """Every scenario found, built-in and the operator's; a broken file shows its error."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("picker")
    DEFAULT_CSS = """
    ScenarioPicker { align: center middle; }
    ScenarioPicker > OptionList { width: 90; max-width: 100%; height: auto; max-height: 80%; border: round $accent; }
    """

    def __init__(self, entries: dict[str, Entry], fits: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.entries = entries
        self.fits = fits if fits is not None and fits[0] in entries else None  # (name, why) pre-selected

    def compose(self) -> ComposeResult:
        names = max((len(e.name) for e in self.entries.values()), default=0) + 2
        origins = max((len(e.origin) for e in self.entries.values()), default=0) + 2
        options = []
        for entry in self.entries.values():
            text = Text.assemble((f"{entry.name:<{names}}", "bold"), (f"{entry.origin:<{origins}}", "dim"))
            if entry.error:
                text.append(entry.error, "red")
            else:
                text.append(entry.title)
            options.append(Option(text, id=entry.name, disabled=entry.error is not None))
        picker = OptionList(*options)
        picker.border_title = "Run a procedure"
        if self.fits is not None:
            picker.highlighted = list(self.entries).index(self.fits[0])
            picker.border_subtitle = f"{self.fits[0]}: {self.fits[1]}"
        yield picker

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def step_line(update: StepUpdate | None, scenario: Scenario, index: int) -> Text:
    step = scenario.steps[index]
    state = update.state if update else StepState.PENDING
    icon, style = _ICON[state]
    vm = update.vm if update else step.target
    return Text.assemble((f"{icon} ", style), f"{step.number:>2}. ", ("◆" if step.variant else "", "italic"),
                         (step.id, "bold" if update else ""), (f" → {vm}", "dim"))


def step_detail(update: StepUpdate, key: Callable[[str], str]) -> Group:
    """The current step in full: why, where, the exact message, the checks, the outcome."""
    variant = f"  ◆ {update.step.variant} variant only" if update.step.variant else ""
    parts: list[object] = [Text.assemble((f"{update.step.label}", "bold"), f"  on {update.vm}  ",
                                         (update.state.value, _ICON[update.state][1]), (variant, "italic"))]
    parts.append(Text(update.step.why, style="italic"))
    if update.request is not None:
        parts.append(Syntax(json.dumps(redact_message(update.request.message()), indent=2), "json", theme="ansi_dark",
                            background_color="default"))
    for check in update.checks:
        parts.append(Text.assemble(("✓ " if check.ok else "✗ ", "green" if check.ok else "bold red"),
                                   check.check.describe(), (f"  (found {check.found})", "dim")))
    if update.state is StepState.FAILED:
        parts.append(Text(update.message, style="bold red"))
        parts.append(Text(f"{key('procedure.retry')} retry · {key('procedure.skip')} skip · "
                          f"{key('procedure.abort')} abort", style="bold"))
    elif update.state is StepState.CONFIRM:
        parts.append(Text(f"{key('procedure.run')} run this step · {key('procedure.skip')} skip · "
                          f"{key('procedure.abort')} abort", style="bold"))
    elif update.message and update.state is not StepState.CHECKING:
        parts.append(Text(update.message, style="dim"))
    return Group(*parts)  # type: ignore[arg-type]


class ProcedurePanel(Horizontal):
    """The running procedure: step list on the left, the current step on the right."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("procedure")
    DEFAULT_CSS = """
    ProcedurePanel { dock: bottom; height: 16; border: round $accent; display: none; }
    ProcedurePanel.shown { display: block; }
    ProcedurePanel > .steps { width: 42; height: 100%; border-right: solid $accent-darken-2; }
    ProcedurePanel > VerticalScroll { width: 1fr; padding: 0 1; }
    """
    can_focus = True

    def __init__(self, key_for: Callable[[str], str]) -> None:
        super().__init__(id="procedure")
        self.key_for = key_for
        self.scenario: Scenario | None = None
        self.updates: dict[str, StepUpdate] = {}
        self.current: StepUpdate | None = None
        self._answer: asyncio.Future[Decision] | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="steps")
        with VerticalScroll():
            yield Static(classes="detail")

    def start(self, scenario: Scenario) -> None:
        self.scenario, self.updates, self.current = scenario, {}, None
        variant = f" ({scenario.variant} variant)" if scenario.variant and scenario.variants else ""
        self.border_title = f"{scenario.name}: {scenario.title}{variant}"
        self.border_subtitle = "checking…"
        self.add_class("shown")
        self._render_steps()
        self.query_one(".detail", Static).update(Text(scenario.description, style="italic"))
        self.focus()

    def show_update(self, update: StepUpdate) -> None:
        self.updates[update.step.id] = update
        self.current = update
        self._render_steps()
        self.query_one(".detail", Static).update(step_detail(update, self.key_for))
        self.border_subtitle = f"step {update.step.number}/{update.total}: {update.state.value}"

    def finish(self, status: str) -> None:
        key = self.key_for
        self.border_subtitle = (f"finished: {status} · {key('app.procedures')} another procedure · "
                                f"{key('app.close_procedure')} close")

    def _render_steps(self) -> None:
        assert self.scenario is not None
        lines = [step_line(self.updates.get(s.id), self.scenario, i) for i, s in enumerate(self.scenario.steps)]
        self.query_one(".steps", Static).update(Text("\n").join(lines))

    async def decide(self, update: StepUpdate) -> Decision:
        """The engine asks; the operator answers with a key."""
        self.show_update(update)
        self._answer = asyncio.get_running_loop().create_future()
        try:
            return await self._answer
        finally:
            self._answer = None

    async def decide_failures_only(self, update: StepUpdate) -> Decision:
        """Confirmations switched off in the config: run each step, still stop at a failure."""
        if update.state is StepState.CONFIRM:
            self.show_update(update)
            return Decision.RUN
        return await self.decide(update)

    def action_decide(self, choice: str) -> None:
        if self._answer is None or self._answer.done() or self.current is None:
            return
        allowed = {StepState.CONFIRM: {"run", "skip", "abort"}, StepState.FAILED: {"retry", "skip", "abort"}}
        if choice in allowed.get(self.current.state, set()):
            self._answer.set_result(Decision(choice))

    def close(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(Decision.ABORT)
        self.remove_class("shown")


def fitting(views: dict[str, VMView], alerts: dict[str, Alert]) -> tuple[str, str] | None:
    """The procedure that fits the pair's state now, and why: an alert's offer; else, with one VM running alone
    after a failover and a fresh one waiting for the migration, the resume for the side it was; else, a pair
    not in COLO yet ready for it, startup."""
    for alert in alerts.values():
        if alert.offer:
            return alert.offer, alert.text
    fresh = [v for v in views.values() if v.connected and v.status == "inmigrate"]
    alone = [v for v in views.values() if v.connected and v.colo is not None and v.colo.mode == "none"
             and v.colo.last_mode in ("primary", "secondary") and v.running]
    if fresh and alone:
        was = alone[0].colo.last_mode if alone[0].colo is not None else "primary"
        return f"{was}-resume", f"{fresh[0].name} waits for the migration; {alone[0].name} runs alone (was {was})"
    if fresh and any(v.connected and v.status == "prelaunch" for v in views.values()):
        return "startup", "a primary in prelaunch and a secondary waiting: not in COLO yet"
    return None
