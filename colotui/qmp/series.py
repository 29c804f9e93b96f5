"""A transcript's series on disk: the names of its files, its one writer's lock, closing a member, retention.

A transcript lives as a series of files in one directory: the live file
``NAME.jsonl`` (the one being written) and its rotated members ``NAME.1.jsonl.gz``,
``NAME.2.jsonl.gz``, … (1 is the oldest; numbers only go up). One writer at a
time: it holds an exclusive ``flock`` on ``NAME.jsonl.lock`` (which records its
pid) for its life, so a second one is refused instead of renaming the series
under the first. A member is compressed off the event loop and never lost on the
way: the plain member stays until its ``.gz`` is complete, synced and renamed
into place. Retention deletes the oldest files beyond a total size or an age,
never a live file that a writer holds, nor a member its writer may be
compressing. Every file and directory is created private (0600, 0700).
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import re
import shutil
import time
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: ``NAME.jsonl`` (live), ``NAME.N.jsonl`` (rotated, not compressed yet or compress = false), ``NAME.N.jsonl.gz``.
_FILE = re.compile(r"^(?P<name>.+?)(?:\.(?P<number>[0-9]+))?\.jsonl(?P<gz>\.gz)?$")
_TEMP = ".tmp"
_LOCK = ".lock"  # NAME.jsonl.lock: not a series file's name
PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700
#: Seconds a writer waits for a series another process holds: retention holds a finished series for as long as
#: deleting its live file takes (a writer holds its own for its life).
LOCK_PATIENCE = 0.5
_LOCK_RETRY = 0.01
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


class Held(Exception):
    """Another writer holds the series (``pid``: the one its lock file names, if it could be read)."""

    def __init__(self, live: Path, pid: int | None) -> None:
        super().__init__(f"{live} is being written by {'pid ' + str(pid) if pid else 'another process'}")
        self.live = live
        self.pid = pid


def lock_path(live: Path) -> Path:
    """The lock beside a live file: it stays where it is when the live file is rotated (renamed) away."""
    return live.with_name(live.name + _LOCK)


@dataclass
class Claim:
    """The one writer's hold on a series: an exclusive ``flock`` on its lock file, pid inside.

    Its last holder deletes the lock file (still holding it), so every taker checks that the file it
    locked is still the one at the path; one that was deleted meanwhile is let go and the path tried again.
    """

    path: Path
    file: IO[bytes]

    @classmethod
    def take(cls, live: Path, patience: float = LOCK_PATIENCE) -> Claim:
        """Hold ``live``'s series, or raise `Held` once ``patience`` seconds have not freed it."""
        path = lock_path(live)
        deadline = time.monotonic() + patience
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
            file = open(fd, "r+b", buffering=0)  # noqa: SIM115 (held for the writer's life; closed in release)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _pid_in(fd)
                file.close()
                if time.monotonic() >= deadline:
                    raise Held(live, pid) from None
                time.sleep(_LOCK_RETRY)
                continue
            except BaseException:
                file.close()
                raise
            try:
                if _same_file(fd, path):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                    return cls(path, file)
            except BaseException:
                file.close()
                raise
            file.close()  # its last holder deleted it after we opened it: the path has a new one, or none

    def release(self) -> None:
        """Let the series go (the lock file is deleted first, while it is still held)."""
        if self.file.closed:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.file.close()


def _pid_in(fd: int) -> int | None:
    """The pid a lock file names (only a number is believed: its text goes into a message)."""
    try:
        pid = int(os.pread(fd, 32, 0).decode("ascii"))
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def is_held(live: Path) -> bool:
    """Whether a running writer holds the series of ``live`` (a look only: `Claim` to act on the answer)."""
    try:
        fd = os.open(lock_path(live), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False  # no lock file: nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def make_directory(directory: Path) -> None:
    """``directory`` and any missing parents, each created 0700 (``Path.mkdir`` gives parents the default)."""
    missing = []
    for path in [directory, *directory.parents]:
        if path.is_dir():
            break
        missing.append(path)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, PRIVATE_DIRECTORY)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compress(member: Path) -> Path | None:
    """``NAME.N.jsonl`` → ``NAME.N.jsonl.gz``: written under a temporary name (0600), synced, renamed; only
    then is the plain member deleted (a crash leaves the plain one, or both: never neither). None if the
    member is gone (retention took it meanwhile)."""
    final = member.with_name(member.name + ".gz")
    temp = member.with_name(final.name + _TEMP)
    try:
        source = member.open("rb")
    except FileNotFoundError:
        return None
    with source:
        stat = os.fstat(source.fileno())
        temp.unlink(missing_ok=True)  # a crash's (only the series' writer compresses its members)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
        with open(fd, "wb") as target:
            with gzip.GzipFile(filename=member.name, mode="wb", fileobj=target, compresslevel=COMPRESS_LEVEL,
                               mtime=int(stat.st_mtime)) as packed:
                shutil.copyfileobj(source, packed, 1 << 20)
            target.flush()
            os.fsync(target.fileno())
    os.rename(temp, final)
    # retention judges a member by when it was last written (set after the rename: a temporary file that
    # old would be another writer's retention's crash leftover)
    os.utime(final, (stat.st_atime, stat.st_mtime))
    _sync_directory(member.parent)
    with contextlib.suppress(FileNotFoundError):  # retention may have taken it already
        member.unlink()
    return final


