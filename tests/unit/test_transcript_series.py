"""Transcripts that do not fill the disk: rotation, compression, retention, reading a series back, the config;
one writer per series (a second one, in this process or another, is refused and touches nothing).

Plain files, real processes for the second writer, and an injected clock (no sleeping); the same series
written through a real QEMU session is in tests/qemu/test_session.py, the second writer's tests (20,000 lines
a writer) in tests/long/test_transcript_series.py.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from colotui.cli import main
from colotui.config import load_config
from colotui.errors import UserError
from colotui.qmp import series
from colotui.qmp.series import Limits
from colotui.qmp.transcript import Transcript, new_transcript, read_series, read_transcript
from colotui.tomlfile import FileError

NO_RETENTION = {"keep_size": None, "keep_days": None}
DAY = 86400.0


class Clock:
    """Starts at the real time: retention compares it with files' times."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def send(transcript: Transcript, n: int) -> None:
    transcript.write_wire("vm", "send", b'{"execute":"query-status","id":"q%04d"}' % n)  # all lines one length


def ids(entries: list[dict[str, object]]) -> list[int]:
    return [int(e["msg"]["id"][1:]) for e in entries if e["dir"] == "send"]  # type: ignore[index]


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def written_series(directory: Path, count: int, limits: Limits, clock: Clock | None = None) -> Transcript:
    transcript = Transcript(directory / "s.jsonl", limits, clock=clock or Clock())
    for n in range(count):
        send(transcript, n)
    transcript.close()
    return transcript


def test_rotates_by_size_into_numbered_gz_members_oldest_first(tmp_path: Path) -> None:
    line = len('{"t":1800000000.000000,"vm":"vm","dir":"send","msg":{"execute":"query-status","id":"q0000"}}\n')
    written_series(tmp_path, 100, Limits(max_size=10 * line, max_age=None, **NO_RETENTION))
    assert names(tmp_path) == sorted([f"s.{n}.jsonl.gz" for n in range(1, 10)] + ["s.jsonl"])
    assert ids(read_transcript(tmp_path / "s.1.jsonl.gz")) == list(range(10)), "1 is the oldest"
    for n in range(1, 10):
        raw = gzip.decompress((tmp_path / f"s.{n}.jsonl.gz").read_bytes())
        assert len(raw) == 10 * line, "a member holds what fits in max_size"
        assert ids([json.loads(x) for x in raw.splitlines()]) == list(range((n - 1) * 10, n * 10))
    assert ids(read_transcript(tmp_path / "s.jsonl")) == list(range(90, 100)), "it rotates before a line, not after"
    assert ids(read_series(tmp_path / "s.jsonl")) == list(range(100))


def test_rotates_by_age_with_an_injected_clock(tmp_path: Path) -> None:
    clock = Clock()
    transcript = Transcript(tmp_path / "s.jsonl", Limits(max_size=None, max_age=60, **NO_RETENTION), clock=clock)
    for n in range(10):  # one line every 25 s: a file takes the lines of 60 s (0, 25, 50), the next starts at 75
        send(transcript, n)
        clock.now += 25
    transcript.close()
    assert [ids(read_transcript(tmp_path / f"s.{n}.jsonl.gz")) for n in (1, 2, 3)] == [[0, 1, 2], [3, 4, 5],
                                                                                      [6, 7, 8]]
    assert ids(read_transcript(tmp_path / "s.jsonl")) == [9]


def test_a_command_line_is_on_disk_when_the_write_that_rotates_returns(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "s.jsonl", Limits(max_size=100, max_age=None, **NO_RETENTION))
    transcript.write_wire("vm", "recv", b'{"return":{},"id":"padding to fill the live file past 100 bytes"}')
    send(transcript, 7)  # rotates first, then is flushed before the bytes would go to QEMU
    on_disk = (tmp_path / "s.jsonl").read_text()
    assert on_disk.endswith('"msg":{"execute":"query-status","id":"q0007"}}\n') and on_disk.count("\n") == 1
    transcript.close()
    assert [e["dir"] for e in read_series(tmp_path / "s")] == ["recv", "send"]


