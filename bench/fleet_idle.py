"""What `colotui fleet` costs at idle, for 1, 5 and 10 COLO pairs side by side.

Starts labs (KVM, the smallest guest asked for: by default the counter guest
with 64 MiB), brings each into COLO with the startup procedure (default
x-checkpoint-delay, 1000 ms), then for each fleet size asked for, in one run:
runs `colotui fleet --lab DIR ...` in a pseudo-terminal (200x50; what it draws
is read and dropped), waits until it has read every VM once (its per-pair
transcripts say so), and measures its CPU time (as a share of one core) and
its memory (RSS) over SECONDS of idle: nothing changes but checkpoints. For
comparison, `colotui connect --lab` on the first lab, measured the same way.

Target (issue 17): linear in the pairs, <= 1 % of one core per pair; memory
flat over the measurement.

    .venv/bin/python bench/fleet_idle.py [--sizes 1,5,10] [--seconds 60] [--memory-mb 64] [--guest counter]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pty_command import PtyCommand, cpu_seconds, rss_mb

from colotui.control.terminal import Options, run_scenario
from colotui.lab import Lab, pair_from_lab
from colotui.model.replies import STRUCTURE_QUERIES
from colotui.scenario import find_scenario

SIZE = (50, 200)  # rows, columns


@dataclass
class Row:
    command: str
    pairs: int
    seconds: float
    cpu_s: float
    rss_start_mb: float
    rss_end_mb: float
    checkpoints_per_s: float

    @property
    def core_percent(self) -> float:
        return 100 * self.cpu_s / self.seconds


class Fleet(PtyCommand):
    """`colotui fleet --lab DIR ...` (or `colotui connect --lab DIR`) in a pseudo-terminal, its state
    (transcripts) under ``state``."""

    def __init__(self, labs: list[Lab], state: Path, command: str = "fleet") -> None:
        self.transcripts = state / "colotui" / "transcripts"
        args = [command, *(arg for lab in labs for arg in ("--lab", str(lab.dir)))]
        if command == "connect":
            args += ["--transcript", str(self.transcripts / "connect.jsonl")]
        super().__init__(args, SIZE, {"XDG_STATE_HOME": str(state)})

    def replies(self) -> list[int]:
        """Replies each VM's main session has had, over every pair's transcript."""
        counts: dict[tuple[str, str], int] = {}
        for path in self.transcripts.glob("*.jsonl"):
            for text in path.read_text().splitlines():
                try:
                    line = json.loads(text)
                except ValueError:  # the line being written
                    continue
                if line["dir"] not in ("send", "recv", "link"):  # the pair in use, notes: no VM's own words
                    continue
                key = (path.name, line["vm"])
                counts.setdefault(key, 0)
                if line["dir"] == "recv" and isinstance(line["msg"], dict) and "return" in line["msg"]:
                    counts[key] += 1
        return [n for (_, vm), n in counts.items() if not vm.endswith("/oob")]

    def wait_until_read(self, vms: int, timeout: float = 60.0) -> None:
        """Until every VM has had its first full read answered; exits with the reason if that never comes."""
        first_read = len(STRUCTURE_QUERIES) + 3
        deadline = time.monotonic() + timeout
        counts: list[int] = []
        while time.monotonic() < deadline:
            if not self.alive():
                sys.exit(f"the fleet exited before it was ready ({self.drawn} bytes drawn)")
            counts = self.replies()
            if len(counts) >= vms and all(n >= first_read for n in counts):
                time.sleep(2.0)  # let the follow-up reads settle
                return
            time.sleep(0.5)
        self.stop()
        sys.exit(f"the fleet was not ready after {timeout:.0f} s ({len(counts)} of {vms} VMs seen, replies {counts})")


def start_lab(lab: Lab, guest: str, memory_mb: int) -> None:
    lab.up(guest=guest, memory_mb=memory_mb, disk_mb=16)
    with open(os.devnull, "w") as quiet:
        result = asyncio.run(run_scenario(find_scenario("startup"), pair_from_lab(lab.dir),
                                          Options(yes=True, json_lines=True), transcript=None, out=quiet))
    if result is None or not result.passed:
        raise SystemExit(f"startup failed on {lab.dir}")


def checkpoints(fleet_state: Path) -> float:
    """Checkpoints so far, over all pairs: RESUME events on the VMs' main sessions in the transcripts (each
    checkpoint resumes both VMs; every monitor hears it, the out-of-band ones are left out)."""
    total = 0
    for path in (fleet_state / "colotui" / "transcripts").glob("*.jsonl"):
        for text in path.read_text().splitlines():
            if "RESUME" in text and re.search(r'"event": ?"RESUME"', text):
                try:
                    vm = json.loads(text)["vm"]
                except ValueError:  # the line being written
                    continue
                total += not vm.endswith("/oob")
    return total / 2


def measure(labs: list[Lab], tmp: Path, seconds: float, command: str = "fleet") -> Row:
    state = tmp / f"state-{command}-{len(labs)}"
    fleet = Fleet(labs, state, command)
    try:
        fleet.wait_until_read(2 * len(labs))
        cpu, wall, rss_start = cpu_seconds(fleet.pid), time.monotonic(), rss_mb(fleet.pid)
        before = checkpoints(state)
        time.sleep(seconds)
        cpu = cpu_seconds(fleet.pid) - cpu
        wall = time.monotonic() - wall
        rss_end = rss_mb(fleet.pid)
        counted = checkpoints(state) - before
    finally:
        fleet.stop()
    return Row(command, len(labs), wall, cpu, rss_start, rss_end, counted / wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,10", help="fleet sizes (pairs), comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--memory-mb", type=int, default=64)
    parser.add_argument("--guest", choices=("counter", "none"), default="counter")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows: list[Row] = []
    labs: list[Lab] = []
    with tempfile.TemporaryDirectory(prefix="colotui-fleet-bench-") as tmp:
        try:
            for size in sizes:
                while len(labs) < size:
                    lab = Lab(Path(tmp) / f"lab{len(labs) + 1}")
                    labs.append(lab)
                    print(f"starting {lab.dir.name} and bringing it into COLO …", file=sys.stderr, flush=True)
                    start_lab(lab, args.guest, args.memory_mb)
                if size == sizes[0] == 1:
                    print(f"measuring colotui connect for {args.seconds:.0f} s …", file=sys.stderr, flush=True)
                    rows.append(measure(labs, Path(tmp), args.seconds, "connect"))
                print(f"measuring the fleet of {size} for {args.seconds:.0f} s …", file=sys.stderr, flush=True)
                rows.append(measure(labs, Path(tmp), args.seconds))
            version = labs[0].state().qemu["version"]
        finally:
            for lab in labs:
                lab.down()
    print(f"`colotui fleet` idle, {args.seconds:.0f} s per size (QEMU {version}, KVM, {args.guest} guest, "
          f"{args.memory_mb} MiB, x-checkpoint-delay 1000 ms, {os.cpu_count()} cores)\n")
    fleets = [r for r in rows if r.command == "fleet"]
    one = fleets[0].core_percent / fleets[0].pairs
    print(f"{'command':<8}{'pairs':>5}{'checkpoints/s':>15}{'CPU % of a core':>17}{'per pair':>10}"
          f"{'linear from 1st':>17}{'RSS start/end MB':>18}{'per pair MB':>13}")
    for r in rows:
        linear = f"{one * r.pairs:.2f}" if r.command == "fleet" else ""
        print(f"{r.command:<8}{r.pairs:>5}{r.checkpoints_per_s:>15.1f}{r.core_percent:>17.2f}"
              f"{r.core_percent / r.pairs:>10.2f}{linear:>17}{f'{r.rss_start_mb:.0f}/{r.rss_end_mb:.0f}':>18}"
              f"{r.rss_end_mb / r.pairs:>13.1f}")
    print("\ncheckpoints/s: of all the pairs together")
    print("\ntarget: <= 1.00 % of a core per pair, linear; memory flat (start = end)")


if __name__ == "__main__":
    main()
