"""The transcript: every QMP message sent or received, as JSON lines.

It is written at the wire: a command's line is on disk (flushed) before its
bytes go to QEMU, so a crash or a hung QEMU never hides what was last sent.
One file can take several sessions (of one process: they share its `Transcript`);
each line names its VM. A file has one writer: a second `Transcript` on it, in
this process or another, is refused (`series.Claim`) before it touches anything.

With `series.Limits` it does not fill the disk: the live file ``NAME.jsonl`` is
rotated by size or age into ``NAME.1.jsonl.gz``, ``NAME.2.jsonl.gz``, … (renamed
on the loop, compressed in a worker thread) and retention deletes the oldest
files; `read_series` reads all of a series back as one timeline.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import functools
import gzip
import json
import logging
import math
import os
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ..errors import UserError
from ..files import open_regular, size_text
from . import series
from .entries import MAX_LINE, parse_line
from .series import Limits

#: Seconds a received line may wait in the buffer (a crash loses at most this much of what was received).
FLUSH_AFTER = 0.2

log = logging.getLogger(__name__)


class Transcript:
    """Appends one JSON object per line: ``{"t", "vm", "dir", "msg"}``.

    ``dir`` is ``send``, ``recv`` (replies, events, greetings), ``garbage``
    (bytes that were not JSON, as text), ``link`` (connection changes, with
    ``msg`` a short text) or ``note`` (colotui's own remark, e.g. how it judged an
    HMP answer).

    ``limits`` (None: one file that grows) rotate the live file before a line that
    would take it past ``max_size`` or once it is ``max_age`` old, and keep
    ``keep_size``/``keep_days`` of this series, or of every series in the directory
    if ``prune_directory`` (colotui's own transcripts directory). ``clock`` gives
    the lines' times and the file's age (tests move it).

    The series is held (`series.Claim`) from here to `close`: another writer holding it raises
    `series.Held` having changed nothing. ``fresh``: a series of its own (one named by the time), so a
    name in use (held, or a live file there) is refused at once (`series.Held`, `FileExistsError`) and the
    caller picks another. Files are created 0600, directories 0700; a symbolic link or a file that is not a
    regular one at ``path`` is refused (`OSError`).
    """

    def __init__(self, path: Path, limits: Limits | None = None, *, prune_directory: bool = False,
                 clock: Callable[[], float] = time.time, fresh: bool = False) -> None:
        self.path = Path(path)
        self.limits = limits
        self._clock = clock
        named = series.parse(self.path)
        if limits is not None and (named is None or named.number is not None or named.compressed):
            raise ValueError(f"a rotated transcript is named NAME.jsonl, not {self.path.name}")
        self._name = named.name if named is not None else self.path.name
        self._prune_directory = prune_directory
        self._worker: ThreadPoolExecutor | None = None
        self._pending = _Pending()  # members rotated, not compressed yet
        self._file: IO[str] | None = None
        self._flush_pending = False
        series.make_directory(self.path.parent)
        self._claim = series.Claim.take(self.path, patience=0 if fresh else series.LOCK_PATIENCE)
        try:
            self._open(exclusive=fresh)
        except BaseException:
            self._claim.release()
            raise
        atexit.register(self.close)  # a console's transcript lives as long as its process: no lock file left
        if limits is not None:
            self._next = series.next_number(self.path.parent, self._name)
            self._background(series.finish(self.path.parent, self._name))

    def _open(self, *, exclusive: bool = False) -> None:
        """Start (or continue) the live file (``exclusive``: it must not be there yet)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else 0)
        # not through a link someone left at the path; a FIFO neither blocks the open (O_NONBLOCK: no effect
        # on a regular file) nor is taken
        not_regular = OSError(errno.EINVAL, "it is not a regular file", str(self.path))
        try:
            fd = os.open(self.path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, series.PRIVATE_FILE)
        except OSError as exc:
            raise not_regular if exc.errno == errno.ENXIO else exc from None  # ENXIO: a FIFO nobody reads
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise not_regular
        self._file = open(fd, "a", encoding="utf-8")  # noqa: SIM115 (the live file, closed in close or _rotate)
        self._size = os.fstat(fd).st_size
        started = _first_time(self.path) if self._size else None
        max_size = self.limits.max_size if self.limits is not None else None
        max_age = self.limits.max_age if self.limits is not None else None
        self._rotate_size = math.inf if max_size is None else max_size
        self._rotate_at = math.inf if max_age is None else (started or self._clock()) + max_age

    def write(self, vm: str, direction: str, msg: Any, **more: str) -> None:
        """One entry; ``more``: keys of its own kind (a link's ``unreached``)."""
        if self._file is None:
            return
        now = self._clock()
        line = json.dumps({"t": round(now, 6), "vm": vm, "dir": direction, "msg": msg, **more},
                          default=str, separators=(",", ":")) + "\n"
        self._append(line, now)
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
        now = self._clock()
        msg = data.decode("utf-8", errors="replace").strip()
        self._append(f'{{"t":{now:.6f},"vm":{self._quoted(vm)},"dir":"{direction}","msg":{msg}}}\n', now)
        if direction == "send":
            self._file.flush()  # on disk before the bytes reach QEMU
        else:
            self._flush_soon()

    def _append(self, line: str, now: float) -> None:
        """Write ``line`` to the live file, rotating first if it is full or old (the size counts characters:
        QMP's JSON is ASCII but for the odd string)."""
        if self._size and (self._size + len(line) > self._rotate_size or now >= self._rotate_at):
            self._rotate(now)
        assert self._file is not None
        self._file.write(line)
        self._size += len(line)

    def _rotate(self, now: float) -> None:
        """The live file becomes the next member; a new live file starts. Only renames on the caller's
        thread (the event loop's); compressing the member and retention run in the worker. The series'
        claim makes this the only writer: nobody else renames or deletes its live file meanwhile."""
        old = self._file
        assert old is not None and self.limits is not None
        old.flush()
        member = series.member_path(self.path.parent, self._name, self._next, compressed=False)
        while os.path.lexists(member) or os.path.lexists(f"{member}.gz"):  # put there by hand: not overwritten
            self._next += 1
            member = series.member_path(self.path.parent, self._name, self._next, compressed=False)
        self._pending.add(member)  # pending before it shows: a retention running meanwhile must not count it
        try:
            os.rename(self.path, member)
        except FileNotFoundError:  # deleted by hand, with what it held: a new live file starts
            self._pending.discard(member)
            log.warning("transcript %s: the live file was deleted; a new one starts", self.path)
            old.close()
            self._open()
            return
        except OSError as exc:  # the lines stay where they are; another try after as much again
            self._pending.discard(member)
            log.warning("transcript %s: not rotated (%s); it grows on", self.path, exc.strerror)
            max_size, max_age = self.limits.max_size, self.limits.max_age
            self._rotate_size = math.inf if max_size is None else self._size + max_size
            self._rotate_at = math.inf if max_age is None else now + max_age
            return
        self._next += 1
        old.close()
        self._open()
        self._background([member])

    def _background(self, members: list[Path]) -> None:
        for member in members:
            self._pending.add(member)
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colotui-transcript")
        self._worker.submit(self._tidy, members)

    def _tidy(self, members: list[Path]) -> None:
        """In the worker: compress rotated ``members`` (one gone meanwhile was retention's), then apply
        retention (to what is on disk but the members rotated meanwhile: the next run counts their .gz)."""
        assert self.limits is not None
        for member in members:
            if self.limits.compress:
                try:
                    series.compress(member)
                except OSError as exc:  # the plain member stays (nothing is lost); retention counts it
                    log.warning("transcript %s: %s left uncompressed: %s", self.path, member.name, exc)
            self._pending.discard(member)
        try:
            series.prune(self.path.parent, self.limits, self._clock(),
                         name=None if self._prune_directory else self._name, writing=self._name, pending=self._pending)
        except OSError as exc:
            log.warning("transcript %s: retention left undone: %s", self.path, exc)

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
        """Wait for the worker (a rotated member is compressed before this returns), close the live file,
        then let the series go (held until then: no retention takes the live file for a finished one's)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._claim.release()
        atexit.unregister(self.close)


class _Pending:
    """The members rotated and not compressed yet: the loop adds them (before the rename shows them), the
    worker takes them off; retention asks file by file, as it looks at each."""

    def __init__(self) -> None:
        self._members: set[Path] = set()
        self._lock = threading.Lock()

    def add(self, member: Path) -> None:
        with self._lock:
            self._members.add(member)

    def discard(self, member: Path) -> None:
        with self._lock:
            self._members.discard(member)

    def __contains__(self, member: object) -> bool:
        with self._lock:
            return member in self._members


def _first_time(path: Path) -> float | None:
    """The time of a file's first line (when a live file that is continued was started)."""
    try:
        first = next(_lines(path), None)
    except (OSError, UserError):
        return None
    entry = parse_line(first)[0] if first else None
    return float(entry["t"]) if entry is not None else None


