"""Reading TOML files people write by hand, with errors that point at a line.

``tomllib`` reports syntax errors with a position but forgets positions once
parsed; `Locator` finds them again (the header of the N-th ``[[table]]``, the
line of a key inside it) so a semantic error (an unknown field, a bad value)
can name its file and line too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


class FileError(UserError):
    """A problem in a file, shown as ``path:line: reason``."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = Path(path), line, reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")


@dataclass
class Locator:
    """Finds where things are in one TOML text."""

    path: Path
    lines: list[str]

    def header(self, table: str, index: int = 0) -> int | None:
        """Line (1-based) of the ``index``-th ``[table]`` / ``[[table]]`` header."""
        seen = -1
        for number, line in enumerate(self.lines, 1):
            match = _HEADER.match(line)
            if match and match[1] == table:
                seen += 1
                if seen == index:
                    return number
        return None

    def key(self, key: str, table: str | None = None, index: int = 0) -> int | None:
        """Line of ``key = …`` in the given table occurrence (or at top level, where a ``[key]``
        table header counts too)."""
        if table is None:
            found = self._key_from(key, 0)
            return found if found is not None else self.header(key)
        found = self.header(table, index)
        if found is None:
            return None
        return self._key_from(key, found)

    def _key_from(self, key: str, start: int) -> int | None:
        pattern = re.compile(rf'^\s*("?){re.escape(key)}\1\s*=')
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if _HEADER.match(line):  # a table's own keys all come before the next header
                return None
            if pattern.match(line):
                return number
        return None

    def error(self, reason: str, line: int | None) -> FileError:
        return FileError(self.path, line, reason)


def load_toml(path: Path) -> tuple[dict[str, Any], Locator]:
    """Parse ``path``; a syntax error becomes a `FileError` with its line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FileError(path, None, f"cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.search(str(exc))
        reason = _TOML_POSITION.sub("", str(exc)).strip()
        raise FileError(path, int(match[1]) if match else None, f"not valid TOML: {reason}") from None
    return data, Locator(Path(path), text.splitlines())


def dump_flat(data: dict[str, Any]) -> str:
    """TOML for a dict of scalars and one level of tables (enough for a topology)."""
    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'

    def key(name: str) -> str:
        return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else scalar(name)

    top = [f"{key(k)} = {scalar(v)}" for k, v in data.items() if not isinstance(v, dict)]
    tables = [f"\n[{key(k)}]\n" + "\n".join(f"{key(ik)} = {scalar(iv)}" for ik, iv in v.items())
              for k, v in data.items() if isinstance(v, dict)]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"
