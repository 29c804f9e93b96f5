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

    def message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"execute": self.command}
        if self.arguments is not None:
            msg["arguments"] = self.arguments
        return msg

    def text(self) -> str:
        return json.dumps(self.message())
