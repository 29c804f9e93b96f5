"""Where QEMU lives and what this machine can run it with.

A `QemuInstall` may carry a command prefix (e.g. ``chroot /srv/trixie``) so a
second QEMU can be used beside the system one; paths handed to QEMU are then
translated into the prefix's root, while colotui keeps using host paths.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import UserError
from ..qmp.version import QemuVersion

INSTALL_HINT = "apt-get install -y qemu-system-x86 qemu-utils"
_KVM_GET_API_VERSION = 0xAE00


@dataclass(frozen=True)
class QemuInstall:
    """How to run ``qemu-system-x86_64``, ``qemu-img`` and ``qemu-io``."""

    prefix: tuple[str, ...] = ()
    root: Path | None = None  # host path of the filesystem root the prefix runs QEMU in
    system: str = "qemu-system-x86_64"
    img: str = "qemu-img"
    io: str = "qemu-io"

    def argv(self, tool: str, *args: str) -> list[str]:
        return [*self.prefix, tool, *args]

    def qemu_path(self, host_path: Path) -> str:
        """``host_path`` as QEMU sees it (inside the prefix's root, if any)."""
        path = Path(host_path).resolve()
        if self.root is None:
            return str(path)
        try:
            return "/" + str(path.relative_to(self.root.resolve()))
        except ValueError:
            raise UserError(f"{path} is outside {self.root}, where this QEMU runs: "
                            "put the lab directory inside it") from None

    def check(self) -> None:
        """Fail with a clear message unless the QEMU tools can be found."""
        if self.prefix:
            return  # the prefix (e.g. chroot) resolves the tools itself; version() will tell
        for tool in (self.system, self.img):
            if shutil.which(tool) is None:
                raise UserError(f"{tool} not found: install QEMU ({INSTALL_HINT})")

    @cached_property
    def version(self) -> QemuVersion:
        """The system emulator's version, from ``--version``."""
        self.check()
        try:
            out = subprocess.run(self.argv(self.system, "--version"), capture_output=True, text=True,
                                 timeout=30, check=False)
        except OSError as exc:
            raise UserError(f"cannot run {self.system}: {exc.strerror}") from None
        version = QemuVersion.search(out.stdout)
        if out.returncode != 0 or version is None:
            detail = (out.stderr or out.stdout).strip().splitlines()
            raise UserError(f"{self.system} --version failed: {detail[-1] if detail else out.returncode}")
        return version


def kvm_problem(device: str = "/dev/kvm") -> str | None:
    """None when KVM works here, else why not (for people)."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return f"{device} does not exist"
    except PermissionError:
        return f"no permission to open {device}"
    except OSError as exc:
        return f"cannot open {device}: {exc.strerror}"
    try:
        api = fcntl.ioctl(fd, _KVM_GET_API_VERSION)
    except OSError as exc:
        return f"{device} does not answer KVM_GET_API_VERSION: {exc.strerror}"
    finally:
        os.close(fd)
    return None if api == 12 else f"{device} has KVM API version {api}, expected 12"
