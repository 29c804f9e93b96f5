"""The console against a real COLO pair: what the panes show, the alert, a failover run from the UI,
after a peer dies (SIGKILL) or hangs (SIGSTOP)."""

from __future__ import annotations

import argparse
import asyncio
import time

import pytest

from colotui.config import Config
from colotui.lab import follow, pair_from_lab
from colotui.model.alerts import assess
from colotui.model.network import Chardev
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.scenario import offers
from colotui.ui.app import ColotuiApp
from colotui.ui.procedure import ProcedurePanel
from colotui.ui.vm_pane import VMPane
from colotui.ui.vm_tree import VMTree

from ..conftest import ALL_QEMUS, LabFactory
from ..support.apps import confirm_every_step, console_app, finished_procedures, pick_procedure
from ..support.colo import counter_advances, hung_mid_checkpoint, observe, query, run, start_colo, until


def tree_text(app: ColotuiApp, role: str) -> str:
    tree = app.query_one(f"#pane-{role}", VMPane).query_one(VMTree)
    lines = []
    stack = [tree.root]
    while stack:
        node = stack.pop()
        lines.append(str(node.label))
        stack.extend(reversed(node.children))
    return "\n".join(lines)


def chardev(view_chardevs: tuple[Chardev, ...], label: str) -> Chardev:
    return next(c for c in view_chardevs if c.label == label)


@pytest.mark.kvm
@ALL_QEMUS
async def test_console_shows_colo_alerts_and_runs_primary_failover(labs: LabFactory) -> None:
    lab = await start_colo(labs)
    finished, hook = finished_procedures()
    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0), follow=follow)

    async with app.run_test(size=(160, 70), message_hook=hook) as pilot:
        p, s = (lambda: app.main.views["primary"]), (lambda: app.main.views["secondary"])
        await until(pilot, lambda: p().structure_known and s().structure_known and p().in_colo, "both views are read")

        # the real objects, in chain order, with their links
        assert [f.id for f in p().netdevs[0].filters] == ["m0", "redire0", "redire1"]
        assert [f.id for f in s().netdevs[0].filters] == ["f1", "f2", "rew0"]
        assert [c.id for c in p().compares] == ["comp0"] and p().iothreads == ("iothread1",)
        assert p().compares[0].get("secondary_in") == "compare1"
        ports = lab.state().ports
        mirror = chardev(p().chardevs, "mirror0")
        assert mirror.server and mirror.connected and mirror.local == f"127.0.0.1:{ports.mirror}"
        red0 = chardev(s().chardevs, "red0")
        assert not red0.server and red0.connected and red0.peer == f"127.0.0.1:{ports.mirror}"
        quorum = p().drives[0].root
        assert p().drives[0].device == "colo-disk0" and quorum.driver == "quorum"
        assert {(c.edge, c.driver) for c in quorum.children} == {("children.0", "qcow2"),
                                                                 ("children.1", "replication")}
        replication = next(c for c in quorum.children if c.driver == "replication")
        assert replication.children[0].driver == "nbd" and f"127.0.0.2:{ports.nbd}" in replication.children[0].detail
        secondary_replication = s().drives[0].root.children[0]
        assert secondary_replication.drive == "childs0" and secondary_replication.detail == "mode secondary"
        assert {c.edge for c in secondary_replication.children} >= {"file", "hidden disk", "secondary disk"}
        assert any(j.internal for j in s().jobs), "the secondary's internal backup job is shown"
        assert [e.id for e in s().exports] == ["parent0"]

        # and the panes say so on screen
        primary_tree, secondary_tree = tree_text(app, "primary"), tree_text(app, "secondary")
        for word in ("m0", "redire0", "redire1", "comp0", "iothread1", "children.1", "replication", "role: primary"):
            assert word in primary_tree, word
        for word in ("f1", "f2", "rew0", "active disk", "hidden disk", "role: secondary"):
            assert word in secondary_tree, word

        # checkpoints are counted from the event stream
        first = p().checkpoints.count
        await until(pilot, lambda: p().checkpoints.count >= first + 2, "the checkpoint counter advances")
        assert s().checkpoints.count >= 1 and p().checkpoints.last_pause_ms is not None
        assert not any("STOP" in e.text or "RESUME" in e.text for e in p().log), "checkpoints fold, not flood"

        # the secondary dies: alert on both sides, failover offered on the primary
        await asyncio.to_thread(lab.kill, "secondary")
        primary_pane = app.query_one("#pane-primary", VMPane)
        await until(pilot, lambda: primary_pane.current_alert is not None, "the alert appears")
        assert primary_pane.current_alert.offer == "primary-failover"
        assert "frozen" in primary_pane.current_alert.text
        assert "SECONDARY LOST" in app.query_one("#pane-secondary", VMPane).current_alert.text
        assert s().link is not LinkState.CONNECTED

        await pilot.press("f")
        panel = app.query_one(ProcedurePanel)
        await until(pilot, lambda: panel.current is not None and panel.current.state.value == "confirm",
                    "the first step asks to be confirmed")
        assert panel.current.request.message()["exec-oob"] == "yank", "the dead secondary is cut off first"
        assert primary_pane.has_class("target")
        steps = await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"] and steps == 9

        await until(pilot, lambda: p().colo is not None and p().colo.mode == "none" and not p().netdevs[0].filters
                    and not p().compares, "the primary pane shows it alone, filters gone")
        assert p().status == "running" and p().role.startswith("running alone (was primary")
        assert "no filters" in tree_text(app, "primary")

        # a new secondary, and the resume: once COLO runs on both and checkpoints flow, no alert is left
        fresh = await asyncio.to_thread(lab.respawn)
        await until(pilot, lambda: s().name == fresh.name and s().connected and s().structure_known,
                    "the console follows the lab to the new secondary")
        finished.clear()
        await pick_procedure(pilot, app, "primary-resume")
        await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"]
        await until(pilot, lambda: p().in_colo and s().in_colo and s().checkpoints.count >= 2,
                    "COLO runs on both sides again", timeout=30)
        secondary_pane = app.query_one("#pane-secondary", VMPane)
        await until(pilot, lambda: primary_pane.current_alert is None and secondary_pane.current_alert is None,
                    "the old alerts are gone", timeout=10)
        assert assess(p(), s(), offers()) == {}
        assert p().colo_exit is None and "COLO_EXIT" not in tree_text(app, "primary"), "the old exit is over"
        await pilot.pause(2.0)  # and they stay gone (a refresh re-judges the state, not the old COLO_EXIT)
        await pilot.press("ctrl+r")
        await pilot.pause(1.0)
        assert primary_pane.current_alert is None and secondary_pane.current_alert is None


