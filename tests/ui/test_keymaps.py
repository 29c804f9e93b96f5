"""Keymaps in the running console: a remapped key triggers its action, the palette has every action and
procedure, and the export writes a transcript and a runbook. Reading keymaps and the config file is in
tests/unit/test_keymaps.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from colotui.pair import Endpoint, Pair
from colotui.qmp import Ok, Transcript, UnixAddress
from colotui.qmp.series import Limits
from colotui.qmp.transcript import read_series
from colotui.ui.help import HelpScreen
from colotui.ui.keymap import load_keymap
from colotui.ui.palette import ProcedureCommands
from colotui.ui.procedure import ScenarioPicker

from ..conftest import PlainVM
from ..support.apps import console_app, offline_app


async def test_a_remapped_key_triggers_its_action_and_the_old_one_does_not(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[bindings]\n"app.procedures" = "x"\n')
    app = offline_app(load_keymap(str(path)))
    async with app.run_test() as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, ScenarioPicker)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ScenarioPicker)
        await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, record=True)
        console.print(app.screen.query_one("Static").content)
        row = next(line for line in console.export_text().splitlines() if "app.procedures" in line)
        assert row.split("│")[1].strip() == "x", "the keys screen shows the key in force, not the built-in one"


async def test_palette_has_every_console_action_and_every_procedure() -> None:
    app = offline_app(load_keymap("default"))
    async with app.run_test():
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
    assert ProcedureCommands in app.COMMANDS  # every procedure, by name: tests/ui/test_palette.py
    assert titles["Mouse on/off (off: the terminal selects text)"] == "keys: m  (app.mouse)"
    assert titles["Procedures"] == "keys: p  (app.procedures)"
    assert titles["Keys"].startswith("keys: ?,f1")


async def test_export_from_the_console_writes_transcript_and_runbook(plain_vm: PlainVM, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    transcript = Transcript(tmp_path / "t.jsonl", Limits(max_size=512, max_age=None, keep_size=None, keep_days=None))
    pair = Pair(Endpoint("primary", UnixAddress(plain_vm.qmp)),
                Endpoint("secondary", UnixAddress(Path("/nonexistent/s.sock"))))
    app = console_app(pair, transcript=transcript, history=None)
    async with app.run_test() as pilot:
        assert app.controller.sessions is not None
        session = app.controller.sessions["primary"]
        assert await session.wait_connected(10)
        assert isinstance(await session.execute("cont"), Ok)
        await pilot.press("e")
        await pilot.pause()
    exported = sorted((tmp_path / "state" / "colotui" / "exports").iterdir())
    assert [p.suffix for p in exported] == [".jsonl", ".md"]
    assert len(list(tmp_path.glob("t.*.jsonl*"))) > 2, "the transcript was rotated before the export"
    entries = [json.loads(line) for line in exported[0].read_text().splitlines()]
    assert entries == read_series(tmp_path / "t.jsonl")[:len(entries)], "the export holds the whole series"
    sent = [e["msg"]["execute"] for e in entries if e["dir"] == "send"]
    assert any("QMP" in e["msg"] for e in entries if e["dir"] == "recv") and sent[0] == "qmp_capabilities"
    assert "cont" in sent
    assert "| primary | `cont` | ok |" in exported[1].read_text()
