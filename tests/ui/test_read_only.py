"""Read-only is a guarantee in the console and in a fleet's console too: every command of each QEMU's
schema through their QMP console, the procedure picker, the palette and the failover key, and the VMs
(behind the recording taps of tests/qemu/test_read_only.py, which has the witness and the other surfaces)
received none that changes state.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from colotui.cli import build_parser
from colotui.commands.console import controller as console_controller
from colotui.config import Config
from colotui.control.console import ConsoleController
from colotui.control.procedures import READ_ONLY as READ_ONLY_PROCEDURES
from colotui.repl.history import History
from colotui.repl.outcome import Pending, Refused, Rejected, Sent
from colotui.scenario import find_scenario
from colotui.ui.app import ColotuiApp, FleetApp
from colotui.ui.repl_pane import ReplPane

from ..conftest import ALL_QEMUS
from ..qemu.test_read_only import (
    Schema,
    TwoVMs,
    changed_state,
    only_reads,
    still_prelaunch,
    tapped,
    vms,  # noqa: F401 (a fixture)
)
from ..support.colo import until

pytestmark = ALL_QEMUS


async def _sweep_console(controller: ConsoleController, schema: Schema) -> None:
    """Every line through the console's own QMP console, as its pane submits them (no one to confirm)."""
    repl = controller.open_repl()
    assert repl is not None
    repl.set_target("both")
    for line in [*schema.qmp_lines(), *schema.hmp_lines()]:
        outcome = await repl.submit(line)
        assert isinstance(outcome, (Refused, Rejected, Pending, Sent)), (line, outcome)
        if isinstance(outcome, Sent):
            assert all(only_reads(r.request.command, r.request.arguments or {}) for r in outcome.replies), line


async def test_the_read_only_console_refuses_what_changes_state_on_every_surface(vms: TwoVMs, tmp_path: Path) -> None:  # noqa: F811
    async with tapped(vms) as (primary, secondary, pair):
        app = ColotuiApp(ConsoleController(pair, read_only=True, history=History(tmp_path / "h.jsonl")))
        async with app.run_test(size=(140, 50)) as pilot:
            sessions = app.controller.sessions
            assert sessions is not None
            await until(pilot, lambda: all(sessions[r].connected for r in ("primary", "secondary")), "connected")
            assert app.main.sub_title == "read-only", "the header says so"
            await pilot.press("colon")
            field = app.query_one(ReplPane).query_one(Input)
            for line in ("stop", "!i /b 0x64 0xfe", "quit"):
                field.value = line
                await pilot.press("enter")
            await _sweep_console(app.controller, vms.schema)
            await pilot.press("escape")
            for key in ("f", "p"):  # the failover key and the procedure picker
                await pilot.press(key)
                await pilot.pause(0.2)
                assert app.screen is app.main, f"{key} opened something in a read-only console"
            app.main.start_procedure("secondary-failover")  # what the palette's procedure commands call
            await pilot.pause(0.2)
            refusals = [n.message for n in app._notifications if READ_ONLY_PROCEDURES in n.message]
            assert len(refusals) == 3, [n.message for n in app._notifications]
            outcome = await app.controller.run_procedure(find_scenario("primary-failover"), front=None)  # type: ignore
            assert outcome.status == "refused" and "read-only" in str(outcome.refused)
        for tap in (primary, secondary):
            assert changed_state(tap) == []
    await still_prelaunch(vms)


async def test_a_read_only_fleet_s_console_refuses_procedures(vms: TwoVMs, tmp_path: Path) -> None:  # noqa: F811
    """`colotui fleet --read-only` (the command line's own controller) and the console a row opens."""
    async with tapped(vms) as (primary, secondary, pair):
        args = build_parser().parse_args(["fleet", "--read-only", "--profile", "x"])
        controller = console_controller(args, Config(), pair, None)
        assert controller.read_only
        app = FleetApp([("ro", controller)])
        async with app.run_test(size=(140, 50)) as pilot:
            await until(pilot, lambda: controller.sessions is not None and controller.sessions["primary"].connected,
                        "connected")
            await pilot.press("enter")
            assert app.fleet.sub_title.endswith(" · read-only")
            await until(pilot, lambda: app.screen is not app.fleet, "the pair's console opens")
            assert app.screen.sub_title == "ro · escape: back to the fleet · read-only"
            await pilot.press("p")
            await pilot.press("f")
            await pilot.pause(0.2)
            assert sum(READ_ONLY_PROCEDURES in n.message for n in app._notifications) == 2
            await _sweep_console(controller, vms.schema)
        for tap in (primary, secondary):
            assert changed_state(tap) == []
    await still_prelaunch(vms)
