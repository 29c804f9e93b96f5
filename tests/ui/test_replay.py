"""A replay shows what the live console showed: a lab on QEMU, killed, failed over, respawned and resumed in
the console; read back through the same watchers, model and screen, at the moments of the kill, the alert,
the failover and the resume its panes must say what the live panes said. Reading a transcript and answering
from it are in tests/unit/test_replay.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from colotui.config import Config
from colotui.control.replay import ReplayController
from colotui.lab import follow, pair_from_lab
from colotui.qmp import LinkState, Transcript
from colotui.qmp.series import Limits
from colotui.roles import ROLES
from colotui.service.player import Player, open_recording
from colotui.ui.app import ColotuiApp
from colotui.ui.repl_pane import ReplPane
from colotui.ui.replay import ReplayBar
from colotui.ui.vm_pane import VMPane

from ..conftest import LabFactory
from ..support.apps import confirm_every_step, console_app, finished_procedures, pick_procedure
from ..support.colo import start_colo, until
from .test_console import tree_text


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
        # at the first full view, not the first instant: both trees are there, and the bar says why
        assert all(view.structure_known for view in controller.views.values()), controller.views
        assert player.now() > player.recording.start
        bar = replay.query_one(ReplayBar)
        bar.tick()
        assert "opened where both VMs were first read" in str(bar.render())
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
