"""The console's controller over a recorded transcript: the same watchers and alerts, driven by a player.

`ReplayController` is a `ConsoleController` whose sessions come from the player (answered from the
recording, never sending) and whose clock is the player's; it has no QMP console, and refuses every
procedure. Nothing here can send a command: there is no socket behind a replay session.
"""

from __future__ import annotations

from dataclasses import replace

from ..config import Config
from ..pair import Pair
from ..service.player import Player
from .console import ConsoleController
from .events import Recorded, Tell

READ_ONLY = "a replay sends nothing: it shows what was recorded"
#: How often a replay's watchers ask the recording (seconds of the recording).
REFRESH = 1.0


class ReplayController(ConsoleController):
    """The console's controller over ``player``'s recording (read-only by construction)."""

    READ_ONLY = READ_ONLY

    def __init__(self, player: Player, source: str, *, config: Config | None = None, at: float | None = None,
                 play: bool = False) -> None:
        """``at``: where to stand first (default: the start); ``play``: then play."""
        config = config or Config()
        # answers cost nothing in a replay: asking every second follows the recording closely
        config = replace(config, refresh_interval=min(config.refresh_interval, REFRESH))
        super().__init__(player.first_pair(), config=config, read_only=True, clock=player,
                         sessions_for=player.sessions, repl=False)
        self.player = player
        self.source = source  # the transcript, as people call it
        self._opening = (player.recording.start if at is None else at, play)

    def start(self, tell: Tell) -> None:
        super().start(tell)
        self.player.on_pair = self._pair_changed
        self.player.on_moment = lambda moment: self.tell(Recorded(moment))
        self.spawn("player", self.player.run())
        self.spawn("open", self._open())

    async def _open(self) -> None:
        at, play = self._opening
        await self.seek(at)
        if play:
            self.player.play()

    async def _pair_changed(self, pair: Pair) -> None:
        """Other VMs play the roles from this moment: attach them at once (what follows is theirs)."""
        await self.use(pair)

    async def seek(self, t: float) -> None:
        """Stand at ``t``: ahead, by playing the moments on the way; back, by starting again."""
        if t < self.player.now():
            await self.detach()
            self.player.rewind()
            self.tell(Recorded(None))
            self.attach(self.player.first_pair())
        await self.player.skip_to(t)
        # every view read at this moment (as the live console had it then), not only what its last event and
        # poll made it read
        self.player.exact = True
        try:
            await self.read_all()
        finally:
            self.player.exact = False
