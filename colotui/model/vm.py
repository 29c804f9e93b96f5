"""What the console knows about one VM, as plain immutable data built from QMP replies."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..qmp.health import Health
from ..qmp.notices import LinkState
from .block import BlockJob, Drive, Export
from .checkpoints import CheckpointStats
from .network import Chardev, Netdev


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
class LogEntry:
    seq: int
    at: float  # wall clock, seconds
    text: str
    severity: str = "info"  # info | warning | critical


@dataclass(frozen=True, slots=True)
class Compare:
    """A colo-compare object and the settings that matter to an operator."""

    id: str
    props: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str:
        return dict(self.props).get(name, "")


@dataclass(frozen=True, slots=True)
class VMView:
    """One VM as its pane shows it."""

    name: str
    address: str
    link: LinkState = LinkState.IDLE
    link_detail: str = ""
    version: str | None = None
    status: str | None = None  # query-status "status": running, paused, colo, inmigrate, prelaunch…
    running: bool | None = None
    colo: ColoStatus | None = None
    colo_available: bool = True  # False when QEMU was built without replication
    migration: str | None = None  # query-migrate status
    checkpoint_delay_ms: int | None = None
    capabilities: tuple[str, ...] = ()  # migration capabilities that are on
    checkpoints: CheckpointStats = field(default_factory=CheckpointStats)
    netdevs: tuple[Netdev, ...] = ()
    chardevs: tuple[Chardev, ...] = ()
    objects: tuple[tuple[str, str], ...] = ()  # (id, type) under /objects
    compares: tuple[Compare, ...] = ()
    iothreads: tuple[str, ...] = ()
    drives: tuple[Drive, ...] = ()
    jobs: tuple[BlockJob, ...] = ()
    exports: tuple[Export, ...] = ()
    colo_exit: tuple[tuple[str, str], ...] | None = None  # the last COLO_EXIT's data
    log: tuple[LogEntry, ...] = ()
    structure_known: bool = False  # network, chardevs and block graph have been read at least once
    health: Health | None = None  # does it answer (None: not asked yet)
    health_detail: str = ""  # what was seen, for people
    health_since: float | None = None  # when (time.time(), or a replay's) it last changed
    checkpoints_stalled: bool = False  # in COLO, and no checkpoint for well over the usual interval

    def with_(self, **changes: Any) -> VMView:
        return replace(self, **changes)

    @property
    def connected(self) -> bool:
        return self.link is LinkState.CONNECTED

    @property
    def lost(self) -> bool:
        """Known once, and now down or not answering: the other side needs a failover."""
        return self.structure_known and self.health is not None and self.health.lost

    @property
    def answers(self) -> bool:
        return self.connected and self.health in (None, Health.ANSWERS)

    @property
    def in_colo(self) -> bool:
        return self.colo is not None and self.colo.mode in ("primary", "secondary")

    @property
    def role(self) -> str:
        if not self.colo_available:
            return "unknown (QEMU built without COLO)"
        return self.colo.describe() if self.colo else "unknown"
