"""A real COLO pair built from command lines written here, by hand, the way an operator would from
QEMU's COLO-FT document, but with ids and ports of its own and QMP over TCP.

The lab (``colotui.lab.cmdline``) builds its command lines from ``colotui.topology``; this file
does not use them, nor the document's ids: a test that drives this pair proves colotui works
with what an operator typed, not with what colotui itself started. Every QEMU is tracked and
stopped by PID, never by name.

Each VM has three monitors: the main one over TCP (``vm.qmp``, ``"127.0.0.1:PORT"``, for the
console), a second TCP one for out-of-band ``yank`` (``vm.yank``), and a unix socket spare
(``vm.spare``) for the test to watch with (``Session(name, UnixAddress(vm.spare))``).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from pathlib import Path

import pytest

from colotui.lab import QemuInstall, process
from colotui.lab.chroot import RootMounts
from colotui.lab.guest import write_raw_disk

from ..conftest import temp_root

PRIMARY_ADDRESS = "127.0.0.1"
SECONDARY_ADDRESS = "127.0.0.2"
ADDRESSES = (PRIMARY_ADDRESS, SECONDARY_ADDRESS)


@dataclass(frozen=True)
class HandIds:
    """Every id the command lines use, each unlike the COLO-FT document's (in the comments)."""

    netdev: str = "lan0"  # hn0
    nic: str = "nic0"  # e0
    disk: str = "vda-colo"  # colo-disk0: the quorum the guest sees, on both sides
    parent: str = "vda-base"  # parent0: the secondary's copy of the disk, also the NBD export
    secondary_replication: str = "vda-repl"  # childs0
    mirror_chardev: str = "mir-out"  # mirror0
    compare_chardev: str = "cmp-sec"  # compare1
    compare_loop_server: str = "cmp-pri"  # compare0
    compare_loop_client: str = "cmp-pri-c"  # compare0-0
    compare_out_server: str = "cmp-rel"  # compare_out
    compare_out_client: str = "cmp-rel-c"  # compare_out0
    secondary_in: str = "sec-in"  # red0
    secondary_out: str = "sec-out"  # red1
    filter_mirror: str = "fmir"  # m0
    filter_redirect_in: str = "frel"  # redire0
    filter_redirect_out: str = "fpri"  # redire1
    secondary_filter_in: str = "sfin"  # f1
    secondary_filter_out: str = "sfout"  # f2
    rewriter: str = "srew"  # rew0
    iothread: str = "cmp-io"  # iothread1
    compare: str = "cmp0"  # comp0


@dataclass(frozen=True)
class HandPorts:
    """TCP ports, each free on both loopback addresses when chosen (a survivor at either address
    listens on mirror/compare; a new secondary at either takes migration/nbd)."""

    mirror: int
    compare: int
    compare_loop: int
    compare_out: int
    migration: int
    nbd: int
    primary_qmp: int
    primary_yank: int
    secondary_qmp: int
    secondary_yank: int

    def all(self) -> list[int]:
        return list(astuple(self))


