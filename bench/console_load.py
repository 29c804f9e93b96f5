"""What an attached console costs a live COLO pair, per checkpoint.

Starts a lab (KVM, counter guest), brings it into COLO, then for each
x-checkpoint-delay asked for (default 1000 ms and 100 ms), in one run:
  1. watches checkpoint pauses for SECONDS with no console attached;
  2. runs `colotui connect --lab` in a pseudo-terminal (160x48, as an operator
     would; its output is read and dropped) for SECONDS and watches again: the
     console's CPU time per checkpoint and as a share of one core, its QMP calls
     per second per VM (counted in its transcript), its memory, and the pauses
     with it attached;
then times the first full view of both VMs from both greetings (in-process).

Targets (issue 11): <= 2 ms of CPU per checkpoint (<= 2 % of a core at 10
checkpoints/s, < 1 % at 1/s), <= 2 QMP calls/s/VM, memory flat, pause ratio
<= 1.05, first full view within 100 ms of both greetings.

    .venv/bin/python bench/console_load.py [--seconds 60] [--delays 1000,100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pty_command import PtyCommand, cpu_seconds, rss_mb

from colotui.control.console import ConsoleController
from colotui.control.terminal import Options, run_scenario
from colotui.lab import Lab, pair_from_lab
from colotui.model.replies import STRUCTURE_QUERIES
from colotui.pair import Endpoint
from colotui.qmp import Event, Ok, UnixAddress
from colotui.scenario import find_scenario
from colotui.service.sessions import open_sessions
from colotui.ui.app import ColotuiApp


@dataclass
class Row:
    delay_ms: int
    seconds: float
    cpu_s: float
    checkpoints_alone: int
    checkpoints_attached: int
    pause_alone_ms: float
    pause_attached_ms: float
    calls_per_s: dict[str, float]
    rss_start_mb: float
    rss_end_mb: float

    @property
    def cpu_ms_per_checkpoint(self) -> float:
        return 1000 * self.cpu_s / max(1, self.checkpoints_attached)


async def checkpoint_pauses(qmp_spare: str, seconds: float) -> list[float]:
    """Checkpoint pauses (ms) seen on the primary's spare monitor for ``seconds``."""
    async with open_sessions({"observer": Endpoint("observer", UnixAddress(Path(qmp_spare)))},
                             connect_timeout=10) as sessions:
        assert sessions["observer"].connected, sessions["observer"].detail
        sub = sessions["observer"].subscribe(maxlen=100_000, events={"STOP", "RESUME"})
        await asyncio.sleep(seconds)
    result, stopped = [], None
    for notice in sub.drain():
        if isinstance(notice, Event) and notice.name == "STOP":
            stopped = notice.timestamp
        elif isinstance(notice, Event) and notice.name == "RESUME" and stopped is not None:
            result.append((notice.timestamp - stopped) * 1000)
            stopped = None
    return result


async def set_delay(qmp_spare: str, delay_ms: int) -> None:
    async with open_sessions({"bench": Endpoint("bench", UnixAddress(Path(qmp_spare)))},
                             connect_timeout=10) as sessions:
        reply = await sessions["bench"].execute("migrate-set-parameters", {"x-checkpoint-delay": delay_ms})
        assert isinstance(reply, Ok), reply


class Console(PtyCommand):
    """`colotui connect --lab DIR` in a pseudo-terminal; what it draws is read and dropped."""

    def __init__(self, lab_dir: Path, transcript: Path) -> None:
        self.transcript = transcript
        super().__init__(["connect", "--lab", str(lab_dir), "--transcript", str(transcript)], (48, 160))

    def wait_until_read(self, vms: list[str], timeout: float = 30.0) -> None:
        """Until the console has connected to both VMs and had its first full read of each answered (its
        transcript shows that many replies per VM); exits with the reason if that never comes."""
        first_read = len(STRUCTURE_QUERIES) + 3  # the structure queries and the fast ones (status, COLO, migration)
        deadline = time.monotonic() + timeout
        replies: dict[str, int] = {}
        while time.monotonic() < deadline:
            if not self.alive():
                sys.exit(f"the console exited before it was ready ({self.drawn} bytes drawn)")
            if self.transcript.exists():
                replies = dict.fromkeys(vms, 0)
                for text in self.transcript.read_text().splitlines():
                    try:
                        line = json.loads(text)
                    except ValueError:  # the line being written
                        continue
                    if line["vm"] in replies and line["dir"] == "recv" and isinstance(line["msg"], dict) \
                            and "return" in line["msg"]:  # the VMs' main sessions (not their */oob ones)
                        replies[line["vm"]] += 1
                if all(count >= first_read for count in replies.values()):
                    time.sleep(1.0)  # let the follow-up reads it scheduled settle
                    return
            time.sleep(0.1)
        seen = ", ".join(f"{vm}: {replies.get(vm, 0)}" for vm in vms) if self.transcript.exists() else "none"
        self.stop()
        sys.exit(f"the console was not ready after {timeout:.0f} s (replies so far, {first_read} needed per VM: "
                 f"{seen})")


