"""What a command comes back as: a value or a typed failure, never an exception.

Callers (the scenario engine, the REPL, the console) branch on the type; every
failure carries a one-line ``message`` fit to show an operator as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Ok:
    """QEMU returned ``{"return": value}``."""

    command: str
    value: Any
    elapsed: float
    ok: ClassVar[bool] = True

    @property
    def message(self) -> str:
        return "ok"


@dataclass(frozen=True, slots=True)
class CommandError:
    """QEMU answered ``{"error": {"class": ..., "desc": ...}}``."""

    command: str
    error_class: str
    desc: str
    elapsed: float
    ok: ClassVar[bool] = False

    @property
    def message(self) -> str:
        return f"{self.error_class}: {self.desc}"


@dataclass(frozen=True, slots=True)
class DeadlineExceeded:
    """No reply within the deadline; the command may still run in QEMU."""

    command: str
    deadline: float
    elapsed: float
    ok: ClassVar[bool] = False

    @property
    def message(self) -> str:
        return f"no reply within {self.deadline:g} s (the command may still complete in QEMU)"


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The command could not be sent, or the connection dropped before the reply."""

    command: str
    reason: str
    elapsed: float = 0.0
    ok: ClassVar[bool] = False

    @property
    def message(self) -> str:
        return f"not connected: {self.reason}"


Failure = CommandError | DeadlineExceeded | Disconnected
Reply = Ok | Failure