def _free(port: int, addresses: tuple[str, ...] = ADDRESSES) -> bool:
    for address in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def free_ports(count: int, avoid: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """``count`` distinct random ports free on 127.0.0.1 and 127.0.0.2, none in ``avoid``
    (below the kernel's ephemeral range, so outgoing connections do not take them)."""
    chosen: list[int] = []
    for _ in range(count * 50):
        port = random.randrange(12000, 32000)
        if port not in avoid and port not in chosen and _free(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"found no {count} free ports on {' and '.join(ADDRESSES)}")


def choose_ports() -> HandPorts:
    return HandPorts(*free_ports(10))


@dataclass
class HandVM:
    """One QEMU of the pair."""

    name: str
    role: str  # what it plays now: "primary" or "secondary" (a failover's survivor becomes "primary")
    address: str  # its data-plane (COLO traffic) address
    dir: Path
    qmp: str  # "127.0.0.1:PORT": the main monitor, for the console
    yank: str  # "127.0.0.1:PORT": the second monitor, for out-of-band yank
    marker: str  # in its command line only: checked before any signal
    argv: list[str] = field(default_factory=list)
    pid: int = 0
    state: str = "running"  # running | killed | exited

    @property
    def spare(self) -> Path:
        """The test's own monitor (unix socket, host path)."""
        return self.dir / "spare.sock"

    @property
    def serial(self) -> Path:
        return self.dir / "serial.log"

    @property
    def log(self) -> Path:
        return self.dir / "qemu.log"

    @property
    def disk(self) -> Path:
        """The primary's image; on a secondary, its copy (the parent drive)."""
        return self.dir / "disk.qcow2"

    @property
    def active(self) -> Path:
        return self.dir / "active.qcow2"

    @property
    def hidden(self) -> Path:
        return self.dir / "hidden.qcow2"

    def is_alive(self) -> bool:
        return process.alive(self.pid, self.marker)


class _PortTaken(Exception):
    """A port was taken between choosing it and QEMU binding it."""


class HandPair:
    """A primary (127.0.0.1) and a secondary (127.0.0.2) from hand-written command lines."""

    def __init__(self, install: QemuInstall, directory: Path, *, accel: str = "kvm", memory_mb: int = 128,
                 disk_mb: int = 64, guest: bool = True, ids: HandIds | None = None) -> None:
        self.install = install
        self.dir = Path(directory)
        self.accel = accel
        self.memory_mb = memory_mb
        self.disk_mb = disk_mb
        self.guest = guest
        self.ids = ids or HandIds()
        self.ports: HandPorts = choose_ports()
        self.vms: list[HandVM] = []
        self._mounted = False

    # -- queries -----------------------------------------------------------

    @property
    def primary(self) -> HandVM:
        return self.current("primary")

    @property
    def secondary(self) -> HandVM:
        return self.current("secondary")

    def current(self, role: str) -> HandVM:
        """The VM that plays ``role``: the running one, else the one that played it last."""
        playing = [vm for vm in self.vms if vm.role == role]
        running = [vm for vm in playing if vm.state == "running" and vm.is_alive()]
        chosen = running or playing
        if not chosen:
            raise LookupError(f"no VM has played {role}")
        return chosen[-1]

    def alive(self) -> list[HandVM]:
        return [vm for vm in self.vms if vm.state == "running" and vm.is_alive()]

    def unused_port(self) -> int:
        """A port free on both addresses that this pair does not use (for a deliberately wrong one)."""
        return free_ports(1, self._taken())[0]

    def _taken(self) -> set[int]:
        taken = set(self.ports.all())
        for vm in self.vms:
            taken |= {int(vm.qmp.rsplit(":", 1)[1]), int(vm.yank.rsplit(":", 1)[1])}
        return taken

    # -- command lines -------------------------------------------------------

    def _reconnect(self) -> str:
        """``reconnect`` was deprecated in 9.2; 7.2 does not know ``reconnect-ms``."""
        return "reconnect-ms=1000" if self.install.version >= (9, 2, 0) else "reconnect=1"

    def _common(self, vm: HandVM) -> list[str]:
        q = self.install.qemu_path
        cpu = "qemu64,kvmclock=on" if self.accel == "kvm" else "qemu64"
        i = self.ids
        return [
            "-accel", self.accel, "-cpu", cpu, "-m", str(self.memory_mb), "-smp", "1", "-name", vm.name,
            "-qmp", f"unix:{q(vm.spare)},server=on,wait=off",
            "-qmp", f"tcp:{vm.qmp},server=on,wait=off",
            "-qmp", f"tcp:{vm.yank},server=on,wait=off",
            "-display", "none", "-serial", f"file:{q(vm.serial)}",
            "-device", "piix3-usb-uhci", "-device", "usb-tablet",
            "-netdev", f"user,id={i.netdev}",
            "-device", f"rtl8139,id={i.nic},netdev={i.netdev},romfile=",
        ]

    def primary_argv(self, vm: HandVM) -> list[str]:
        """The document's primary: mirror, compare and its two local loops, the quorum over the disk."""
        i, p, a, q = self.ids, self.ports, vm.address, self.install.qemu_path
        return self.install.argv(self.install.system, *self._common(vm),
            "-chardev", f"socket,id={i.mirror_chardev},host={a},port={p.mirror},server=on,wait=off",
            "-chardev", f"socket,id={i.compare_chardev},host={a},port={p.compare},server=on,wait=on",
            "-chardev", f"socket,id={i.compare_loop_server},host={a},port={p.compare_loop},server=on,wait=off",
            "-chardev", f"socket,id={i.compare_loop_client},host={a},port={p.compare_loop}",
            "-chardev", f"socket,id={i.compare_out_server},host={a},port={p.compare_out},server=on,wait=off",
            "-chardev", f"socket,id={i.compare_out_client},host={a},port={p.compare_out}",
            "-object", f"filter-mirror,id={i.filter_mirror},netdev={i.netdev},queue=tx,outdev={i.mirror_chardev}",
            "-object", f"filter-redirector,netdev={i.netdev},id={i.filter_redirect_in},queue=rx,"
                       f"indev={i.compare_out_server}",
            "-object", f"filter-redirector,netdev={i.netdev},id={i.filter_redirect_out},queue=rx,"
                       f"outdev={i.compare_loop_server}",
            "-object", f"iothread,id={i.iothread}",
            "-object", f"colo-compare,id={i.compare},primary_in={i.compare_loop_client},"
                       f"secondary_in={i.compare_chardev},outdev={i.compare_out_client},iothread={i.iothread}",
            "-drive", f"if=ide,id={i.disk},driver=quorum,read-pattern=fifo,vote-threshold=1,"
                      f"children.0.file.filename={q(vm.disk)},children.0.driver=qcow2",
            "-S",
        )  # fmt: skip

    def secondary_argv(self, vm: HandVM, primary_address: str, *, secondary_in_port: int | None = None,
                       omit_secondary_filter_out: bool = False, incoming: str = "defer") -> list[str]:
        """The document's secondary, following the primary at ``primary_address``."""
        i, p, q, r = self.ids, self.ports, self.install.qemu_path, self._reconnect()
        in_port = p.mirror if secondary_in_port is None else secondary_in_port
        filter_out = [] if omit_secondary_filter_out else [
            "-object", f"filter-redirector,id={i.secondary_filter_out},netdev={i.netdev},queue=rx,"
                       f"outdev={i.secondary_out}"]
        if incoming == "defer":
            incoming_uri = "defer"
        elif incoming == "tcp":
            incoming_uri = f"tcp:{vm.address}:{p.migration}"
        else:
            raise ValueError(f"incoming must be 'defer' or 'tcp', not {incoming!r}")
        return self.install.argv(self.install.system, *self._common(vm),
            "-chardev", f"socket,id={i.secondary_in},host={primary_address},port={in_port},{r}",
            "-chardev", f"socket,id={i.secondary_out},host={primary_address},port={p.compare},{r}",
            "-object", f"filter-redirector,id={i.secondary_filter_in},netdev={i.netdev},queue=tx,"
                       f"indev={i.secondary_in}",
            *filter_out,
            "-object", f"filter-rewriter,id={i.rewriter},netdev={i.netdev},queue=all",
            "-drive", f"if=none,id={i.parent},file.filename={q(vm.disk)},driver=qcow2",
            "-drive", f"if=none,id={i.secondary_replication},driver=replication,mode=secondary,"
                      f"file.driver=qcow2,top-id={i.disk},file.file.filename={q(vm.active)},"
                      f"file.backing.driver=qcow2,file.backing.file.filename={q(vm.hidden)},"
                      f"file.backing.backing={i.parent}",
            "-drive", f"if=ide,id={i.disk},driver=quorum,read-pattern=fifo,vote-threshold=1,"
                      f"children.0={i.secondary_replication}",
            "-incoming", incoming_uri,
        )  # fmt: skip

    # -- images ----------------------------------------------------------------

    def _img(self, *args: str) -> None:
        out = subprocess.run(self.install.argv(self.install.img, *args), capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, f"qemu-img {' '.join(args)}: {(out.stderr or out.stdout).strip()}"

    def _blank(self, path: Path) -> None:
        self._img("create", "-q", "-f", "qcow2", self.install.qemu_path(path), f"{self.disk_mb}M")

    def _primary_images(self, vm: HandVM) -> None:
        raw = vm.dir / "guest.raw"
        if self.guest:
            write_raw_disk(raw, self.disk_mb << 20)
        else:
            with raw.open("wb") as f:
                f.truncate(self.disk_mb << 20)
        try:
            self._img("convert", "-q", "-f", "raw", "-O", "qcow2", self.install.qemu_path(raw),
                      self.install.qemu_path(vm.disk))
        finally:
            raw.unlink(missing_ok=True)

    def _secondary_images(self, vm: HandVM, base: Path | None) -> None:
        """A copy of ``base`` (a first start, like the document's copied image) or a blank disk of the
        same size (a new secondary, for the resume's resync to fill); fresh overlays either way."""
        if base is None:
            self._blank(vm.disk)
        else:
            shutil.copyfile(base, vm.disk)
        self._blank(vm.hidden)
        self._blank(vm.active)

    # -- starting --------------------------------------------------------------

    def _new_vm(self, name: str, role: str, address: str, qmp_port: int, yank_port: int) -> HandVM:
        directory = self.dir / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        vm = HandVM(name=name, role=role, address=address, dir=directory, qmp=f"{address}:{qmp_port}",
                    yank=f"{address}:{yank_port}", marker="", state="new")
        vm.marker = self.install.qemu_path(vm.spare)
        return vm

    def _mount(self) -> None:
        """QEMU in a root needs /proc and /dev bound there (shared with labs, by registration)."""
        if self.install.root is not None:
            RootMounts(self.install.root).acquire(self.dir)
            self._mounted = True

    def _spawn(self, vm: HandVM, argv: list[str]) -> None:
        vm.argv = argv
        vm.pid = process.spawn(argv, vm.log)
        vm.state = "running"
        self.vms.append(vm)

    def start(self, *, secondary_in_port: int | None = None, omit_secondary_filter_out: bool = False,
              incoming: str = "defer", timeout: float = 30.0) -> HandPair:
        """Make the images, start the primary, then the secondary, and wait until both greet on QMP.

        Deliberate faults, for tests that must find them: ``secondary_in_port`` points the secondary's
        mirror input at another port (it keeps reconnecting there, QEMU runs); ``omit_secondary_filter_out``
        leaves out the secondary's rx redirector; ``incoming="tcp"`` starts the secondary listening for
        the migration at once (``-incoming tcp:127.0.0.2:PORT``) instead of ``-incoming defer``.
        """
        assert not self.vms, "this pair has started already"
        for attempt in range(3):
            try:
                self._start(secondary_in_port, omit_secondary_filter_out, incoming, timeout)
                return self
            except _PortTaken:
                if attempt == 2:
                    raise AssertionError("the pair's ports were taken while it started, three times") from None
                self.ports = choose_ports()
                self.vms.clear()
        raise AssertionError("unreachable")

    def _start(self, secondary_in_port: int | None, omit_secondary_filter_out: bool, incoming: str,
               timeout: float) -> None:
        p = self.ports
        primary = self._new_vm("primary", "primary", PRIMARY_ADDRESS, p.primary_qmp, p.primary_yank)
        secondary = self._new_vm("secondary", "secondary", SECONDARY_ADDRESS, p.secondary_qmp, p.secondary_yank)
        self._primary_images(primary)
        self._secondary_images(secondary, base=primary.disk)
        self._mount()
        # the primary's compare chardev waits (wait=on) for the secondary: its monitors greet only after.
        # The secondary starts once the primary listens there, or its chardevs retry only a second later.
        self._spawn(primary, self.primary_argv(primary))
        self._await_listening(primary, p.compare, timeout)
        self._spawn(secondary, self.secondary_argv(secondary, primary.address, secondary_in_port=secondary_in_port,
                                                   omit_secondary_filter_out=omit_secondary_filter_out,
                                                   incoming=incoming))
        self._await_greetings([primary, secondary], timeout)

    def start_new_secondary(self, timeout: float = 30.0) -> HandVM:
        """A fresh secondary against the one surviving VM, which now plays the primary: at the dead VM's
        address, a blank disk of the same size, new overlays and QMP ports, the same ids, ``-incoming defer``.
        Its chardevs connect to the survivor's address on the same mirror/compare port numbers."""
        alive = self.alive()
        assert len(alive) == 1, f"a new secondary needs exactly one surviving VM, not {[vm.name for vm in alive]}"
        survivor = alive[0]
        survivor.role = "primary"
        address = SECONDARY_ADDRESS if survivor.address == PRIMARY_ADDRESS else PRIMARY_ADDRESS
        count = sum(1 for vm in self.vms if vm.name.startswith("secondary"))
        qmp_port, yank_port = free_ports(2, self._taken())
        vm = self._new_vm(f"secondary{count + 1}", "secondary", address, qmp_port, yank_port)
        self._secondary_images(vm, base=None)
        self._mount()
        self._spawn(vm, self.secondary_argv(vm, survivor.address))
        self._await_greetings([vm], timeout)
        return vm

    def _await_listening(self, vm: HandVM, port: int, timeout: float) -> None:
        """Until ``vm`` listens on ``port`` at its address (read from /proc/net/tcp: connecting would
        take the one client a chardev accepts)."""
        deadline = time.monotonic() + timeout
        while not _listening(vm.address, port):
            if not vm.is_alive():
                self._await_greetings([vm], timeout)  # raises, saying how it ended
            if time.monotonic() > deadline:
                self._stop(vm, signal.SIGKILL)
                vm.state = "exited"
                raise AssertionError(f"{vm.name} did not listen on {vm.address}:{port} within {timeout:g} s")
            time.sleep(0.01)

    def _await_greetings(self, vms: list[HandVM], timeout: float) -> None:
        """Until each VM's spare monitor greets; on failure, stop them and say why."""
        deadline = time.monotonic() + timeout
        pending = list(vms)
        try:
            while pending:
                for vm in list(pending):
                    if _greets(vm.spare):
                        pending.remove(vm)
                    elif not vm.is_alive():
                        vm.state = "exited"
                        log = vm.log.read_text(errors="replace").strip()
                        if "Address already in use" in log:
                            raise _PortTaken()
                        raise AssertionError(f"{vm.name} QEMU {process.how_it_ended(vm.pid)} at start: {log}")
                if pending and time.monotonic() > deadline:
                    raise AssertionError(f"no QMP greeting from {[vm.name for vm in pending]} within {timeout:g} s")
                time.sleep(0.05)
        except BaseException:
            for vm in vms:
                self._stop(vm, signal.SIGKILL)
                vm.state = "exited"
            raise

    # -- faults ------------------------------------------------------------------

    def _stop(self, vm: HandVM, sig: int) -> None:
        if vm.pid and process.alive(vm.pid, vm.marker):
            if sig != signal.SIGKILL:
                os.kill(vm.pid, signal.SIGCONT)  # a stopped QEMU would not act on another signal
            process.stop(vm.pid, vm.marker, sig=sig, grace=5.0)

    def kill(self, role: str, sig: int = signal.SIGKILL) -> HandVM:
        """Signal the VM that plays ``role`` (SIGKILL: the fault a failover answers) and wait until it is gone."""
        vm = self.current(role)
        assert vm.state == "running" and vm.is_alive(), f"{vm.name} is not running"
        self._stop(vm, sig)
        vm.state = "killed"
        return vm

    def stop(self, role: str) -> HandVM:
        """SIGSTOP: a hung host that keeps its sockets and says nothing."""
        vm = self.current(role)
        assert vm.is_alive(), f"{vm.name} is not running"
        os.kill(vm.pid, signal.SIGSTOP)
        return vm

    def cont(self, role: str) -> HandVM:
        vm = self.current(role)
        if vm.is_alive():
            os.kill(vm.pid, signal.SIGCONT)
        return vm

    def close(self) -> None:
        """Stop every QEMU this pair started, by PID; unbind the root's mounts if this pair bound them."""
        for vm in self.vms:
            self._stop(vm, signal.SIGKILL)
            if vm.state == "running":
                vm.state = "exited"
        if self._mounted and self.install.root is not None:
            RootMounts(self.install.root).release(self.dir)
            self._mounted = False


def _listening(address: str, port: int) -> bool:
    local = f"{struct.unpack('<I', socket.inet_aton(address))[0]:08X}:{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        return any(f[1] == local and f[3] == "0A" for f in (line.split() for line in table))


def _greets(path: Path) -> bool:
    """Does the QMP monitor on unix socket ``path`` send its greeting? (Connects and goes: one client
    at a time per monitor, so it must not stay.)"""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(path))
            data = b""
            while b"\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
        except OSError:
            return False
    return b'"QMP"' in data


@pytest.fixture
def hand_pair(qemu: QemuInstall) -> Iterator[HandPair]:
    """An unstarted `HandPair` in its own short directory; every QEMU it starts is stopped afterwards."""
    directory = temp_root(qemu)
    pair = HandPair(qemu, directory)
    try:
        yield pair
    finally:
        pair.close()
        shutil.rmtree(directory, ignore_errors=True)
