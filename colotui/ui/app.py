"""The console app: the keymap and theme in force, the main screen, and the palette.

Everything else lives elsewhere: the layout and the reactions to what happens
in `MainScreen`, sessions, watchers, the QMP console and procedures in the
`ConsoleController` the app is given (and closes when it ends).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.screen import Screen

from ..scenario import catalogue
from .actions import ACTIONS
from .controller import ConsoleController
from .keymap import Keymap, load_keymap, shown
from .main_screen import MainScreen
from .replay import ReplayController, ReplayScreen


class ColotuiApp(App[None]):
    """Both VMs of ``controller``'s pair side by side, with ``keymap`` (default: the built-in keys)."""

    TITLE = "colotui"

    def __init__(self, controller: ConsoleController, *, keymap: Keymap | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.keymap = keymap or load_keymap("default")
        self.set_keymap(self.keymap.keys)
        if controller.config.theme:
            self.theme = controller.config.theme
        self.main = ReplayScreen(controller, self.keymap) if isinstance(controller, ReplayController) \
            else MainScreen(controller, self.keymap)

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        if self.keymap.notice:
            self.notify(self.keymap.notice, severity="error", timeout=20)

    async def on_unmount(self) -> None:
        await self.controller.close()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every action of the main screen (with its keys) and every procedure."""
        yield from super().get_system_commands(screen)
        for action in ACTIONS:
            if action.scope != "app" or action.id == "app.close_procedure":
                continue
            keys = ",".join(shown(k) for k in self.keymap.keys[action.id].split(","))
            yield SystemCommand(action.description, f"keys: {keys}  ({action.id})",
                                partial(self.main.run_action, action.action))
        for entry in catalogue().values():
            if entry.error is None:
                yield SystemCommand(f"Run procedure: {entry.name}", f"{entry.title} ({entry.origin})",
                                    partial(self.main.start_procedure, entry.name))
