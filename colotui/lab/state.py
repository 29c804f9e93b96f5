"""``DIR/lab.json``: every QEMU a lab started, and how to reach it.

Other tools (and `colotui connect --lab`) read this file, so it is plain JSON
with stable keys; it is rewritten atomically after every lab operation.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import FileError, UserError
from ..files import loads, read_regular
from ..roles import ROLES
from ..topology import Ids, Ports, Topology, dump_topology
from . import process
from .netguest import TRAFFIC
from .qemu import QemuInstall

FORMAT = 1
#: The largest lab.json read: a lab's is a few KiB, and each respawn adds about 3.
MAX_SIZE = 4 * 2**20
#: A VM's name is its directory in the lab: no separator, no leading dot (lab up writes primary, secondaryN).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: What QEMU takes as an object, chardev or drive id (a respawn puts the lab's ids in its options).
_QEMU_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
_SYSTEM = re.compile(r"qemu-system-[a-z0-9_]+")
ACCELS = ("kvm", "tcg")
STATES = ("running", "killed", "exited", "stopped")
_PID_MAX = 2**22  # Linux's highest pid_max
_MAX_MB = 2**20  # a disk or a guest's memory of a TiB is beyond a lab
_REQUIRED = object()
_KIND_NAMES: dict[Any, str] = {str: "a string", int: "a whole number", list: "a list", dict: "a JSON object",
                               (str, type(None)): "a string or null", (dict, type(None)): "a JSON object or null"}


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

    def is_hung(self) -> bool:
        """SIGSTOPped (`colotui lab hang`): it runs, keeps its sockets and answers nothing until SIGCONT."""
        return process.stopped(self.pid, self.marker)

    @property
    def shown_state(self) -> str:
        """Its state as `lab status` shows it: ``stopped`` while it is hung, else the recorded one."""
        return "stopped" if self.state == "running" and self.is_hung() else self.state


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
        """Its arguments, the lab's directory among them, each ended as /proc's cmdline ends it (so a lab in
        /tmp/lab is not taken for one in /tmp/lab2)."""
        return "\0".join(self.argv[1:]) + "\0"

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
        """The lab in ``directory``, every value of its lab.json checked first (see `_Checker`): a lab.json
        that is not what ``lab up`` writes is refused in one line, before anything is stopped or removed."""
        path = Path(directory) / "lab.json"
        try:
            raw = read_regular(path, MAX_SIZE)
        except FileNotFoundError:
            raise UserError(f"no lab in {directory} (no lab.json): "
                            f"start one with `colotui lab up --dir {directory}`") from None
        except OSError as exc:
            raise FileError(path, None, f"cannot read: {exc.strerror or exc}") from None
        try:
            data = loads(raw.decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise FileError(path, exc.lineno, f"not JSON: {exc.msg}") from None
        except ValueError as exc:  # not UTF-8, NaN, nested too deeply
            raise FileError(path, None, f"not what lab up writes: {exc}") from None
        if not isinstance(data, dict):
            raise FileError(path, None, "not what lab up writes: not a JSON object")
        if data.get("format") != FORMAT:
            raise UserError(f"{path} has format {data.get('format')!r}; this colotui reads format {FORMAT}")
        return _Checker(path, Path(directory)).state(data)


class _Checker:
    """lab.json's values, each checked before it is used: its names (each a VM's directory in the lab), its
    paths (inside the lab directory), its PIDs and the command-line markers they are checked against (the
    lab's own sockets), the ports, ids and options that go into QEMU's command line at a respawn, and the
    QEMU root (its /proc and /dev are mounted and unmounted)."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.path = path
        self.root = directory.resolve()

    def fail(self, what: str, why: str) -> FileError:
        return FileError(self.path, None, f"{what} {why}: refused, nothing in the lab was touched")

    def value(self, table: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...],
              default: Any = _REQUIRED) -> Any:
        if key not in table:
            if default is _REQUIRED:
                raise self.fail(f"{where}{key}", "is missing")
            return default
        value = table[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.fail(f"{where}{key}", f"is {_shown(value)}, not {_KIND_NAMES.get(kind, 'what lab up writes')}")
        return value

    def number(self, table: dict[str, Any], key: str, where: str, low: int, high: int,
               default: Any = _REQUIRED) -> int:
        value = self.value(table, key, where, int, default)
        if not low <= value <= high:
            raise self.fail(f"{where}{key}", f"is {value}, not in {low}..{high}")
        return int(value)

    def choice(self, table: dict[str, Any], key: str, where: str, choices: tuple[str, ...],
               default: Any = _REQUIRED) -> str:
        value = self.value(table, key, where, str, default)
        if value not in choices:
            raise self.fail(f"{where}{key}", f"is {_shown(value)}, not one of {', '.join(choices)}")
        return str(value)

    def named(self, table: dict[str, Any], key: str, where: str, pattern: re.Pattern[str], what: str,
              default: Any = _REQUIRED) -> str:
        value = self.value(table, key, where, str, default)
        if not pattern.fullmatch(value):
            raise self.fail(f"{where}{key}", f"is {_shown(value)}, not {what}")
        return str(value)

    def inside(self, table: dict[str, Any], key: str, where: str, default: Any = _REQUIRED) -> str:
        """A path inside the lab directory (symbolic links followed: one that leads out is out)."""
        value = str(self.value(table, key, where, str, default))
        if value == "" and default == "":  # a field that labs made before it leave empty
            return value
        if "\0" in value or not Path(value).is_absolute() or not Path(value).resolve().is_relative_to(self.root):
            raise self.fail(f"{where}{key}", f"is {_shown(value)}, not a path inside the lab ({self.root})")
        return str(value)

    def table(self, data: dict[str, Any], key: str, cls: Any, where: str = "") -> dict[str, Any]:
        """A table of ``cls``'s fields (Ports: numbers, Ids: QEMU ids), each checked."""
        table = self.value(data, key, where, dict, {})
        names = {f.name for f in fields(cls)}
        for name in table:
            if name not in names:
                raise self.fail(f"{where}{key}.{name}", f"is not a field of {key} ({', '.join(sorted(names))})")
            if cls is Ports:
                self.number(table, name, f"{where}{key}.", 1, 65535)
            else:
                self.named(table, name, f"{where}{key}.", _QEMU_ID, "a QEMU id (a letter, then letters, digits, "
                                                                    "_ . -)")
        return dict(table)

    def install(self, qemu: dict[str, Any]) -> QemuInstall:
        system = self.named(qemu, "system", "qemu.", _SYSTEM, "a QEMU system emulator's name")
        self.value(qemu, "version", "qemu.", str)
        root = self.value(qemu, "root", "qemu.", (str, type(None)), None)
        prefix = self.value(qemu, "prefix", "qemu.", list, [])
        if prefix != ([] if root is None else ["chroot", root]):
            raise self.fail("qemu.prefix", f"is {_shown(prefix)}, not what lab up writes (none, or chroot ROOT)")
        if root is None:
            return QemuInstall()
        where = Path(root).resolve() if "\0" not in root and Path(root).is_absolute() else None
        if where is None or where == Path("/") or not self.root.is_relative_to(where) or \
                not (where / "usr" / "bin" / system).is_file():
            raise self.fail("qemu.root", f"is {_shown(root)}, not a Debian root with {system} that holds the lab")
        return QemuInstall(prefix=("chroot", root), root=Path(root), system=system)

    def vm(self, data: Any, index: int, install: QemuInstall) -> VMRecord:
        where = f"vms[{index}]."
        if not isinstance(data, dict):
            raise self.fail(f"vms[{index}]", "is not a JSON object")
        unknown = set(data) - {f.name for f in fields(VMRecord)}
        if unknown:
            raise self.fail(f"{where}{sorted(unknown)[0]}", "is not a field of a VM")
        address = self.value(data, "address", where, str)
        try:
            loopback = ipaddress.IPv4Address(address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise self.fail(f"{where}address", f"is {_shown(address)}, not an IPv4 loopback address (127.x.x.x)")
        images = self.value(data, "images", where, dict, {})
        for key in images:
            self.inside(images, key, f"{where}images.")
        argv = self.value(data, "argv", where, list)
        if not all(isinstance(arg, str) for arg in argv):
            raise self.fail(f"{where}argv", "holds something that is not a string")
        vm = VMRecord(name=self.named(data, "name", where, _NAME, "a VM's name (letters, digits, _ and -)"),
                      address=address, pid=self.number(data, "pid", where, 2, _PID_MAX),
                      qmp=self.inside(data, "qmp", where), qmp_spare=self.inside(data, "qmp_spare", where),
                      serial=self.inside(data, "serial", where), log=self.inside(data, "log", where),
                      started_as=self.choice(data, "started_as", where, ROLES),
                      role=self.choice(data, "role", where, ROLES),
                      state=self.choice(data, "state", where, STATES, "running"),
                      qemu_version=self.value(data, "qemu_version", where, str, ""),
                      qemu_package=self.value(data, "qemu_package", where, str, ""),
                      images=dict(images), argv=list(argv), qmp_yank=self.inside(data, "qmp_yank", where, ""))
        own = f"unix:{install.qemu_path(Path(vm.qmp))},"
        if "-qmp" not in argv or argv.index("-qmp") + 1 == len(argv) or not vm.marker.startswith(own):
            raise self.fail(f"{where}argv", f"gives QEMU no -qmp {own}… (its own socket, which tells its process "
                                            "from another's)")
        return vm

    def helper(self, data: Any, net: NetPorts | None) -> HelperRecord:
        if not isinstance(data, dict) or set(data) != {"pid", "argv", "log"}:
            raise self.fail("helper", "is not a JSON object of pid, argv and log")
        argv = self.value(data, "argv", "helper.", list)
        expected = ["-m", "colotui.lab.traffic", str(self.root), str(net.tick) if net else ""]
        if len(argv) != 5 or not all(isinstance(arg, str) for arg in argv) or \
                [*argv[1:3], str(Path(argv[3]).resolve()) if "\0" not in argv[3] else "", argv[4]] != expected:
            raise self.fail("helper.argv", f"is {_shown(argv)}, not this lab's traffic helper")
        return HelperRecord(pid=self.number(data, "pid", "helper.", 2, _PID_MAX), argv=list(argv),
                            log=self.inside(data, "log", "helper."))

    def state(self, data: dict[str, Any]) -> LabState:
        lab_dir = self.value(data, "dir", "", str)
        if "\0" in lab_dir or Path(lab_dir).resolve() != self.root:
            raise self.fail("dir", f"is {_shown(lab_dir)}, not the directory it is in ({self.root})")
        install = self.install(self.value(data, "qemu", "", dict))
        old_guest = data.get("guest")  # labs made before the net guest: true or false
        guest = ("counter" if old_guest else "none") if isinstance(old_guest, bool) else \
            self.choice(data, "guest", "", GUESTS)
        net = self.value(data, "net", "", (dict, type(None)), None)
        if net is not None:
            if set(net) != {"tick", "service"}:
                raise self.fail("net", "is not a JSON object of tick and service")
            net = NetPorts(tick=self.number(net, "tick", "net.", 1, 65535),
                           service=self.number(net, "service", "net.", 1, 65535))
        helper = self.value(data, "helper", "", (dict, type(None)), None)
        vms = [self.vm(vm, i, install) for i, vm in enumerate(self.value(data, "vms", "", list))]
        names = [vm.name for vm in vms]
        if len(set(names)) != len(names):
            raise self.fail("vms", "name one VM twice")
        return LabState(dir=lab_dir, accel=self.choice(data, "accel", "", ACCELS), guest=guest,
                        disk_mb=self.number(data, "disk_mb", "", 1, _MAX_MB),
                        memory_mb=self.number(data, "memory_mb", "", 1, _MAX_MB),
                        ports=Ports(**self.table(data, "ports", Ports)), qemu=dict(data["qemu"]), vms=vms,
                        ids=Ids(**self.table(data, "ids", Ids)),
                        traffic=None if data.get("traffic") is None else self.choice(data, "traffic", "", TRAFFIC),
                        net=net, helper=None if helper is None else self.helper(helper, net))


def _shown(value: Any) -> str:
    """A value as the message shows it: short, and any control character escaped."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
