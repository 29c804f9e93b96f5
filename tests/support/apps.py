"""The console app as the tests build it: on a pair, with a controller, offline for recorded views."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from colotui.control.console import ConsoleController
from colotui.pair import Endpoint, Pair
from colotui.qmp import UnixAddress
from colotui.ui.app import ColotuiApp
from colotui.ui.keymap import Keymap
from colotui.ui.messages import ProcedureFinished
from colotui.ui.procedure import ProcedurePanel

OFFLINE_PAIR = Pair(Endpoint("primary", UnixAddress(Path("/nonexistent/p.sock")), "127.0.0.1"),
                    Endpoint("secondary", UnixAddress(Path("/nonexistent/s.sock")), "127.0.0.2"))


def console_app(pair: Pair, *, keymap: Keymap | None = None, **controller: Any) -> ColotuiApp:
    return ColotuiApp(ConsoleController(pair, **controller), keymap=keymap)


def offline_app(keymap: Keymap | None = None) -> ColotuiApp:
    """No session: views arrive only as messages posted to ``app.main``."""
    return console_app(OFFLINE_PAIR, keymap=keymap, connect=False)


def finished_procedures() -> tuple[dict[int, str], Callable[[object], None]]:
    """A message hook for ``run_test`` and what it fills: each ProcedureFinished's status, by message (the
    hook sees a message to a screen more than once)."""
    finished: dict[int, str] = {}

    def hook(message: object) -> None:
        if isinstance(message, ProcedureFinished):
            finished[id(message)] = message.status

    return finished, hook


async def confirm_every_step(pilot: Pilot[None], app: App[None] | Screen[None], finished: dict[int, str]) -> int:
    """Press the key that runs a step each time the procedure panel asks, until ``finished`` (filled by a
    message hook with each ProcedureFinished) says the procedure ended; how many steps were confirmed."""
    panel = app.query_one(ProcedurePanel)
    steps = 0
    while not finished:
        if panel.current is not None and panel.current.state.value == "confirm":
            steps += 1
            await pilot.press("y")
        # a failed step waits for retry, skip or abort, which no one here gives: say it, not hang
        assert panel.current is None or panel.current.state.value != "failed", \
            f"step {panel.current.step.id if panel.current else '?'} failed: {panel.current.message}"
        await pilot.pause(0.1)
    return steps


async def pick_procedure(pilot: Pilot[None], app: ColotuiApp, name: str) -> None:
    """Open the procedure picker (its key) and choose ``name`` in it with the arrow keys and enter."""
    from textual.widgets import OptionList

    await pilot.press(app.main.keymap.key_for("app.procedures"))
    await pilot.pause(0.2)
    picker = app.screen.query_one(OptionList)
    wanted = next(i for i in range(picker.option_count) if picker.get_option_at_index(i).id == name)
    await pilot.press("home", *["down"] * wanted, "enter")
