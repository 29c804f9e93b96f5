"""Which commands only read: queries never need a confirmation or a refresh afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_READ_ONLY = frozenset({"qom-list", "qom-get", "qom-list-types", "qom-list-properties", "device-list-properties",
                        "x-debug-query-block-graph", "qmp_capabilities"})


def is_read_only(command: str, arguments: Mapping[str, Any] | None = None) -> bool:
    """True for ``query-*`` and the other read-only commands, and for HMP ``info …``."""
    if command.startswith("query-") or command in _READ_ONLY:
        return True
    if command == "human-monitor-command":
        line = str((arguments or {}).get("command-line", "")).strip()
        return line == "info" or line.startswith("info ")
    return False
