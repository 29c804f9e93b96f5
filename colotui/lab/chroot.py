"""Running QEMU from another Debian root (``chroot ROOT``), with /proc and /dev bound only while needed.

QEMU in the root needs /dev/kvm and /proc. Every lab that runs QEMU from a root
registers itself; the first one binds /proc and /dev into it, the last one to
go down unbinds them, so nothing stays mounted after the QEMUs stop. A lab that
vanished without going down (its QEMUs are all gone) no longer counts.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError
from ..files import loads, read_regular

_BINDS = ("proc", "dev")
_GRACE = 120.0  # seconds a lab counts as a user before its QEMUs must be seen running
_MAX_USERS_SIZE = 2**20  # the users file: a line per lab that uses the root


def _mounted(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0


class RootMounts:
    """The bind mounts of one root, shared by the labs that use it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._users = self.root / "run" / "colotui-users.json"

    @contextmanager
    def _locked(self) -> Iterator[dict[str, float]]:
        """The registered labs (directory → when registered), pruned of those long gone."""
        self._users.parent.mkdir(parents=True, exist_ok=True)
        with (self.root / "run" / "colotui-users.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            now = time.time()
            users = {u: t for u, t in _read_users(self._users).items() if now - t < _GRACE or _still_running(Path(u))}
            yield users
            self._users.write_text(json.dumps(users))

    def acquire(self, user: Path) -> None:
        """Bind /proc and /dev into the root (if not yet) for the lab in ``user``."""
        with self._locked() as users:
            for name in _BINDS:
                target = self.root / name
                if not _mounted(target):
                    out = subprocess.run(["mount", "--bind", f"/{name}", str(target)], capture_output=True, text=True)
                    if out.returncode != 0:
                        raise UserError(f"cannot bind /{name} into {self.root}: {out.stderr.strip()} "
                                        "(QEMU from a root needs /dev/kvm and /proc; run as root)")
            users[str(user)] = time.time()

    def release(self, user: Path) -> None:
        """The lab in ``user`` is done; unbind when no other lab needs the root."""
        with self._locked() as users:
            users.pop(str(user), None)
            if not users:
                for name in reversed(_BINDS):
                    _unmount(self.root / name)


def _read_users(path: Path) -> dict[str, float]:
    """The registered labs; a file that is damaged (or not ours) counts none (each lab's QEMUs are looked at
    again by PID, so nothing still running is unbound)."""
    try:
        data = loads(read_regular(path, _MAX_USERS_SIZE).decode("utf-8"))
    except (OSError, UserError, ValueError):  # none yet, or damaged
        return {}
    if not isinstance(data, dict):
        return {}
    return {user: float(t) for user, t in data.items()
            if isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= time.time() + _GRACE
            and user.startswith("/") and "\0" not in user}


def _unmount(target: Path, attempts: int = 50) -> None:
    """Unmount, retrying while the QEMUs that just exited still let go of it."""
    for _ in range(attempts):
        if not _mounted(target):
            return
        if subprocess.run(["umount", str(target)], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise UserError(f"{target} is still mounted and busy; unmount it with `umount {target}`")


def _still_running(lab_dir: Path) -> bool:
    """Does the lab in ``lab_dir`` still run a QEMU?"""
    from .state import LabState

    try:
        state = LabState.load(lab_dir)
    except UserError:
        return False
    state.refresh()
    return bool(state.alive())
