"""Errors meant for the operator: one clear line, no traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Something the user can fix (bad input, a missing tool, a busy port); shown as one line."""


class FileError(UserError):
    """A problem in a file, shown as ``path:line: reason``."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = Path(path), line, reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
