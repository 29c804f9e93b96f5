"""QEMU's version: one type for what the greeting, ``query-version`` and ``--version`` say."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class QemuVersion(NamedTuple):
    """Compares as a tuple (``version >= (9, 2, 0)``), prints as ``7.2.22``."""

    major: int
    minor: int
    micro: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.micro}"

    @classmethod
    def from_qmp(cls, qemu: Mapping[str, Any]) -> QemuVersion:
        """From the ``qemu`` member of the greeting or of ``query-version``."""
        return cls(int(qemu["major"]), int(qemu["minor"]), int(qemu["micro"]))

    @classmethod
    def search(cls, text: str) -> QemuVersion | None:
        """The first ``N.N.N`` in ``text`` (``qemu-system-x86_64 --version``, lab.json)."""
        match = _VERSION.search(text)
        return cls(int(match[1]), int(match[2]), int(match[3])) if match else None
