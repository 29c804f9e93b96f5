"""Bad files, as an attacker or a damaged disk makes them, each refused in one line naming file and line.

Special files (a FIFO, /dev/zero, a directory, a socket) are refused before a
byte is read; a file over its size, bytes that are not UTF-8, nesting deeper
than a parser's stack, NaN and numbers beyond a float are errors like any other.
A damaged line of a live transcript is a note and the rest is read; one bad user
scenario is listed with its error beside the others; deadlines are finite and
positive. lab.json is not trusted: a name, a path, a PID's marker, QEMU's command
or root that is not the lab's own refuses the file before anything is removed or
signalled (`lab up` removed a directory outside the lab through a VM named
``../victim``; `lab down` signalled an unrelated process through an empty marker).

The lab.json of a real lab and a real transcript are in tests/qemu/test_bad_files.py, the replay of
one in the console in tests/ui/test_bad_files.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from colotui.cli import main
from colotui.config import load_config
from colotui.errors import FileError
from colotui.lab.chroot import _read_users
from colotui.lab.state import HelperRecord, LabState
from colotui.lab.traffic import STATS_FILE, read_stats
from colotui.model.traffic import TrafficStats
from colotui.qmp import transcript as transcript_module
from colotui.qmp.recording import Recording
from colotui.qmp.series import Limits
from colotui.qmp.transcript import Transcript, read_series, read_transcript
from colotui.scenario.loader import load_scenario
from colotui.topology import topology_values
from colotui.ui.keymap import load_keymap

from ..support.bad_bytes import bounded

T0 = 1_800_000_000.0
READERS: dict[str, Callable[[Path], object]] = {
    "keymap": lambda path: load_keymap(str(path)), "scenario": load_scenario, "config": load_config,
    "topology": topology_values,
}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "colotui", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.fixture
def special(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A FIFO, a directory, a socket (listening) and /dev/zero, each by a name a reader may be given."""
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "dir.toml").mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock.toml"))
    listener.listen()
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    try:
        yield {"a FIFO": tmp_path / "fifo.toml", "a directory": tmp_path / "dir.toml",
               "a socket": tmp_path / "sock.toml", "a character device": tmp_path / "zero.toml"}
    finally:
        listener.close()


@pytest.mark.parametrize("reader", sorted(READERS))
def test_special_files_are_refused_before_reading(reader: str, special: dict[str, Path]) -> None:
    for kind, path in special.items():
        with bounded(5.0), pytest.raises(FileError) as err:
            READERS[reader](path)
        assert str(err.value) == f"{path}: not a regular file ({kind}): refused"


def test_a_transcript_or_lab_json_that_is_a_special_file_is_refused(tmp_path: Path, special: dict[str, Path]) -> None:
    for kind, path in special.items():
        live = tmp_path / f"{kind.split()[-1]}.jsonl"
        live.symlink_to(path)
        with bounded(5.0), pytest.raises(FileError, match=r"not a regular file \(") as err:
            read_transcript(live)
        assert kind in str(err.value)
        lab = tmp_path / f"lab-{kind.split()[-1]}"
        lab.mkdir()
        (lab / "lab.json").symlink_to(path)
        with bounded(5.0), pytest.raises(FileError, match=f"lab.json: not a regular file \\({kind}\\): refused"):
            LabState.load(lab)


def test_a_file_over_its_size_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# padding\n" * (2**20 // 10 + 1))
    for reader in READERS.values():
        with pytest.raises(FileError, match=r"big.toml: 1 MiB, more than the 1 MiB such a file may be: refused"):
            reader(big)


