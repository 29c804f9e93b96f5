"""Replay: a recorded console shows what the live one showed.

The live story is real (a lab on QEMU, killed, failed over, respawned, resumed in
the console); the replay reads its transcript back through the same watchers,
model and screen, and at the moments of the kill, the alert, the failover and the
resume its panes must say what the live panes said. The plain parts (reading a
transcript, answering from it, the moments people type) are tested on small
hand-written transcripts.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from colotui.cli import main
from colotui.qmp import LinkState, Session, Transcript, UnixAddress, Unreached, read_transcript
from colotui.qmp.recording import Recording
from colotui.qmp.replay import ReplaySession
from colotui.qmp.reply import CommandError, DeadlineExceeded, Disconnected, Ok
from colotui.roles import ROLES
from colotui.service.player import Player, parse_when

T0 = 1_800_000_000.0


def entry(t: float, vm: str, direction: str, msg: Any) -> dict[str, Any]:
    return {"t": T0 + t, "vm": vm, "dir": direction, "msg": msg}


def small_recording() -> Recording:
    """A VM that connects, answers twice, reports an event, stops answering, and goes away."""
    greeting = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}}, "capabilities": ["oob"]}}
    return Recording.from_entries([
        entry(0.0, "", "pair", {r: {"name": r, "qmp": f"unix:/run/{r}.sock", "address": "127.0.0.1", "yank": None}
                                for r in ROLES}),
        entry(0.1, "primary", "link", "connecting: connecting to /run/primary.sock"),
        entry(0.2, "primary", "recv", greeting),
        entry(0.2, "primary", "send", {"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}),
        entry(0.3, "primary", "link", "connected: QEMU 7.2.22"),
        entry(1.0, "primary", "send", {"execute": "query-status", "id": "a"}),
        entry(1.1, "primary", "recv", {"return": {"status": "running"}, "id": "a"}),
        entry(2.0, "primary", "send", {"execute": "stop", "id": "b"}),
        entry(2.0, "primary", "recv", {"return": {}, "id": "b"}),
        entry(2.1, "primary", "recv", {"event": "STOP", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}),
        entry(3.0, "primary", "send", {"execute": "query-status", "id": "c"}),
        entry(3.0, "primary", "recv", {"return": {"status": "paused"}, "id": "c"}),
        entry(4.0, "primary", "send", {"execute": "query-status", "id": "d"}),  # never answered
        entry(4.5, "primary", "send", {"execute": "cont", "id": "e"}),
        entry(4.6, "primary", "recv", {"error": {"class": "GenericError", "desc": "no"}, "id": "e"}),
        entry(6.0, "primary", "link", "disconnected: connection lost: QEMU closed the connection"),
        entry(6.5, "primary", "link", "connecting: cannot connect to /run/primary.sock: connection refused (nothing "
                                      "listening)") | {"unreached": "nothing listens"},
    ])


def test_a_recording_pairs_replies_and_keeps_the_moments_that_matter() -> None:
    rec = small_recording()
    assert (rec.start, rec.end) == (T0, T0 + 6.5)
    primary = rec.vms["primary"]
    assert [link.state for link in primary.links] == [LinkState.CONNECTING, LinkState.CONNECTED,
                                                      LinkState.DISCONNECTED, LinkState.CONNECTING]
    assert primary.links[-1].unreached is Unreached.NOTHING_LISTENS and primary.links[0].unreached is None
    kinds = [(m.kind, m.data.command if m.kind == "send" else None) for m in rec.timeline]
    # the handshake and the watcher's queries are not "what was sent"; stop and cont are
    assert [c for k, c in kinds if k == "send"] == ["stop", "cont"]
    assert [k for k, _ in kinds].count("event") == 1 and kinds[0] == ("pair", None)
    cont = next(m.data for m in rec.timeline if m.kind == "send" and m.data.command == "cont")
    assert cont.error == {"class": "GenericError", "desc": "no"} and cont.answered == T0 + 4.6


async def test_a_session_writes_what_an_attempt_found_and_a_recording_reads_it(tmp_path: Path) -> None:
    """Down at once (nothing listens) is told from a late greeting by the session, not by its words: the
    transcript carries it, so a replay's watcher judges a dead VM as the live one did."""
    transcript = Transcript(tmp_path / "t.jsonl")
    session = Session("gone", UnixAddress(tmp_path / "nobody.sock"), transcript=transcript)
    session.start()
    await session.wait_settled(2.0)
    await session.close()
    transcript.close()
    links = Recording.from_entries(read_transcript(tmp_path / "t.jsonl")).vms["gone"].links
    assert any(link.unreached is Unreached.NOTHING_LISTENS for link in links), links


