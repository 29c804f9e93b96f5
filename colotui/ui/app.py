"""The console: both VMs side by side."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Header

from ..model import VMView, VMWatcher
from ..pair import Endpoint
from ..qmp import Session, Transcript
from .messages import VMChanged
from .vm_pane import VMPane


class ColotuiApp(App[None]):
    """Opens one QMP session per VM and shows them side by side."""

    TITLE = "colotui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("r", "refresh", "Refresh", id="refresh"),
    ]

    def __init__(self, endpoints: list[Endpoint], *, transcript: Transcript | None = None,
                 deadline: float = 10.0, refresh_interval: float = 5.0) -> None:
        super().__init__()
        self.endpoints = endpoints
        self.transcript = transcript
        self.deadline = deadline
        self.refresh_interval = refresh_interval
        self.sessions: dict[str, Session] = {}
        self.watchers: dict[str, VMWatcher] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            for ep in self.endpoints:
                yield VMPane(VMView(ep.name, ep.address or str(ep.qmp)))
        yield Footer()

    def on_mount(self) -> None:
        for ep in self.endpoints:
            session = Session(ep.name, ep.qmp, deadline=self.deadline, transcript=self.transcript)
            self.sessions[ep.name] = session
            watcher = VMWatcher(session, ep.address or str(ep.qmp), lambda v: self.post_message(VMChanged(v)),
                                self.refresh_interval)
            self.watchers[ep.name] = watcher
            session.start()
            self.run_worker(watcher.run(), name=f"watch-{ep.name}", group="watchers")

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "watchers")
        for session in self.sessions.values():
            await session.close()

    def on_vmchanged(self, message: VMChanged) -> None:
        self.query_one(f"#vm-{message.view.name}", VMPane).show(message.view)

    async def action_refresh(self) -> None:
        for watcher in self.watchers.values():
            if watcher.session.connected:
                self.run_worker(watcher.refresh(), group="refresh")