def _lines(path: Path) -> Iterator[bytes | None]:
    """A file's lines (a gzip member's, uncompressed), as bytes; None for one longer than `MAX_LINE`, whose
    bytes are skipped. Only a regular file is read (a FIFO would wait forever)."""
    with open_regular(path) as raw:
        stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw
        while line := stream.readline(MAX_LINE + 1):
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while (rest := stream.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                yield None
            else:
                yield line


def _parse(path: Path, *, live: bool) -> tuple[list[dict[str, Any]], list[tuple[int, str]], str | None]:
    """A file's entries, its lines that are not entries (number, why: not UTF-8, not JSON, no time…), and
    what cut it short (a damaged gzip) if anything did. In a ``live`` file, a last line without its newline
    that is not an entry is being written: left out."""
    entries: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    damage = None
    number = 0
    torn = False
    try:
        for number, line in enumerate(_lines(path), 1):
            if line is None:
                bad.append((number, f"is longer than {size_text(MAX_LINE)}"))
                torn = False
                continue
            if not line.strip():
                continue
            entry, why = parse_line(line)
            if entry is None:
                bad.append((number, why))
            else:
                entries.append(entry)
            torn = entry is None and not line.endswith(b"\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        damage = f"is damaged after line {number} ({exc})"
    if live and torn and damage is None:
        bad.pop()
    return entries, bad, damage


def read_transcript(path: Path) -> list[dict[str, Any]]:
    """Every entry of one transcript file (plain or gzip), oldest first (a last line still being written
    is left out); a line that is not an entry elsewhere, or a damaged gzip, raises ValueError."""
    entries, bad, damage = _parse(Path(path), live=True)
    if damage or bad:
        raise ValueError(f"{path} {damage or f'line {bad[0][0]} {bad[0][1]}'}")
    return entries


def read_series(path: Path) -> list[dict[str, Any]]:
    """Every entry of a transcript's series, oldest first: ``path`` is its live file ``NAME.jsonl``, any
    member ``NAME.N.jsonl[.gz]``, or ``NAME`` itself.

    Reading goes on past trouble and says where in ``note`` entries (``vm`` ``transcript``, the time of
    the entry before): members deleted by retention (the oldest) or missing, a damaged member (what could
    be read of it is kept; its plain copy is used instead if a crash left one), a line that is not JSON.
    The live file's last line, if still being written, is left out quietly. No file of the series at all
    is a `UserError`.
    """
    path = Path(path)
    named = series.parse(path)
    directory, name = path.parent, named.name if named is not None else path.name
    files = series.series_files(directory, name)
    if not files:
        raise UserError(f"no transcript {series.live_path(directory, name)} (nor members {name}.N.jsonl.gz)")
    by_number: dict[int, list[Path]] = {}
    for f in sorted(files, key=lambda f: not f.compressed):  # a member's .gz first: its plain copy may be going
        if f.number is not None:
            by_number.setdefault(f.number, []).append(f.path)
    for paths in by_number.values():
        if len(paths) == 1 and not paths[0].name.endswith(".gz"):  # being compressed: its .gz may come
            paths.append(paths[0].with_name(paths[0].name + ".gz"))
    entries: list[dict[str, Any]] = []
    expected = 1
    for number in sorted(by_number):
        if number > expected:
            gone = f"{name}.{expected}" + (f"…{number - 1}" if number - 1 > expected else "")
            why = "deleted by retention (the oldest go first)" if expected == 1 else "missing"
            _note(entries, f"{gone}.jsonl.gz {why}: the series continues with {name}.{number}")
        _read_member(by_number[number], entries)
        expected = number + 1
    live = series.live_path(directory, name)
    try:
        part, bad, _ = _parse(live, live=True)
    except FileNotFoundError:  # a series whose live file retention took
        part, bad = [], []
    entries += part
    for line, why in bad:
        _note(entries, f"{live.name} line {line} {why} (left out)")
    first = next((e["t"] for e in entries if e["t"] is not None), 0)
    for entry in entries:  # notes before the first entry
        if entry["t"] is None:
            entry["t"] = first
    return entries


def _read_member(candidates: list[Path], entries: list[dict[str, Any]]) -> None:
    """One member into ``entries``: its .gz, or its plain copy if the .gz is damaged (or gone)."""
    for i, candidate in enumerate(candidates):
        try:
            part, bad, damage = _parse(candidate, live=False)
        except FileNotFoundError:  # compressed (or pruned) meanwhile
            continue
        if damage and i + 1 < len(candidates):
            continue
        entries += part
        if damage:
            _note(entries, f"{candidate.name} {damage}: the rest of it is left out")
        for line, why in bad:
            _note(entries, f"{candidate.name} line {line} {why} (left out)")
        return
    _note(entries, f"{candidates[0].name} went away while it was read")


def _note(entries: list[dict[str, Any]], text: str) -> None:
    entries.append({"t": entries[-1]["t"] if entries else None, "vm": "transcript", "dir": "note", "msg": text})


def new_transcript(path: Path | None = None, limits: Limits | None = None, *, label: str = "") -> Transcript:
    """A transcript at ``path``, or a new file named by the time (and ``label``: a fleet's pair) in the state
    directory's ``transcripts`` (whose retention then covers every series there; ``path``'s covers its own
    series only). A ``path`` another colotui writes is a `UserError`."""
    from ..paths import state_dir

    limits = limits or Limits()
    if path is not None:
        named = series.parse(path)
        if named is None or named.number is not None:
            raise UserError(f"a transcript's name ends in .jsonl (not in .N.jsonl, a rotated member's): {path}")
    where = path or state_dir() / "transcripts"
    try:
        if path is None:
            return _named_by_time(where, limits, label)
        return Transcript(path, limits)
    except series.Held as held:
        by = "this colotui already" if held.pid == os.getpid() else "another colotui"
        raise UserError(f"the transcript {path} is being written by {by}"
                        f"{f' (pid {held.pid})' if held.pid else ''}; give another --transcript") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"cannot write the transcript {where}: {exc.filename} is a symbolic link "
                            "(not followed: give the file itself)") from None
        raise UserError(f"cannot write the transcript {where}: {exc.strerror}") from None


#: Series that may start in one second (two sessions started in one second get a series each).
_PER_SECOND = 99


def _named_by_time(directory: Path, limits: Limits, label: str = "") -> Transcript:
    stamp = time.strftime("%Y%m%d-%H%M%S") + (f"-{label}" if label else "")
    for n in range(1, _PER_SECOND + 1):
        try:
            return Transcript(directory / (f"{stamp}-{n}.jsonl" if n > 1 else f"{stamp}.jsonl"), limits,
                              prune_directory=True, fresh=True)
        except (series.Held, FileExistsError):
            continue
    raise OSError(errno.EEXIST, f"{_PER_SECOND} transcripts were started there this second")
