"""`colotui fleet`: many pairs in one table, worst alert first; a row opens its pair's console on the fleet's
own controller, escape comes back. Offline (recorded views) for the table's order and filter; three real labs
at once for a secondary killed, the row going to the top, and the failover run from the opened console."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from colotui.config import Config
from colotui.control.console import ConsoleController
from colotui.control.events import VMChanged
from colotui.lab import follow, pair_from_lab
from colotui.model.vm import VMView
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.ui.app import FleetApp
from colotui.ui.fleet_table import FleetTable
from colotui.ui.main_screen import MainScreen
from colotui.ui.vm_pane import VMPane

from ..conftest import ALL_QEMUS, LabFactory
from ..support.apps import OFFLINE_PAIR, confirm_every_step, finished_procedures
from ..support.colo import start_colo, until
from ..support.terminal import Terminal
from ..unit.test_fleet import REFUSED, offline_views, recorded, ticking


def offline_fleet() -> FleetApp:
    return FleetApp([(name, ConsoleController(OFFLINE_PAIR, connect=False)) for name in ("alpha", "bravo", "charlie")])


async def show_offline(app: FleetApp, network: str = "10.9.0") -> None:
    for name, views in offline_views(network).items():
        for role, view in views.items():
            app.pairs.heard(name, VMChanged(role, view))


def rows(app: FleetApp) -> list[str]:
    return app.fleet.table.order


async def test_rows_sort_worst_first_and_the_sort_key_cycles() -> None:
    app = offline_fleet()
    async with app.run_test(size=(200, 30)) as pilot:
        await show_offline(app)
        await until(pilot, lambda: rows(app)[0] == "bravo", "the pair with the lost secondary goes to the top")
        assert rows(app) == ["bravo", "alpha", "charlie"]  # then by name
        table = app.fleet.query_one(FleetTable)
        assert "SECONDARY LOST" in table.cell("bravo", "alert")
        assert table.cell("charlie", "state") == "running alone (primary)"
        order = {}
        for _ in range(4):
            await pilot.press("s")
            await pilot.pause()
            order[app.fleet.sort] = rows(app)
        assert order["name"] == ["alpha", "bravo", "charlie"]
        assert order["rate"] == ["bravo", "alpha", "charlie"]  # most checkpoints a minute first
        assert order["alert"] == ["bravo", "alpha", "charlie"]  # and round again
        assert "sorted by alert" in app.fleet.sub_title
        commands = {c.title: c for c in app.get_system_commands(app.fleet)}
        assert "SECONDARY LOST" in commands["Open console: bravo"].help
        commands["Sort by name"].callback()
        await pilot.pause()
        assert rows(app) == ["alpha", "bravo", "charlie"], "the palette sorts too"


async def test_new_checkpoints_redraw_their_row_only_and_within_a_second() -> None:
    """A checkpoint changes a row's rate, pause and sparkline: that line is drawn again, no other, and not at
    once (the fleet gathers a second of them); a new alert is drawn within a frame."""
    app = offline_fleet()
    async with app.run_test(size=(200, 30)) as pilot:
        await show_offline(app)
        await until(pilot, lambda: rows(app) == ["bravo", "alpha", "charlie"], "the rows are judged")
        await pilot.pause(0.5)
        table = app.fleet.table
        drawn: list[int] = []
        render_line = table.render_line

        def spy(y: int):
            drawn.append(y)
            return render_line(y)

        table.render_line = spy  # type: ignore[method-assign]
        alpha = offline_views("10.9.0")["alpha"]
        app.pairs.heard("alpha", VMChanged("primary", alpha["primary"].with_(checkpoints=ticking(31))))
        await pilot.pause(0.5)
        assert drawn == [] and table.cell("alpha", "rate") == "30", "checkpoints wait for the next second"
        await until(pilot, lambda: table.cell("alpha", "rate") == "31", "the new rate is drawn", timeout=2)
        await pilot.pause(0.1)
        assert set(drawn) == {2}, "alpha's line (under the heading and bravo) and no other"
        drawn.clear()
        app.pairs.heard("charlie", VMChanged("secondary", VMView("secondary", "10.9.0.6").with_(
            structure_known=True, health=Health.DOWN, health_detail=REFUSED)))
        await pilot.pause(0.1)
        assert rows(app) == ["bravo", "charlie", "alpha"], "an alert reorders the rows at once"


async def test_slash_filters_on_name_address_state_and_alert_and_escape_clears() -> None:
    app = offline_fleet()
    async with app.run_test(size=(200, 30)) as pilot:
        await show_offline(app)
        await until(pilot, lambda: rows(app)[0] == "bravo", "the rows are judged")
        await pilot.press("slash", *"alone")
        await pilot.pause()
        assert rows(app) == ["charlie"]
        await pilot.press("enter")  # the filter stays, the table has the keys again
        await pilot.pause()
        assert rows(app) == ["charlie"] and app.fleet.query_one(FleetTable).has_focus
        for text, expected in (("10.9.0.4", ["bravo"]), ("LOST", ["bravo"]), ("ALPHA", ["alpha"]),
                               ("secondary lost", ["bravo"]), ("nothing like it", []), ("q", [])):
            await pilot.press("escape", "slash", *text)  # escape clears the last one
            await pilot.pause()
            assert rows(app) == expected and app.fleet.text == text, text  # s and q are letters here
        await pilot.press("escape")
        await pilot.pause()
        assert rows(app) == ["bravo", "alpha", "charlie"] and app.fleet.text == ""


async def test_enter_opens_the_pairs_console_on_its_own_controller_and_escape_comes_back() -> None:
    app = offline_fleet()
    async with app.run_test(size=(160, 50)) as pilot:
        await show_offline(app)
        await until(pilot, lambda: rows(app)[0] == "bravo", "the rows are judged")
        await pilot.press("home", "enter")
        await pilot.pause()
        console = app.screen
        assert isinstance(console, MainScreen) and console.controller is app.pairs.members["bravo"].controller
        assert console.pane("primary").current_alert is not None, "the alert is there at once"
        assert console.pane("primary").current_alert.offer == "primary-failover"
        # while it is open, the fleet's rows and the console both hear their pairs
        healed = recorded("secondary", "10.9.0.4", "introspect-secondary-colo")
        app.pairs.heard("bravo", VMChanged("secondary", healed))
        app.pairs.heard("alpha", VMChanged("secondary", healed.with_(health=Health.DOWN, health_detail=REFUSED,
                                                                       link=LinkState.DISCONNECTED)))
        await until(pilot, lambda: console.pane("primary").current_alert is None, "the console hears its pair")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.fleet and app.pairs.members["bravo"].console is None
        await until(pilot, lambda: rows(app)[0] == "alpha", "and the fleet its rows, drawn when it shows again")


def test_colotui_fleet_in_a_terminal_shows_every_lab_and_quits(labs: LabFactory, tmp_path: Path) -> None:
    """The command as an operator runs it: two labs (not in COLO yet), a row each, a transcript each, q quits."""
    dirs = [labs.up(name).dir for name in ("east", "west")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"XDG_STATE_HOME": str(tmp_path)}
    fleet = Terminal([sys.executable, "-m", "colotui", "fleet", "--lab", str(dirs[0]), "--lab", str(dirs[1])],
                     cwd=tmp_path, env=env, size=(200, 30))
    shown = fleet.wait_for(lambda text: all(part in text for part in (
        "east", "west", "not in COLO", "fleet: 2 pairs", "Open the pair's console")), 30)
    fleet.press("q")
    assert fleet.wait_exit(10) == 0, fleet.text[-2000:]
    assert shown, fleet.text[-2000:]
    assert "Traceback" not in fleet.text and "keymap not used" not in fleet.text
    transcripts = sorted(p.name.rsplit("-", 1)[-1] for p in (tmp_path / "colotui" / "transcripts").iterdir())
    assert transcripts == ["east.jsonl", "west.jsonl"], "a transcript per pair"


def test_fleet_table_snapshot(snap_compare) -> None:
    app = offline_fleet()

    async def show(pilot) -> None:
        await show_offline(app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(200, 12), run_before=show)


@pytest.mark.kvm
@ALL_QEMUS
async def test_three_labs_a_secondary_killed_goes_to_the_top_and_fails_over_from_its_console(
        labs: LabFactory) -> None:
    """Three real pairs in COLO at once (counter guests): SIGKILL one's secondary → its row goes to the top
    with the alert; enter → f → the failover, confirmed step by step; while that console is open another pair
    loses its secondary and the operator is told; escape: the first row says running alone and no longer
    sorts first (the newly critical pair does; an unprotected pair still above a healthy one)."""
    names = ["lab-a", "lab-b", "lab-c"]
    started = {name: await start_colo(labs, name=name) for name in names}
    finished, hook = finished_procedures()

    app = FleetApp([(name, ConsoleController(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0),
                                             follow=follow)) for name, lab in started.items()])
    async with app.run_test(size=(200, 50), message_hook=hook) as pilot:
        fleet, table = app.fleet, app.fleet.query_one(FleetTable)

        def state(name: str) -> str:
            return table.cell(name, "state")

        await until(pilot, lambda: all(state(n) == "COLO running" and app.pairs.members[n].row.per_minute > 0
                                       for n in names), "three pairs in COLO, checkpointing", timeout=30)
        assert rows(app) == names and not any(app.pairs.members[n].row.alert for n in names)
        assert all(table.cell(n, "roles") == "primary / secondary" for n in names)

        await asyncio.to_thread(started["lab-b"].kill, "secondary")
        await until(pilot, lambda: rows(app)[0] == "lab-b", "the pair that lost its secondary goes to the top")
        assert "SECONDARY LOST" in table.cell("lab-b", "alert")
        assert "primary-failover" in table.cell("lab-b", "alert"), "the row says what f will run"

        await pilot.press("home", "enter")
        console = app.screen
        assert isinstance(console, MainScreen) and console.controller is app.pairs.members["lab-b"].controller
        assert console.controller.sessions is not None and len(console.controller.sessions) == 2, \
            "the console uses the fleet's sessions: no second client on a QMP socket"
        primary_pane = console.query_one("#pane-primary", VMPane)
        assert primary_pane.current_alert is not None and primary_pane.current_alert.offer == "primary-failover"
        await pilot.press("f")
        steps = await confirm_every_step(pilot, console, finished)
        assert list(finished.values()) == ["passed"] and steps == 9
        p = lambda: console.views["primary"]  # noqa: E731
        await until(pilot, lambda: p().colo is not None and p().colo.mode == "none" and p().status == "running",
                    "the console shows the primary alone")

        # the other pairs stay watched while this console is open
        await asyncio.to_thread(started["lab-c"].kill, "secondary")
        await until(pilot, lambda: app.pairs.members["lab-c"].row.severity == "critical", "lab-c's alert, live")
        await until(pilot, lambda: any("lab-c" in n.message and "SECONDARY LOST" in n.message
                                       for n in app._notifications), "the operator is told in the open console")

        while app.screen is not fleet:  # escape closes the finished procedure's panel, then goes back
            await pilot.press("escape")
            await pilot.pause(0.2)
        await until(pilot, lambda: state("lab-b").startswith("running alone"), "lab-b's row: running alone")
        assert table.cell("lab-b", "roles").startswith("alone /")
        assert app.pairs.members["lab-b"].row.per_minute == 0, "no checkpoint rate for a pair out of COLO"
        assert app.pairs.members["lab-b"].row.severity != "critical" and app.pairs.members["lab-b"].row.offer is None
        assert rows(app) == ["lab-c", "lab-b", "lab-a"], "critical first, then the unprotected pair, then the healthy"
