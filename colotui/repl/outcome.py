"""What one input came to: replies, a refusal with its reason, or an answer from colotui itself.

The shell prints these and the console pane shows them (`colotui.repl.render`);
neither needs to know how they were produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..qmp import Reply
from .parser import ParseError, Request


@dataclass(frozen=True)
class TargetReply:
    target: str  # primary, secondary, vm
    vm: str  # the VM's own name (after a respawn the primary may be "secondary")
    request: Request  # as sent to this VM (its schema may have shaped it)
    reply: Reply


@dataclass(frozen=True)
class Sent:
    """The command went to every target; one reply each, in target order."""

    text: str
    replies: tuple[TargetReply, ...]

    @property
    def ok(self) -> bool:
        return all(r.reply.ok for r in self.replies)


@dataclass(frozen=True)
class Rejected:
    """The input does not parse (for ``target``'s schema, if only that one objects); nothing was sent."""

    text: str
    error: ParseError
    target: str | None = None
    ok: ClassVar[bool] = False


@dataclass(frozen=True)
class Refused:
    """The input parsed but was not sent: read-only, or not confirmed."""

    text: str
    reason: str
    ok: ClassVar[bool] = False


@dataclass(frozen=True)
class Info:
    """colotui's answer to one of its own commands."""

    text: str
    title: str
    lines: tuple[str, ...] = ()
    ok: ClassVar[bool] = True


@dataclass(frozen=True)
class Pending:
    """A transaction( is open; the input goes on."""

    text: str
    message: str
    ok: ClassVar[bool] = True


@dataclass(frozen=True)
class Quit:
    text: str
    ok: ClassVar[bool] = True


Outcome = Sent | Rejected | Refused | Info | Pending | Quit
