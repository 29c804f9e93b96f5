"""The console's pane echoes and recalls a password line without the password. The other records are in
tests/unit/test_secrets.py and tests/qemu/test_secrets.py.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from colotui.config import Config
from colotui.lab import Lab, pair_from_lab
from colotui.qmp import Transcript
from colotui.qmp.redact import (
    REDACTED,
)
from colotui.qmp.transcript import read_series
from colotui.repl.history import History
from colotui.ui.repl_pane import ReplPane

from ..support.apps import console_app
from ..support.colo import until
from ..ui.test_repl_pane import enter, log_text
from ..unit.test_secrets import MARK, secret_free


async def test_the_console_pane_echoes_and_recalls_a_password_line_without_the_password(
        lab: Lab, tmp_path: Path) -> None:
    """The console's QMP pane: what it shows of the line typed and of the reply, what ↑ brings back, and
    that sending what ↑ brought back is refused (it would set the password to "<redacted>")."""
    history = History(tmp_path / "history.jsonl")
    transcript = Transcript(tmp_path / "t.jsonl")
    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0), history=history,
                      transcript=transcript)
    async with app.run_test(size=(140, 50)) as pilot:
        await until(pilot, lambda: all(s.connected for s in app.controller.sessions.values()), "both connect")
        await pilot.press("colon")
        await enter(pilot, f"set_password protocol=vnc password=pane-{MARK}")
        await until(pilot, lambda: "set_password" in log_text(app) and "✗" in log_text(app), "QEMU's answer")
        await enter(pilot, f"!migrate -d nbd://u:pane2-{MARK}@127.0.0.1:1")
        await until(pilot, lambda: log_text(app).count("✗") + log_text(app).count("✓") >= 2, "the HMP answer")
        await pilot.press("up", "up")
        field = app.query_one(ReplPane).query_one(Input)
        assert field.value == f"set_password protocol=vnc password={REDACTED}"
        await pilot.press("enter")
        await until(pilot, lambda: "stands where a secret was" in log_text(app), "the recalled line is refused")
        shown = log_text(app)
    transcript.close()
    assert secret_free(shown, MARK) and f"password={REDACTED}" in shown and f"nbd://{REDACTED}@" in shown, shown
    assert secret_free((tmp_path / "t.jsonl").read_text() + (tmp_path / "history.jsonl").read_text(), MARK)
    sent = [e["msg"] for e in read_series(tmp_path / "t.jsonl") if e["dir"] == "send"]
    assert sum(m["execute"] == "set_password" for m in sent) == 1  # the refused one never went out
