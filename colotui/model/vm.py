"""What the console knows about one VM, as plain immutable data built from QMP replies."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..qmp.notices import LinkState


@dataclass(frozen=True, slots=True)
class ColoStatus:
    """``query-colo-status``: the role now, the role before, and why it changed."""

    mode: str
    last_mode: str
    reason: str

    @classmethod
    def from_reply(cls, value: dict[str, Any]) -> ColoStatus:
        return cls(str(value.get("mode", "none")), str(value.get("last-mode", "none")),
                   str(value.get("reason", "none")))

    def describe(self) -> str:
        """The role as an operator should read it; a failover is never hidden."""
        if self.mode != "none":
            if self.last_mode not in ("none", self.mode):
                return f"{self.mode} (was {self.last_mode})"
            return self.mode
        if self.last_mode != "none":
            return f"running alone (was {self.last_mode}; failover: {self.reason})"
        return "not in COLO"


@dataclass(frozen=True, slots=True)
class VMView:
    """One VM as shown in its pane header."""

    name: str
    address: str
    link: LinkState = LinkState.IDLE
    link_detail: str = ""
    version: str | None = None
    status: str | None = None  # query-status "status": running, paused, colo, inmigrate, prelaunch…
    running: bool | None = None
    colo: ColoStatus | None = None
    colo_available: bool = True  # False when QEMU was built without replication

    def with_(self, **changes: Any) -> VMView:
        return replace(self, **changes)

    @property
    def role(self) -> str:
        if self.link is not LinkState.CONNECTED and self.colo is None:
            return "unknown"
        if not self.colo_available:
            return "unknown (QEMU built without COLO)"
        return self.colo.describe() if self.colo else "unknown"
