"""QEMU command lines for a COLO primary and secondary.

They follow QEMU's COLO-FT document, adapted to current QEMU (colo-notes §2–3):
``top-id`` names the quorum, booleans are spelled ``=on``, chardev reconnect is
spelled by version, the secondary starts with ``-incoming defer`` (x-colo is
set before ``migrate-incoming``), the NIC has no option ROM, and every listener
is on the node's own loopback address, never 0.0.0.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..topology import Topology
from .netguest import SERVICE_PORT
from .qemu import QemuInstall
from .state import NetPorts


@dataclass(frozen=True)
class VMFiles:
    """Everything one lab QEMU writes or reads, under its own directory."""

    dir: Path

    @property
    def qmp(self) -> Path:
        return self.dir / "qmp.sock"

    @property
    def qmp_spare(self) -> Path:
        return self.dir / "qmp-spare.sock"

    @property
    def qmp_yank(self) -> Path:
        return self.dir / "qmp-yank.sock"

    @property
    def serial(self) -> Path:
        return self.dir / "serial.log"

    @property
    def log(self) -> Path:
        return self.dir / "qemu.log"

    @property
    def disk(self) -> Path:
        """The primary's image; on a secondary, its copy of it (``parent0``)."""
        return self.dir / "disk.qcow2"

    @property
    def active(self) -> Path:
        return self.dir / "active.qcow2"

    @property
    def hidden(self) -> Path:
        return self.dir / "hidden.qcow2"


@dataclass(frozen=True)
class Machine:
    """What both sides share: how QEMU runs and how big the guest is."""

    install: QemuInstall
    accel: str  # "kvm" or "tcg"
    memory_mb: int = 128
    net: NetPorts | None = None  # the net guest's: each VM forwards its service port on its own address

    def reconnect_option(self) -> str:
        """``reconnect`` was deprecated in 9.2 (removed in 10.2); 7.2 rejects ``reconnect-ms``."""
        return "reconnect-ms=1000" if self.install.version >= (9, 2, 0) else "reconnect=1"

    def common(self, name: str, files: VMFiles) -> list[str]:
        q = self.install.qemu_path
        cpu = "qemu64,kvmclock=on" if self.accel == "kvm" else "qemu64"
        return [
            "-accel", self.accel, "-cpu", cpu, "-m", str(self.memory_mb), "-smp", "1", "-name", name,
            "-qmp", f"unix:{q(files.qmp)},server=on,wait=off",
            "-qmp", f"unix:{q(files.qmp_spare)},server=on,wait=off",
            "-qmp", f"unix:{q(files.qmp_yank)},server=on,wait=off",
            "-display", "none", "-serial", f"file:{q(files.serial)}",
            "-device", "piix3-usb-uhci", "-device", "usb-tablet",
        ]

    def nic(self, topo: Topology, address: str) -> list[str]:
        i = topo.ids
        forward = f",hostfwd=udp:{address}:{self.net.service}-:{SERVICE_PORT}" if self.net else ""
        return ["-netdev", f"user,id={i.netdev}{forward}",
                "-device", f"rtl8139,id={i.nic},netdev={i.netdev},romfile="]

    def primary(self, name: str, files: VMFiles, topo: Topology, address: str) -> list[str]:
        """A primary on ``address``; it waits (``-S``) for the startup procedure."""
        i, p, q = topo.ids, topo.ports, self.install.qemu_path
        sock = f"socket,host={address}"
        return self.install.argv(self.install.system, *self.common(name, files), *self.nic(topo, address),
            "-chardev", f"{sock},id={i.mirror_chardev},port={p.mirror},server=on,wait=off",
            "-chardev", f"{sock},id={i.compare_chardev},port={p.compare},server=on,wait=on",
            "-chardev", f"{sock},id={i.compare_loop_server},port={p.compare_loop},server=on,wait=off",
            "-chardev", f"{sock},id={i.compare_loop_client},port={p.compare_loop}",
            "-chardev", f"{sock},id={i.compare_out_server},port={p.compare_out},server=on,wait=off",
            "-chardev", f"{sock},id={i.compare_out_client},port={p.compare_out}",
            "-object", f"filter-mirror,id={i.filter_mirror},netdev={i.netdev},queue=tx,outdev={i.mirror_chardev}",
            "-object", f"filter-redirector,netdev={i.netdev},id={i.filter_redirect_in},queue=rx,"
                       f"indev={i.compare_out_server}",
            "-object", f"filter-redirector,netdev={i.netdev},id={i.filter_redirect_out},queue=rx,"
                       f"outdev={i.compare_loop_server}",
            "-object", f"iothread,id={i.iothread}",
            "-object", f"colo-compare,id={i.compare},primary_in={i.compare_loop_client},"
                       f"secondary_in={i.compare_chardev},outdev={i.compare_out_client},iothread={i.iothread}",
            "-drive", f"if=ide,id={i.disk},driver=quorum,read-pattern=fifo,vote-threshold=1,"
                      f"children.0.file.filename={q(files.disk)},children.0.driver=qcow2",
            "-S",
        )

    def secondary(self, name: str, files: VMFiles, topo: Topology, address: str, primary_address: str) -> list[str]:
        """A secondary on ``address`` that follows the primary at ``primary_address``; it waits for
        ``migrate-incoming``."""
        i, p, q = topo.ids, topo.ports, self.install.qemu_path
        sock = f"socket,host={primary_address}"
        return self.install.argv(self.install.system, *self.common(name, files), *self.nic(topo, address),
            "-chardev", f"{sock},id={i.secondary_in},port={p.mirror},{self.reconnect_option()}",
            "-chardev", f"{sock},id={i.secondary_out},port={p.compare},{self.reconnect_option()}",
            "-object", f"filter-redirector,id={i.secondary_filter_in},netdev={i.netdev},queue=tx,"
                       f"indev={i.secondary_in}",
            "-object", f"filter-redirector,id={i.secondary_filter_out},netdev={i.netdev},queue=rx,"
                       f"outdev={i.secondary_out}",
            "-object", f"filter-rewriter,id={i.rewriter},netdev={i.netdev},queue=all",
            "-drive", f"if=none,id={i.parent},file.filename={q(files.disk)},driver=qcow2",
            "-drive", f"if=none,id={i.secondary_replication},driver=replication,mode=secondary,file.driver=qcow2,"
                      f"top-id={i.disk},file.file.filename={q(files.active)},file.backing.driver=qcow2,"
                      f"file.backing.file.filename={q(files.hidden)},file.backing.backing={i.parent}",
            "-drive", f"if=ide,id={i.disk},driver=quorum,read-pattern=fifo,vote-threshold=1,"
                      f"children.0={i.secondary_replication}",
            "-incoming", "defer",
        )