@pytest.mark.parametrize(("text", "line", "reason"), [
    (b'keymap = "vim"\n# caf\xe9\n', 2, "not UTF-8 text (byte 0xe9 at column 6)"),
    (b'keymap = "vim"\nx = ' + b"[" * 100_000 + b"\n", 2, "not valid TOML: nested too deeply"),
    (b"\n" + b"a." * 500_000 + b"b = 1\n", 2, "a key of more than 32 dotted parts: refused"),
    (b"x = " + b"{ a = " * 40 + b"1" + b" }" * 40 + b"\n", 1, "nested deeper than 32 levels: refused"),
    (b"x = " + b"9" * 5000 + b"\n", None, "not valid TOML: Exceeds the limit (4300 digits)"),
], ids=["not utf-8", "deep", "long key", "deep tables", "long number"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_bytes_depth_and_numbers_are_refused_with_their_line(tmp_path: Path, reader: str, text: bytes,
                                                             line: int | None, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(text)
    started = time.monotonic()
    with pytest.raises(FileError) as err:
        READERS[reader](path)
    assert err.value.line == line and err.value.reason.startswith(reason), str(err.value)
    assert time.monotonic() - started < 2.0, "tomllib takes a key's parts in their square: checked before it"


def test_the_cli_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    """`--keymap /dev/zero` hung; a non-UTF-8 keymap or config, or a deep one, was an internal error (70)."""
    out = run_cli("keys", "--keymap", "/dev/zero", timeout=20)
    assert (out.returncode, out.stderr) == (1, "colotui: /dev/zero: not a regular file (a character device): refused\n")
    (tmp_path / "k.toml").write_bytes(b'[bindings]\n"app.quit" = "q\xff"\n')
    out = run_cli("keys", "--keymap", str(tmp_path / "k.toml"))
    assert (out.returncode, out.stderr) == (1, f"colotui: {tmp_path}/k.toml:2: not UTF-8 text (byte 0xff at column "
                                               "16)\n")
    (tmp_path / "c.toml").write_bytes(b"deadline = " + b"[" * 50_000 + b"\n")
    out = run_cli("connect", "a:1", "b:2", "--config", str(tmp_path / "c.toml"))
    assert (out.returncode, out.stderr) == (1, f"colotui: {tmp_path}/c.toml:1: not valid TOML: nested too deeply\n")


def test_one_bad_user_scenario_is_listed_with_its_error_and_the_others_still_are(tmp_path: Path) -> None:
    user = tmp_path / "config" / "colotui" / "scenarios"
    user.mkdir(parents=True)
    good = '[[step]]\nid = "one"\ntarget = "primary"\nwhy = "because"\nqmp = "query-status"\n'
    files = {
        "mine.toml": b'title = "Mine"\n' + good.encode(),
        "latin1.toml": b'title = "Caf\xe9"\n' + good.encode(),
        "deep.toml": b"title = " + b"[" * 100_000 + b"\n",
        "nan.toml": good.encode() + b'arguments = \'{"x": NaN}\'\n',
        "json-deep.toml": good.encode() + b"arguments = '" + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"'\n",
        "loop-a.toml": b'extends = "loop-b"\n', "loop-b.toml": b'extends = "loop-a"\n',
        "escape.toml": b'extends = "../../../etc/passwd"\n',
        "long.toml": b'extends = "' + b"9" * 300 + b'"\n',
        "huge-wait.toml": good.encode() + b'wait = { event = "STOP", timeout = inf }\n',
        "variant.toml": good.encode() + b"variant = []\n",
    }
    for name, data in files.items():
        (user / name).write_bytes(data)
    os.mkfifo(user / "fifo.toml")
    (user / "dir.toml").mkdir()
    out = run_cli("run", "--list", env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert out.returncode == 0 and out.stderr == "", out.stderr
    listed = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "Mine" in listed["mine"] and "ERROR" not in listed["mine"]
    for builtin in ("startup", "primary-failover", "secondary-resume"):
        assert "built-in" in listed[builtin] and "ERROR" not in listed[builtin]
    expected = {"latin1": ":1: not UTF-8 text", "deep": ":1: not valid TOML: nested too deeply",
                "nan": ":6: step one: arguments are not valid JSON: NaN is not a JSON number",
                "json-deep": ":6: step one: arguments are not valid JSON: nested too deeply",
                "loop-a": "which extends this one again (a cycle)", "loop-b": "which extends this one again",
                "escape": ":1: extends '../../../etc/passwd': give a scenario's name", "long": ":1: extends '999",
                "huge-wait": ":6: step one: wait timeout must be a positive number of seconds, at most 86400",
                "variant": ":6: step one: variant = []", "fifo": "not a regular file (a FIFO)",
                "dir": "not a regular file (a directory)"}
    for name, words in expected.items():  # a cycle is told in the file that closes it
        assert f"ERROR {user}/" in listed[name] and words in listed[name], listed[name]


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "0", "1e9", "soon"])
@pytest.mark.parametrize("command", [["connect", "a:1", "b:2"], ["run", "startup", "--lab", "x"], ["shell", "a:1"],
                                     ["fleet", "--lab", "x"], ["demo"]])
def test_a_deadline_is_finite_and_positive_on_every_command(command: list[str], value: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, f"--deadline={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"colotui {command[0]}: error: argument --deadline: ") and \
        ("give a number of seconds more than 0 and at most 86400" in err or "not a number of seconds" in err), err


def test_a_bad_deadline_exits_2_with_usage_not_70() -> None:
    out = run_cli("connect", "a:1", "b:2", "--deadline", "nan")
    assert out.returncode == 2 and out.stderr.startswith("usage: colotui connect")
    assert out.stderr.splitlines()[-1] == "colotui connect: error: argument --deadline: nan: give a number of " \
                                          "seconds more than 0 and at most 86400"


@pytest.mark.parametrize(("body", "line", "reason"), [
    ("deadline = nan\n", 1, "deadline must be more than 0 and at most 86400 (seconds)"),
    ("deadline = inf\n", 1, "deadline must be more than 0"),
    ("deadline = -5\n", 1, "deadline must be more than 0"),
    ("deadline = 1e999\n", 1, "deadline must be more than 0"),
    ("keymap = \"vim\"\nrefresh_interval = -nan\n", 2, "refresh_interval must be more than 0"),
    ("refresh_interval = 99999999999999999999999999\n", 1, "refresh_interval must be more than 0"),
    ("keymap = \"vim\\u0000.toml\"\n", 1, "keymap holds a NUL character"),
    ("[profiles.p]\nlab = \"/tmp/l\\u0000\"\n", 2, "profiles.p.lab holds a NUL character"),
    ("[transcripts]\nmax_size = nan\n", 2, "transcripts.max_size must be a number of bytes"),
    ("[transcripts]\nmax_size = \"1e999 MiB\"\n", 2, "transcripts.max_size must be a number of bytes"),
    ("[transcripts]\nkeep_size = 1" + "0" * 400 + "\n", 2, "transcripts.keep_size must be a number of bytes"),
    ("[transcripts]\nmax_age = inf\n", 2, "transcripts.max_age must be a number of seconds"),
])
def test_numbers_in_the_config_are_finite(tmp_path: Path, body: str, line: int | None, reason: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    with pytest.raises(FileError) as err:
        load_config(path)
    assert err.value.line == line and err.value.reason.startswith(reason), str(err.value)


@pytest.mark.parametrize(("body", "reason"), [
    ("checkpoint_delay_ms = -1\n", "checkpoint_delay_ms must be a number of milliseconds (0 to 4294967295)"),
    (f"checkpoint_delay_ms = {2**32}\n", "checkpoint_delay_ms must be a number of milliseconds"),
    ("[ids]\ndisk = \"colo\\u0000disk\"\n", "ids.disk must be a string"),
    ("variant = [\"doc\"]\n", "variant = ['doc']: give one of doc, upstream"),
    ("[ports]\nnbd = 1e999\n", "ports.nbd must be a number"),
])
def test_a_topology_file_takes_no_absurd_value(tmp_path: Path, body: str, reason: str) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(body)
    with pytest.raises(FileError) as err:
        topology_values(path)
    assert err.value.reason == reason or err.value.reason.startswith(reason), str(err.value)


# -- transcripts --------------------------------------------------------------------------------------


def line(t: float, msg: Any, direction: str = "recv", vm: str = "primary") -> bytes:
    return json.dumps({"t": T0 + t, "vm": vm, "dir": direction, "msg": msg}).encode() + b"\n"


def test_a_damaged_line_of_a_live_transcript_is_a_note_and_the_rest_is_read(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One byte that is not UTF-8 dropped the whole file ("holds no messages"); a deep line or a NaN time was
    an internal error. Each is a note now, at its line, with the time of the entry before it."""
    monkeypatch.setattr(transcript_module, "MAX_LINE", 2**18)
    live = tmp_path / "s.jsonl"
    live.write_bytes(b"".join([
        line(0, "connecting: x", "link"),
        b'{"t":1800000000.5,"vm":"primary","dir":"note","msg":"caf\xe9"}\n',
        line(1, {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}),
        b'{"t":1,"msg":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        b'{"t":NaN,"vm":"primary","dir":"link","msg":"connected: y"}\n',
        b'{"t":1e999,"vm":"primary","dir":"link","msg":"connected: y"}\n',
        b'{"t":"noon","vm":"primary","dir":"link","msg":"connected: y"}\n',
        b"[1, 2, 3]\n",
        line(2, {"event": ["STOP"], "data": {}}),
        line(3, {"event": "STOP", "data": [1]}),
        line(4, {"execute": {"a": 1}}, "send"),
        line(5, {"QMP": [1]}),
        line(6, "x" * 300_000, "note"),
        line(7, {"event": "RESUME", "data": {}, "timestamp": {"seconds": 1, "microseconds": 2}}),
        line(8, "connected: QEMU 7.2.0", "link"),
        b'{"t":1800000009,"vm":"primary","dir":"li',  # being written: quietly left out
    ]))
    entries = read_series(live)
    notes = [e["msg"] for e in entries if e["dir"] == "note" and e["vm"] == "transcript"]
    assert notes == [
        "s.jsonl line 2 is not UTF-8 (left out)",
        "s.jsonl line 4 is refused: nested too deeply (left out)",
        "s.jsonl line 5 is refused: NaN is not a JSON number (left out)",
        "s.jsonl line 6 is refused: 1e999 is beyond any number colotui reads (left out)",
        "s.jsonl line 7 has no time a transcript can hold (t: seconds since 1970) (left out)",
        "s.jsonl line 8 is not a transcript entry (a JSON object) (left out)",
        "s.jsonl line 9 holds a recv message that is not of QMP's shape (left out)",
        "s.jsonl line 10 holds a recv message that is not of QMP's shape (left out)",
        "s.jsonl line 11 holds a send message that is not of QMP's shape (left out)",
        "s.jsonl line 12 holds a recv message that is not of QMP's shape (left out)",
        "s.jsonl line 13 is longer than 256 KiB (left out)",
    ]
    kept = [e for e in entries if e["vm"] != "transcript"]
    assert [e["t"] - T0 for e in kept] == [0, 1, 7, 8]
    recording = Recording.from_entries(entries)
    assert [link.detail for link in recording.vms["primary"].links] == ["x", "QEMU 7.2.0"]
    with pytest.raises(ValueError, match="line 2 is not UTF-8"):
        read_transcript(live)


def test_a_recording_leaves_out_entries_no_reader_made(tmp_path: Path) -> None:
    """Entries handed to a recording by other code than the reader: what is not one is left out, and said."""
    recording = Recording.from_entries([
        {"t": T0, "vm": "primary", "dir": "link", "msg": "connected: QEMU 7.2.0"},
        {"t": float("nan"), "vm": "primary", "dir": "link", "msg": "disconnected: x"},
        {"t": float("inf"), "vm": "primary", "dir": "link", "msg": "disconnected: x"},
        ["not", "an", "entry"],  # type: ignore[list-item]
        {"t": T0 + 1, "vm": "primary", "dir": "send", "msg": {"execute": "stop", "id": [1, 2]}},
        {"t": T0 + 2, "vm": "primary", "dir": "recv", "msg": {"return": {}, "id": [1, 2]}},
    ])
    assert (recording.start, recording.end) == (T0, T0 + 2)
    stop = recording.vms["primary"].exchanges["stop", "{}"][0]
    assert stop.answered == T0 + 2, "a list as an id is one still (QMP's ids are any JSON)"
    assert [m.data for m in recording.timeline if m.kind == "note"] == [
        "3 entries of the transcript are not what colotui writes: left out"]


def test_a_transcript_continued_after_a_damaged_first_line(tmp_path: Path) -> None:
    """The writer reads the first line's time to know the file's age: a deep or NaN one was a crash."""
    for first in (b'{"t":' + b"[" * 100_000 + b"\n", b'{"t":NaN,"vm":"a","dir":"note","msg":""}\n'):
        path = tmp_path / "t.jsonl"
        path.write_bytes(first)
        transcript = Transcript(path, Limits(max_size=None, max_age=60.0, keep_size=None, keep_days=None))
        transcript.write("vm", "note", "continued")
        transcript.close()
        entries = read_series(path)
        assert [e["msg"] for e in entries if e["vm"] == "vm"] == ["continued"]
        assert entries[-1]["msg"] == "t.jsonl line 1 is refused: " + ("nested too deeply" if b"[" in first else
                                                                       "NaN is not a JSON number") + " (left out)"


def test_a_transcript_of_nothing_but_damage_is_one_line_from_replay(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"t":NaN}\n\xff\xfe\n' + b"[" * 100_000 + b"\n")
    out = run_cli("replay", str(path))
    assert (out.returncode, out.stderr) == (1, "colotui: the transcript holds no VM's messages\n")


@pytest.mark.parametrize("text", [b"[]", b'{"format": 1, "dir": ' + b"[" * 100_000 + b"}",
                                  b'{"format": NaN}', b'{"format": 1, "dir": "\xff"}', b'{"format": 1'])
def test_a_lab_json_that_is_not_json_is_refused(tmp_path: Path, text: bytes) -> None:
    (tmp_path / "lab.json").write_bytes(text)
    with pytest.raises(FileError) as err:
        LabState.load(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'lab.json'}") and "\n" not in str(err.value)


def test_a_traffic_helpers_marker_is_its_own_lab_not_one_named_like_it(tmp_path: Path) -> None:
    """The helper's marker was its lab's directory: /tmp/x/lab matched the helper of /tmp/x/lab2."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "colotui.lab.traffic",
                              str(tmp_path / "lab2"), "4000"])
    try:
        mine = HelperRecord(pid=other.pid, argv=[sys.executable, "-m", "colotui.lab.traffic", str(tmp_path / "lab"),
                                                 "4000"], log=str(tmp_path / "lab" / "traffic.log"))
        theirs = HelperRecord(pid=other.pid, argv=[sys.executable, "-m", "colotui.lab.traffic",
                                                   str(tmp_path / "lab2"), "4000"], log="")
        for _ in range(100):  # its arguments are in /proc once it has exec'd
            if theirs.is_alive():
                break
            time.sleep(0.02)
        assert theirs.is_alive() and not mine.is_alive()
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("text", [b"[" * 100_000, b'{"/lab": NaN}', b"[1, 2]", b'{"/lab": "noon", "rel": 1}',
                                  b'{"/lab": 1e300}', b"\xff"])
def test_a_damaged_users_file_of_a_qemu_root_counts_no_lab(tmp_path: Path, text: bytes) -> None:
    (tmp_path / "users.json").write_bytes(text)
    assert _read_users(tmp_path / "users.json") == {}
    (tmp_path / "users.json").write_text(json.dumps({"/lab": 5.0, "relative": 6.0}))
    assert _read_users(tmp_path / "users.json") == {"/lab": 5.0}



def test_a_damaged_traffic_report_is_no_report(tmp_path: Path) -> None:
    """`lab status` and the console read the helper's traffic.json: a damaged one is as none, never an error."""
    good = TrafficStats(ticks=3, last_tick=9, tick_rate=7.5, rtt_ms=2.0, target="primary")
    report = tmp_path / STATS_FILE
    report.write_text(json.dumps(asdict(good)))
    assert read_stats(tmp_path) == good
    report.write_text(json.dumps(asdict(TrafficStats())))
    assert read_stats(tmp_path) == TrafficStats(), "nothing seen yet: None where nothing was seen"
    for bad in ('{"ticks": "3"}', '{"ticks": true}', '{"tick_rate": NaN}', '{"rtt_ms": 1e999}', '{"nope": 1}',
                '[1]', '"x"', '{"target": null}', "[" * 100_000, '{"ticks": 3', "\xff"):
        report.write_bytes(b"\xff\xfe" if bad == "\xff" else bad.encode())
        assert read_stats(tmp_path) is None, bad
    report.unlink()
    os.mkfifo(report)  # no writer: reading it would block
    assert read_stats(tmp_path) is None
