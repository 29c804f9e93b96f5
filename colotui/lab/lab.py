"""`colotui lab`: a real COLO pair of QEMUs on this machine's loopback.

``up`` starts a primary (127.0.0.1) and a secondary (127.0.0.2) with the
document's command lines and leaves them waiting for the startup procedure;
``kill`` and ``hang`` (SIGSTOP; ``cont`` undoes it) are the faults a failover
answers, at once or at a checkpoint's start (``strike``); ``respawn`` starts a
fresh secondary against the survivor so a resume procedure can run; ``down``
stops them all.
Every QEMU is tracked by PID in ``DIR/lab.json``; none is ever killed by name.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..pair import Endpoint
from ..qmp import Ok, QemuVersion, UnixAddress
from ..service.sessions import open_sessions
from ..topology import Ports
from . import process
from .chroot import RootMounts
from .cmdline import Machine, VMFiles
from .faults import Strike, strike_at_checkpoint
from .guest import boot_sector, write_raw_disk
from .netguest import TRAFFIC, image
from .qemu import INSTALL_HINT, QemuInstall, kvm_problem
from .state import GUESTS, HelperRecord, LabState, NetPorts, VMRecord

PRIMARY_ADDRESS = "127.0.0.1"
SECONDARY_ADDRESS = "127.0.0.2"
_UNIX_PATH_MAX = 107
_PORT_ATTEMPTS = 40
#: How long a SIGKILLed QEMU may take to be gone (it frees its memory first).
_KILL_WAIT = 5.0


@dataclass(frozen=True)
class Fault:
    """A VM signalled at a checkpoint's start (`Lab.strike`): which, on whose STOP, and what it did."""

    vm: VMRecord  # the one signalled
    watched: VMRecord  # the primary, whose STOP event began the checkpoint
    survivor: VMRecord  # the other VM, whose main loop was asked after the strike
    strike: Strike


