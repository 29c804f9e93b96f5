"""Keymaps, the config file and `colotui keys`; the palette, the keys and the export in the console are in
tests/ui/test_keymaps.py, the runbook of a real session in tests/qemu/test_keymaps.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from colotui.cli import main
from colotui.commands.console import console
from colotui.config import Config, load_config
from colotui.paths import builtin_dir
from colotui.tomlfile import FileError
from colotui.ui.actions import BY_ID, SCOPES
from colotui.ui.keymap import bindings, load_keymap, read_keymap

from ..support.apps import OFFLINE_PAIR


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
