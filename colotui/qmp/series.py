"""A transcript's series on disk: the names of its files, closing a member, and retention.

A transcript lives as a series of files in one directory: the live file
``NAME.jsonl`` (the one being written) and its rotated members ``NAME.1.jsonl.gz``,
``NAME.2.jsonl.gz``, … (1 is the oldest; numbers only go up). A member is
compressed off the event loop and never lost on the way: the plain member stays
until its ``.gz`` is complete, synced and renamed into place. Retention deletes
the oldest files beyond a total size or an age, never a live file that a running
session holds (each writer keeps a shared ``flock`` on its live file).
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: ``NAME.jsonl`` (live), ``NAME.N.jsonl`` (rotated, not compressed yet or compress = false), ``NAME.N.jsonl.gz``.
_FILE = re.compile(r"^(?P<name>.+?)(?:\.(?P<number>[0-9]+))?\.jsonl(?P<gz>\.gz)?$")
_TEMP = ".tmp"
#: A temporary ``.gz`` older than this was left by a crash (compressing a member takes seconds).
STALE_TEMP = 3600.0
COMPRESS_LEVEL = 6  # zlib's default: 8-10x on QMP's JSON at a fraction of level 9's time


@dataclass(frozen=True)
class Limits:
    """When a live file is rotated, and what the directory keeps (None: no limit)."""

    max_size: int | None = 16 * 2**20  # bytes of the live file
    max_age: float | None = 3600.0  # seconds since the live file's first line (judged at the next line)
    keep_size: int | None = 256 * 2**20  # bytes of every transcript file together
    keep_days: float | None = 14.0  # a file not written for longer goes
    compress: bool = True


@dataclass(frozen=True)
class SeriesFile:
    path: Path
    name: str
    number: int | None  # None: the live file
    compressed: bool


def parse(path: Path) -> SeriesFile | None:
    """What ``path`` is in its series, or None for a name that is not a series file."""
    match = _FILE.match(path.name)
    if match is None:
        return None
    number = int(match["number"]) if match["number"] else None
    if number is None and match["gz"]:
        return None  # NAME.jsonl.gz is nobody's member
    return SeriesFile(path, match["name"], number, bool(match["gz"]))


def live_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.jsonl"


def member_path(directory: Path, name: str, number: int, *, compressed: bool) -> Path:
    return directory / f"{name}.{number}.jsonl{'.gz' if compressed else ''}"


def series_files(directory: Path, name: str | None = None) -> list[SeriesFile]:
    """The series files in ``directory`` (of series ``name`` only if given), in no particular order."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        item = parse(Path(entry.path))
        if item is not None and (name is None or item.name == name) and entry.is_file():
            found.append(item)
    return found


def next_number(directory: Path, name: str) -> int:
    """The number the next rotated member of ``name`` gets: one past the highest there."""
    return 1 + max((f.number for f in series_files(directory, name) if f.number is not None), default=0)


def hold(file: IO[str]) -> bool:
    """Mark ``file`` as the live file of a running session (released when it is closed); True if no other
    session writes it (then this one may finish the series' interrupted rotations)."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        alone = True
    except BlockingIOError:
        alone = False
    fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # blocks only while another session's retention looks at it
    return alone


def is_held(path: Path) -> bool:
    """Whether a running session writes ``path``."""
    try:
        with path.open("rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compress(member: Path) -> Path:
    """``NAME.N.jsonl`` → ``NAME.N.jsonl.gz``: written under a temporary name, synced, renamed; only then
    is the plain member deleted (a crash leaves the plain one, or both: never neither)."""
    final = member.with_name(member.name + ".gz")
    temp = member.with_name(final.name + _TEMP)
    stat = member.stat()
    with member.open("rb") as source, temp.open("wb") as target:
        with gzip.GzipFile(filename=member.name, mode="wb", fileobj=target, compresslevel=COMPRESS_LEVEL,
                           mtime=int(stat.st_mtime)) as packed:
            shutil.copyfileobj(source, packed, 1 << 20)
        target.flush()
        os.fsync(target.fileno())
    os.utime(temp, (stat.st_atime, stat.st_mtime))  # retention judges a member by when it was last written
    os.rename(temp, final)
    _sync_directory(member.parent)
    with contextlib.suppress(FileNotFoundError):  # another session's retention may have taken it already
        member.unlink()
    return final


def finish(directory: Path, name: str) -> list[Path]:
    """Rotations of ``name`` a crash interrupted: a plain member beside its complete ``.gz`` is deleted, a
    temporary ``.gz`` too; returns the plain members still to compress. Only for a series nobody writes."""
    files = series_files(directory, name)
    packed = {f.number for f in files if f.compressed}
    pending = []
    for f in files:
        if f.number is not None and not f.compressed:
            if f.number in packed:
                f.path.unlink(missing_ok=True)
            else:
                pending.append(f.path)
    for temp in directory.glob(f"{glob_escape(name)}.*.jsonl.gz{_TEMP}"):
        temp.unlink(missing_ok=True)
    return sorted(pending, key=lambda p: p.name)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def prune(directory: Path, limits: Limits, now: float, *, name: str | None = None) -> list[Path]:
    """Delete the oldest series files beyond ``limits.keep_size`` (all files together) or older than
    ``limits.keep_days``; only series ``name`` if given. A live file a session holds is never deleted (it
    counts towards the size). Returns what was deleted."""
    files = []
    for f in series_files(directory, name):
        try:
            stat = f.path.stat()
        except FileNotFoundError:
            continue
        files.append((stat.st_mtime, f, stat.st_size))
    # oldest first; inside a series its members by number, the live file last
    files.sort(key=lambda item: (item[0], item[1].name, item[1].number if item[1].number is not None else 1 << 62))
    total = sum(size for _, _, size in files)
    deleted = []
    for mtime, f, size in files:
        too_old = limits.keep_days is not None and now - mtime > limits.keep_days * 86400
        too_much = limits.keep_size is not None and total > limits.keep_size
        if not (too_old or too_much):
            continue
        if f.number is None and is_held(f.path):
            continue
        with contextlib.suppress(FileNotFoundError):
            f.path.unlink()
            deleted.append(f.path)
        total -= size
    pattern = f"{glob_escape(name)}.*.jsonl.gz{_TEMP}" if name else f"*.jsonl.gz{_TEMP}"
    for temp in directory.glob(pattern):
        with contextlib.suppress(FileNotFoundError):
            if now - temp.stat().st_mtime > STALE_TEMP:
                temp.unlink()
                deleted.append(temp)
    return deleted
