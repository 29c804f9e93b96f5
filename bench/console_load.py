"""What an attached console costs a live COLO pair.

Starts a lab (KVM, counter guest), brings it into COLO, then in one run:
  1. watches checkpoint pauses for SECONDS with no console attached;
  2. runs `colotui connect --lab` headless in a subprocess for SECONDS and watches
     again: the console's CPU time, its QMP calls per second per VM (counted in
     its transcript), and the pauses with it attached;
  3. times the first full view of both VMs from both greetings (in-process).

Targets (issue 4): < 2 % of one core, <= 5 calls/s/VM, pause ratio <= 1.05,
first full view within 300 ms of both greetings.

    .venv/bin/python bench/console_load.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from colotui.lab import Lab
from colotui.model.watcher import STRUCTURE_QUERIES
from colotui.pair import pair_from_lab
from colotui.qmp import Event, LinkState, Session, UnixAddress
from colotui.scenario import find_scenario
from colotui.scenario.runner import Options, run_scenario
from colotui.ui.app import ColotuiApp
from colotui.ui.messages import VMChanged

HEADLESS = """
import sys
from pathlib import Path
from colotui.pair import pair_from_lab
from colotui.qmp import Transcript
from colotui.ui.app import ColotuiApp
lab = Path(sys.argv[1])
ColotuiApp(pair_from_lab(lab), transcript=Transcript(Path(sys.argv[2])), lab_dir=lab).run(headless=True)
"""


async def pauses(qmp_spare: str, seconds: float) -> list[float]:
    """Checkpoint pauses (ms) seen on the primary's spare monitor for ``seconds``."""
    session = Session("observer", UnixAddress(Path(qmp_spare)))
    session.start()
    assert await session.wait_connected(10)
    sub = session.subscribe(maxlen=100_000, events={"STOP", "RESUME"})
    await asyncio.sleep(seconds)
    await session.close()
    result, stopped = [], None
    for notice in sub.drain():
        if isinstance(notice, Event) and notice.name == "STOP":
            stopped = notice.timestamp
        elif isinstance(notice, Event) and notice.name == "RESUME" and stopped is not None:
            result.append((notice.timestamp - stopped) * 1000)
            stopped = None
    return result


def wait_until_read(console: subprocess.Popen[bytes], transcript: Path, vms: list[str], timeout: float = 30.0) -> None:
    """Until the headless console has connected to both VMs and had its first full read of each
    answered (its transcript shows that many replies per VM); exits with the reason if that never comes."""
    first_read = len(STRUCTURE_QUERIES) + 3  # the structure queries and the fast ones (status, COLO, migration)
    deadline = time.monotonic() + timeout
    replies: dict[str, int] = {}
    while time.monotonic() < deadline:
        if console.poll() is not None:
            error = console.stderr.read().decode(errors="replace").strip() if console.stderr else ""
            sys.exit(f"the headless console exited with status {console.returncode} before it was ready: "
                     f"{error.splitlines()[-1] if error else 'no message'}")
        if transcript.exists():
            replies = {vm: 0 for vm in vms}
            for text in transcript.read_text().splitlines():
                try:
                    line = json.loads(text)
                except ValueError:  # the line being written
                    continue
                if line["dir"] == "recv" and isinstance(line["msg"], dict) and "return" in line["msg"]:
                    replies[line["vm"]] = replies.get(line["vm"], 0) + 1
            if all(count >= first_read for count in replies.values()):
                time.sleep(1.0)  # let the follow-up reads it scheduled settle
                return
        time.sleep(0.1)
    seen = ", ".join(f"{vm}: {replies.get(vm, 0)}" for vm in vms) if transcript.exists() else "no transcript yet"
    console.terminate()
    sys.exit(f"the headless console was not ready after {timeout:.0f} s (replies so far, {first_read} needed "
             f"per VM: {seen})")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def first_view(lab_dir: Path) -> float:
    """Seconds from both greetings to both views fully read."""
    greeted: dict[str, float] = {}
    complete: dict[str, float] = {}

    def hook(message: object) -> None:
        if isinstance(message, VMChanged):
            if message.view.link is LinkState.CONNECTED:
                greeted.setdefault(message.role, time.monotonic())
            if message.view.structure_known and message.view.version:
                complete.setdefault(message.role, time.monotonic())

    app = ColotuiApp(pair_from_lab(lab_dir))
    async with app.run_test(message_hook=hook) as pilot:
        while len(complete) < 2:
            await pilot.pause(0.01)
    return max(complete.values()) - max(greeted.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        version = lab.up().qemu["version"]
        try:
            pair = pair_from_lab(lab.dir)
            with open(os.devnull, "w") as quiet:
                result = asyncio.run(run_scenario(find_scenario("startup"), pair, Options(yes=True, json_lines=True),
                                                  transcript=None, out=quiet))
            assert result is not None and result.passed, "startup failed"
            primary = lab.state().current("primary")
            assert primary is not None, "the lab has no primary"
            alone = asyncio.run(pauses(primary.qmp_spare, args.seconds))
            transcript = Path(tmp) / "console.jsonl"
            console = subprocess.Popen([sys.executable, "-c", HEADLESS, str(lab.dir), str(transcript)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                wait_until_read(console, transcript, [vm.name for vm in lab.state().vms])
                cpu_before, wall_before = cpu_seconds(console.pid), time.monotonic()
                sent_before = transcript.read_text().count('"dir":"send"')
                attached = asyncio.run(pauses(primary.qmp_spare, args.seconds))
                cpu = cpu_seconds(console.pid) - cpu_before
                wall = time.monotonic() - wall_before
                lines = [json.loads(line) for line in transcript.read_text().splitlines()]
            finally:
                console.terminate()
                console.wait(10)
            sends = [line for line in lines if line["dir"] == "send"][sent_before:]
            per_vm = {vm: sum(1 for s in sends if s["vm"] == vm) / wall for vm in sorted({s["vm"] for s in sends})}
            view = min(asyncio.run(first_view(lab.dir)) for _ in range(3))
        finally:
            lab.down()
    ratio = statistics.median(attached) / statistics.median(alone)
    print(f"console attached to a live COLO pair for {wall:.0f} s (QEMU {version}, KVM)\n")
    print(f"{'measure':<42}{'value':>12}{'target':>12}")
    print(f"{'console CPU, % of one core':<42}{100 * cpu / wall:>12.2f}{'< 2':>12}")
    for vm, rate in per_vm.items():
        print(f"{f'QMP calls/s to {vm}':<42}{rate:>12.2f}{'<= 5':>12}")
    print(f"{'checkpoint pause, median ms, alone':<42}{statistics.median(alone):>12.1f}{'':>12}")
    print(f"{'checkpoint pause, median ms, attached':<42}{statistics.median(attached):>12.1f}{'':>12}")
    print(f"{'pause ratio attached / alone':<42}{ratio:>12.3f}{'<= 1.05':>12}")
    print(f"{'checkpoints counted (alone / attached)':<42}{f'{len(alone)} / {len(attached)}':>12}{'':>12}")
    print(f"{'first full view after both greetings, ms':<42}{view * 1000:>12.0f}{'<= 300':>12}")


if __name__ == "__main__":
    main()