def test_continuing_a_series_numbers_on_and_keeps_its_age(tmp_path: Path) -> None:
    clock = Clock()
    limits = Limits(max_size=None, max_age=60, **NO_RETENTION)
    first = Transcript(tmp_path / "s.jsonl", limits, clock=clock)
    for n in range(5):
        send(first, n)
        clock.now += 40
    first.close()  # s.1 holds 0, 1; s.2 holds 2, 3; s.jsonl holds 4 (started at +160)
    (tmp_path / "s.1.jsonl.gz").unlink()  # retention took the oldest
    again = Transcript(tmp_path / "s.jsonl", limits, clock=clock)
    clock.now += 1  # +201: the live file is 41 s old, not due yet
    send(again, 5)
    clock.now += 20  # +221: 61 s old
    send(again, 6)
    again.close()
    assert names(tmp_path) == ["s.2.jsonl.gz", "s.3.jsonl.gz", "s.jsonl"], "numbers only go up"
    assert ids(read_transcript(tmp_path / "s.3.jsonl.gz")) == [4, 5]
    entries = read_series(tmp_path / "s.jsonl")
    assert ids(entries) == [2, 3, 4, 5, 6]
    assert entries[0]["dir"] == "note" and "s.1.jsonl.gz deleted by retention" in entries[0]["msg"]


def test_compress_false_keeps_plain_members(tmp_path: Path) -> None:
    written_series(tmp_path, 4, Limits(max_size=1, max_age=None, compress=False, **NO_RETENTION))
    assert names(tmp_path) == ["s.1.jsonl", "s.2.jsonl", "s.3.jsonl", "s.jsonl"]
    assert ids(read_series(tmp_path / "s.2.jsonl")) == [0, 1, 2, 3]


def test_a_compression_that_fails_leaves_the_plain_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(series.shutil, "copyfileobj", full)  # the .gz cannot be written
    written_series(tmp_path, 3, Limits(max_size=1, max_age=None, **NO_RETENTION))
    assert names(tmp_path) == ["s.1.jsonl", "s.1.jsonl.gz.tmp", "s.2.jsonl", "s.2.jsonl.gz.tmp", "s.jsonl"]
    assert ids(read_series(tmp_path / "s")) == [0, 1, 2]


def test_a_crash_mid_rotation_loses_nothing_and_the_next_writer_finishes_it(tmp_path: Path) -> None:
    written_series(tmp_path, 4, Limits(max_size=1, max_age=None, compress=False, **NO_RETENTION))
    # as a crash leaves them: s.1 compressed but its plain copy not deleted yet, s.2 half compressed, s.3 plain
    series.compress(tmp_path / "s.1.jsonl")
    (tmp_path / "s.1.jsonl").write_text((tmp_path / "s.jsonl").read_text().replace('"q0003"', '"q0099"'))
    (tmp_path / "s.2.jsonl.gz.tmp").write_bytes(b"\x1f\x8b half")
    assert ids(read_series(tmp_path / "s")) == [0, 1, 2, 3], "each member once, its .gz before its copy"
    Transcript(tmp_path / "s.jsonl", Limits(max_size=1, max_age=None, **NO_RETENTION)).close()
    assert names(tmp_path) == ["s.1.jsonl.gz", "s.2.jsonl.gz", "s.3.jsonl.gz", "s.jsonl"]
    assert ids(read_series(tmp_path / "s")) == [0, 1, 2, 3]