def finish(directory: Path, name: str) -> list[Path]:
    """Rotations of ``name`` a crash interrupted: a plain member beside its complete ``.gz`` is deleted, a
    temporary ``.gz`` too; returns the plain members still to compress. Only for the series' writer."""
    files = series_files(directory, name)
    copies = _copies(files)
    for copy in copies:
        copy.unlink(missing_ok=True)
    for temp in directory.glob(f"{glob_escape(name)}.*.jsonl.gz{_TEMP}"):
        temp.unlink(missing_ok=True)
    return sorted((f.path for f in files if f.number is not None and not f.compressed and f.path not in copies),
                  key=lambda p: p.name)


def _copies(files: list[SeriesFile]) -> list[Path]:
    """Plain members beside their ``.gz``: it is complete (renamed into place only once synced), so each is
    one its compressor is about to delete, or one a crash left."""
    packed = {(f.name, f.number) for f in files if f.compressed}
    return [f.path for f in files if not f.compressed and (f.name, f.number) in packed]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def prune(directory: Path, limits: Limits, now: float, *, name: str | None = None, writing: str | None = None,
          pending: Container[Path] = ()) -> list[Path]:
    """Delete the oldest series files beyond ``limits.keep_size`` (all files together, each at its size on
    disk) or older than ``limits.keep_days``; only series ``name`` if given. ``writing``: the series the
    caller writes, whose plain members are final but for its ``pending`` ones (asked as each file is looked
    at: a writer rotates on meanwhile): those it is about to
    compress are neither counted nor deleted (its retention after compressing them counts their ``.gz``;
    counted plain, they would push out as many older files as they are larger).

    Never deleted, but counted: a live file a writer holds, and a plain member of a series another writer
    holds (it may be compressing it). A plain member beside its ``.gz`` goes first. Returns what was
    deleted."""
    deleted = []
    for copy in _copies(series_files(directory, name)):
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()
            deleted.append(copy)
    files = []
    for f in series_files(directory, name):
        if f.path in pending:
            continue
        try:
            info = f.path.stat()
        except FileNotFoundError:
            continue
        files.append((info.st_mtime, f, info.st_size))
    # oldest first; inside a series its members by number, the live file last
    files.sort(key=lambda item: (item[0], item[1].name, item[1].number if item[1].number is not None else 1 << 62))
    total = sum(size for _, _, size in files)
    held: dict[str, bool] = {}
    for mtime, f, size in files:
        too_old = limits.keep_days is not None and now - mtime > limits.keep_days * 86400
        too_much = limits.keep_size is not None and total > limits.keep_size
        if not (too_old or too_much):
            continue
        if f.number is None:
            gone = _delete_live(f.path)
        elif not f.compressed and f.name != writing and _held(held, directory, f.name):
            continue
        else:
            gone = _delete(f.path)
        if gone is None:
            continue
        if gone:
            deleted.append(f.path)
        total -= size
    pattern = f"{glob_escape(name)}.*.jsonl.gz{_TEMP}" if name else f"*.jsonl.gz{_TEMP}"
    for temp in directory.glob(pattern):
        owner = parse(temp.with_name(temp.name.removesuffix(_TEMP)))
        if owner is None or owner.name == writing or _held(held, directory, owner.name):
            continue  # a writer's own: its start deletes a crash's
        with contextlib.suppress(FileNotFoundError):
            if now - temp.stat().st_mtime > STALE_TEMP:
                temp.unlink()
                deleted.append(temp)
    deleted += _forget_locks(directory, name)
    return deleted


def _held(cache: dict[str, bool], directory: Path, name: str) -> bool:
    if name not in cache:
        cache[name] = is_held(live_path(directory, name))
    return cache[name]


def _delete(path: Path) -> bool:
    """Delete ``path``; False if it was gone already."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _delete_live(live: Path) -> bool | None:
    """Delete a live file nobody writes, holding its series meanwhile (no writer starts on it as it goes);
    None if a writer holds it."""
    try:
        claim = Claim.take(live, patience=0)
    except Held:
        return None
    try:
        return _delete(live)
    finally:
        claim.release()


def _forget_locks(directory: Path, name: str | None) -> list[Path]:
    """Lock files a crashed writer left beside a series retention has deleted all of."""
    present = {f.name for f in series_files(directory, name)}
    forgotten = []
    for lock in directory.glob(f"{glob_escape(name) if name else '*'}.jsonl{_LOCK}"):
        owner = parse(lock.with_name(lock.name.removesuffix(_LOCK)))
        if owner is None or owner.name in present:
            continue
        try:
            Claim.take(lock.with_name(lock.name.removesuffix(_LOCK)), patience=0).release()
        except Held:
            continue
        forgotten.append(lock)
    return forgotten
