"""``DIR/lab.json``: every QEMU a lab started, and how to reach it.

Other tools (and `colotui connect --lab`) read this file, so it is plain JSON
with stable keys; it is rewritten atomically after every lab operation.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..topology import Ids, Ports, Topology, dump_topology
from . import process
from .qemu import QemuInstall

FORMAT = 1


@dataclass
class VMRecord:
    name: str
    address: str  # the node's loopback address for COLO traffic
    pid: int
    qmp: str  # host path of colotui's QMP socket
    qmp_spare: str  # a monitor left for another tool (qmp-shell, a test's observer), and the lab's readiness check
    serial: str
    log: str
    started_as: str  # "primary" or "secondary"
    role: str  # the side it plays now; the survivor of a failover becomes "primary" at respawn
    state: str = "running"  # running | killed | exited | stopped
    qemu_version: str = ""
    qemu_package: str = ""
    images: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    qmp_yank: str = ""  # colotui's second monitor, for out-of-band commands (empty in labs made before it)

    @property
    def marker(self) -> str:
        """Its ``-qmp`` argument: only this QEMU's command line holds it, so a reused PID is not ours."""
        return self.argv[self.argv.index("-qmp") + 1]

    def is_alive(self) -> bool:
        return process.alive(self.pid, self.marker)


@dataclass
class NetPorts:
    """The net guest's ports on the host."""

    tick: int  # UDP on 127.0.0.1, where the guest's ticks to 10.0.2.2 arrive
    service: int  # UDP on each VM's address, forwarded (hostfwd) to the guest's service port


@dataclass
class HelperRecord:
    """A lab process that is not a QEMU (the traffic helper): stopped by PID like them."""

    pid: int
    argv: list[str]
    log: str

    @property
    def marker(self) -> str:
        return self.argv[-2]  # the lab's directory

    def is_alive(self) -> bool:
        return process.alive(self.pid, self.marker)


GUESTS = ("counter", "net", "none")


@dataclass
class LabState:
    dir: str
    accel: str
    guest: str  # one of GUESTS
    disk_mb: int
    memory_mb: int
    ports: Ports
    qemu: dict[str, Any]  # system, prefix, root, version (of the emulator binary)
    vms: list[VMRecord] = field(default_factory=list)
    ids: Ids = field(default_factory=Ids)
    traffic: str | None = None  # the net guest's traffic mode (netguest.TRAFFIC)
    net: NetPorts | None = None
    helper: HelperRecord | None = None
    format: int = FORMAT

    @property
    def path(self) -> Path:
        return Path(self.dir) / "lab.json"

    def install(self) -> QemuInstall:
        root = self.qemu.get("root")
        return QemuInstall(prefix=tuple(self.qemu.get("prefix", ())), root=Path(root) if root else None,
                           system=self.qemu.get("system", "qemu-system-x86_64"))

    def current(self, role: str) -> VMRecord | None:
        """The VM that plays ``role``: the running one, else the one that played it last."""
        playing = [vm for vm in self.vms if vm.role == role]
        running = [vm for vm in playing if vm.state == "running"]
        chosen = running or playing
        return chosen[-1] if chosen else None

    def alive(self) -> list[VMRecord]:
        return [vm for vm in self.vms if vm.state == "running"]

    def refresh(self) -> None:
        """Notice QEMUs that died since the file was written."""
        for vm in self.vms:
            if vm.state == "running" and not vm.is_alive():
                vm.state = "exited"

    def topology(self) -> Topology:
        primary, secondary = self.current("primary"), self.current("secondary")
        return Topology(primary=primary.address if primary else "127.0.0.1",
                        secondary=secondary.address if secondary else "127.0.0.2",
                        ports=self.ports, ids=self.ids)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["topology"] = self.topology().to_dict()
        return data

    def save(self) -> None:
        """Rewrite lab.json, and topology.toml beside it for `colotui run --topology`."""
        for name, text in (("lab.json", json.dumps(self.to_dict(), indent=2) + "\n"),
                           ("topology.toml", dump_topology(self.topology()))):
            tmp = Path(self.dir) / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, Path(self.dir) / name)

    @classmethod
    def load(cls, directory: Path) -> LabState:
        path = Path(directory) / "lab.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"no lab in {directory} (no lab.json): "
                            f"start one with `colotui lab up --dir {directory}`") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
        if data.get("format") != FORMAT:
            raise UserError(f"{path} has format {data.get('format')!r}; this colotui reads format {FORMAT}")
        try:
            guest = data["guest"]
            if isinstance(guest, bool):  # labs made before the net guest
                guest = "counter" if guest else "none"
            return cls(dir=data["dir"], accel=data["accel"], guest=guest, disk_mb=data["disk_mb"],
                       memory_mb=data["memory_mb"], ports=Ports(**data["ports"]), qemu=data["qemu"],
                       vms=[VMRecord(**vm) for vm in data["vms"]], ids=Ids(**data.get("ids", {})),
                       traffic=data.get("traffic"), net=NetPorts(**data["net"]) if data.get("net") else None,
                       helper=HelperRecord(**data["helper"]) if data.get("helper") else None)
        except (KeyError, TypeError) as exc:
            raise UserError(f"{path} is damaged: {exc}") from None
