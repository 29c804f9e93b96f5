"""crash.log: what an internal error leaves for a bug report, for its user alone, bounded, without secrets.

An entry is the time, colotui's version, the command line and the traceback, each redacted
(`colotui.qmp.redact`: a ``--set password=…``, a URI's userinfo, a password quoted in an
error). Past `MAX_SIZE` the file becomes ``crash.log.1`` (replacing the one before) and a new one
starts: at most two files, about 2 MiB.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .paths import state_dir
from .qmp.redact import redact_argv, redact_text

#: Bytes crash.log may hold before it is rotated (an entry is a few KiB: hundreds of crashes).
MAX_SIZE = 1 << 20


def default_path() -> Path:
    return state_dir() / "crash.log"


def record(details: str, argv: Sequence[str], path: Path | None = None) -> Path:
    """Append one entry (``details``: the traceback) to crash.log (0600), rotating it first if it is full;
    returns its path. Raises OSError if it cannot be written."""
    path = path if path is not None else default_path()
    entry = f"--- {time.ctime()} colotui {__version__} {redact_argv(list(argv))}\n{redact_text(details)}"
    data = entry.encode("utf-8", errors="replace")[-MAX_SIZE:]  # a huge traceback keeps its end
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        full = path.stat().st_size + len(data) > MAX_SIZE
    except FileNotFoundError:
        full = False
    if full:
        older = path.with_name(path.name + ".1")
        os.replace(path, older)
        os.chmod(older, 0o600)  # one written by an older colotui may be 0644
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    return path
