"""The console over a recorded transcript: the same screen and alerts, on a `ReplayController`.

`ReplayScreen` is the main screen with the player's keys, a line that says where in the recording it
stands, and a QMP console that shows what was sent.
"""

from __future__ import annotations

import json
import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..control.events import Recorded
from ..control.replay import READ_ONLY, ReplayController
from ..qmp.recording import Exchange, Moment
from ..qmp.redact import redact_arguments, redact_text, redact_value
from ..service.player import SPEEDS, Player, parse_when
from .keymap import bindings
from .main_screen import MainScreen
from .repl_pane import ReplPane


class ReplayBar(Static):
    """Where the replay stands: playing or paused, the speed, the moment, how far through."""

    DEFAULT_CSS = "ReplayBar { height: 1; background: $boost; padding: 0 1; }"

    def __init__(self, player: Player, source: str, opened: float | None = None) -> None:
        super().__init__()
        self.player, self.source = player, source
        self.opened = opened  # the first full view it opened at (said while it stands there)

    def on_mount(self) -> None:
        self.set_interval(0.25, self.tick)
        self.tick()

    def tick(self) -> None:
        p, rec = self.player, self.player.recording
        now = p.now()
        span = max(rec.end - rec.start, 1e-6)
        done = int(30 * (now - rec.start) / span)
        text = Text("▶ " if p.playing else "⏸ ", "bold green" if p.playing else "bold yellow")
        text.append(f"{p.speed:g}x  ")
        text.append(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 10)}", "bold")
        text.append(f"  [{'━' * done}{'─' * (30 - done)}] ")
        text.append(f"{_span(now - rec.start)} of {_span(span)}  ·  replay of {self.source} (read-only)", "dim")
        if self.opened is not None and abs(now - self.opened) < 1e-3 and not p.playing:
            text.append("  ·  opened where both VMs were first read (the recording starts "
                        f"{_span(self.opened - rec.start)} earlier)", "italic")
        self.update(text)


class SeekScreen(ModalScreen[str | None]):
    """Asks where to go: a time of day, a date and time, or seconds from the start (+/- from now)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("picker")
    DEFAULT_CSS = """
    SeekScreen { align: center middle; }
    SeekScreen > Vertical { width: 70; height: auto; border: thick $accent; padding: 1 2; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Go to: 03:12:05 · 2026-11-30 03:12:05 · 90 (s from the start) · +30 / -10 · end")
            yield Input(placeholder="when")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ReplayScreen(MainScreen):
    """The console's screen over a recording, with the player's keys."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("replay")
    controller: ReplayController

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield ReplayBar(self.controller.player, self.controller.source, self.controller.opened_at_full_view)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(ReplPane).recorded()
        self.sub_title = f"replay of {self.controller.source}"

    def recorded(self, event: Recorded) -> None:
        pane = self.query_one(ReplPane)
        if event.moment is None:
            pane.query_one("RichLog").clear()  # type: ignore[attr-defined]
        else:
            pane.write(_moment_text(event.moment))

    @property
    def player(self) -> Player:
        return self.controller.player

    def action_play_pause(self) -> None:
        if self.player.playing:
            self.player.pause()
        else:
            self.player.play()
        self.query_one(ReplayBar).tick()

    def action_speed(self, step: int) -> None:
        at = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.player.speed))
        self.player.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, at + step))])
        self.query_one(ReplayBar).tick()

    def action_next_event(self) -> None:
        when = self.player.next_moment()
        if when is None:
            self.notify("nothing more happens in this recording", severity="information")
            return
        self.go(when)

    def action_jump(self, seconds: float) -> None:
        self.go(self.player.now() + seconds)

    def action_seek(self) -> None:
        self.app.push_screen(SeekScreen(), self._sought)

    def _sought(self, text: str | None) -> None:
        if not text:
            return
        rec = self.player.recording
        try:
            when = parse_when(text, rec.start, rec.end, self.player.now())
        except ValueError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.go(when)

    def go(self, t: float) -> None:
        self.run_worker(self._go(t), group="seek", exclusive=True)

    async def _go(self, t: float) -> None:
        await self.controller.seek(t)
        self.query_one(ReplayBar).tick()

    # what a live console does and a replay cannot (procedures: the controller refuses them)
    def action_doctor(self) -> None:
        self.notify(READ_ONLY + " (the doctor asks the VMs)", severity="warning")


def _moment_text(moment: Moment) -> Text:
    stamp = time.strftime("%H:%M:%S", time.localtime(moment.t)) + f".{int(moment.t % 1 * 1000):03d}"
    line = Text(f"{stamp} {moment.vm:<12} ", "dim")
    if moment.kind == "note":
        line.append(redact_text(str(moment.data)), "italic")  # a recording made before colotui redacted
        return line
    exchange = moment.data
    assert isinstance(exchange, Exchange)
    line.append(exchange.command, "bold cyan")
    if exchange.arguments:
        line.append(" " + json.dumps(redact_arguments(exchange.command, exchange.arguments), separators=(",", ":")),
                    "cyan")
    if exchange.answered is None:
        line.append("  → no reply", "bold red")
    elif exchange.error is not None:
        line.append(f"  → {exchange.error.get('class')}: {redact_text(str(exchange.error.get('desc')))}", "red")
    else:
        line.append(f"  → {json.dumps(redact_value(exchange.value), separators=(',', ':'))[:200]}", "green")
    return line


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

