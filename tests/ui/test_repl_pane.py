"""The QMP console pane, driven with Pilot against real VMs."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, RichLog

from colotui.config import Config
from colotui.lab import Lab, pair_from_lab
from colotui.repl.history import History
from colotui.ui.app import ColotuiApp
from colotui.ui.repl_pane import ConfirmScreen, ReplPane

from ..conftest import LabFactory
from ..support.apps import console_app
from ..support.colo import observe, query, start_colo, until


def log_text(app: ColotuiApp) -> str:
    log = app.query_one(ReplPane).query_one(RichLog)
    return "\n".join("".join(segment.text for segment in line) for line in log.lines)


async def enter(pilot: Pilot, text: str) -> None:
    """Type a whole line at once (pressing each key would be slow) and press Enter."""
    field = pilot.app.query_one(ReplPane).query_one(Input)
    field.value = text
    field.cursor_position = len(text)
    await pilot.press("enter")


async def test_completion_history_and_targets(lab: Lab, tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl")
    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0), history=history)
    async with app.run_test(size=(140, 50)) as pilot:
        await until(pilot, lambda: all(s.connected for s in app.controller.sessions.values()), "both connect")
        await pilot.press("colon")
        pane = app.query_one(ReplPane)
        field = pane.query_one(Input)
        assert pane.has_class("shown") and field.has_focus

        await pilot.press(*"query-stat")
        await pilot.press("tab")
        await until(pilot, lambda: pane.query_one(OptionList).option_count > 0, "completions are offered")
        offered = [str(o.prompt) for o in pane.query_one(OptionList).options]
        assert any(o.startswith("query-status") for o in offered), offered
        index = next(i for i, o in enumerate(offered) if o.startswith("query-status"))
        pane.query_one(OptionList).highlighted = index
        await pilot.press("enter")  # takes the highlighted completion
        assert field.value == "query-status"
        await pilot.press("enter")
        await until(pilot, lambda: "prelaunch" in log_text(app), "the primary's reply shows")

        await pilot.press("ctrl+t")
        assert "[secondary]" in str(pane.query_one("#prompt").render())
        await enter(pilot, "query-status")
        await until(pilot, lambda: "inmigrate" in log_text(app), "the secondary's reply shows")

        await pilot.press("ctrl+t")
        assert "[both]" in str(pane.query_one("#prompt").render())
        await enter(pilot, "query-name")
        await until(pilot, lambda: log_text(app).count('"name"') >= 2, "both replies, side by side")

        await enter(pilot, "query-nothing")
        await until(pilot, lambda: "not a command" in log_text(app) or "no command" in log_text(app),
                    "an unknown command is refused before sending")

        await pilot.press("up")
        assert field.value == "query-nothing"
        await pilot.press("up")
        assert field.value == "query-name"
    assert [e.text for e in History(tmp_path / "history.jsonl").entries()][-3:] == [
        "query-status", "query-name", "query-nothing"], "the shell shares this history file"


@pytest.mark.kvm
async def test_a_vm_in_colo_asks_first_and_read_only_refuses(labs: LabFactory, tmp_path: Path) -> None:
    lab = await start_colo(labs)
    primary = lab.state().current("primary")
    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0),
                     history=History(tmp_path / "h.jsonl"))
    async with app.run_test(size=(140, 50)) as pilot:
        await until(pilot, lambda: app.main.views["primary"].in_colo, "the primary is seen in COLO")
        await pilot.press("colon")
        await enter(pilot, "stop")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "a confirmation is asked")
        assert "in COLO" in app.screen.question
        await pilot.press("n")
        await until(pilot, lambda: "not confirmed; nothing was sent" in log_text(app), "the refusal shows")
        async with observe(primary) as p:  # "colo" while a checkpoint pauses it; "paused" had stop gone through
            assert (await query(p, "query-status"))["status"] in ("running", "colo"), "nothing was sent"

        await enter(pilot, "migrate-set-parameters x-checkpoint-delay=1500")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "a confirmation is asked")
        await pilot.press("y")
        await until(pilot, lambda: "primary ✓" in log_text(app), "the reply shows, timed")
        async with observe(primary) as p:
            assert (await query(p, "query-migrate-parameters"))["x-checkpoint-delay"] == 1500

    read_only = console_app(pair_from_lab(lab.dir), read_only=True, history=History(tmp_path / "h.jsonl"))
    async with read_only.run_test(size=(140, 50)) as pilot:
        await until(pilot, lambda: read_only.controller.sessions["primary"].connected, "connected")
        await pilot.press("colon")
        await enter(pilot, "stop")
        await until(pilot, lambda: "read-only" in log_text(read_only), "the refusal shows")
        assert not isinstance(read_only.screen, ConfirmScreen)
    async with observe(primary) as p:
        assert (await query(p, "query-status"))["status"] in ("running", "colo")
