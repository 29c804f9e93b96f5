"""The console on a COLO pair under libvirt (the hand-made pair's command lines as libvirt domains, reached
through libvirt, yanked through their extra -qmp sockets): `colotui topology` reads it, a fleet's row shows it
in COLO, both panes in COLO, the secondary's domain killed, the alert and its failover run from the console
(`f`), and then the console's transcript replayed to the same views."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colotui.config import Config
from colotui.control.console import ConsoleController
from colotui.control.replay import ReplayController
from colotui.pair import pair_from_addresses
from colotui.qmp import LinkState, Transcript
from colotui.service.player import Player, open_recording
from colotui.ui.app import ColotuiApp, FleetApp
from colotui.ui.fleet_table import FleetTable
from colotui.ui.vm_pane import VMPane

from ..conftest import temp_root
from ..support.apps import confirm_every_step, console_app, finished_procedures
from ..support.colo import until
from ..support.libvirt_pair import LibvirtPair
from ..support.libvirtd import Libvirtd
from ..ui.test_replay import panes, same

pytestmark = [pytest.mark.libvirt, pytest.mark.kvm]


def _startup(pair: LibvirtPair) -> None:
    p, s, ports = pair.primary, pair.secondary, pair.ports
    out = subprocess.run([sys.executable, "-m", "colotui", "run", "startup", "--primary", pair.address(p),
                          "--secondary", pair.address(s), "--primary-yank", p.yank, "--secondary-yank", s.yank,
                          "--set", f"ports.migration={ports.migration}", "--set", f"ports.nbd={ports.nbd}",
                          "--set", "addr.secondary=127.0.0.2", "--yes"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr


async def test_the_console_over_libvirt_fails_over_and_replays(daemon: Libvirtd, tmp_path: Path) -> None:
    directory = temp_root()
    lv = LibvirtPair(daemon, directory)
    try:
        await asyncio.to_thread(lv.start)
        await asyncio.to_thread(lv.settled)
        await asyncio.to_thread(_startup, lv)
        p, s = lv.primary, lv.secondary
        pair = pair_from_addresses(lv.address(p), lv.address(s), primary_yank=p.yank, secondary_yank=s.yank)
        topology = subprocess.run([sys.executable, "-m", "colotui", "topology", lv.address(p), lv.address(s)],
                                  capture_output=True, text=True, timeout=120)
        assert topology.returncode == 0 and 'compare = "cmp0"' in topology.stdout, topology.stdout + topology.stderr
        fleet = FleetApp([("under-libvirt", ConsoleController(pair))])
        async with fleet.run_test(size=(200, 30)) as pilot:
            table = fleet.fleet.query_one(FleetTable)
            await until(pilot, lambda: "under-libvirt" in table.order
                        and table.cell("under-libvirt", "state") == "COLO running", "the fleet's row in COLO")
        transcript = Transcript(tmp_path / "live.jsonl")
        app = console_app(pair, config=Config(refresh_interval=1.0), transcript=transcript)
        finished, hook = finished_procedures()
        async with app.run_test(size=(160, 70), message_hook=hook) as pilot:
            views = app.main.views
            await until(pilot, lambda: all(v.structure_known and v.in_colo for v in views.values()), "both in COLO")
            header = str(app.query_one("#pane-primary", VMPane).query_one(".header").render())
            assert header.startswith(f"primary  libvirt:{lv.domain(p)}  QEMU "), header
            await pilot.pause(1.5)
            in_colo = (time.time(), panes(app))
            await pilot.pause(1.0)
            await asyncio.to_thread(lv.kill, "secondary")
            await until(pilot, lambda: views["secondary"].link is not LinkState.CONNECTED, "libvirt says it ended")
            primary_pane = app.query_one("#pane-primary", VMPane)
            await until(pilot, lambda: primary_pane.current_alert is not None
                        and primary_pane.current_alert.offer == "primary-failover", "the alert offers the failover",
                        timeout=30)
            await pilot.press("f")
            await confirm_every_step(pilot, app, finished)
            assert list(finished.values()) == ["passed"]
            await until(pilot, lambda: views["primary"].colo is not None and views["primary"].colo.mode == "none",
                        "the failover is shown")
        transcript.close()

        player = Player(open_recording(tmp_path / "live.jsonl"))
        controller = ReplayController(player, "live.jsonl")
        async with ColotuiApp(controller).run_test(size=(160, 70)) as pilot:
            await until(pilot, lambda: "open" not in controller._tasks, "the replay opens")
            await controller.seek(in_colo[0])
            await pilot.pause(0.5)
            same(in_colo[1], panes(pilot.app), "in COLO, over libvirt")
    finally:
        lv.close()
        shutil.rmtree(directory, ignore_errors=True)