#: A writer in a process of its own: ``PATH TAG COUNT``; COUNT lines ``TAG00000``…, rotated every 16 KiB;
#: at half of them it waits (its worker done: the series still) until told to go on by a line on stdin.
WRITER = """
import sys, time
from pathlib import Path
from colotui.errors import UserError
from colotui.qmp.series import Limits
from colotui.qmp.transcript import new_transcript
path, tag, count, pause = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "pause"
try:
    transcript = new_transcript(path, Limits(max_size=16 * 1024, max_age=None, keep_size=None, keep_days=None))
except UserError as exc:
    sys.exit(f"colotui: {exc}")
for i in range(count):
    if pause and i == count // 2:
        while any(p.name.endswith((".jsonl", ".tmp")) and p != path for p in path.parent.iterdir()):
            time.sleep(0.01)  # a member still being compressed
        print("half", flush=True)
        sys.stdin.readline()
    transcript.write_wire("vm", "send", b'{"execute":"query-status","id":"%s%05d"}' % (tag.encode(), i))
transcript.close()
"""
LINES = 20_000


def tagged(entries: list[dict[str, object]]) -> list[str]:
    return [e["msg"]["id"] for e in entries if e["dir"] == "send"]  # type: ignore[index]


def assert_whole(directory: Path, tags: list[str], lines: int = LINES) -> None:
    """The series holds exactly ``tags``' lines, each writer's in order, every member intact, nothing left over."""
    entries = read_series(directory / "s.jsonl")
    assert [e["msg"] for e in entries if e["dir"] == "note"] == [], "nothing missing, damaged or torn"
    assert tagged(entries) == [f"{tag}{i:05d}" for tag in tags for i in range(lines)]
    members = [p for p in directory.iterdir() if p.name != "s.jsonl"]
    assert len(members) >= lines // 400 and all(re.fullmatch(r"s\.[0-9]+\.jsonl\.gz", p.name) for p in members), \
        "rotated many times; no plain member, temporary file or lock file left"
    for member in members:
        gzip.decompress(member.read_bytes())  # raises on a damaged member


def test_a_process_that_never_closes_its_transcript_leaves_it_whole_and_unlocked(tmp_path: Path) -> None:
    """As a console does: its transcript lives as long as the process."""
    script = WRITER.replace("transcript.close()", "")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s.jsonl"), "a", "2000", "go"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert_whole(tmp_path, ["a"], 2000)


