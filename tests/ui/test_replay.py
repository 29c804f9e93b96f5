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
from colotui.config import Config
from colotui.control.replay import ReplayController
from colotui.lab import follow, pair_from_lab
from colotui.qmp import LinkState, Session, Transcript, UnixAddress, Unreached, read_transcript
from colotui.qmp.recording import Recording
from colotui.qmp.replay import ReplaySession
from colotui.qmp.reply import CommandError, DeadlineExceeded, Disconnected, Ok
from colotui.qmp.series import Limits
from colotui.roles import ROLES
from colotui.service.player import Player, open_recording, parse_when
from colotui.ui.app import ColotuiApp
from colotui.ui.repl_pane import ReplPane
from colotui.ui.replay import ReplayBar
from colotui.ui.vm_pane import VMPane

from ..conftest import LabFactory
from ..support.apps import confirm_every_step, console_app, finished_procedures, pick_procedure
from ..support.colo import start_colo, until
from .test_console import tree_text

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


def panes(app: ColotuiApp) -> dict[str, dict[str, Any]]:
    """What both panes show, as the test compares it: the model's state (the controller's views: the screen
    paints a change that is only more checkpoints up to a second later) and the words on screen."""
    shown = {}
    for role in ROLES:
        view = app.controller.views[role]
        pane = app.query_one(f"#pane-{role}", VMPane)
        alert = pane.current_alert
        shown[role] = {
            "vm": view.name, "link": view.link, "status": view.status, "running": view.running, "role": view.role,
            "migration": view.migration, "health": view.health, "stalled": view.checkpoints_stalled,
            "filters": [[f.id for f in n.filters] for n in view.netdevs],
            "chardevs": sorted((c.label, c.connected) for c in view.chardevs),
            "drives": [(d.device, d.root.driver if d.root else None,
                        sorted(c.edge for c in d.root.children) if d.root else []) for d in view.drives],
            "compares": [c.id for c in view.compares], "colo_exit": view.colo_exit,
            "alert": (alert.text, alert.offer) if alert else None,
            "header": str(pane.query_one(".header").render()),
            "tree": tree_text(app, role),
            "checkpoints": view.checkpoints.count,
        }
    return shown


#: At the kill itself the views are in flux (the survivor's chardevs and tree are being read again): what is
#: settled then is who is who, the link, and what each pane says.
AT_THE_KILL = ("vm", "link", "role", "migration", "alert", "checkpoints")


def same(live: dict[str, dict[str, Any]], replayed: dict[str, dict[str, Any]], moment: str,
         only: tuple[str, ...] | None = None) -> None:
    for role in ROLES:
        a = {k: v for k, v in live[role].items() if only is None or k in only}
        b = {k: v for k, v in replayed[role].items() if only is None or k in only}
        counted = a.pop("checkpoints"), b.pop("checkpoints")
        assert a == b, f"{moment}, {role}: the replay differs from the live console"
        assert abs(counted[0] - counted[1]) <= 1, f"{moment}, {role}: checkpoints {counted}"


