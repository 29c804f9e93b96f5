"""A QMP command as it will go on the wire, before the session adds its id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QMPRequest:
    command: str
    arguments: dict[str, Any] | None = None
    hmp: str | None = None  # the HMP command line, when the command is human-monitor-command
    oob: bool = False  # sent out of band (exec-oob)

    def message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"exec-oob" if self.oob else "execute": self.command}
        if self.arguments is not None:
            msg["arguments"] = self.arguments
        return msg

    def text(self) -> str:
        return json.dumps(self.message())
