"""A private libvirtd for the tests, started and stopped by its PID (docs/libvirt.md says why each piece).

As root libvirtd runs only in system mode, so it runs in a mount namespace of its own: overlays on /var
and /run (what it writes lands in this directory), this directory's config bound on /etc/libvirt, and a
copy of /etc/passwd and /etc/group that knows the ``libvirt-qemu`` user its QEMU driver asks for. Nothing
outside the namespace changes. Its capabilities cache is kept under ~/.cache between runs (8 s cold).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from colotui.lab import process

DAEMON = "/usr/sbin/libvirtd"
#: The XML namespace of <qemu:commandline> (a name, not a place to fetch from).
QEMU_NAMESPACE = "http" + "://libvirt.org/schemas/domain/qemu/1.0"
_DOMAIN = """<domain type='kvm' xmlns:qemu='{ns}'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='custom' match='exact' check='partial'>
    <model fallback='forbid'>qemu64</model><feature policy='disable' name='svm'/>
  </cpu>
  <on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><video><model type='none'/></video>
    <controller type='usb' model='none'/><memballoon model='none'/></devices>
  <qemu:commandline>
{args}
  </qemu:commandline>
</domain>
"""
CACHE = Path.home() / ".cache" / "colotui" / "libvirt-var"

LIBVIRTD_CONF = """unix_sock_dir = "{run}"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:{log}"
"""
QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""


def domain_xml(name: str, args: list[str], memory_mb: int = 64) -> str:
    """A transient domain: a qemu64 CPU (an Intel host refuses its svm flag), no video, no balloon, no USB;
    everything else from ``args``, QEMU's own options in ``<qemu:commandline>``."""
    return _DOMAIN.format(ns=QEMU_NAMESPACE, name=name, memory=memory_mb,
                          args="\n".join(f"    <qemu:arg value={quoteattr(a)}/>" for a in args))


def missing() -> str | None:
    """Why a private libvirtd cannot run here, or None."""
    if os.geteuid() != 0:
        return "a private libvirtd needs root (mount namespaces)"
    for tool in (DAEMON, shutil.which("unshare"), shutil.which("taskset")):
        if tool is None or not Path(tool).exists():
            return f"missing {tool or 'unshare/taskset'} (scripts/setup --test installs libvirt-daemon)"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "libvirt-python is not installed (scripts/setup --test installs it)"
    return None


@dataclass
class Libvirtd:
    root: Path
    pid: int

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.root}/run/libvirt-sock"

    def qemu_pid(self, domain: str) -> int:
        """The domain's QEMU, from the pidfile libvirt wrote (under its /run overlay)."""
        pidfile = self.root / "ovl/run/upper/libvirt/qemu" / f"{domain}.pid"
        return int(pidfile.read_text().strip())

    @property
    def marker(self) -> str:
        """In its command line: what tells this daemon's PID from a reused one."""
        return str(self.root / "etc-libvirt")

    def log(self) -> str:
        path = self.root / "libvirtd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def start(root: Path, timeout: float = 60.0) -> Libvirtd:
    """libvirtd in ``root``, ready to take connections."""
    run, etc = root / "run", root / "etc-libvirt"
    for d in (run, etc, root / "ovl/run/upper", root / "ovl/run/work", CACHE / "upper", root / "ovl/var-work"):
        d.mkdir(parents=True, exist_ok=True)
    (etc / "libvirtd.conf").write_text(LIBVIRTD_CONF.format(run=run, log=root / "libvirtd.log"))
    (etc / "qemu.conf").write_text(QEMU_CONF)
    passwd, group = Path("/etc/passwd").read_text(), Path("/etc/group").read_text()
    if "\nlibvirt-qemu:" not in "\n" + passwd:
        passwd += "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n"
    if "\nlibvirt-qemu:" not in "\n" + group:
        group += "libvirt-qemu:x:64055:\n"
    (root / "passwd").write_text(passwd)
    (root / "group").write_text(group)
    # the overlay's work directory must be on the upper's file system, and be empty: one per run
    shutil.rmtree(CACHE / "work", ignore_errors=True)
    script = f"""set -e
mount -t overlay overlay -o lowerdir=/var,upperdir={CACHE}/upper,workdir={CACHE}/work /var
mount -t overlay overlay -o lowerdir=/run,upperdir={root}/ovl/run/upper,workdir={root}/ovl/run/work /run
mount --bind {etc} /etc/libvirt
mount --bind {root}/passwd /etc/passwd
mount --bind {root}/group /etc/group
exec taskset -c 0 {DAEMON} --config {etc}/libvirtd.conf
"""
    (CACHE / "work").mkdir(parents=True, exist_ok=True)
    with open(root / "daemon.out", "wb") as out:
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    daemon = Libvirtd(root, proc.pid)  # unshare and sh exec: this PID is libvirtd's
    deadline = time.monotonic() + timeout
    while not (run / "libvirt-sock").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(daemon)
            said = (root / "daemon.out").read_text(errors="replace").strip()
            raise RuntimeError(f"libvirtd did not start: {said or daemon.log()}")
        time.sleep(0.05)
    return daemon


def stop(daemon: Libvirtd) -> None:
    """The daemon, by its PID (its domains are the test's to stop, by theirs)."""
    process.stop(daemon.pid, daemon.marker, grace=10.0)
