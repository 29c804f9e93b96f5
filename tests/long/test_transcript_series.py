"""One writer per transcript series, 20,000 lines a writer: a second one, in this process or another
(real processes), is refused and touches nothing, and the first loses no line. Rotation, compression,
retention, reading a series back and the config are in tests/unit/test_transcript_series.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colotui.errors import UserError
from colotui.qmp import series
from colotui.qmp.series import Limits
from colotui.qmp.transcript import Transcript, new_transcript, read_series

from ..unit.test_transcript_series import LINES, NO_RETENTION, WRITER, assert_whole, send, tagged


def writer(path: Path, tag: str, *, pause: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(LINES), "pause" if pause else "go"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def snapshot(directory: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every file: inode, size, mtime, content hash (a rename, a write or a delete changes it)."""
    found = {}
    for p in directory.iterdir():
        info = p.stat()
        found[p.name] = (info.st_ino, info.st_size, info.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return found


def test_a_second_process_on_the_transcript_is_refused_touching_nothing_and_the_first_loses_no_line(
        tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    first = writer(path, "a", pause=True)
    try:
        assert first.stdout is not None and first.stdout.readline() == "half\n", first.stderr
        before = snapshot(tmp_path)
        refusal = (f"colotui: the transcript {path} is being written by another colotui (pid {first.pid}); "
                   "give another --transcript\n")
        second = writer(path, "b")
        try:
            _, err = second.communicate(timeout=60)
        finally:
            second.kill()
        assert (second.returncode, err) == (1, refusal)
        shell = subprocess.run([sys.executable, "-m", "colotui", "shell", str(tmp_path / "no.sock"),
                                "--transcript", str(path)], stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=60)
        assert (shell.returncode, shell.stderr) == (1, refusal), "the command says the same, in one line"
        assert snapshot(tmp_path) == before, "no rename, no file written or deleted, the lock's pid kept"
        _, err = first.communicate("go on\n", timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert_whole(tmp_path, ["a"])


def test_two_processes_started_together_one_writes_or_they_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    procs = {tag: writer(path, tag) for tag in "ab"}
    try:
        errors = {tag: proc.communicate(timeout=60)[1] for tag, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.kill()
    refused = [tag for tag, proc in procs.items() if proc.returncode != 0]
    if refused:  # they overlapped: the one that came second is refused in one line, the other lost nothing
        assert len(refused) == 1, errors
        other = "b" if refused[0] == "a" else "a"
        assert errors[refused[0]] == (f"colotui: the transcript {path} is being written by another colotui "
                                      f"(pid {procs[other].pid}); give another --transcript\n")
        assert_whole(tmp_path, [other])
    else:  # the first was done before the second started: it continued the series
        first = tagged(read_series(path))[0][0]
        assert_whole(tmp_path, [first, "b" if first == "a" else "a"])


def test_a_second_transcript_in_one_process_is_refused_touching_nothing(tmp_path: Path) -> None:
    limits = Limits(max_size=16 * 1024, max_age=None, **NO_RETENTION)
    path = tmp_path / "s.jsonl"
    first = Transcript(path, limits)
    for n in range(LINES // 2):
        first.write_wire("vm", "send", b'{"execute":"query-status","id":"a%05d"}' % n)
    first.flush()
    while any(p.name.endswith((".tmp", ".1.jsonl")) or re.fullmatch(r"s\.[0-9]+\.jsonl", p.name)
              for p in tmp_path.iterdir()):
        time.sleep(0.01)  # the worker compresses the last member
    (tmp_path / "s.999.jsonl.gz.tmp").write_bytes(b"a crash's")  # what a writer's start would delete
    before = snapshot(tmp_path)
    with pytest.raises(series.Held) as held:
        Transcript(path, limits)
    assert held.value.pid == os.getpid()
    with pytest.raises(UserError, match=re.escape(f"the transcript {path} is being written by this colotui "
                                                  f"already (pid {os.getpid()}); give another --transcript")):
        new_transcript(path, limits)
    assert snapshot(tmp_path) == before, "no rename, no file written or deleted"
    for n in range(LINES // 2, LINES):
        first.write_wire("vm", "send", b'{"execute":"query-status","id":"a%05d"}' % n)
    first.close()
    (tmp_path / "s.999.jsonl.gz.tmp").unlink()
    assert_whole(tmp_path, ["a"])
    again = Transcript(path, limits)  # let go at close: the next writer continues the series
    send(again, 0)
    again.close()
    assert tagged(read_series(path))[-2:] == ["a19999", "q0000"]
