"""A procedure as data: steps, what each sends, checks before, waits after.

Values in a scenario are templates: ``"{ids.disk}"``, ``"tcp:{addr.secondary}:{ports.migration}"``,
``"{live.replication_child}"``. They are rendered just before a step runs, from
the topology and from what the VMs report then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: Sides a step can address besides the two roles (`colotui.roles.ROLES`). Resume procedures call the
#: freshly started secondary "new-secondary"; it is reached through the secondary's connection.
ROLE_ALIASES = {"new-secondary": "secondary"}

#: Kinds of condition a step can require (before) or wait for (after), and what each compares.
CHECK_KINDS = {
    "link": "the QMP connection: up or down",
    "answers": "whether the VM answers QMP at all (false: down, or hung: no reply in band nor out of band)",
    "colo_mode": "query-colo-status mode: primary, secondary or none",
    "last_colo_mode": "query-colo-status last-mode: the role before the last failover (primary, secondary, none)",
    "migration": "query-migrate status (colo, active, completed, none…)",
    "runstate": "query-status status (running, paused, inmigrate, prelaunch…)",
    "object": "a QOM object under /objects, by id",
    "chardev": "a character device, by id",
    "block_node": "a block node, by node name",
    "block_job": "a block job, by id (with status = …, its status)",
    "export": "a block export (NBD), by id",
    "capability": "a migration capability, by name (with state = true/false)",
    "command": "a QMP command this QEMU offers",
    "quorum_child": "a block node, by node name, that is a child of the quorum drive {ids.disk}",
    "incoming": "how the VM waits for its incoming migration: deferred (-incoming defer, migrate-incoming not "
                "sent yet) or listening",
    "same_version": "true: the VM runs the same QEMU version as the other side",
    "same_size": "[this VM's drive, the other side's drive]: both disks have the same size",
}


@dataclass(frozen=True)
class Check:
    """A condition on one VM: ``kind`` compared with ``expected`` (templates)."""

    kind: str
    target: str
    expected: Any
    present: bool = True  # for object/chardev/block_node/block_job/command: must it exist?
    status: str | None = None  # block_job: the status it must have
    state: bool | None = None  # capability: on or off
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "link":
            return f"{self.target} QMP link is {self.expected}"
        if self.kind == "answers":
            return f"{self.target} answers QMP" if self.expected else f"{self.target} does not answer (down or hung)"
        if self.kind in ("colo_mode", "last_colo_mode", "migration", "runstate"):
            want = self.expected if isinstance(self.expected, str) else " or ".join(self.expected)
            return f"{self.target} {self.kind.replace('_', ' ')} is {want}"
        if self.kind == "capability":
            return f"{self.target} migration capability {self.expected} is {'on' if self.state else 'off'}"
        if self.kind == "block_job" and self.status:
            return f"{self.target} block job {self.expected} is {self.status}"
        if self.kind == "quorum_child":
            return f"{self.target} quorum child {self.expected} is {'attached' if self.present else 'detached'}"
        if self.kind == "incoming":
            return f"{self.target} incoming migration is {self.expected}"
        if self.kind == "same_version":
            return f"{self.target} runs the same QEMU version as the other side"
        if self.kind == "same_size":
            return f"{self.target} drive {self.expected[0]} is as large as the other side's {self.expected[1]}"
        if self.kind == "command":
            return f"{self.target} {'offers' if self.present else 'lacks'} the command {self.expected}"
        what = self.kind.replace("_", " ")
        return f"{self.target} {what} {self.expected} is {'present' if self.present else 'absent'}"


@dataclass(frozen=True)
class Wait:
    """After the command succeeds: an event (with matching data) or a condition, within ``timeout`` seconds."""

    target: str
    timeout: float
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    until: Check | None = None
    line: int | None = None

    def describe(self) -> str:
        if self.event:
            data = ", ".join(f"{k}={v}" for k, v in self.data.items())
            return f"{self.event}{f' ({data})' if data else ''} from {self.target}"
        assert self.until is not None
        return self.until.describe()


#: What a ``yank`` step can cut: ``peer``, every connection of this VM to the other side of the pair.
YANK_KINDS = ("peer",)


@dataclass(frozen=True)
class Command:
    """What a step sends: a QMP command with arguments, an HMP command line, or an out-of-band
    ``yank`` of the connections named by ``yank`` (its instances are looked up when it runs)."""

    qmp: str | None = None
    arguments: dict[str, Any] | None = None
    hmp: str | None = None
    yank: str | None = None

    @property
    def name(self) -> str:
        if self.yank:
            return "yank"
        return self.qmp or "human-monitor-command"


@dataclass(frozen=True)
class Step:
    id: str
    number: int  # 1-based position in the scenario
    target: str
    why: str
    command: Command
    otherwise: Command | None = None  # sent instead when this QEMU lacks ``command``
    title: str = ""
    confirm: bool = True
    require: tuple[Check, ...] = ()
    done: tuple[Check, ...] = ()  # all true before the step: its effect is there already, it is not sent again
    waits: tuple[Wait, ...] = ()
    variant: str | None = None  # only in this variant of the procedure (topology.VARIANTS); None: in every one
    line: int | None = None

    @property
    def label(self) -> str:
        return self.title or self.id


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    path: Path
    steps: tuple[Step, ...]
    variant: str | None = None  # chosen with `for_variant`: the steps of the other variants are gone
    offered_when: str | None = None  # the situation an alert offers it for (`colotui.model.alerts.SITUATIONS`)

    @property
    def variants(self) -> set[str]:
        """The variants some of its steps belong to (empty: every step is in every variant)."""
        return {s.variant for s in self.steps if s.variant is not None}

    def for_variant(self, variant: str) -> Scenario:
        """The procedure as it runs in ``variant``: its steps and the common ones, numbered again."""
        steps = [s for s in self.steps if s.variant in (None, variant)]
        return replace(self, steps=tuple(replace(s, number=i + 1) for i, s in enumerate(steps)), variant=variant)

    @property
    def targets(self) -> set[str]:
        """The sides the steps send to (by connection: a new secondary is reached as the secondary)."""
        return {ROLE_ALIASES.get(s.target, s.target) for s in self.steps}

    def index_of(self, step: str) -> int:
        """Position of a step given by id or 1-based number; ValueError if none."""
        for i, s in enumerate(self.steps):
            if s.id == step or str(s.number) == step:
                return i
        raise ValueError(f"{self.name} has no step {step!r} (steps: {', '.join(s.id for s in self.steps)})")
