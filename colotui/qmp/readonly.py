"""Which commands only read: a query needs no confirmation, and no refresh of the views after it.

Everything else, commands colotui does not know included, is taken to change state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Commands that only read, besides ``query-*``, ``x-query-*`` and ``x-debug-query-*``.
READ_ONLY_COMMANDS = frozenset({
    "qom-get", "qom-list", "qom-list-types", "qom-list-properties", "device-list-properties",
    "trace-event-get-state", "x-debug-block-dirty-bitmap-sha256",
})
_READ_ONLY_PREFIXES = ("query-", "x-query-", "x-debug-query-")
#: HMP commands that only read: ``info …`` and ``help``.
_READ_ONLY_HMP = frozenset({"info", "i", "help", "?"})


def is_read_only(command: str, arguments: Mapping[str, Any] | None = None) -> bool:
    """True for queries and the other read-only commands, and for HMP ``info …`` / ``help``."""
    if command == "human-monitor-command":
        line = (arguments or {}).get("command-line")
        words = line.split() if isinstance(line, str) else []
        return bool(words) and words[0] in _READ_ONLY_HMP
    return command.startswith(_READ_ONLY_PREFIXES) or command in READ_ONLY_COMMANDS
