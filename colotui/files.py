"""Reading what people and programs hand colotui: regular files only, within a size, JSON within reason.

A name on the command line, in a config or in lab.json can point anywhere: at a
FIFO (reading waits forever for a writer), /dev/zero (it never ends), a
directory or a socket. Every reader opens through `open_regular`, which refuses
anything but a regular file before reading a byte and, where a file has a
sensible size, one larger than that. JSON is read strictly (`loads`): NaN and
Infinity are not JSON, a number no float holds is refused, and nesting deep
enough to exhaust Python's stack (json and tomllib raise RecursionError, not
ValueError) is an error like any other.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

from .errors import FileError

#: Deeper JSON than this is no colotui file's nor QMP's (a block node's backing chain nests a level per image).
MAX_DEPTH = 256

#: A \uD800-\uDFFF escape: paired, JSON makes one character of two; alone, a string no file or screen can take.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def size_text(size: int) -> str:
    """``1 MiB``, ``512 KiB``, ``12 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def open_regular(path: Path | str, limit: int | None = None) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file (of at most ``limit`` bytes).

    Anything else is a `FileError` before a byte is read; an `OSError` (no such file, no permission) is
    left to the caller, who knows what a missing file means. The kind is checked before opening (opening a
    device can do things) and again on the open file (the name may have changed in between)."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise FileError(path, None, f"not a regular file ({_kind(mode)}): refused")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except ValueError:  # a NUL byte in the name: no file has it
        raise FileError(str(path).replace("\0", "\\0"), None, "not a file name (it holds a NUL byte)") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket put there since the stat
            raise FileError(path, None, "not a regular file (a socket): refused") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileError(path, None, f"not a regular file ({_kind(info.st_mode)}): refused")
        if limit is not None and info.st_size > limit:
            raise FileError(path, None, f"{size_text(info.st_size)}, more than the {size_text(limit)} "
                                        "such a file may be: refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path | str, limit: int) -> bytes:
    """All of a regular file of at most ``limit`` bytes (see `open_regular`; one that grows past it while
    it is read is refused too)."""
    with open_regular(path, limit) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileError(path, None, f"more than the {size_text(limit)} such a file may be: refused")
    return data


def too_deep(value: Any, limit: int) -> bool:
    """Whether lists and dicts nest deeper than ``limit`` in ``value`` (without recursion: the point is a
    value that would exhaust the stack)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond any number colotui reads")
    return value


def loads(text: str, depth: int = MAX_DEPTH) -> Any:
    """Strict JSON: ``json.loads`` without NaN or Infinity, numbers a float holds, nesting at most ``depth``
    deep, no lone surrogate in a string. Everything wrong is a ValueError (a `json.JSONDecodeError`, with
    its position, for the syntax)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if text.count("[") + text.count("{") > depth and too_deep(value, depth):  # fewer brackets: not that deep
        raise ValueError(f"nested deeper than {depth} levels")
    if _SURROGATE.search(text) and _lone_surrogate(value):
        raise ValueError("a string holds a lone surrogate (\\uD800-\\uDFFF): not text")
    return value


def _lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False