async def test_a_replay_session_answers_what_the_vm_answered_then() -> None:
    rec = small_recording()
    now = [T0]
    session = ReplaySession("primary", pair_address(), rec.vms["primary"], lambda: now[0])
    assert not session.connected and isinstance(await session.execute("query-status"), Disconnected)
    for link in rec.vms["primary"].links[:2]:
        session.play_link(link)
    assert session.connected and str(session.version) == "7.2.22" and session.oob_capable
    now[0] = T0 + 0.5  # asked live a moment later: that answer
    reply = await session.execute("query-status")
    assert isinstance(reply, Ok) and reply.value == {"status": "running"} and reply.elapsed == pytest.approx(0.1)
    now[0] = T0 + 3.2
    reply = await session.execute("query-status")
    assert isinstance(reply, Ok) and reply.value == {"status": "paused"}
    now[0] = T0 + 4.2  # asked, never answered: no reply, at once
    assert isinstance(await session.execute("query-status", deadline=2.0), DeadlineExceeded)
    now[0] = T0 + 5.0
    reply = await session.execute("cont")
    assert isinstance(reply, CommandError) and reply.desc == "no"
    assert isinstance(await session.execute("quit"), CommandError), "never asked: not made up, not sent"
    session.play_link(rec.vms["primary"].links[2])
    assert isinstance(await session.execute("query-status"), Disconnected)


def pair_address() -> Any:
    from colotui.qmp import parse_address

    return parse_address("unix:/run/primary.sock")


def test_moments_people_type() -> None:
    start, end = time.mktime((2026, 11, 30, 3, 10, 0, 0, 0, -1)), time.mktime((2026, 11, 30, 3, 20, 0, 0, 0, -1))
    assert parse_when("03:12:05", start, end, start) == start + 125
    assert parse_when("03:12", start, end, start) == start + 120
    assert parse_when("2026-11-30 03:15:00", start, end, start) == start + 300
    assert parse_when("90", start, end, start) == start + 90
    assert parse_when("+30", start, end, start + 60) == start + 90
    assert parse_when("-10", start, end, start + 60) == start + 50
    assert parse_when("end", start, end, start) == end
    for bad, words in (("04:00", "not in the recording"), ("+9999", "not in the recording"),
                       ("soon", "not a moment")):
        with pytest.raises(ValueError, match=words):
            parse_when(bad, start, end, start)


def test_replay_refuses_what_is_not_a_transcript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 1
    assert capsys.readouterr().err.strip().startswith(f"colotui: no transcript {tmp_path / 'missing.jsonl'}")
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    assert main(["replay", str(tmp_path / "notes.txt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"colotui: {tmp_path / 'notes.txt'} is not a colotui transcript") and "\n" not in err
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["replay", str(tmp_path / "empty.jsonl")]) == 1
    assert "holds no messages" in capsys.readouterr().err
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(e) + "\n" for e in [entry(0, "primary", "link", "connecting: x")]))
    assert main(["replay", str(good), "--at", "25:00"]) == 1
    assert "not in the recording" in capsys.readouterr().err


def test_a_transcript_without_pair_lines_replays_its_first_two_vms() -> None:
    """A `colotui run` transcript, or one from before the console wrote pair lines: its VMs in order."""
    entries = [entry(0.0, "secondary", "link", "connecting: x"), entry(0.1, "secondary/oob", "link", "connecting: y"),
               entry(0.2, "primary", "link", "connecting: z")]
    pair = Player(Recording.from_entries(entries)).first_pair()
    assert (pair.primary.name, pair.secondary.name) == ("secondary", "primary")
    assert Player(Recording.from_entries(entries[:1])).first_pair().secondary.name == "(none)"


async def test_skipping_ahead_waits_for_what_a_notice_made_the_reader_ask() -> None:
    """A watcher that takes the link's coming up and then asks in pipelined steps (as `refresh_all` gathers
    its queries) is answered as of that moment: the player does not play on while the reader is still busy
    with it. Before, it played on once the notice was taken, and the reads came later (in CI, after the link
    went down: a replay pane said "unknown" where the live one had said "secondary")."""
    player = Player(small_recording())
    session = player.session("primary", UnixAddress(Path("/run/primary.sock")), 5.0)
    sub = session.subscribe(maxlen=16)
    seen: list[tuple[str, str]] = []

    async def reader() -> None:
        async for notice in sub:
            if getattr(notice, "state", None) is LinkState.CONNECTED:
                for _ in range(50):  # many turns of the loop, as gathered reads take
                    await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0))
                seen.append((type(await session.execute("query-status")).__name__, round(player.now() - T0, 1)))

    task = asyncio.create_task(reader())
    try:
        await player.skip_to(T0 + 6.2)
        assert seen == [("Ok", 0.3)], seen
        assert session.state is LinkState.DISCONNECTED
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