@pytest.mark.kvm
async def test_a_replay_shows_what_the_live_console_showed(labs: LabFactory, tmp_path: Path) -> None:
    lab = await start_colo(labs)
    path = tmp_path / "live.jsonl"
    # rotated every 256 KiB and compressed, as an operator's record is: the replay reads the series as one
    transcript = Transcript(path, Limits(max_size=256 * 1024, max_age=None, keep_size=None, keep_days=None))
    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0), follow=follow,
                      transcript=transcript)
    finished, hook = finished_procedures()
    moments: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}

    async def capture(name: str) -> None:
        """What the live console shows now, once it has been still for a moment (so that the time of the
        capture is inside a stretch where nothing changes)."""
        await pilot.pause(1.5)
        moments[name] = (time.time(), panes(app))
        await pilot.pause(1.0)

    async with app.run_test(size=(160, 70), message_hook=hook) as pilot:
        p, s = (lambda: app.main.views["primary"]), (lambda: app.main.views["secondary"])
        await until(pilot, lambda: p().structure_known and s().structure_known and p().in_colo
                    and s().checkpoints.count >= 2, "both views are read, checkpoints flow")
        await capture("in COLO")
        await asyncio.to_thread(lab.kill, "secondary")
        await until(pilot, lambda: s().link is not LinkState.CONNECTED, "the kill is seen")
        moments["the kill"] = (time.time(), panes(app))
        primary_pane = app.query_one("#pane-primary", VMPane)
        await until(pilot, lambda: primary_pane.current_alert is not None and p().checkpoints_stalled, "the alert")
        await capture("the alert")
        await pilot.press("f")
        await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"]
        await until(pilot, lambda: p().colo is not None and p().colo.mode == "none" and not p().compares,
                    "the failover is shown")
        await capture("the failover")
        fresh = await asyncio.to_thread(lab.respawn)
        await until(pilot, lambda: s().name == fresh.name and s().structure_known, "the new secondary")
        finished.clear()
        await pick_procedure(pilot, app, "primary-resume")
        await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"]
        secondary_pane = app.query_one("#pane-secondary", VMPane)
        await until(pilot, lambda: p().in_colo and s().in_colo and s().checkpoints.count >= 2
                    and primary_pane.current_alert is None and secondary_pane.current_alert is None, "COLO again",
                    timeout=30)
        await capture("the resume")
    transcript.close()

    members = sorted(tmp_path.glob("live.*.jsonl.gz"))
    assert len(members) >= 2, "the live recording rotated"
    assert moments["the alert"][1]["primary"]["alert"][1] == "primary-failover"
    assert moments["the resume"][1]["secondary"]["vm"] == fresh.name
    player = Player(open_recording(members[0]))  # any member names the series
    controller = ReplayController(player, path.name)
    replay = ColotuiApp(controller)
    async with replay.run_test(size=(160, 70)) as pilot:
        await until(pilot, lambda: "open" not in controller._tasks, "the replay opens")
        for name in ("in COLO", "the alert", "the resume", "the kill", "the failover"):  # back and forth
            at, live = moments[name]
            await controller.seek(at)
            await pilot.pause(0.5)
            same(live, panes(replay), name, AT_THE_KILL if name == "the kill" else None)
            assert player.now() == pytest.approx(at) and not player.playing
        # what was sent is in the replay's QMP console, and nothing can be typed there
        await controller.seek(moments["the resume"][0])
        await pilot.pause(0.5)
        await pilot.press("colon")
        log = "\n".join(str(line.text) for line in replay.query_one(ReplPane).query_one("RichLog").lines)
        assert "x-colo-lost-heartbeat" in log and "migrate" in log and "query-status" not in log
        assert not replay.query_one(ReplPane).query_one("Input").display or \
            not replay.query_one(ReplPane).query_one("Horizontal").display
        # procedures are refused, the play moves the clock
        await pilot.press("escape", "f")
        await pilot.pause(0.3)
        assert not controller._tasks.get("procedure")
        await controller.seek(moments["in COLO"][0])
        before = player.now()
        await pilot.press("k")
        await pilot.pause(1.0)
        assert player.playing and player.now() > before
        assert "▶" in str(replay.query_one(ReplayBar).render())
        await pilot.press("k")
        assert not player.playing


def test_a_transcript_without_pair_lines_replays_its_first_two_vms() -> None:
    """A `colotui run` transcript, or one from before the console wrote pair lines: its VMs in order."""
    entries = [entry(0.0, "secondary", "link", "connecting: x"), entry(0.1, "secondary/oob", "link", "connecting: y"),
               entry(0.2, "primary", "link", "connecting: z")]
    pair = Player(Recording.from_entries(entries)).first_pair()
    assert (pair.primary.name, pair.secondary.name) == ("secondary", "primary")
    assert Player(Recording.from_entries(entries[:1])).first_pair().secondary.name == "(none)"
