"""The QMP console in the TUI: the REPL of `colotui shell`, as a pane.

All language work is the `colotui.repl.Repl`'s (parsing, schema checks,
completion, the safety policy, history); this pane only shows what it returns:
replies and events in one log, the argument hint under the input, completions
in a list, and a yes/no screen when a command would change a VM in COLO.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from ..repl.completer import Completion
from ..repl.events import EventFeed
from ..repl.outcome import Quit
from ..repl.redacted import redact_line
from ..repl.render import event_text, hint_text, outcome_renderable
from ..repl.runner import Repl
from .keymap import bindings


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a command that may change a VM in COLO."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("confirm")
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 80; height: auto; border: thick $warning; padding: 1 2; background: $surface; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question, style="bold"))
            with Horizontal():
                yield Button("Send (y)", variant="warning", id="yes")
                yield Button("Don't (n)", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ReplPane(Vertical):
    """Docked at the bottom; ``app.repl`` opens it with the input focused."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("repl")
    DEFAULT_CSS = """
    ReplPane { dock: bottom; height: 18; border: round $secondary; display: none; }
    ReplPane.shown { display: block; }
    ReplPane > RichLog { height: 1fr; background: $surface; }
    ReplPane > .hint { height: 1; color: $text-muted; }
    ReplPane > OptionList { height: auto; max-height: 8; display: none; }
    ReplPane > OptionList.shown { display: block; }
    ReplPane > Horizontal { height: 3; }
    ReplPane > Horizontal > Label { width: 15; padding: 1 0 0 1; color: $accent; text-style: bold; }
    ReplPane > Horizontal > Input { width: 1fr; }
    ReplPane.recorded > Horizontal { display: none; }
    """

    def __init__(self) -> None:
        super().__init__(id="repl")
        self.repl: Repl | None = None
        self._feed: EventFeed | None = None
        self._completions: list[Completion] = []
        self._history_at: int | None = None

    def compose(self) -> ComposeResult:
        yield RichLog(wrap=True, max_lines=2000, markup=False)
        yield Static(classes="hint")
        yield OptionList()
        with Horizontal():
            yield Label("", id="prompt")
            yield Input(placeholder="query-status   ·   !info network   ·   :help   ·   tab completes")

    def attach(self, repl: Repl) -> None:
        """Start (again) on these sessions: after a respawn the lab's secondary is another VM."""
        self.repl = repl
        if self.has_class("shown"):
            self._follow_events()
        self._update_prompt()

    def _follow_events(self) -> None:
        """Show events as they arrive while the console is open (closed, it costs nothing per event)."""
        self._stop_events()
        if self.repl is not None:
            self._feed = EventFeed(self.repl.sessions, self.repl.events)
            self._show_events()

    def _stop_events(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def recorded(self) -> None:
        """A replay's QMP console: what was sent, as it was sent; nothing to type."""
        self.add_class("recorded")

    def write(self, line: Text) -> None:
        self.query_one(RichLog).write(line)

    def open(self) -> None:
        self.add_class("shown")
        if self.has_class("recorded"):
            self.border_title = "QMP console — recorded: what was sent (nothing can be sent)"
            self.query_one(RichLog).focus()
            return
        self.border_title = "QMP console"
        self.query_one(Input).focus()
        if self._feed is None:
            self._follow_events()
        self._learn()

    def action_close(self) -> None:
        if self.query_one(OptionList).has_class("shown"):
            self.query_one(OptionList).remove_class("shown")
            return
        self.remove_class("shown")
        self._stop_events()
        self.app.set_focus(None)

    def _update_prompt(self) -> None:
        if self.repl is not None:
            self.query_one("#prompt", Label).update(Text(f"[{self.repl.target_label}] ›"))

    @work(group="repl-learn", exclusive=True)
    async def _learn(self) -> None:
        if self.repl is not None:
            await self.repl.learn()
            self._refresh_hint()

    @work(group="repl-events", exclusive=True)
    async def _show_events(self) -> None:
        feed = self._feed
        assert feed is not None
        log = self.query_one(RichLog)
        async for item in feed:
            log.write(event_text(item))

    # -- typing ----------------------------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self._refresh_hint()
        if self.query_one(OptionList).has_class("shown"):
            self._offer_completions()

    def _refresh_hint(self) -> None:
        if self.repl is None:
            return
        field = self.query_one(Input)
        found = self.repl.hint(field.value, field.cursor_position)
        self.query_one(".hint", Static).update(hint_text(found) if found else "")

    def action_complete(self) -> None:
        self._offer_completions(apply_single=True)

    def _offer_completions(self, apply_single: bool = False) -> None:
        if self.repl is None:
            return
        field = self.query_one(Input)
        self._completions = self.repl.completions(field.value, field.cursor_position)
        choices = self.query_one(OptionList)
        if apply_single and len(self._completions) == 1:
            self._apply(self._completions[0])
            choices.remove_class("shown")
            return
        choices.clear_options()
        for c in self._completions[:200]:
            label = Text.assemble((c.display, "bold"), (f"  {c.meta}" if c.meta else "", "dim"))
            if c.deprecated:
                label.append("  deprecated", "red")
            elif c.unstable:
                label.append("  unstable", "yellow")
            choices.add_option(Option(label))
        choices.set_class(bool(self._completions), "shown")
        if self._completions:
            choices.highlighted = 0

    def _apply(self, completion: Completion) -> None:
        field = self.query_one(Input)
        value = field.value[:completion.start] + completion.text + field.value[field.cursor_position:]
        field.value = value
        field.cursor_position = completion.start + len(completion.text)
        field.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._apply(self._completions[event.option_index])
        self.query_one(OptionList).remove_class("shown")

    def action_history(self, step: int) -> None:
        choices = self.query_one(OptionList)
        if choices.has_class("shown"):  # arrows move in the completion list while it is open
            choices.action_cursor_down() if step > 0 else choices.action_cursor_up()
            return
        if self.repl is None or self.repl.history is None:
            return
        entries = self.repl.history.entries()
        if not entries:
            return
        at = len(entries) if self._history_at is None else self._history_at
        at = max(0, min(len(entries), at + step))
        self._history_at = at
        field = self.query_one(Input)
        field.value = entries[at].text if at < len(entries) else ""
        field.cursor_position = len(field.value)

    def action_search(self) -> None:
        """Offer the history entries that contain every word typed so far."""
        if self.repl is None or self.repl.history is None:
            return
        field = self.query_one(Input)
        found = self.repl.history.search(field.value)
        self._completions = [Completion(e.text, 0, e.text, e.target) for e in reversed(found)]
        choices = self.query_one(OptionList)
        choices.clear_options()
        for c in self._completions:
            choices.add_option(Option(Text.assemble((c.display, "bold"), (f"  {c.meta}", "dim"))))
        choices.set_class(bool(found), "shown")
        if found:
            choices.highlighted = 0
            choices.focus()

    def action_cycle_target(self) -> None:
        if self.repl is None:
            return
        order = [*self.repl.names, "both"] if len(self.repl.names) > 1 else list(self.repl.names)
        now = self.repl.target_label
        self.repl.set_target(order[(order.index(now) + 1) % len(order)] if now in order else order[0])
        self._update_prompt()
        self._refresh_hint()

    # -- Enter -----------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        choices = self.query_one(OptionList)
        if choices.has_class("shown") and choices.highlighted is not None:
            self._apply(self._completions[choices.highlighted])
            choices.remove_class("shown")
            return
        text = event.value
        if not text.strip():
            return
        event.input.value = ""
        self._history_at = None
        self._submit(text)

    @work(group="repl-submit")
    async def _submit(self, text: str) -> None:
        assert self.repl is not None
        log = self.query_one(RichLog)
        log.write(Text.assemble((f"[{self.repl.target_label}] › ", "bold cyan"), redact_line(text)))
        self.repl.remember(text)
        outcome = await self.repl.submit(text, self._confirm)
        if isinstance(outcome, Quit):
            self.action_close()
            return
        shown = outcome_renderable(outcome) if outcome is not None else None
        if shown is not None:
            log.write(shown)
        self._update_prompt()

    async def _confirm(self, question: str) -> bool:
        return await self.app.push_screen_wait(ConfirmScreen(question))
