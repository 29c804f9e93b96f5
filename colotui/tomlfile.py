"""Reading TOML files people write by hand, with errors that point at a line.

``tomllib`` reports syntax errors with a position but forgets positions once
parsed; `Locator` finds them again (the header of the N-th ``[[table]]``, the
line of a key inside it) so a semantic error (an unknown field, a bad value)
can name its file and line too.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FileError as FileError  # raised here; callers import it from here too
from .files import read_regular, too_deep

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
#: The largest file read (a keymap, a scenario, the config, a topology: a few KiB each).
MAX_SIZE = 2**20
#: Deeper tables and arrays than this are in no such file (a scenario's arguments nest a few levels).
MAX_DEPTH = 32


@dataclass
class Locator:
    """Finds where things are in one TOML text."""

    path: Path
    lines: list[str]

    def __post_init__(self) -> None:
        self._headers: dict[str, list[int]] = {}  # table → the lines of its headers, in order
        for number, line in enumerate(self.lines, 1):
            match = _HEADER.match(line)
            if match:
                self._headers.setdefault(match[1], []).append(number)
        self._header_lines = sorted(n for found in self._headers.values() for n in found)

    def header(self, table: str, index: int = 0) -> int | None:
        """Line (1-based) of the ``index``-th ``[table]`` / ``[[table]]`` header."""
        found = self._headers.get(table, [])
        return found[index] if 0 <= index < len(found) else None

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
        """The line of ``key =`` (or ``"key" =``) after line ``start``, before the next header."""
        following = bisect.bisect_right(self._header_lines, start)  # a table's own keys come before the next header
        end = self._header_lines[following] - 1 if following < len(self._header_lines) else len(self.lines)
        for number in range(start + 1, end + 1):
            line = self.lines[number - 1].lstrip()
            for spelled in (key, f'"{key}"'):
                if line.startswith(spelled) and line[len(spelled):].lstrip().startswith("="):
                    return number
        return None

    def error(self, reason: str, line: int | None) -> FileError:
        return FileError(self.path, line, reason)


def load_toml(path: Path) -> tuple[dict[str, Any], Locator]:
    """Parse ``path``; anything wrong with it (not a regular file, too big, not UTF-8, a syntax error, nesting
    too deep) becomes a `FileError` with its line where one can be told."""
    try:
        raw = read_regular(path, MAX_SIZE)
    except OSError as exc:
        raise FileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise FileError(path, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column})") from None
    lines = text.split("\n")  # as tomllib counts them
    long_key = _long_key_line(lines)
    if long_key is not None:  # tomllib takes time in the square of a key's parts: 500,000 of them never end
        raise FileError(path, long_key, f"a key of more than {MAX_DEPTH} dotted parts: refused")
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise FileError(path, _deep_line(lines), "not valid TOML: nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError, and what tomllib lets through (an integer of 5000 digits)
        match = _TOML_POSITION.search(str(exc))
        reason = _TOML_POSITION.sub("", str(exc)).strip()
        raise FileError(path, int(match[1]) if match else None, f"not valid TOML: {reason}") from None
    if too_deep(data, MAX_DEPTH):
        raise FileError(path, _deep_line(lines), f"nested deeper than {MAX_DEPTH} levels: refused")
    return data, Locator(Path(path), lines)


def _long_key_line(lines: list[str]) -> int | None:
    """The first line whose key (before ``=``, or a ``[table]`` header) has more than `MAX_DEPTH` dots
    outside quotes."""
    for number, line in enumerate(lines, 1):
        equals = line.find("=")
        key = line[:equals] if equals >= 0 else line if line.lstrip().startswith("[") else ""
        if key.count(".") > MAX_DEPTH and _QUOTED.sub("", key).count(".") > MAX_DEPTH:
            return number
    return None


def _deep_line(lines: list[str]) -> int | None:
    """The line where nesting gets too deep, as far as a count of brackets tells."""
    depth = 0
    for number, line in enumerate(lines, 1):
        opened = line.count("[") + line.count("{")
        if depth + opened > MAX_DEPTH:
            return number
        depth += opened - line.count("]") - line.count("}")
    return None


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
