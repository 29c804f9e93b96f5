"""The runbook of a real session (a plain QEMU). Keymaps and the config file are in
tests/unit/test_keymaps.py; the keys, the palette and the export in the console in tests/ui/test_keymaps.py."""

from __future__ import annotations

from pathlib import Path

from colotui.qmp import CommandError, Ok, Session, Transcript, UnixAddress, read_transcript
from colotui.runbook import runbook

from ..conftest import PlainVM


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
