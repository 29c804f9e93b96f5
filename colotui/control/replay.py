"""The console's controller over a recorded transcript: the same watchers and alerts, driven by a player.

`ReplayController` is a `ConsoleController` whose sessions come from the player (answered from the
recording, never sending) and whose clock is the player's; it has no QMP console, and refuses every
procedure. Nothing here can send a command: there is no socket behind a replay session.
"""

from __future__ import annotations

from dataclasses import replace

from ..config import Config
from ..model.replies import STRUCTURE_QUERIES
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
        """``at``: where to stand first (default: `first_full_view`); ``play``: then play."""
        config = config or Config()
        # answers cost nothing in a replay: asking every second follows the recording closely
        config = replace(config, refresh_interval=min(config.refresh_interval, REFRESH))
        super().__init__(player.first_pair(), config=config, read_only=True, clock=player,
                         sessions_for=player.sessions, repl=False)
        self.player = player
        self.source = source  # the transcript, as people call it
        #: where it opened, when that is the first full view (not the start, not the moment asked for)
        self.opened_at_full_view = first_full_view(player) if at is None else None
        self._opening = (at if at is not None else self.opened_at_full_view or player.recording.start, play)

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


def first_full_view(player: Player) -> float | None:
    """The first moment both VMs the console attached first had answered every structure question it asked
    them (their trees shown, not "not attached yet"); None if one never did (a `colotui run`'s transcript)."""
    recording, latest = player.recording, []
    for endpoint in player.first_pair().by_role().values():
        record = recording.vms.get(endpoint.name)
        answers = [record.first_answer(command, arguments) for command, arguments in STRUCTURE_QUERIES.values()] \
            if record is not None else []
        answered = [t for t in answers if t is not None]
        if not answered:
            return None
        latest.append(max(answered))
    return max(latest) + 0.001  # just after: the answer is in
