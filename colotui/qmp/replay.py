"""A session whose QEMU is a recording: what a replay puts behind the console's watchers.

It is a `Session` (same notices, same replies, same link states) with no socket
at all, so a replay is read-only by construction: a command is answered with
what the VM answered to it at that moment of the recording, and nothing is ever
sent. The player (`colotui.service.player`) moves the clock and hands it the
recording's link changes, events and commands as their moments come.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .address import Address
from .notices import CommandSent, Event, LinkState
from .recording import Exchange, Link, VMRecord
from .reply import CommandError, DeadlineExceeded, Disconnected, Ok, Reply
from .session import Session


class ReplaySession(Session):
    """One VM of a recording, as it stood at ``clock()`` (the recording's time, seconds since the epoch)."""

    def __init__(self, name: str, address: Address, record: VMRecord | None, clock: Callable[[], float], *,
                 deadline: float = 10.0, exact: Callable[[], bool] = lambda: False) -> None:
        """``exact``: whether questions now look at one moment (`VMRecord.answer`)."""
        super().__init__(name, address, deadline=deadline)
        self.record = record or VMRecord(name)
        self.clock = clock
        self.exact = exact
        link = self.record.link_at(clock())
        if link is not None:
            self.play_link(link)
        else:
            self.detail = "not attached yet at this moment of the recording"

    def start(self) -> None:
        """Nothing to connect to: the link is what the recording says."""

    async def close(self) -> None:
        self._connected.clear()
        self._hub.close()

    @property
    def backlog(self) -> int:
        """Notices handed out and not handled yet (the player waits for them when it skips ahead)."""
        return self._hub.backlog

    def play_link(self, link: Link) -> None:
        if link.state is LinkState.CONNECTED:
            self.greeting = self.record.greeting_at(link.t)
            self.connects += 1
            self._connected.set()
        else:
            self._connected.clear()
        self.unreached = link.unreached
        self._set_state(link.state, link.detail)

    def play_event(self, message: dict[str, Any]) -> None:
        self._hub.publish(Event.from_message(self.name, message))

    def play_sent(self, exchange: Exchange) -> None:
        self._hub.publish(CommandSent(self.name, exchange.command, exchange.error is None))

    async def execute(self, command: str, arguments: Mapping[str, Any] | None = None,
                      *, deadline: float | None = None, oob: bool = False) -> Reply:
        """What the VM answered to this command at this moment: its reply, its error, or no reply
        (`DeadlineExceeded`, at once: a replay does not wait out a hang)."""
        if not self.connected:
            return Disconnected(command, self.detail)
        asked = self.record.answer(command, dict(arguments) if arguments is not None else None, self.clock(),
                                   exact=self.exact())
        if asked is None:
            return CommandError(command, "GenericError", "not asked at this moment of the recording", 0.0)
        limit = self.deadline if deadline is None else deadline
        if asked.answered is None or asked.answered - asked.sent > limit:
            return DeadlineExceeded(command, limit, limit)
        took = asked.answered - asked.sent
        if asked.error is not None:
            return CommandError(command, str(asked.error.get("class", "GenericError")),
                                str(asked.error.get("desc", "")), took)
        return Ok(command, asked.value, took)
