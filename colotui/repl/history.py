"""What operators typed, kept per user and shared by the shell and the console pane.

One JSON object per line in ``$XDG_STATE_HOME/colotui/history.jsonl``:
``{"t": <unix time>, "target": "primary", "text": "query-status"}``. JSON lines
keep a multi-line transaction( as one entry; appending one line per entry lets
a shell and a console write the same file at once; each reader picks up what
the other appended. The file is cut back to the newest entries now and then. No secret is kept:
each line is stored redacted (`colotui.repl.redacted`), and a file an older colotui left with a
secret in it is rewritten without it as soon as it is read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..paths import state_dir
from .redacted import redact_line

#: Entries kept; the file is rewritten with the newest ones when it holds twice as many.
LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    text: str
    time: float = 0.0
    target: str = ""  # where it was sent: "primary", "both", … ("" for colotui's own commands)


def default_path() -> Path:
    return state_dir() / "history.jsonl"


class History:
    """The history file, read lazily and re-read as it grows (another process may append to it)."""

    def __init__(self, path: Path | None = None, limit: int = LIMIT) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.limit = limit
        self._entries: list[Entry] = []
        self._lines = 0  # lines in the file, including unreadable ones
        self._read_to = 0  # bytes of the file already read

    def entries(self) -> list[Entry]:
        """Every entry, oldest first."""
        self._catch_up()
        return list(self._entries[-self.limit:])

    def append(self, text: str, target: str = "") -> Entry | None:
        """Record ``text`` (redacted); a blank one or a repeat of the newest entry is not recorded again."""
        self._catch_up()
        text = redact_line(text)
        if not text.strip() or (self._entries and self._entries[-1].text == text):
            return None
        entry = Entry(text, round(time.time(), 3), target)
        line = json.dumps({"t": entry.time, "target": entry.target, "text": entry.text}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())  # one write with O_APPEND: lines from two processes never mix
            finally:
                os.close(fd)
        except OSError:  # a read-only home must not stop the shell; the entry stays in memory
            self._entries.append(entry)
            return entry
        self._catch_up()
        if self._lines > 2 * self.limit:
            self._compact()
        return entry

    def search(self, text: str, limit: int = 20) -> list[Entry]:
        """Entries containing every word of ``text`` (any case), the newest last; at most ``limit``."""
        words = text.lower().split()
        found = [e for e in self.entries() if all(w in e.text.lower() for w in words)]
        return found[-limit:]

    def _catch_up(self) -> None:
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if size < self._read_to:  # rewritten by another process: read it again
            self._entries, self._lines, self._read_to = [], 0, 0
        if size == self._read_to:
            return
        with self.path.open("rb") as f:
            f.seek(self._read_to)
            data = f.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._read_to += len(complete)
        exposed = False
        for raw in complete.splitlines():
            self._lines += 1
            read = _entry(raw)
            if read is not None:
                self._entries.append(read[0])
                exposed = exposed or read[1]
        del self._entries[:-self.limit]
        if exposed:  # written with a secret in clear (by an older colotui): not a moment longer
            self._compact()

    def _compact(self) -> None:
        keep = self._entries[-self.limit:]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as f:
                for e in keep:
                    f.write(json.dumps({"t": e.time, "target": e.target, "text": e.text}) + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        self._entries, self._lines, self._read_to = keep, len(keep), self.path.stat().st_size


def _entry(raw: bytes) -> tuple[Entry, bool] | None:
    """One line of the file, redacted, and whether it held a secret; None if it is not an entry (a torn or
    foreign line is skipped, not fatal)."""
    try:
        item = json.loads(raw)
        text = str(item["text"])
        entry = Entry(redact_line(text), float(item.get("t", 0.0)), str(item.get("target", "")))
    except (ValueError, KeyError, TypeError):
        return None
    return entry, entry.text != text
