"""The console's doctor points at the tree node on an operator's own pair (the one tests/support/handmade.py
builds). Discovery, the doctor and every procedure on that pair are in tests/qemu/test_own_pair.py."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import OptionList

from colotui.pair import pair_from_addresses
from colotui.ui.doctor import DoctorScreen
from colotui.ui.vm_tree import VMTree

from ..conftest import ALL_QEMUS
from ..support.apps import console_app
from ..support.colo import until
from ..support.handmade import HandPair, hand_pair  # noqa: F401

pytestmark = [pytest.mark.kvm, ALL_QEMUS]


async def test_the_console_doctor_points_at_the_tree_node(hand_pair: HandPair) -> None:  # noqa: F811
    pair = await asyncio.to_thread(hand_pair.start)
    app = console_app(pair_from_addresses(pair.primary.qmp, pair.secondary.qmp))
    async with app.run_test(size=(160, 60)) as pilot:
        views = app.main.views
        await until(pilot, lambda: views["primary"].structure_known and views["secondary"].structure_known,
                    "both views are read")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DoctorScreen), "the doctor's findings open")
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        assert not [f for _, f in screen.findings if f.level == "error"], [f.line() for _, f in screen.findings]
        index = next(i for i, (_, f) in enumerate(screen.findings) if f.check == "mirror link")
        assert screen.findings[index][0] == "secondary"
        screen.query_one(OptionList).highlighted = index
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, DoctorScreen), "enter closes it")
        tree = app.main.pane("secondary").query_one(VMTree)
        await until(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data == "chardev/sec-in",
                    "the secondary's sec-in chardev is under the cursor")
        assert tree.has_focus