def _free(address: str, port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _addresses_free(addresses: Iterable[str], ports: Iterable[int]) -> bool:
    return all(_free(address, port) for address in addresses for port in ports)


def choose_ports(base: int | None = None) -> Ports:
    """Six ports free on both lab addresses; random bases let two labs run at once."""
    addresses = (PRIMARY_ADDRESS, SECONDARY_ADDRESS)
    if base is not None:
        ports = Ports.from_base(base)
        if not (base > 0 and max(ports.all()) < 65536):
            raise UserError(f"base port {base} is out of range")
        if not _addresses_free(addresses, ports.all()):
            raise UserError(f"a port in {base + 1}..{base + 9} is taken on {' or '.join(addresses)}; "
                            "choose another --base-port")
        return ports
    for _ in range(_PORT_ATTEMPTS):
        ports = Ports.from_base(random.randrange(10000, 32000, 10))
        if _addresses_free(addresses, ports.all()):
            return ports
    raise UserError("found no free ports for the lab on 127.0.0.1/127.0.0.2")


def choose_net_ports() -> NetPorts:
    """The net guest's UDP ports: ticks on 127.0.0.1, the service on both lab addresses."""
    for _ in range(_PORT_ATTEMPTS):
        tick, service = random.sample(range(32000, 60000), 2)
        if _free(PRIMARY_ADDRESS, tick, socket.SOCK_DGRAM) and \
                all(_free(a, service, socket.SOCK_DGRAM) for a in (PRIMARY_ADDRESS, SECONDARY_ADDRESS)):
            return NetPorts(tick=tick, service=service)
    raise UserError("found no free UDP ports for the net guest on 127.0.0.1/127.0.0.2")


def _guest_code(state: LabState) -> bytes | None:
    if state.guest == "counter":
        return boot_sector()
    if state.guest == "net":
        assert state.net is not None and state.traffic is not None
        return image(state.traffic, state.net.tick)
    return None


def _log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return ""
    return " / ".join(text[-lines:])


def _run_tool(install: QemuInstall, tool: str, *args: str, what: str) -> None:
    try:
        out = subprocess.run(install.argv(tool, *args), capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise UserError(f"{tool} not found: install QEMU ({INSTALL_HINT})") from None
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip().splitlines()
        raise UserError(f"cannot create {what}: {detail[-1] if detail else f'{tool} exited {out.returncode}'}")


class _Images:
    """Disk images for lab VMs, each QEMU with its own copies (image locking forbids sharing)."""

    def __init__(self, install: QemuInstall, size_mb: int) -> None:
        self.install = install
        self.size = f"{size_mb}M"

    def blank(self, path: Path) -> None:
        _run_tool(self.install, self.install.img, "create", "-q", "-f", "qcow2",
                  self.install.qemu_path(path), self.size, what=str(path))

    def primary(self, files: VMFiles, guest: bytes | None) -> None:
        """The primary's disk: ``guest``'s first sectors, or blank."""
        if guest is None:
            self.blank(files.disk)
            return
        raw = files.dir / "guest.raw"
        write_raw_disk(raw, len(guest), guest)
        disk = self.install.qemu_path(files.disk)
        try:
            _run_tool(self.install, self.install.img, "convert", "-q", "-f", "raw", "-O", "qcow2",
                      self.install.qemu_path(raw), disk, what=str(files.disk))
        finally:
            raw.unlink(missing_ok=True)
        _run_tool(self.install, self.install.img, "resize", "-q", "-f", "qcow2", disk, self.size, what=str(files.disk))

    def secondary(self, files: VMFiles, base: Path | None) -> None:
        """Overlays plus the base: a copy of ``base``, or blank for a resync to fill."""
        if base is None:
            self.blank(files.disk)
        else:
            shutil.copyfile(base, files.disk)
        self.blank(files.hidden)
        self.blank(files.active)


async def _wait_ready(vms: list[VMRecord], timeout: float) -> None:
    """Until every VM greets on QMP; records its version. Fails fast if a QEMU exits.

    It asks on the spare monitor: lab.json names a VM before it is ready (so that its PID is known), and a
    console following the lab may take the VM's main monitor at once; a -qmp socket serves one client, and
    this check would wait behind it for a greeting that never comes."""
    endpoints = {vm.name: Endpoint(vm.name, UnixAddress(Path(vm.qmp_spare))) for vm in vms}
    async with open_sessions(endpoints, deadline=5.0, backoff=(0.05, 0.2)) as sessions:
        deadline = time.monotonic() + timeout
        pending = list(vms)
        while pending:
            for vm in list(pending):
                session = sessions[vm.name]
                if session.connected:
                    reply = await session.execute("query-version")
                    if isinstance(reply, Ok):
                        vm.qemu_version = str(QemuVersion.from_qmp(reply.value["qemu"]))
                        vm.qemu_package = reply.value.get("package", "").strip()
                        pending.remove(vm)
                elif not vm.is_alive():
                    tail = _log_tail(Path(vm.log)) or process.how_it_ended(vm.pid) or "no output"
                    raise UserError(f"{vm.name} QEMU exited at start: {tail}")
            if pending and time.monotonic() > deadline:
                names = ", ".join(vm.name for vm in pending)
                raise UserError(f"no QMP greeting from {names} within {timeout:g} s (see {pending[0].log})")
            await asyncio.sleep(0.05)


class Lab:
    """Operations on the lab in one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory).absolute()

    # -- queries ---------------------------------------------------------

    def state(self) -> LabState:
        state = LabState.load(self.dir)
        state.refresh()
        return state

    # -- up ----------------------------------------------------------------

    def up(self, *, install: QemuInstall | None = None, accel: str | None = None, guest: str = "counter",
           traffic: str | None = None, base_port: int | None = None, disk_mb: int = 64, memory_mb: int = 128,
           timeout: float = 30.0) -> LabState:
        if guest not in GUESTS:
            raise UserError(f"--guest is one of {', '.join(GUESTS)}, not {guest!r}")
        if traffic is not None and guest != "net":
            raise UserError("--traffic is for the net guest: add --guest net")
        if traffic is not None and traffic not in TRAFFIC:
            raise UserError(f"--traffic is one of {', '.join(TRAFFIC)}, not {traffic!r}")
        install = install or QemuInstall()
        self._check_free()
        install.check()
        version = str(install.version)
        accel = accel or self._default_accel()
        attempts = 1 if base_port is not None else 3
        for attempt in range(attempts):
            state = LabState(dir=str(self.dir), accel=accel, guest=guest, disk_mb=disk_mb, memory_mb=memory_mb,
                             ports=choose_ports(base_port),
                             traffic=(traffic or "same") if guest == "net" else None,
                             net=choose_net_ports() if guest == "net" else None,
                             qemu={"system": install.system, "prefix": list(install.prefix),
                                   "root": str(install.root) if install.root else None, "version": version})
            try:
                self._start_pair(state, install, timeout)
                return state
            except _PortRace:
                if attempt == attempts - 1:
                    self._release(install)
                    raise UserError("lab ports were taken by another program while starting; try again") from None
            except BaseException:
                self._release(install)
                raise
        raise AssertionError("unreachable")

    def _acquire(self, install: QemuInstall) -> None:
        if install.root is not None:
            RootMounts(install.root).acquire(self.dir)

    def _release(self, install: QemuInstall) -> None:
        if install.root is not None:
            RootMounts(install.root).release(self.dir)

    def _check_free(self) -> None:
        if (self.dir / "lab.json").exists():
            old = LabState.load(self.dir)
            old.refresh()
            if old.alive():
                pids = ", ".join(f"{vm.name} pid {vm.pid}" for vm in old.alive())
                raise UserError(f"{self.dir} is in use by a running lab ({pids}); "
                                f"run `colotui lab down --dir {self.dir}` first")
            if old.helper is not None:  # its QEMUs are gone: so is the point of its traffic helper
                process.stop(old.helper.pid, old.helper.marker)
            for vm in old.vms:
                shutil.rmtree(self.dir / vm.name, ignore_errors=True)
        elif self.dir.exists() and any(self.dir.iterdir()):
            raise UserError(f"{self.dir} is not empty and holds no lab; choose an empty or new --dir")
        self.dir.mkdir(parents=True, exist_ok=True)
        longest = self.dir / "secondary99" / "qmp-spare.sock"
        if len(str(longest)) > _UNIX_PATH_MAX:
            raise UserError(f"{self.dir} is too long a path for unix sockets ({len(str(longest))} > "
                            f"{_UNIX_PATH_MAX} bytes); use a shorter --dir")

    @staticmethod
    def _default_accel() -> str:
        problem = kvm_problem()
        if problem is not None:
            raise UserError(f"KVM is not usable ({problem}): COLO under TCG deadlocks at the first checkpoint "
                            "on QEMU 7.2. Pass --accel tcg to start the VMs anyway (QMP, filters and the "
                            "block graph work; COLO checkpoints will not)")
        return "kvm"

    def _start_pair(self, state: LabState, install: QemuInstall, timeout: float) -> None:
        machine = Machine(install, state.accel, state.memory_mb, state.net)
        images = _Images(install, state.disk_mb)
        topo = state.topology()  # the command lines take its ports and ids; addresses are given apart
        pfiles, sfiles = VMFiles(self.dir / "primary"), VMFiles(self.dir / "secondary")
        for files in (pfiles, sfiles):
            shutil.rmtree(files.dir, ignore_errors=True)
            files.dir.mkdir(parents=True)
        try:
            images.primary(pfiles, _guest_code(state))
            images.secondary(sfiles, base=pfiles.disk)
        except BaseException:  # leave the directory as reusable as we found it
            for files in (pfiles, sfiles):
                shutil.rmtree(files.dir, ignore_errors=True)
            raise
        self._acquire(install)
        primary = self._spawn(state, "primary", "primary", PRIMARY_ADDRESS, pfiles,
                              machine.primary("primary", pfiles, topo, PRIMARY_ADDRESS))
        secondary = self._spawn(state, "secondary", "secondary", SECONDARY_ADDRESS, sfiles,
                                machine.secondary("secondary", sfiles, topo, SECONDARY_ADDRESS, PRIMARY_ADDRESS))
        state.save()
        self._await_ready(state, [primary, secondary], timeout)
        if state.net is not None:
            self._start_traffic(state)

    def _start_traffic(self, state: LabState) -> None:
        """The host side of the net guest's traffic (`traffic.py`), tracked by PID beside the QEMUs."""
        assert state.net is not None
        log = self.dir / "traffic.log"
        argv = [sys.executable, "-m", "colotui.lab.traffic", str(self.dir), str(state.net.tick)]
        state.helper = HelperRecord(pid=process.spawn(argv, log), argv=argv, log=str(log))
        state.save()

    def _spawn(self, state: LabState, name: str, role: str, address: str, files: VMFiles,
               argv: list[str]) -> VMRecord:
        try:
            pid = process.spawn(argv, files.log)
        except FileNotFoundError:
            raise UserError(f"{argv[0]} not found: install QEMU ({INSTALL_HINT})") from None
        images = {"disk": str(files.disk)}
        if role == "secondary":
            images |= {"active": str(files.active), "hidden": str(files.hidden)}
        vm = VMRecord(name=name, address=address, pid=pid, qmp=str(files.qmp), qmp_spare=str(files.qmp_spare),
                      qmp_yank=str(files.qmp_yank),
                      serial=str(files.serial), log=str(files.log), started_as=role, role=role,
                      images=images, argv=argv)
        state.vms.append(vm)
        return vm

    def _await_ready(self, state: LabState, vms: list[VMRecord], timeout: float) -> None:
        """Wait for the new QEMUs; on any failure stop them, so nothing stray is left."""
        try:
            asyncio.run(_wait_ready(vms, timeout))
        except BaseException as exc:
            for vm in vms:
                process.stop(vm.pid, vm.marker, grace=2.0)
                vm.state = "exited"
            state.save()
            if isinstance(exc, UserError) and any("Address already in use" in _log_tail(Path(vm.log), 3)
                                                  for vm in vms):
                raise _PortRace() from exc
            raise
        state.save()

    # -- down / kill / respawn ---------------------------------------------

    def down(self) -> list[VMRecord]:
        """Stop every running QEMU of the lab (SIGTERM, then SIGKILL); returns those stopped."""
        state = self.state()
        stopped = []
        # hung VMs first: a peer hung mid-checkpoint wedges the other's main loop, which then acts on SIGTERM
        # only once the hung one is gone
        for vm in sorted(state.alive(), key=lambda vm: not vm.is_hung()):
            process.stop(vm.pid, vm.marker)
            vm.state = "stopped"
            stopped.append(vm)
        if state.helper is not None:
            process.stop(state.helper.pid, state.helper.marker)
        state.save()
        self._release(state.install())
        return stopped

    def kill(self, role: str) -> VMRecord:
        """SIGKILL the VM that plays ``role`` now: the fault a failover answers."""
        state = self.state()
        vm = self._running(state, role)
        process.stop(vm.pid, vm.marker, sig=9)
        vm.state = "killed"
        state.save()
        return vm

    def hang(self, role: str) -> VMRecord:
        """SIGSTOP the VM that plays ``role`` now: a hung host, which keeps its sockets and says nothing."""
        vm = self._running(self.state(), role)
        self._not_hung(vm, role)
        process.send(vm.pid, vm.marker, signal.SIGSTOP)
        return vm

    def cont(self, role: str) -> VMRecord:
        """SIGCONT the hung VM that plays ``role``."""
        vm = self._running(self.state(), role)
        if not vm.is_hung():
            raise UserError(f"{vm.name} (pid {vm.pid}, {role}) is not hung: nothing was sent")
        process.send(vm.pid, vm.marker, signal.SIGCONT)
        return vm

    def strike(self, role: str, sig: signal.Signals, *, until_wedged: bool = False, after_stop: float = 0.0,
               timeout: float = 5.0) -> Fault:
        """Signal the VM that plays ``role`` (SIGSTOP or SIGKILL) at the start of the pair's next checkpoint
        (``after_stop`` seconds after the primary's STOP event), through both VMs' spare monitors; see
        `strike_at_checkpoint`."""
        state = self.state()
        vm = self._running(state, role)
        other = "secondary" if role == "primary" else "primary"
        survivor = self._running(state, other, f" (a checkpoint needs both VMs: {other} is gone)")
        watched = vm if role == "primary" else survivor
        for each in (vm, survivor):
            self._not_hung(each, each.role, "no checkpoint will begin: ")
        struck = asyncio.run(strike_at_checkpoint(
            UnixAddress(Path(watched.qmp_spare)), vm.pid, sig, survivor=UnixAddress(Path(survivor.qmp_spare)),
            until_wedged=until_wedged, after_stop=after_stop, timeout=timeout))
        if sig is signal.SIGKILL:
            if not process.wait_gone(vm.pid, vm.marker, _KILL_WAIT):
                raise UserError(f"{vm.name} (pid {vm.pid}) still runs {_KILL_WAIT:g} s after SIGKILL")
            vm.state = "killed"
            state.save()
        return Fault(vm, watched, survivor, struck)

    def _running(self, state: LabState, role: str, why: str = "") -> VMRecord:
        vm = state.current(role)
        if vm is None or vm.state != "running":
            raise UserError(f"no running {role} in the lab at {self.dir}{why}")
        return vm

    def _not_hung(self, vm: VMRecord, role: str, why: str = "") -> None:
        if vm.is_hung():
            raise UserError(f"{why}{vm.name} (pid {vm.pid}, {role}) is hung already (SIGSTOP): "
                            f"`colotui lab cont {role} --dir {self.dir}` continues it; nothing was signalled")

    def respawn(self, timeout: float = 30.0) -> VMRecord:
        """Start a fresh secondary against the one surviving VM, which becomes the primary.

        The new secondary takes the dead side's address, blank overlays and a
        blank base of the same size: the resume procedure's resync fills it.
        """
        state = self.state()
        alive = state.alive()
        if len(alive) != 1:
            raise UserError("respawn needs exactly one surviving VM; "
                            + ("both are running: kill one first" if alive else "none is running: run lab up"))
        survivor = alive[0]
        dead_address = SECONDARY_ADDRESS if survivor.address == PRIMARY_ADDRESS else PRIMARY_ADDRESS
        count = sum(1 for vm in state.vms if vm.started_as == "secondary")
        name = f"secondary{count + 1}"
        install = state.install()
        machine = Machine(install, state.accel, state.memory_mb, state.net)
        files = VMFiles(self.dir / name)
        shutil.rmtree(files.dir, ignore_errors=True)
        files.dir.mkdir(parents=True)
        _Images(install, state.disk_mb).secondary(files, base=None)
        survivor.role = "primary"
        self._acquire(install)
        topo = state.topology()
        vm = self._spawn(state, name, "secondary", dead_address, files,
                         machine.secondary(name, files, topo, dead_address, survivor.address))
        state.save()
        self._await_ready(state, [vm], timeout)
        return vm


class _PortRace(Exception):
    """QEMU found a lab port taken between our check and its bind."""

