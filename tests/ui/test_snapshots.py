"""Snapshots of the main screen, from real QEMU replies recorded in tests/data (deterministic: no live VM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colotui.control.events import VMChanged
from colotui.model.checkpoints import CheckpointStats
from colotui.model.replies import view_from_replies
from colotui.qmp import LinkState
from colotui.qmp.health import Health

from ..support.apps import offline_app

DATA = Path(__file__).parents[1] / "data"


def recorded(name: str, address: str, dump: str):
    return view_from_replies(name, address, json.loads((DATA / f"{dump}.json").read_text()))


#: Checkpoints as a console counts them after twenty minutes at one a second (pauses 80-99 ms).
CHECKPOINTS = CheckpointStats(1234, 63.5, 86.0, tuple(80.0 + (i * 7) % 20 for i in range(60)),
                              tuple(1.0 + (i * 3) % 5 / 10 for i in range(59)))


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)], ids=["80x24", "120x40", "200x50"])
def test_both_vms_in_colo(snap_compare, size: tuple[int, int]) -> None:
    """The layout serves the terminal at hand: at 80x24 the header lines merge and the event log shrinks,
    so the tree keeps its room; the checkpoint strip says as much as the width holds."""
    app = offline_app()

    async def show(pilot) -> None:
        primary = recorded("primary", "127.0.0.1", "introspect-primary-colo").with_(checkpoints=CHECKPOINTS)
        secondary = recorded("secondary", "127.0.0.2", "introspect-secondary-colo").with_(checkpoints=CHECKPOINTS)
        app.main.tell(VMChanged("primary", primary))
        app.main.tell(VMChanged("secondary", secondary))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)


def test_secondary_lost_alert(snap_compare) -> None:
    app = offline_app()

    async def show(pilot) -> None:
        primary = recorded("primary", "127.0.0.1", "introspect-primary-colo")
        refused = "cannot connect to /run/s.sock: connection refused"
        secondary = recorded("secondary", "127.0.0.2", "introspect-secondary-colo").with_(
            link=LinkState.CONNECTING, link_detail=refused, health=Health.DOWN, health_detail=refused)
        app.main.tell(VMChanged("primary", primary))
        app.main.tell(VMChanged("secondary", secondary))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=show)


def test_after_primary_failover(snap_compare) -> None:
    app = offline_app()

    async def show(pilot) -> None:
        primary = recorded("primary", "127.0.0.1", "introspect-primary-after-pfailover")
        app.main.tell(VMChanged("primary", primary))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(200, 50), run_before=show)


def test_keys_screen(snap_compare) -> None:
    from colotui.ui.keymap import load_keymap

    app = offline_app(load_keymap("vim"))
    assert snap_compare(app, terminal_size=(120, 40), press=["question_mark"])


def test_command_palette(snap_compare) -> None:
    app = offline_app()

    async def open_palette(pilot) -> None:
        from textual.command import CommandList

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"procedure")
        counts = []
        while len(counts) < 5 or len(set(counts[-5:])) > 1 or counts[-1] < 6:  # until the search settles
            await pilot.pause(0.05)
            counts.append(app.screen.query_one(CommandList).option_count)
            assert len(counts) < 200, f"the palette's search did not settle: {counts[-5:]}"

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_palette)


async def test_the_tree_keeps_the_operators_folding_and_marks_what_is_new() -> None:
    from colotui.ui.vm_pane import VMPane
    from colotui.ui.vm_tree import VMTree

    app = offline_app()
    alone = recorded("primary", "127.0.0.1", "introspect-primary-after-pfailover")
    resumed = recorded("primary", "127.0.0.1", "introspect-primary-colo")
    async with app.run_test(size=(120, 40)) as pilot:
        app.main.tell(VMChanged("primary", alone))
        await pilot.pause()
        tree = app.query_one("#pane-primary", VMPane).query_one(VMTree)
        tree._node_by_key["block"].collapse()
        app.main.tell(VMChanged("primary", resumed))  # the filters and colo-compare come back
        await pilot.pause()
        nodes = tree._node_by_key
        assert not nodes["block"].is_expanded, "a section the operator folded stays folded"
        assert not nodes["compare/comp0"].is_expanded, "colo-compare's settings start folded"
        assert any(s.style and "reverse" in str(s.style) for s in nodes["net/hn0/m0"].label.spans), \
            "a node that was not there before is highlighted"
        nodes["compare/comp0"].expand()
        app.main.tell(VMChanged("primary", alone))
        app.main.tell(VMChanged("primary", resumed))
        await pilot.pause()
        assert tree._node_by_key["compare/comp0"].is_expanded, "unfolded by the operator, it stays unfolded"
