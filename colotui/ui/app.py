"""The console apps: the keymap and theme in force, the first screen, and the palette.

`ColotuiApp` is one pair's console (its main screen); `FleetApp` is `colotui
fleet`, a table of pairs whose rows open their consoles. Everything else lives
elsewhere: the layout and the reactions to what happens in `MainScreen` and
`FleetScreen`, sessions, watchers, the QMP console and procedures in the
`ConsoleController`s the app is given (and closes when it ends).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from textual.app import App, SystemCommand
from textual.screen import Screen

from ..config import Config
from ..control.console import ConsoleController
from ..control.fleet import FleetController
from ..control.replay import ReplayController
from ..model.fleet import SORTS
from .actions import ACTIONS
from .fleet import FleetScreen
from .keymap import Keymap, load_keymap, shown
from .main_screen import MainScreen
from .palette import ProcedureCommands
from .replay import ReplayScreen


class _Console(App[None]):
    """What both apps share: the keymap (default: the built-in keys), the theme, the palette."""

    TITLE = "colotui"
    COMMANDS = App.COMMANDS | {ProcedureCommands}  # the procedures ranked so that a name typed runs that one

    def __init__(self, config: Config, keymap: Keymap | None) -> None:
        super().__init__()
        self.keymap = keymap or load_keymap("default")
        self.set_keymap(self.keymap.keys)
        if config.theme:
            self.theme = config.theme

    def on_mount(self) -> None:
        if self.keymap.notice:
            self.notify(self.keymap.notice, severity="error", timeout=20)

    def console_screen(self, screen: Screen[object]) -> MainScreen | None:
        """The pair's console the palette acts on, opened from ``screen``."""
        return screen if isinstance(screen, MainScreen) else None

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every action of the pair's console (with its keys); the procedures are `ProcedureCommands`."""
        yield from super().get_system_commands(screen)
        main = self.console_screen(screen)
        if main is None:
            return
        for action in ACTIONS:
            if action.scope != "app" or action.id == "app.close_procedure":
                continue
            keys = ",".join(shown(k) for k in self.keymap.keys[action.id].split(","))
            yield SystemCommand(action.description, f"keys: {keys}  ({action.id})",
                                partial(main.run_action, action.action))


class ColotuiApp(_Console):
    """Both VMs of ``controller``'s pair side by side, with ``keymap`` (default: the built-in keys)."""

    def __init__(self, controller: ConsoleController, *, keymap: Keymap | None = None) -> None:
        super().__init__(controller.config, keymap)
        self.controller = controller
        self.main = ReplayScreen(controller, self.keymap) if isinstance(controller, ReplayController) \
            else MainScreen(controller, self.keymap)

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def console_screen(self, screen: Screen[object]) -> MainScreen | None:
        return self.main  # a modal (picker, keys) opened over it: the palette still acts on the pair

    async def on_unmount(self) -> None:
        await self.controller.close()


class FleetApp(_Console):
    """A table of pairs (name, controller), each row opening that pair's console on its own controller."""

    def __init__(self, pairs: Sequence[tuple[str, ConsoleController]], *, config: Config | None = None,
                 keymap: Keymap | None = None) -> None:
        super().__init__(config or Config(), keymap)
        self.pairs = FleetController(pairs)
        self.fleet = FleetScreen(self.pairs, self.keymap)

    def get_default_screen(self) -> Screen[None]:
        return self.fleet

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """On the fleet: a command per pair to open its console, and one per sort; in a console: its own."""
        yield from super().get_system_commands(screen)
        if screen is not self.fleet:
            return
        for name, member in self.pairs.members.items():
            yield SystemCommand(f"Open console: {name}", f"{member.row.state}  {member.row.alert}".strip(),
                                partial(self.fleet.open_pair, name))
        for sort in SORTS:
            yield SystemCommand(f"Sort by {sort}", "the fleet's rows", partial(self.fleet.sort_by, sort))

    async def on_unmount(self) -> None:
        await self.pairs.close()
