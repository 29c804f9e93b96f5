"""The transcript: every QMP message sent or received, as JSON lines.

It is written at the wire: a command's line is on disk (flushed) before its
bytes go to QEMU, so a crash or a hung QEMU never hides what was last sent.
One file can take several sessions; each line names its VM.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path
from typing import IO, Any

#: Seconds a received line may wait in the buffer (a crash loses at most this much of what was received).
FLUSH_AFTER = 0.2


class Transcript:
    """Appends one JSON object per line: ``{"t", "vm", "dir", "msg"}``.

    ``dir`` is ``send``, ``recv`` (replies, events, greetings), ``garbage``
    (bytes that were not JSON, as text), ``link`` (connection changes, with
    ``msg`` a short text) or ``note`` (colotui's own remark, e.g. how it judged an
    HMP answer).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        self._flush_pending = False

    def write(self, vm: str, direction: str, msg: Any) -> None:
        if self._file is None:
            return
        line = json.dumps({"t": round(time.time(), 6), "vm": vm, "dir": direction, "msg": msg},
                          default=str, separators=(",", ":"))
        self._file.write(line + "\n")
        self._file.flush()

    def write_wire(self, vm: str, direction: str, data: bytes) -> None:
        """A message as raw JSON bytes from the wire, embedded without re-encoding.

        ``direction`` ``garbage`` marks bytes that are not JSON; they are kept as text.
        """
        if self._file is None:
            return
        if direction == "garbage":
            self.write(vm, direction, data.decode("utf-8", errors="replace"))
            return
        msg = data.decode("utf-8", errors="replace").strip()
        self._file.write(f'{{"t":{time.time():.6f},"vm":{self._quoted(vm)},"dir":"{direction}","msg":{msg}}}\n')
        if direction == "send":
            self._file.flush()  # on disk before the bytes reach QEMU
        else:
            self._flush_soon()

    @staticmethod
    @functools.cache
    def _quoted(vm: str) -> str:
        return json.dumps(vm)

    def _flush_soon(self) -> None:
        """Flush a moment later: one syscall for a burst of replies and events (COLO sends several a
        checkpoint, up to ten checkpoints a second). A command's line flushes everything before it."""
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_pending = True
        loop.call_later(FLUSH_AFTER, self.flush)

    def flush(self) -> None:
        """Everything written so far is on disk."""
        self._flush_pending = False
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_transcript(path: Path) -> list[dict[str, Any]]:
    """Every entry of a transcript file, oldest first (a last line still being written is left out)."""
    with Path(path).open(encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entries.append(json.loads(line))
        except ValueError:
            if number != len(lines):
                raise
    return entries


def new_transcript(path: Path | None = None) -> Transcript:
    """A transcript at ``path``, or a new file named by the time under the state directory."""
    from ..errors import UserError
    from ..paths import state_dir

    where = path or state_dir() / "transcripts" / time.strftime("%Y%m%d-%H%M%S.jsonl")
    try:
        return Transcript(where)
    except OSError as exc:
        raise UserError(f"cannot write the transcript {where}: {exc.strerror}") from None
