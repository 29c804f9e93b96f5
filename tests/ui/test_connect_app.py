"""`colotui connect`: the app shows both real VMs, and survives one dying."""

from __future__ import annotations

from textual.message import Message

from colotui.config import Config
from colotui.control.events import VMChanged
from colotui.lab import Lab, pair_from_lab
from colotui.qmp import LinkState
from colotui.ui.messages import Told
from colotui.ui.vm_pane import VMPane

from ..support.apps import console_app
from ..support.colo import until


async def test_connect_shows_both_vms_and_a_dead_one(lab: Lab) -> None:
    seen: list[Message] = []
    app = console_app(pair_from_lab(lab.dir), config=Config(refresh_interval=60.0))  # only ctrl+r asks again
    async with app.run_test(size=(120, 30), message_hook=seen.append) as pilot:
        primary = app.query_one("#pane-primary", VMPane)
        secondary = app.query_one("#pane-secondary", VMPane)
        await until(pilot, lambda: primary.view.status == "prelaunch" and secondary.view.status == "inmigrate")
        version = lab.state().vms[0].qemu_version
        for pane in (primary, secondary):
            assert pane.view.link is LinkState.CONNECTED
            assert pane.view.version == version
            assert pane.view.role == "not in COLO"
        header = str(primary.query_one(".header").render())
        assert "127.0.0.1" in header and f"QEMU {version}" in header and "prelaunch" in header
        assert any(isinstance(m, Told) and isinstance(m.event, VMChanged) and m.event.role == "secondary"
                   and m.event.view.link is LinkState.CONNECTED
                   for m in seen)

        lab.kill("secondary")
        await until(pilot, lambda: secondary.view.link is not LinkState.CONNECTED)
        await pilot.pause(0.5)
        header = str(secondary.query_one(".header").render())
        assert "(last known)" in header and "connection refused" in header
        assert primary.view.link is LinkState.CONNECTED, "one side dying must not disturb the other"
        asked = app.controller.watchers["primary"].calls
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.controller.watchers["primary"].calls > asked)  # refresh asks the live VM again
        assert primary.view.status == "prelaunch" and app.is_running