def test_a_writer_waits_out_retention_that_holds_the_series_a_moment(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    retention = series.Claim.take(path)  # as prune holds a finished series while it deletes its live file
    threading.Timer(0.1, retention.release).start()
    started = time.monotonic()
    transcript = Transcript(path)
    assert time.monotonic() - started >= 0.09, "it waited for the claim"
    send(transcript, 1)
    transcript.close()
    assert ids(read_series(path)) == [1]


def test_retention_forgets_a_crashed_writers_lock_and_it_blocks_no_one(tmp_path: Path) -> None:
    for name in ("gone", "kept"):
        (tmp_path / f"{name}.jsonl.lock").write_text("999999\n")  # left by a crash: nobody holds them
    (tmp_path / "kept.jsonl").write_text("")
    starting = series.Claim.take(tmp_path / "new.jsonl")  # a writer about to create its live file
    try:
        deleted = series.prune(tmp_path, Limits(keep_size=None, keep_days=None), time.time())
        assert deleted == [tmp_path / "gone.jsonl.lock"]
        assert names(tmp_path) == ["kept.jsonl", "kept.jsonl.lock", "new.jsonl.lock"]
    finally:
        starting.release()
    transcript = Transcript(tmp_path / "kept.jsonl")
    assert (tmp_path / "kept.jsonl.lock").read_text() == f"{os.getpid()}\n"
    transcript.close()
    assert names(tmp_path) == ["kept.jsonl"], "a writer deletes its lock as it lets go"


def test_a_member_gone_before_it_is_compressed_is_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert series.compress(tmp_path / "s.1.jsonl") is None
    transcript = Transcript(tmp_path / "s.jsonl", Limits(max_size=1, max_age=None, **NO_RETENTION))
    for n in range(3):
        send(transcript, n)
    transcript.close()
    (tmp_path / "s.2.jsonl.gz").unlink()
    (tmp_path / "s.2.jsonl").write_text("")  # left by a crash, then taken by retention before it was compressed
    with caplog.at_level(logging.WARNING):
        again = Transcript(tmp_path / "s.jsonl", Limits(max_size=1, max_age=None, **NO_RETENTION))
        (tmp_path / "s.2.jsonl").unlink()
        again.close()
    assert caplog.records == [], "nothing left undone"


def test_a_rotation_that_cannot_rename_keeps_writing_the_live_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    def refused(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    limits = Limits(max_size=300, max_age=None, **NO_RETENTION)
    transcript = Transcript(tmp_path / "s.jsonl", limits)
    with caplog.at_level(logging.WARNING):
        monkeypatch.setattr(series.os, "rename", refused)  # e.g. a member's name taken by another user in /tmp
        for n in range(6):  # 3 lines fit: the 4th tries once, then waits for as much again
            send(transcript, n)
        monkeypatch.undo()
        for n in range(6, 9):
            send(transcript, n)
    transcript.close()
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == ["not rotated (Operation not permitted); "
                                                                          "it grows on"]
    assert names(tmp_path) == ["s.1.jsonl.gz", "s.jsonl"]
    assert ids(read_transcript(tmp_path / "s.1.jsonl.gz")) == list(range(6))
    assert ids(read_series(tmp_path / "s")) == list(range(9))


def test_a_live_file_deleted_by_hand_starts_anew(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    transcript = Transcript(tmp_path / "s.jsonl", Limits(max_size=300, max_age=None, **NO_RETENTION))
    send(transcript, 0)
    (tmp_path / "s.jsonl").unlink()
    with caplog.at_level(logging.WARNING):
        for n in range(1, 6):
            send(transcript, n)
    transcript.close()
    assert "the live file was deleted; a new one starts" in caplog.text
    assert ids(read_series(tmp_path / "s")) == [3, 4, 5], "what the deleted file held went with it; no more"


def test_files_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "new" / "deeper" / "s.jsonl"
        transcript = Transcript(path, Limits(max_size=1, max_age=None, **NO_RETENTION))
        assert stat.S_IMODE((tmp_path / "new" / "deeper" / "s.jsonl.lock").stat().st_mode) == 0o600
        for n in range(3):
            send(transcript, n)
        transcript.close()
        plain = Transcript(tmp_path / "new" / "p.jsonl", Limits(max_size=1, max_age=None, compress=False,
                                                                **NO_RETENTION))
        for n in range(2):
            send(plain, n)
        plain.close()
    finally:
        os.umask(old)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert modes == {"new": 0o700, "new/deeper": 0o700, "new/deeper/s.jsonl": 0o600,
                     "new/deeper/s.1.jsonl.gz": 0o600, "new/deeper/s.2.jsonl.gz": 0o600,
                     "new/p.jsonl": 0o600, "new/p.1.jsonl": 0o600}


def test_a_link_or_a_fifo_at_the_transcript_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "bashrc"
    target.write_text("untouched\n")
    (tmp_path / "link.jsonl").symlink_to(target)  # planted in a shared directory
    with pytest.raises(UserError, match=r"link\.jsonl is a symbolic link \(not followed: give the file itself\)$"):
        new_transcript(tmp_path / "link.jsonl")
    assert target.read_text() == "untouched\n"
    os.mkfifo(tmp_path / "fifo.jsonl")
    with pytest.raises(UserError, match=r"cannot write the transcript .*fifo\.jsonl: it is not a regular file$"):
        new_transcript(tmp_path / "fifo.jsonl")  # no reader: it would block an open for writing
    assert names(tmp_path) == ["bashrc", "fifo.jsonl", "link.jsonl"], "no lock left behind"


def old_series(directory: Path, name: str, members: int, age_days: float, now: float, size: int = 1000) -> None:
    """A finished series: ``members`` rotated members and a live file, each ``size`` bytes, written
    ``age_days`` ago (a second apart, oldest member first)."""
    paths = [series.member_path(directory, name, n, compressed=True) for n in range(1, members + 1)]
    for i, path in enumerate([*paths, series.live_path(directory, name)]):
        path.write_bytes(b"x" * size)
        when = now - age_days * DAY + i
        os.utime(path, (when, when))


def test_retention_by_size_deletes_the_oldest_first_and_never_a_live_file(tmp_path: Path) -> None:
    clock = Clock()
    old_series(tmp_path, "a", 2, 3, clock.now)  # the oldest series, finished
    old_series(tmp_path, "b", 2, 2, clock.now)  # finished
    old_series(tmp_path, "c", 1, 1, clock.now)  # its live file is held by a running session below
    limits = Limits(max_size=None, max_age=None, keep_size=3500, keep_days=None)
    other_session = series.Claim.take(tmp_path / "c.jsonl")
    try:
        live = Transcript(tmp_path / "d.jsonl", limits, prune_directory=True, clock=clock)
        live.write("vm", "note", "x" * 2000)  # d.jsonl, larger than what is left to keep
        live.close()  # waits for the retention that ran at its start
        Transcript(tmp_path / "d.jsonl", limits, prune_directory=True, clock=clock).close()  # runs it again
    finally:
        other_session.release()
    assert names(tmp_path) == ["c.jsonl", "d.jsonl"], "everything else went, oldest first; held files stay"
    old_series(tmp_path, "e", 3, 0.5, clock.now)
    series.prune(tmp_path, Limits(keep_size=2000 + 2400, keep_days=None), clock.now)
    assert names(tmp_path) == ["d.jsonl", "e.3.jsonl.gz", "e.jsonl"], "c.jsonl is no longer held"


def on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir())


def test_retention_counts_every_file_at_its_size_on_disk_and_keeps_the_directory_under_keep_size(
        tmp_path: Path) -> None:
    now = time.time()
    old_series(tmp_path, "a", 3, 3, now)  # finished: 4 files of 1000 bytes
    old_series(tmp_path, "b", 0, 2, now)  # another writer's, below: its live file and a member it compresses
    (tmp_path / "b.1.jsonl").write_bytes(b'{"t":1}\n' * 375)  # 3000 bytes, not compressed yet
    os.utime(tmp_path / "b.1.jsonl", (now - 2 * DAY - 1,) * 2)
    old_series(tmp_path, "c", 1, 1, now, size=200)  # finished; a crash left its member's plain copy too
    (tmp_path / "c.1.jsonl").write_bytes(b"y" * 5000)
    other_writer = series.Claim.take(tmp_path / "b.jsonl")
    try:
        deleted = series.prune(tmp_path, Limits(keep_size=5000, keep_days=None), now)
        kept = ["b.1.jsonl", "b.jsonl", "b.jsonl.lock", "c.1.jsonl.gz", "c.jsonl"]
        assert names(tmp_path) == kept, "b's plain member counted at its 3000 bytes: every file of a went"
        assert sorted(p.name for p in deleted) == ["a.1.jsonl.gz", "a.2.jsonl.gz", "a.3.jsonl.gz", "a.jsonl",
                                                   "c.1.jsonl"]
        assert on_disk(tmp_path) <= 5000 < on_disk(tmp_path) + 1000, "under keep_size, and no more went than had to"
        assert series.compress(tmp_path / "b.1.jsonl") is not None  # its writer compresses it: now ~40 bytes
        packed = on_disk(tmp_path) - len((tmp_path / "b.jsonl.lock").read_bytes())
        assert packed - 1400 == (tmp_path / "b.1.jsonl.gz").stat().st_size < 100
        assert series.prune(tmp_path, Limits(keep_size=packed, keep_days=None), now) == []
        assert series.prune(tmp_path, Limits(keep_size=packed - 1, keep_days=None), now) == [tmp_path / "b.1.jsonl.gz"]
        assert names(tmp_path) == ["b.jsonl", "b.jsonl.lock", "c.1.jsonl.gz", "c.jsonl"], "a held live file stays"
    finally:
        other_writer.release()


@pytest.mark.parametrize("compress", [True, False])
def test_a_rotating_series_keeps_as_much_as_keep_size_allows(tmp_path: Path, compress: bool,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    max_size, keep_size = 4096, 16 * 1024
    with caplog.at_level(logging.WARNING):
        written_series(tmp_path, 6000, Limits(max_size=max_size, max_age=None, keep_size=keep_size, keep_days=None,
                                                compress=compress))
    assert caplog.records == [], "nothing left undone"
    members = on_disk(tmp_path) - (tmp_path / "s.jsonl").stat().st_size
    largest = max(p.stat().st_size for p in tmp_path.iterdir() if p.name != "s.jsonl")
    # the last retention ran after the last member was compressed, the live file then at most max_size
    assert keep_size - largest - max_size < members <= keep_size
    entries = read_series(tmp_path / "s")
    assert "deleted by retention" in entries[0]["msg"]
    kept = ids(entries)
    assert kept == list(range(kept[0], 6000)) and kept[0] > 0, "the newest, all of them"


def test_retention_by_age_and_a_named_path_touches_only_its_own_series(tmp_path: Path) -> None:
    clock = Clock()
    old_series(tmp_path, "other", 1, 30, clock.now)  # not colotui's: a --transcript in someone's directory
    old_series(tmp_path, "s", 3, 30, clock.now)
    os.utime(tmp_path / "s.3.jsonl.gz", (clock.now - 10 * DAY,) * 2)
    os.utime(tmp_path / "s.jsonl", (clock.now - 20 * DAY,) * 2)  # old, but about to be written again
    limits = Limits(max_size=None, max_age=None, keep_size=None, keep_days=14)
    Transcript(tmp_path / "s.jsonl", limits, clock=clock).close()
    assert names(tmp_path) == ["other.1.jsonl.gz", "other.jsonl", "s.3.jsonl.gz", "s.jsonl"]
    series.prune(tmp_path, limits, clock.now)  # the whole directory, nobody writing
    assert names(tmp_path) == ["s.3.jsonl.gz"]


def test_read_series_from_the_live_file_any_member_or_the_name(tmp_path: Path) -> None:
    written_series(tmp_path, 30, Limits(max_size=300, max_age=None, **NO_RETENTION))
    whole = read_series(tmp_path / "s.jsonl")
    assert ids(whole) == list(range(30)) and len(whole) == 30
    assert read_series(tmp_path / "s") == whole == read_series(tmp_path / "s.2.jsonl.gz")
    with pytest.raises(UserError, match=r"no transcript .*/nothing.jsonl \(nor members nothing.N.jsonl.gz\)"):
        read_series(tmp_path / "nothing.jsonl")


def test_read_series_leaves_out_a_torn_last_line_and_notes_damage(tmp_path: Path) -> None:
    written_series(tmp_path, 20, Limits(max_size=300, max_age=None, **NO_RETENTION))
    members = sorted(tmp_path.glob("s.*.jsonl.gz"), key=lambda p: int(p.name.split(".")[1]))
    assert len(members) >= 5
    with (tmp_path / "s.jsonl").open("a") as live:
        live.write('{"t":1,"vm":"vm","dir":"se')  # being written when read
    assert ids(read_series(tmp_path / "s")) == list(range(20)), "the torn last line quietly left out"
    members[2].unlink()
    packed = members[3].read_bytes()
    members[3].write_bytes(packed[:len(packed) - 12])  # cut short
    entries = read_series(tmp_path / "s")
    notes = [e["msg"] for e in entries if e["dir"] == "note"]
    assert notes[0] == "s.3.jsonl.gz missing: the series continues with s.4"
    assert notes[1].startswith("s.4.jsonl.gz is damaged after line") and notes[1].endswith("is left out")
    kept = ids(entries)
    assert kept[:6] == list(range(6)) and kept[-1] == 19 and len(kept) == len(set(kept)) < 20
    assert all(isinstance(e["t"], float) for e in entries), "a note has the time of the entry before it"


def test_new_transcript_refuses_a_member_name_and_names_by_time(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match=r"ends in \.jsonl \(not in \.N\.jsonl"):
        new_transcript(tmp_path / "t.3.jsonl")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    first, second = new_transcript(), new_transcript()  # the first holds its name: the second takes another
    try:
        assert first.path.parent == second.path.parent == tmp_path / "state" / "colotui" / "transcripts"
        assert first.path != second.path and series.parse(second.path).number is None  # type: ignore[union-attr]
    finally:
        first.close()
        second.close()
    third = new_transcript()  # the first's file is there, though nobody writes it: not continued
    third.close()
    assert third.path not in (first.path, second.path)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state", first.path.parent.parent, first.path.parent,
                                                    first.path)] == [0o700, 0o700, 0o700, 0o600]
    # a fleet's pair: its label after the time; two fleets on one pair in one second get a series each
    fleets = [new_transcript(label="fleet-west") for _ in range(2)]
    try:
        assert all(t.path.name.split("-fleet-west")[0].replace("-", "").isdigit() for t in fleets)
        assert fleets[0].path != fleets[1].path and all("-fleet-west" in t.path.name for t in fleets)
    finally:
        for transcript in fleets:
            transcript.close()


TRANSCRIPTS_CONFIG = """\
deadline = 5
[transcripts]
max_size = "2 MiB"
max_age = "30 min"
keep_size = 50_000_000
keep_days = 2.5
compress = false
"""


def test_transcripts_config_with_units_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TRANSCRIPTS_CONFIG)
    assert load_config(path).transcripts == Limits(max_size=2 * 2**20, max_age=1800, keep_size=50_000_000,
                                                   keep_days=2.5, compress=False)
    path.write_text('[transcripts]\nmax_size = "1.5GB"\nmax_age = false\nkeep_size = "8 gib"\n')
    assert load_config(path).transcripts == Limits(max_size=1_500_000_000, max_age=None, keep_size=8 * 2**30)
    path.write_text("deadline = 5\n")
    defaults = load_config(path).transcripts
    assert defaults == Limits() and defaults.keep_size is not None and defaults.keep_size <= 256 * 2**20


