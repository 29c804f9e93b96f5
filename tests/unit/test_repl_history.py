"""The history file shared by the shell and the console pane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colotui.repl.history import History, default_path


def test_entries_persist_and_two_writers_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    shell, pane = History(path), History(path)
    shell.append("query-status", "primary")
    pane.append("transaction(\nabort\n)", "both")
    shell.append(":target both")
    assert [e.text for e in shell.entries()] == ["query-status", "transaction(\nabort\n)", ":target both"]
    assert [(e.text, e.target) for e in pane.entries()][:2] == [("query-status", "primary"),
                                                                ("transaction(\nabort\n)", "both")]
    again = History(path)
    assert [e.text for e in again.entries()] == [e.text for e in shell.entries()]
    assert all(e.time > 0 for e in again.entries())
    assert path.stat().st_mode & 0o777 == 0o600


def test_blank_and_repeated_inputs_are_not_recorded(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    assert history.append("query-status") is not None
    assert history.append("query-status") is None
    assert history.append("   ") is None
    history.append("stop")
    history.append("query-status")
    assert [e.text for e in history.entries()] == ["query-status", "stop", "query-status"]


def test_search_matches_every_word_in_any_case_newest_last(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    for text in ("migrate uri=tcp:127.0.0.2:9998", "query-migrate", "MIGRATE-set-capabilities x", "stop"):
        history.append(text)
    assert [e.text for e in history.search("migrate")] == ["migrate uri=tcp:127.0.0.2:9998", "query-migrate",
                                                           "MIGRATE-set-capabilities x"]
    assert [e.text for e in history.search("Migrate TCP")] == ["migrate uri=tcp:127.0.0.2:9998"]
    assert [e.text for e in history.search("migrate", limit=1)] == ["MIGRATE-set-capabilities x"]


def test_broken_lines_are_skipped_and_a_torn_line_is_read_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"t": 1, "target": "", "text": "first"}\nnot json\n{"no": "text"}\n{"t": 2, "text": "sec')
    history = History(path)
    assert [e.text for e in history.entries()] == ["first"]
    with path.open("a") as f:
        f.write('ond"}\n')
    assert [e.text for e in history.entries()] == ["first", "second"]


def test_the_file_is_cut_back_to_the_newest_entries(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history = History(path, limit=10)
    for n in range(25):
        history.append(f"command-{n}")
    assert len(path.read_text().splitlines()) <= 20
    assert [e.text for e in history.entries()] == [f"command-{n}" for n in range(15, 25)]
    assert [e.text for e in History(path, limit=10).entries()] == [f"command-{n}" for n in range(15, 25)]
    assert json.loads(path.read_text().splitlines()[-1])["text"] == "command-24"


def test_it_lives_in_the_xdg_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "colotui" / "history.jsonl"
    History().append("query-version")
    assert "query-version" in (tmp_path / "colotui" / "history.jsonl").read_text()
