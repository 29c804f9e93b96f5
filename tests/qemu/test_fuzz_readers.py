"""Every reader of a file takes 10^4 damaged copies of real files (a fixed seed) without a traceback or a hang.

The originals are real: the built-in keymaps and scenarios, the README's config,
the topology file a lab writes, the lab.json of a real ``lab up``, the transcript
of a real console on a real QEMU. Each copy (`bad_bytes.mutate`: flipped bytes,
cuts, deep nesting, NaN, huge numbers, bytes that are not UTF-8, NUL bytes, wrong
types in place of values) is written to a file and read by the function the
command uses, in this process: it is read, or refused with one line that names the
file (the error type the command prints as ``colotui: …``), within `BOUND` seconds.
What is read is then used as the commands use it, and must hold what they rely on.

The readers of the files an operator writes (keymaps, scenarios, config, topology) are fuzzed in
tests/long/test_fuzz_readers.py; here, those of what a real QEMU made (lab.json, a transcript).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import random
import time
from pathlib import Path

from colotui.commands.lab import _print_lab
from colotui.errors import UserError
from colotui.lab.state import LabState
from colotui.qmp.entries import problem
from colotui.qmp.notices import Event
from colotui.qmp.recording import Recording
from colotui.qmp.transcript import read_series
from colotui.runbook import runbook
from colotui.service.player import Player, parse_when

from ..long.test_fuzz_readers import COUNT
from ..support.bad_bytes import BOUND, bounded, fuzz, inputs, mutate, overwrite
from ..support.recorded import lab_json, lab_template, real_transcript  # noqa: F401 (fixtures)


def test_lab_json(tmp_path: Path, lab_template: str) -> None:  # noqa: F811
    """A damaged lab.json is refused, or loads as a lab whose every name, path and marker is its own: what
    `lab status` prints and what `lab down` would check a PID against (nothing is signalled here)."""
    directory = tmp_path / "lab"
    original = lab_json(lab_template, directory)
    root = directory.resolve()
    originals = [(directory / "lab.json").read_bytes()]

    def read(path: Path) -> None:
        state = LabState.load(path.parent)
        state.refresh()
        state.topology()
        state.install()
        for vm in state.vms:
            assert "/" not in vm.name and vm.name not in (".", "..")
            for where in (vm.qmp, vm.qmp_spare, vm.serial, vm.log, *vm.images.values()):
                assert Path(where).resolve().is_relative_to(root), where
            assert vm.marker.startswith(f"unix:{root}/"), vm.marker
            vm.is_alive()
        with contextlib.redirect_stdout(io.StringIO()):
            _print_lab(state)

    outcome = fuzz(directory / "lab.json", inputs(25, COUNT, originals), read, UserError)
    assert outcome.read > 500 and outcome.refused > 5000, outcome
    assert not outcome.unsaid("not JSON:", "not what lab up writes: nested", "vms[", "ports.", "qemu."), \
        outcome.reasons
    assert original["vms"], "the template is a real lab's"


def transcript_inputs(seed: int, count: int, transcript: bytes) -> list[tuple[bytes, bytes | None]]:
    """(live file, member 1 or None): a stretch of the real transcript (one to 25 lines), damaged; a third
    as a series whose gzip member holds the stretch before (its uncompressed lines, or its compressed bytes,
    damaged)."""
    rng = random.Random(seed)
    lines = transcript.splitlines(keepends=True)
    out: list[tuple[bytes, bytes | None]] = [(transcript, None)]
    while len(out) < count:
        at = rng.randrange(len(lines))
        stretch = b"".join(lines[at:at + rng.randint(1, 25)])
        before = b"".join(lines[max(0, at - 15):at])
        roll = rng.random()
        if roll < 0.66:
            out.append((mutate(rng, stretch), None))
        elif roll < 0.83:
            out.append((stretch, gzip.compress(mutate(rng, before), mtime=0)))
        else:
            out.append((mutate(rng, stretch), mutate(rng, gzip.compress(before, mtime=0))))
    return out


def test_transcripts_and_their_replay(tmp_path: Path, real_transcript: bytes) -> None:  # noqa: F811
    """A damaged transcript (or series) is read as a replay, a runbook and an export read it: every entry
    it yields is one (`entries.problem`), the damage is said in notes, and the recording of it answers the
    player's questions. Only "no transcript", or a recording with no message at all, is refused."""
    live, member = tmp_path / "s.jsonl", tmp_path / "s.1.jsonl.gz"
    cases = transcript_inputs(26, COUNT, real_transcript)
    notes = done = 0

    def read(path: Path) -> None:
        nonlocal notes, done
        done += 1
        entries = read_series(path)
        assert all(problem(entry) is None for entry in entries)
        notes += sum(entry["dir"] == "note" and entry["vm"] == "transcript" for entry in entries)
        if done % 10 == 0:  # what an export writes beside the series
            runbook(entries, everything=True)
        try:
            recording = Recording.from_entries(entries)
        except ValueError as exc:
            assert str(exc) == "the transcript holds no messages"
            return
        player = Player(recording)
        with contextlib.suppress(UserError):  # a pair line that names no pair
            player.first_pair()
        player.next_moment()
        parse_when("end", recording.start, recording.end, recording.start)
        for moment in recording.timeline:
            if moment.kind == "event":
                Event.from_message(moment.vm, moment.data)
        middle = (recording.start + recording.end) / 2
        for record in recording.vms.values():
            record.link_at(middle)
            for command, arguments in list(record.exchanges)[:3]:
                record.answer(command, record.exchanges[command, arguments][0].arguments, middle, exact=True)

    slowest = 0.0
    for data, packed in cases:
        overwrite(live, data)
        if packed is None:
            member.unlink(missing_ok=True)
        else:
            overwrite(member, packed)
        started = time.perf_counter()
        try:
            with bounded(BOUND):
                read(live)
        except BaseException as exc:
            raise AssertionError(f"{type(exc).__name__} on {data[:300]!r}… (member: {packed is not None})") from exc
        slowest = max(slowest, time.perf_counter() - started)
    assert notes > 3000, notes
