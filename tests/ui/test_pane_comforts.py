"""A VM's pane as the operator reads it at a glance: a dead VM's pane is dimmed and says since when (what it still
shows is the last known); a VM that answers again is shown as before."""

from __future__ import annotations

import time

from colotui.control.events import VMChanged
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.ui.vm_pane import VMPane

from ..support.apps import offline_app
from ..support.colo import until
from ..unit.test_fleet import recorded


async def test_a_dead_vms_pane_is_dimmed_and_says_since_when() -> None:
    app = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        alive = recorded("secondary", "10.0.0.2", "introspect-secondary-colo")
        app.main.tell(VMChanged("secondary", alive))
        pane = app.query_one("#pane-secondary", VMPane)
        await until(pilot, lambda: pane.view is alive, "the live view")
        assert not pane.has_class("down")
        since = time.mktime((2026, 12, 4, 3, 12, 5, 0, 0, -1))
        dead = alive.with_(link=LinkState.CONNECTING, link_detail="refused", health=Health.DOWN,
                           health_detail="refused", health_since=since)
        app.main.tell(VMChanged("secondary", dead))
        await until(pilot, lambda: pane.has_class("down"), "the pane dimmed")
        assert "down since 03:12:05" in str(pane.query_one(".header").render())
        app.main.tell(VMChanged("secondary", alive))
        await until(pilot, lambda: not pane.has_class("down"), "answers again: not dimmed")