@pytest.mark.kvm
@ALL_QEMUS
async def test_a_hung_secondary_raises_the_alert_and_f_fails_over(labs: LabFactory) -> None:
    """A secondary that stops in the middle of a checkpoint (100 ms checkpoints), wedging the primary's main
    loop: its link stays up, so only the stalled checkpoints and the probes tell (the primary answers out of
    band only, the secondary not at all); the alert offers the failover, and f cuts the secondary
    off out of band first, then fails over (measured: 2.5–3.5 s from the hang to the alert; the target of 3 s
    is not met every time)."""
    lab = await start_colo(labs)
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    assert primary is not None and secondary is not None
    async with observe(primary) as session:
        await query(session, "migrate-set-parameters", {"x-checkpoint-delay": 100})
    finished, hook = finished_procedures()

    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0))
    async with app.run_test(size=(160, 70), message_hook=hook) as pilot:
        p, s = (lambda: app.main.views["primary"]), (lambda: app.main.views["secondary"])
        await until(pilot, lambda: p().structure_known and s().structure_known and p().in_colo
                    and p().checkpoints.count >= 10, "both views are read and checkpoints flow")
        primary_pane = app.query_one("#pane-primary", VMPane)
        async with hung_mid_checkpoint(secondary, primary, primary) as strike:
            assert strike.wedged, f"the primary's main loop was not wedged: {strike}"
            await until(pilot, lambda: primary_pane.current_alert is not None
                        and primary_pane.current_alert.offer == "primary-failover", "the alert offers the failover")
            assert time.monotonic() - strike.struck_at < 5.0, "the hang is told within 5 s (the target is 3: not met)"
            assert s().link is LinkState.CONNECTED, "a hung VM keeps its socket: the link alone cannot tell"
            assert s().health is Health.NOT_ANSWERING  # found by a late read, or by its stalled checkpoints' probe
            await until(pilot, lambda: p().health is Health.MONITOR_BLOCKED, "the primary answers out of band only")
            assert "not answering (hung, or cut off)" in app.query_one("#pane-secondary", VMPane).current_alert.text
            cpu = time.process_time()
            await asyncio.sleep(2.0)
            assert time.process_time() - cpu < 0.5, "while the peer hangs, the console waits; it does not spin"
            await pilot.press("f")
            assert await confirm_every_step(pilot, app, finished) == 9
            assert list(finished.values()) == ["passed"]
            await until(pilot, lambda: p().colo is not None and p().colo.mode == "none", "the primary runs alone")
            await counter_advances(primary)
        await pilot.pause(2.0)  # resumed, the old secondary finds nothing to rejoin, and nothing here breaks
        assert app.is_running and secondary.is_alive()
        assert p().colo is not None and p().colo.mode == "none"
    await counter_advances(primary)


