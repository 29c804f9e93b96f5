"""What rotating and compressing transcripts costs, side by side with one growing file, in one run.

1. Writes N messages (COLO's per-checkpoint mix: STOP, RESUME, a query and its
   reply, with moving timestamps and ids) through a `Transcript` inside an event
   loop, three ways, alternating, median of three: one file (no limits), rotated
   at --max-size with gzip, and rotated without compressing. Reports µs per
   message on the loop, the time `close()` then waits for the worker, bytes
   written vs on disk, and the rotated members' compression ratio. ``--sample``
   replays the messages of a real transcript instead of the mix.
2. At 10 checkpoints/s (4 messages each), a live file pre-filled to just under
   16 MiB (the default max_size) rotates: the longest stall of the event loop
   (a 1 ms ticker's oversleep) while the worker compresses, against the same
   pace without a rotation, the write that rotated, and what gzip of that member
   would stall the loop for if it ran on it.

    .venv/bin/python bench/transcript_rotation.py [--messages 200000] [--max-size 4] [--sample FILE.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import tempfile
import time
from pathlib import Path

from colotui.qmp.series import COMPRESS_LEVEL, Limits
from colotui.qmp.transcript import Transcript, read_transcript

MiB = 2**20
CHECKPOINT = 4  # messages a checkpoint puts in the transcript here
SAMPLE: list[tuple[str, bytes]] = []  # a real transcript's messages, if given


def message(i: int) -> tuple[str, bytes]:
    """The i-th message of the mix (or of the sample): (direction, bytes as on the wire)."""
    if SAMPLE:
        return SAMPLE[i % len(SAMPLE)]
    seconds, micro = 1_764_460_000 + i // 40, (i * 7919) % 1_000_000
    kind = i % CHECKPOINT
    if kind == 0:
        return "recv", b'{"timestamp": {"seconds": %d, "microseconds": %d}, "event": "STOP"}' % (seconds, micro)
    if kind == 1:
        return "send", b'{"execute": "query-status", "id": "__qmp#%05d"}' % (i // CHECKPOINT)
    if kind == 2:
        return "recv", (b'{"return": {"status": "paused", "singlestep": false, "running": false}, "id": "__qmp#%05d"}'
                        % (i // CHECKPOINT))
    return "recv", b'{"timestamp": {"seconds": %d, "microseconds": %d}, "event": "RESUME"}' % (seconds, micro + 900)


def on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir())


async def write_burst(transcript: Transcript, count: int) -> float:
    """Seconds of loop time to write ``count`` messages (the loop runs every 1000, as it would between reads)."""
    started = time.perf_counter()
    for i in range(count):
        direction, data = message(i)
        transcript.write_wire("vm", direction, data)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    return time.perf_counter() - started


def throughput(messages: int, max_size: int) -> list[tuple[str, float, float, int, int, float | None]]:
    """Per mode: (name, µs/message, s close() waited, bytes written, bytes on disk, the rotated members'
    ratio: their lines' bytes / their size on disk, None without members); median of three."""
    modes: dict[str, Limits | None] = {
        "one file (no limits)": None,
        f"rotated at {max_size // MiB} MiB, gzip": Limits(max_size=max_size, max_age=None, keep_size=None,
                                                           keep_days=None),
        f"rotated at {max_size // MiB} MiB, plain": Limits(max_size=max_size, max_age=None, keep_size=None,
                                                            keep_days=None, compress=False),
    }
    samples: dict[str, list[tuple[float, float, int, int, float | None]]] = {name: [] for name in modes}
    for _ in range(3):
        for name, limits in modes.items():
            with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
                transcript = Transcript(Path(tmp) / "t.jsonl", limits)
                seconds = asyncio.run(write_burst(transcript, messages))
                closing = time.perf_counter()
                transcript.close()
                waited = time.perf_counter() - closing
                members = [p for p in Path(tmp).iterdir() if p.name != "t.jsonl"]
                inside = sum(len(_content(p)) for p in members)
                ratio = inside / sum(p.stat().st_size for p in members) if members else None
                written = inside + (Path(tmp) / "t.jsonl").stat().st_size
                samples[name].append((seconds / messages * 1e6, waited, written, on_disk(Path(tmp)), ratio))
    return [(name, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
             runs[0][2], runs[0][3], runs[0][4]) for name, runs in samples.items()]


def _content(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()


async def paced(transcript: Transcript, seconds: float, start: int) -> tuple[float, float, float]:
    """Write at 10 checkpoints/s for ``seconds``; returns (longest loop stall s, longest write s, seconds the
    worker was busy compressing, from the rotation to the end of it)."""
    stall = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal stall
        while not stop:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            stall = max(stall, time.perf_counter() - before - 0.001)

    tick = asyncio.create_task(ticker())
    longest_write = 0.0
    rotated_at = compressed_at = None
    i = start
    end = time.perf_counter() + seconds
    directory = transcript.path.parent
    while time.perf_counter() < end:
        for _ in range(CHECKPOINT):
            direction, data = message(i)
            before = time.perf_counter()
            transcript.write_wire("vm", direction, data)
            longest_write = max(longest_write, time.perf_counter() - before)
            i += 1
        plain_members = list(directory.glob("t.*.jsonl"))
        if plain_members and rotated_at is None:
            rotated_at = time.perf_counter()
        if rotated_at is not None and compressed_at is None and not plain_members:
            compressed_at = time.perf_counter()
        await asyncio.sleep(0.1)
    stop = True
    await tick
    busy = (compressed_at - rotated_at) if rotated_at is not None and compressed_at is not None else float("nan")
    return stall, longest_write, busy


def fill(transcript: Transcript, size: int) -> int:
    """Write messages until the live file is as full as it gets below ``size`` bytes (the next one rotates
    it); returns the next message's number."""
    i = 0
    while True:
        direction, data = message(i)
        transcript.flush()
        if transcript.path.stat().st_size + len(data) + 100 > size:  # 100: the line's own fields
            return i
        transcript.write_wire("vm", direction, data)
        i += 1


def stalls(seconds: float) -> list[tuple[str, float]]:
    rows = []
    size = 16 * MiB
    limits = Limits(max_size=size, max_age=None, keep_size=None, keep_days=None)
    with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
        transcript = Transcript(Path(tmp) / "t.jsonl", limits)
        start = fill(transcript, size // 2)  # far from max_size: no rotation
        base_stall, base_write, _ = asyncio.run(paced(transcript, seconds, start))
        transcript.close()
    with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
        transcript = Transcript(Path(tmp) / "t.jsonl", limits)
        start = fill(transcript, size)
        stall, write, busy = asyncio.run(paced(transcript, seconds, start))
        transcript.close()
        member = Path(tmp) / "t.1.jsonl.gz"
        raw = gzip.decompress(member.read_bytes())
        before = time.perf_counter()
        gzip.compress(raw, compresslevel=COMPRESS_LEVEL)
        inline = time.perf_counter() - before
    rows.append((f"no rotation: longest loop stall ({seconds:.0f} s at 10 checkpoints/s)", base_stall * 1000))
    rows.append(("no rotation: longest write", base_write * 1000))
    rows.append(("rotation: longest loop stall", stall * 1000))
    rows.append(("rotation: longest write (the one that renames)", write * 1000))
    rows.append((f"rotation: the worker compressed {len(raw) / MiB:.0f} MiB for (ms)", busy * 1000))
    rows.append(("gzip of that member on the loop instead (what the thread avoids)", inline * 1000))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--max-size", type=int, default=4, metavar="MIB")
    parser.add_argument("--seconds", type=float, default=4.0, help="the paced run's length")
    parser.add_argument("--sample", type=Path, metavar="FILE.jsonl", help="replay this transcript's messages")
    args = parser.parse_args()
    if args.sample:
        for entry in read_transcript(args.sample):
            if entry["dir"] in ("send", "recv"):
                SAMPLE.append((entry["dir"], json.dumps(entry["msg"]).encode()))
    rows = throughput(args.messages, args.max_size * MiB)
    source = f"of {args.sample}" if args.sample else f"({CHECKPOINT} a checkpoint)"
    print(f"transcript writing, {args.messages} messages {source}, median of 3, alternating\n")
    print(f"{'mode':<28}{'µs/msg':>9}{'close s':>9}{'written MB':>12}{'on disk MB':>12}{'members ratio':>15}")
    for name, per_message, waited, written, disk, ratio in rows:
        members = "-" if ratio is None else f"{ratio:.1f}"
        print(f"{name:<28}{per_message:>9.2f}{waited:>9.2f}{written / 1e6:>12.1f}{disk / 1e6:>12.2f}{members:>15}")
    print("\nthe event loop through one rotation of a 16 MiB live file (gzip level "
          f"{COMPRESS_LEVEL}, in the worker thread)\n")
    print(f"{'':<66}{'ms':>8}")
    for name, ms in stalls(args.seconds):
        print(f"{name:<66}{ms:>8.1f}")


if __name__ == "__main__":
    main()
