"""Keymaps, the config file, the palette, the keys screen and the runbook export."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from rich.console import Console

from colotui.cli import main
from colotui.commands.console import console
from colotui.config import Config, load_config
from colotui.pair import Endpoint, Pair
from colotui.paths import builtin_dir
from colotui.qmp import CommandError, Ok, Session, Transcript, UnixAddress, read_transcript
from colotui.qmp.series import Limits
from colotui.qmp.transcript import read_series
from colotui.runbook import runbook
from colotui.tomlfile import FileError
from colotui.ui.actions import BY_ID, SCOPES
from colotui.ui.help import HelpScreen
from colotui.ui.keymap import bindings, load_keymap, read_keymap
from colotui.ui.procedure import ScenarioPicker

from ..conftest import PlainVM
from ..support.apps import OFFLINE_PAIR, console_app, offline_app


def test_default_keymap_lists_every_action_with_its_built_in_keys() -> None:
    default = read_keymap(builtin_dir("keymaps") / "default.toml")
    assert set(default) == set(BY_ID), "default.toml gives every action its keys, and names no other"
    assert {b.id: b.key for scope in SCOPES for b in bindings(scope)} == default  # type: ignore[union-attr]
    vim = load_keymap("vim").keys
    assert vim["tree.down"] == "j,down" and vim["app.quit"] == "q"


@pytest.mark.parametrize(("body", "line", "reason"), [
    ('[bindings]\n"app.quit" = "q"\n"app.teleport" = "t"\n', 3, "unknown action id 'app.teleport'"),
    ('[bindings]\n"app.quit" = "ctrl+banana"\n', 2, "'ctrl+banana' is not a key"),
    ('[bindings]\n"app.quit" = "x"\n"app.help" = "x"\n', 3, "'x' is bound to both"),
    ('[bindings]\n"app.quit" = q\n', 2, "not valid TOML"),
    ('[keys]\n"app.quit" = "q"\n', 1, "unknown table 'keys'"),
])
def test_a_bad_keymap_is_refused_with_file_line_and_reason(tmp_path: Path, body: str, line: int,
                                                           reason: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(body)
    with pytest.raises(FileError) as err:
        load_keymap(str(path))
    assert err.value.line == line and reason in err.value.reason, str(err.value)


def test_keys_in_different_places_may_be_the_same(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[bindings]\n"app.quit" = "s"\n')  # procedure.skip is also "s", in the panel
    assert load_keymap(str(path)).keys["app.quit"] == "s"


def test_colotui_keys_prints_the_bindings_in_force_and_refuses_a_bad_keymap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "--keymap", "vim"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("keymap vim (") and lines[0].endswith("vim.toml)")
    by_id = {line.split()[-1]: line for line in lines[1:]}
    assert set(by_id) == set(BY_ID)  # every id a keymap may name, as its errors say
    assert by_id["app.focus_primary"].split()[:4] == ["Anywhere", "h", "1", "Primary"]
    assert by_id["tree.down"].split()[-4:-2] == ["j", "down"]

    mine = tmp_path / "mine.toml"
    mine.write_text('[bindings]\n"app.qit" = "x"\n')
    assert main(["keys", "--keymap", str(mine)]) == 1
    err = capsys.readouterr().err
    assert err == f"colotui: {mine}:2: unknown action id 'app.qit' (see `colotui keys` for the ids)\n"


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


def console_args(**kwargs: object) -> argparse.Namespace:
    defaults = {"keymap": None, "config": None, "deadline": None, "profile": None, "lab": None}
    return argparse.Namespace(**(defaults | kwargs))


def test_a_refused_keymap_falls_back_to_the_default_and_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[bindings]\n"app.nope" = "n"\n')
    app = console(console_args(keymap=str(bad)), Config(), OFFLINE_PAIR, None)
    assert app.keymap.keys == load_keymap("default").keys and app.keymap.name == "default"
    assert app.keymap.notice is not None
    assert app.keymap.notice.startswith(f"keymap not used: {bad}:2: unknown action id 'app.nope'")


CONFIG = '''
keymap = "vim"
theme = "nord"
refresh_interval = 2
deadline = 3.5

[confirm]
procedure_steps = false

[profiles.lab]
lab = "/tmp/some-lab"

[profiles.prod]
primary = "10.0.0.1:4444"
secondary = "10.0.0.2:4444"
topology = "/etc/colotui/prod.toml"
'''


def test_config_with_profiles(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert (config.keymap, config.theme, config.refresh_interval, config.deadline) == ("vim", "nord", 2.0, 3.5)
    assert config.confirm_procedure_steps is False and config.confirm_repl_in_colo is True
    assert config.profile("lab").lab == Path("/tmp/some-lab")
    assert config.profile("prod").primary == "10.0.0.1:4444"
    app = console(console_args(config=str(path)), config, OFFLINE_PAIR, None)
    assert app.keymap.keys["tree.down"] == "j,down" and app.controller.config.deadline == 3.5


@pytest.mark.parametrize(("body", "line", "reason"), [
    ('keymap = "vim"\ncolour = "red"\n', 2, "unknown setting 'colour'"),
    ('refresh_interval = "often"\n', 1, "refresh_interval must be a number"),
    ('theme = "paisley"\n', 1, "unknown theme 'paisley'"),
    ('[confirm]\nprocedure_steps = "yes"\n', 2, "confirm.procedure_steps must be true or false"),
    ('[profiles.x]\nprimary = "a:1"\n', 1, "needs lab = DIR, or primary = and secondary ="),
    ('[profiles.x]\nlab = "/l"\nhost = "h"\n', 3, "unknown setting profiles.x.'host'"),
])
def test_config_mistakes_are_reported_with_their_line(tmp_path: Path, body: str, line: int, reason: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(FileError) as err:
        load_config(path)
    assert err.value.line == line and reason in err.value.reason, str(err.value)


async def test_palette_has_every_console_action_and_every_procedure() -> None:
    app = offline_app(load_keymap("default"))
    async with app.run_test():
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
    assert "Run procedure: primary-failover" in titles and "Run procedure: startup" in titles
    assert titles["Procedures"] == "keys: p  (app.procedures)"
    assert titles["Keys"].startswith("keys: ?,f1")


async def test_runbook_of_a_real_session(plain_vm: PlainVM, tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    session = Session("vm", UnixAddress(plain_vm.qmp), transcript=transcript)
    session.start()
    try:
        assert await session.wait_connected(10)
        assert isinstance(await session.execute("cont"), Ok)
        assert isinstance(await session.execute("object-del", {"id": "nope"}), CommandError)
        assert isinstance(await session.execute("query-status"), Ok)
        assert isinstance(await session.hmp("info status"), Ok)
    finally:
        await session.close()
        transcript.close()
    text = runbook(read_transcript(tmp_path / "t.jsonl"))
    assert "| vm | `cont` | ok |" in text
    assert "| vm | `object-del {\"id\": \"nope\"}` | **error** GenericError:" in text
    assert "query-status" not in text and "info status" not in text, "queries are left out"
    assert "event RESUME" not in text and "STOP/RESUME pairs left out" in text
    everything = runbook(read_transcript(tmp_path / "t.jsonl"), everything=True)
    assert "`query-status`" in everything and "`HMP info status`" in everything and "event RESUME" in everything


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
