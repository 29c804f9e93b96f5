"""The hand-made COLO pair (tests/support/handmade.py: the test's command lines), each VM run by libvirtd as a
transient domain: what libvirt has elements for (CPU, memory) in the XML, the rest — COLO's chardevs,
filters, colo-compare, the quorum and replication drives, ``-incoming defer``, the spare and yank monitors —
in ``<qemu:commandline>``. colotui reaches each VM through libvirt (``qemu+unix:///system?socket=…&domain=``)
and yanks through its extra ``-qmp`` socket."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from colotui.lab.qemu import QemuInstall

from .handmade import HandPair, HandVM
from .libvirtd import Libvirtd, domain_xml

#: Options libvirt sets itself from the domain's XML (given twice, QEMU would refuse or take the last).
_LIBVIRT_SETS = {"-accel", "-cpu", "-m", "-smp", "-name"}



class LibvirtPair(HandPair):
    """A `HandPair` whose QEMUs libvirtd starts (system QEMU only: libvirt's emulator is /usr/bin's)."""

    def __init__(self, daemon: Libvirtd, directory: Path) -> None:
        super().__init__(QemuInstall(), directory)
        self.daemon = daemon
        self.starting: list[threading.Thread] = []
        self.errors: list[str] = []

    def domain(self, vm: HandVM) -> str:
        return f"{self.dir.name}-{vm.name}"

    def address(self, vm: HandVM) -> str:
        return f"{self.daemon.uri}&domain={self.domain(vm)}"

    def _spawn(self, vm: HandVM, argv: list[str]) -> None:
        """Define and start ``vm`` in libvirtd. A primary waits (its compare chardev has wait=on) until its
        secondary connects before its monitor greets, and libvirt waits for that: it starts in a thread."""
        import libvirt
        vm.argv = argv
        args = _without_libvirts(argv[1:])
        xml = domain_xml(self.domain(vm), args, self.memory_mb)
        flags = libvirt.VIR_DOMAIN_START_PAUSED if "-S" in args else 0  # else libvirt sends cont

        def create() -> None:
            conn = libvirt.open(self.daemon.uri)
            try:
                conn.createXML(xml, flags)
            except libvirt.libvirtError as exc:
                self.errors.append(f"{vm.name}: {exc}")
            finally:
                conn.close()

        thread = threading.Thread(target=create, name=f"create-{vm.name}", daemon=True)
        thread.start()
        self.starting.append(thread)
        deadline = time.monotonic() + 30
        while True:
            try:
                vm.pid = self.daemon.qemu_pid(self.domain(vm))
                break
            except (FileNotFoundError, ValueError):
                assert not self.errors and time.monotonic() < deadline, \
                    f"libvirt did not start {vm.name}: {self.errors}\n{self.daemon.log()}"
                time.sleep(0.02)
        vm.state = "running"
        self.vms.append(vm)

    def settled(self, timeout: float = 60) -> None:
        """Until libvirt has every domain started here up (its own monitor connected)."""
        for thread in self.starting:
            thread.join(timeout)
        self.starting.clear()
        assert not self.errors, self.errors


def _without_libvirts(args: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _LIBVIRT_SETS:
            skip = True
        else:
            kept.append(arg)
    return kept