@pytest.mark.parametrize(("body", "line", "reason"), [
    ('[transcripts]\nmax_size = "16 MiB"\nrotate = true\n', 3, "unknown setting transcripts.'rotate'"),
    ('[transcripts]\nmax_size = "16 furlongs"\n', 2, 'transcripts.max_size must be a number of bytes or a string '
                                                     'like "16 MiB"'),
    ('[transcripts]\nmax_age = "1 week"\n', 2, "transcripts.max_age must be a number of seconds or a string"),
    ('[transcripts]\n\nkeep_days = "14"\n', 3, "transcripts.keep_days must be a number of days, or false"),
    ("[transcripts]\nkeep_size = 0\n", 2, "transcripts.keep_size must be more than 0 (false: no limit)"),
    ("[transcripts]\ncompress = 1\n", 2, "transcripts.compress must be true or false"),
    ('[transcripts]\nmax_size = "64 MiB"\nkeep_size = "16 MiB"\n', 3, "keep_size (16777216 bytes) is less than"),
    ("transcripts = 5\n", 1, "transcripts must be a table: [transcripts]"),
    ("transcripts = { max_age = true }\n", 1, "transcripts.max_age must be a number of seconds"),
])
def test_transcripts_config_mistakes_are_reported_with_their_line(tmp_path: Path, body: str, line: int,
                                                                 reason: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(FileError) as err:
        load_config(path)
    assert err.value.line == line and reason in err.value.reason, str(err.value)


def test_a_bad_transcripts_setting_is_one_line_from_the_command(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[transcripts]\nmax_age = "soon"\n')
    assert main(["run", "startup", "--config", str(path), "--lab", str(tmp_path / "no-lab")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"colotui: {path}:2: transcripts.max_age must be") and err.count("\n") == 1, err