def measure(lab: Lab, tmp: Path, delay_ms: int, seconds: float) -> Row:
    primary = lab.state().current("primary")
    assert primary is not None, "the lab has no primary"
    asyncio.run(set_delay(primary.qmp_spare, delay_ms))
    time.sleep(2 * delay_ms / 1000 + 0.5)  # the new delay in force
    alone = asyncio.run(checkpoint_pauses(primary.qmp_spare, seconds))
    transcript = tmp / f"console-{delay_ms}.jsonl"
    console = Console(lab.dir, transcript)
    try:
        console.wait_until_read([vm.name for vm in lab.state().vms if vm.state == "running"])
        cpu_before, wall_before, rss_start = cpu_seconds(console.pid), time.monotonic(), rss_mb(console.pid)
        sent_before = transcript.read_text().count('"dir":"send"')
        attached = asyncio.run(checkpoint_pauses(primary.qmp_spare, seconds))
        cpu = cpu_seconds(console.pid) - cpu_before
        wall = time.monotonic() - wall_before
        rss_end = rss_mb(console.pid)
        lines = [json.loads(line) for line in transcript.read_text().splitlines() if line.endswith("}")]
    finally:
        console.stop()
    sends = [line for line in lines if line["dir"] == "send"][sent_before:]
    per_vm = {vm: sum(1 for s in sends if s["vm"] == vm) / wall for vm in sorted({s["vm"] for s in sends})}
    return Row(delay_ms, wall, cpu, len(alone), len(attached), statistics.median(alone),
               statistics.median(attached), per_vm, rss_start, rss_end)


async def first_view(lab_dir: Path, timeout: float = 30.0) -> float:
    """Seconds from both greetings (both sessions connected) to both panes showing a full view."""
    greeted: dict[str, float] = {}
    complete: dict[str, float] = {}
    app = ColotuiApp(ConsoleController(pair_from_lab(lab_dir)))
    async with app.run_test() as pilot:
        deadline = time.monotonic() + timeout
        while len(complete) < 2:
            if time.monotonic() > deadline:
                sys.exit(f"no full view of both VMs within {timeout:.0f} s (greeted: {sorted(greeted)}, "
                         f"complete: {sorted(complete)})")
            now = time.monotonic()
            for role, session in (app.controller.sessions or {}).items():
                if session.connected:
                    greeted.setdefault(role, now)
            for role, view in app.main.views.items():
                if view.structure_known and view.version and role in greeted:
                    complete.setdefault(role, now)
            await pilot.pause(0.001)
    return max(complete.values()) - max(greeted.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--delays", default="1000,100", help="x-checkpoint-delay values in ms, comma-separated")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        version = lab.up().qemu["version"]
        try:
            with open(os.devnull, "w") as quiet:
                result = asyncio.run(run_scenario(find_scenario("startup"), pair_from_lab(lab.dir),
                                                  Options(yes=True, json_lines=True), transcript=None, out=quiet))
            assert result is not None and result.passed, "startup failed"
            for delay in (int(d) for d in args.delays.split(",")):
                rows.append(measure(lab, Path(tmp), delay, args.seconds))
            view = min(asyncio.run(first_view(lab.dir)) for _ in range(3))
        finally:
            lab.down()
    print(f"console (colotui connect in a 160x48 pty) attached to a live COLO pair, {args.seconds:.0f} s per delay "
          f"(QEMU {version}, KVM)\n")
    head = f"{'measure':<44}" + "".join(f"{f'{r.delay_ms} ms':>12}" for r in rows) + f"{'target':>14}"
    print(head)
    table: list[tuple[str, list[str], str]] = [
        ("checkpoints/s (attached)", [f"{r.checkpoints_attached / r.seconds:.1f}" for r in rows], ""),
        ("console CPU per checkpoint, ms", [f"{r.cpu_ms_per_checkpoint:.2f}" for r in rows], "<= 2"),
        ("console CPU, % of one core", [f"{100 * r.cpu_s / r.seconds:.2f}" for r in rows], "<= 2 / < 1"),
    ]
    if len(rows) > 1:  # what one more checkpoint costs, the console's own upkeep (polls, timers) taken out
        slow, fast = min(rows, key=lambda r: r.checkpoints_attached), max(rows, key=lambda r: r.checkpoints_attached)
        extra = fast.checkpoints_attached / fast.seconds - slow.checkpoints_attached / slow.seconds
        marginal = (fast.cpu_s / fast.seconds - slow.cpu_s / slow.seconds) / extra * 1000 if extra > 0 else 0.0
        table.append(("CPU per extra checkpoint (marginal), ms", [f"{marginal:.2f}"] + [""] * (len(rows) - 1), "<= 2"))
    for vm in sorted({vm for r in rows for vm in r.calls_per_s}):
        table.append((f"QMP calls/s to {vm}", [f"{r.calls_per_s.get(vm, 0):.2f}" for r in rows], "<= 2"))
    table += [
        ("console memory (RSS) at start / end, MB", [f"{r.rss_start_mb:.0f}/{r.rss_end_mb:.0f}" for r in rows],
         "flat"),
        ("checkpoint pause, median ms, alone", [f"{r.pause_alone_ms:.1f}" for r in rows], ""),
        ("checkpoint pause, median ms, attached", [f"{r.pause_attached_ms:.1f}" for r in rows], ""),
        ("pause ratio attached / alone", [f"{r.pause_attached_ms / r.pause_alone_ms:.3f}" for r in rows],
         "<= 1.05"),
    ]
    for name, values, target in table:
        print(f"{name:<44}" + "".join(f"{v:>12}" for v in values) + f"{target:>14}")
    print(f"{'first full view after both greetings, ms':<44}{view * 1000:>12.0f}{'':>{12 * (len(rows) - 1)}}"
          f"{'<= 100':>14}")


if __name__ == "__main__":
    main()