@pytest.mark.kvm
@ALL_QEMUS
async def test_the_secondary_side_story_leaves_no_alert(labs: LabFactory) -> None:
    """Kill the primary → f on the secondary → respawn → secondary-resume, all in the console: once COLO
    runs again on both sides, neither pane raises an alert, and none comes back on a refresh."""
    lab = await start_colo(labs)
    finished, hook = finished_procedures()

    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0), follow=follow)
    async with app.run_test(size=(160, 70), message_hook=hook) as pilot:
        views = app.main.views
        panes = {role: app.query_one(f"#pane-{role}", VMPane) for role in ("primary", "secondary")}
        await until(pilot, lambda: views["secondary"].in_colo and views["primary"].checkpoints.count >= 1,
                    "COLO runs")
        await asyncio.to_thread(lab.kill, "primary")
        await until(pilot, lambda: panes["secondary"].current_alert is not None
                    and panes["secondary"].current_alert.offer == "secondary-failover", "the failover is offered")
        await pilot.press("f")
        await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"]

        fresh = await asyncio.to_thread(lab.respawn)  # the survivor plays the primary now
        await until(pilot, lambda: views["primary"].name == "secondary" and views["secondary"].name == fresh.name
                    and views["secondary"].structure_known, "the console follows the lab to the new pair",
                    timeout=30)
        finished.clear()
        await pick_procedure(pilot, app, "secondary-resume")
        await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"]
        await until(pilot, lambda: views["primary"].in_colo and views["secondary"].in_colo
                    and views["secondary"].checkpoints.count >= 2, "COLO runs on both sides again", timeout=30)
        await until(pilot, lambda: all(pane.current_alert is None for pane in panes.values()),
                    "the old alerts are gone", timeout=10)
        await pilot.press("ctrl+r")
        await pilot.pause(2.0)
        assert all(pane.current_alert is None for pane in panes.values())
        assert assess(views["primary"], views["secondary"], offers()) == {}
        await counter_advances(fresh)


@pytest.mark.kvm
async def test_the_traffic_line_shows_miscompares_become_checkpoints(labs: LabFactory) -> None:
    """A lab with the net guest whose packets differ, opened as `colotui connect --lab` opens it: the line
    under the panes counts the ticks that got out and the helper's requests, whose round trip is now a
    checkpoint's; the primary's pane counts the checkpoints they force."""
    from colotui.commands.console import console
    from colotui.ui.traffic_line import TrafficLine

    lab = await asyncio.to_thread(labs.up, guest="net", traffic="differ")
    await run(lab, "startup")
    args = argparse.Namespace(keymap=None, read_only=False, deadline=None)
    app = console(args, Config(refresh_interval=1.0), pair_from_lab(lab.dir), None)
    async with app.run_test(size=(160, 48)) as pilot:
        line = app.query_one(TrafficLine)
        await until(pilot, lambda: line.stats is not None and line.stats.ticks > 0 and line.stats.replies > 5,
                    "the traffic line shows ticks and answered requests")
        first = app.main.views["primary"].checkpoints.count
        await until(pilot, lambda: app.main.views["primary"].checkpoints.count >= first + 10,
                    "packets that differ force checkpoints, many a second", timeout=10)
        assert line.stats is not None and line.stats.rtt_ms is not None and line.stats.rtt_ms > 20, \
            "each reply waits for a checkpoint"
        text = line.render().plain
        assert text.startswith("net ticks ") and "to primary " in text and "answered" in text, text


@pytest.mark.kvm
async def test_a_console_opened_after_the_secondary_died_offers_the_failover(labs: LabFactory) -> None:
    """The operator comes after the fact: the secondary died before the console started, so it was never
    seen. Nothing listens at its address and the primary's checkpoints have stopped: that is a death, and
    the failover is offered and runs."""
    lab = await start_colo(labs)
    await asyncio.to_thread(lab.kill, "secondary")
    finished, hook = finished_procedures()

    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=1.0))
    async with app.run_test(size=(160, 70), message_hook=hook) as pilot:
        primary_pane = app.query_one("#pane-primary", VMPane)
        await until(pilot, lambda: primary_pane.current_alert is not None
                    and primary_pane.current_alert.offer == "primary-failover", "the failover is offered", timeout=15)
        assert "SECONDARY LOST" in app.query_one("#pane-secondary", VMPane).current_alert.text
        await pilot.press("f")
        await confirm_every_step(pilot, app, finished)
        assert list(finished.values()) == ["passed"]
        p = lambda: app.main.views["primary"]  # noqa: E731
        await until(pilot, lambda: p().colo is not None and p().colo.mode == "none", "the primary runs alone")
    await counter_advances(lab.state().current("primary"))
