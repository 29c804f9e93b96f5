"""A soak: a peer lost → failover → respawn → resume, again and again, for N minutes, in the console.

One net-guest lab in COLO (x-checkpoint-delay 200 ms by default), the console on it as `colotui connect --lab`
opens it (in-process, driven by keys through Textual's Pilot, following the lab), and a host client sending a
request every 100 ms through the network to the guest's service. Each cycle strikes the peer the moment a
checkpoint begins (the primary's STOP), alternating the signal (SIGSTOP, SIGKILL) and the side; waits for the
alert that offers the failover; presses f and confirms each step; fences a hung victim (SIGKILL, as an
operator's fence would); respawns a fresh secondary; picks the resume in the procedure picker (p) and
confirms each step; and waits for checkpoints to flow again. A cycle fails if any of that does not happen
(then a fresh lab is brought up and the soak goes on).

Printed: cycles done, failures (0 expected), the failover window per cycle (from the strike to the procedure's
end, and to the client's first reply after the strike; median and worst), and the console's CPU (its thread's,
over a 10 s window with checkpoints flowing) and the process's RSS, at the start and at the end, and after the
first, middle and last cycle (whether memory levels off once the bounded logs and buffers are full).

    .venv/bin/python bench/soak.py [--minutes 10] [--checkpoint-ms 200] [--qemu-root ROOT]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import OptionList

from colotui.commands.console import console
from colotui.config import Config
from colotui.control.terminal import Options, run_scenario
from colotui.errors import UserError
from colotui.lab import Lab, QemuInstall, pair_from_lab
from colotui.lab.traffic import Exchange, LabRoute, Traffic
from colotui.roles import other
from colotui.scenario import find_scenario
from colotui.ui.app import ColotuiApp
from colotui.ui.messages import ProcedureFinished
from colotui.ui.procedure import ProcedurePanel
from colotui.ui.vm_pane import VMPane

#: The faults in turn: (the side struck, the signal). Both sides get both signals every four cycles.
FAULTS = (("secondary", signal.SIGSTOP), ("primary", signal.SIGKILL), ("primary", signal.SIGSTOP),
          ("secondary", signal.SIGKILL))
STEADY = 10.0  # seconds of the console's CPU measured with checkpoints flowing


class CycleFailed(Exception):
    """What did not happen in a cycle, in one line."""


@dataclass
class Cycle:
    victim: str
    signal: str
    alert_s: float = 0.0  # from the strike to the alert offering the failover
    failover_s: float = 0.0  # from the strike to the failover procedure's end
    client_s: float = 0.0  # from the strike to the client's first reply to a request sent after it
    failed: str = ""
    rss_mb: float = 0.0  # the process's, at the cycle's end: does it level off, or grow with every cycle?


@dataclass
class Usage:
    cpu_percent: float  # of one core, the console's thread
    rss_mb: float


@dataclass
class Soak:
    cycles: list[Cycle] = field(default_factory=list)
    start: Usage | None = None
    end: Usage | None = None
    version: str = ""


class Client:
    """The host client, on its own thread and loop: its CPU is not the console's."""

    def __init__(self, lab_dir: Path) -> None:
        self.traffic = Traffic(None, LabRoute(lab_dir))
        self.loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Client:
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.traffic.run())

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def exchanges(self) -> list[Exchange]:
        async def copy() -> list[Exchange]:
            return list(self.traffic.exchanges)
        return asyncio.run_coroutine_threadsafe(copy(), self.loop).result(5)

    def first_reply_after(self, moment: float) -> float | None:
        replied = [e.replied for e in self.exchanges() if e.sent >= moment and e.replied is not None]
        return min(replied) if replied else None


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise CycleFailed(f"{what} did not happen within {timeout:g} s")
        await pilot.pause(0.05)


async def confirm_steps(pilot: Pilot[None], app: ColotuiApp, finished: list[str], timeout: float = 120) -> None:
    """y at each step the panel asks about, until the procedure ends; a failed step fails the cycle."""
    panel = app.query_one(ProcedurePanel)
    deadline = time.monotonic() + timeout
    while not finished:
        current = panel.current
        if current is not None and current.state.value == "confirm":
            await pilot.press("y")
        elif current is not None and current.state.value == "failed":
            raise CycleFailed(f"step {current.step.id} failed: {current.message}")
        if time.monotonic() > deadline:
            raise CycleFailed(f"the procedure did not end within {timeout:g} s")
        await pilot.pause(0.05)
    if finished != ["passed"]:
        raise CycleFailed(f"the procedure ended {finished[0]}")


async def steady(pilot: Pilot[None], app: ColotuiApp) -> Usage:
    """Checkpoints flowing on both sides, then the console's CPU over STEADY seconds and the RSS."""
    views = app.main.views
    await until(pilot, lambda: views["primary"].in_colo and views["secondary"].in_colo, "COLO on both sides", 60)
    first = views["primary"].checkpoints.count
    await until(pilot, lambda: views["primary"].checkpoints.count >= first + 3, "checkpoints flowing", 30)
    cpu, wall = time.thread_time(), time.monotonic()
    await pilot.pause(STEADY)
    return Usage(100 * (time.thread_time() - cpu) / (time.monotonic() - wall), rss_mb())


async def one_cycle(pilot: Pilot[None], app: ColotuiApp, lab: Lab, client: Client, finished: list[str],
                    cycle: Cycle) -> None:
    views = app.main.views
    survivor = other(cycle.victim)
    pane = app.query_one(f"#pane-{survivor}", VMPane)
    await until(pilot, lambda: views["primary"].in_colo and views["secondary"].in_colo
                and views["primary"].checkpoints.count > 0 and pane.current_alert is None, "a calm pair in COLO")
    sig = signal.SIGSTOP if cycle.signal == "SIGSTOP" else signal.SIGKILL
    try:
        fault = await asyncio.to_thread(lab.strike, cycle.victim, sig, until_wedged=sig is signal.SIGSTOP)
    except UserError as exc:
        raise CycleFailed(f"the strike: {exc}") from None
    struck = fault.strike.struck_at
    procedure = "primary-failover" if cycle.victim == "secondary" else "secondary-failover"
    await until(pilot, lambda: pane.current_alert is not None and pane.current_alert.offer == procedure,
                f"the alert offering {procedure}")
    cycle.alert_s = time.monotonic() - struck
    finished.clear()
    await pilot.press("f")
    await confirm_steps(pilot, app, finished)
    cycle.failover_s = time.monotonic() - struck
    if sig is signal.SIGSTOP:
        await asyncio.to_thread(lab.kill, cycle.victim)  # the fence
    await until(pilot, lambda: client.first_reply_after(struck) is not None, "a reply from the survivor", 15)
    cycle.client_s = (client.first_reply_after(struck) or struck) - struck
    fresh = await asyncio.to_thread(lab.respawn)
    await until(pilot, lambda: views["secondary"].name == fresh.name and views["secondary"].structure_known,
                "the console following the lab to the new secondary")
    finished.clear()
    await pick(pilot, app, "primary-resume" if cycle.victim == "secondary" else "secondary-resume")
    await confirm_steps(pilot, app, finished)


async def pick(pilot: Pilot[None], app: ColotuiApp, name: str) -> None:
    await pilot.press(app.main.keymap.key_for("app.procedures"))
    await pilot.pause(0.3)
    picker = app.screen.query_one(OptionList)
    wanted = next(i for i in range(picker.option_count) if picker.get_option_at_index(i).id == name)
    await pilot.press("home", *["down"] * wanted, "enter")


def colo_lab(directory: Path, install: QemuInstall, checkpoint_ms: int) -> tuple[Lab, str]:
    lab = Lab(directory)
    version = str(lab.up(install=install, guest="net").qemu["version"])
    pair = pair_from_lab(lab.dir)
    pair = replace(pair, given={**pair.given, "checkpoint_delay_ms": checkpoint_ms}, given_from="--set")
    with open(os.devnull, "w") as quiet:
        result = asyncio.run(run_scenario(find_scenario("startup"), pair, Options(yes=True, json_lines=True),
                                          transcript=None, out=quiet))
    if result is None or not result.passed:
        lab.down()
        sys.exit(f"soak: startup did not pass on {lab.dir}")
    return lab, version


async def soak_on(lab: Lab, checkpoint_ms: int, until_wall: float, soak: Soak) -> bool:
    """Cycles on ``lab`` until ``until_wall`` (time.monotonic()) or a cycle fails; whether one failed."""
    finished: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, ProcedureFinished) and not finished:
            finished.append(message.status)

    pair = pair_from_lab(lab.dir)
    pair = replace(pair, given={**pair.given, "checkpoint_delay_ms": checkpoint_ms}, given_from="--set")
    args = argparse.Namespace(keymap=None, read_only=False, deadline=None)
    app = console(args, Config(refresh_interval=1.0), pair, None)
    with Client(lab.dir) as client:
        async with app.run_test(size=(160, 50), message_hook=hook) as pilot:
            if soak.start is None:
                soak.start = await steady(pilot, app)
            while time.monotonic() < until_wall:
                victim, sig = FAULTS[len(soak.cycles) % len(FAULTS)]
                cycle = Cycle(victim, sig.name)
                soak.cycles.append(cycle)
                try:
                    await one_cycle(pilot, app, lab, client, finished, cycle)
                except CycleFailed as exc:
                    cycle.failed = str(exc)
                    print(f"cycle {len(soak.cycles)} ({victim} {sig.name}) failed: {exc}", flush=True)
                    return True
                cycle.rss_mb = rss_mb()
                print(f"cycle {len(soak.cycles)}: {victim} {sig.name}: alert {cycle.alert_s:.2f} s, failover "
                      f"{cycle.failover_s:.2f} s, client back {cycle.client_s:.2f} s, RSS {cycle.rss_mb:.0f} MB",
                      flush=True)
            soak.end = await steady(pilot, app)
    return False


def report(soak: Soak, minutes: float, checkpoint_ms: int) -> None:
    done = [c for c in soak.cycles if not c.failed]
    failed = [c for c in soak.cycles if c.failed]
    print(f"\nsoak: {minutes:g} min, QEMU {soak.version}, KVM, net guest, x-checkpoint-delay {checkpoint_ms} ms\n")
    print(f"{'cycles done':<44}{len(done):>10}")
    print(f"{'failures (0 expected)':<44}{len(failed):>10}")
    for what, values in (("fault → alert offering the failover", [c.alert_s for c in done]),
                         ("fault → failover procedure ended", [c.failover_s for c in done]),
                         ("fault → client's first reply after it", [c.client_s for c in done])):
        if values:
            print(f"{what:<44}{'median':>8} {statistics.median(values):.2f} s{'worst':>8} {max(values):.2f} s")
    for when, usage in (("start", soak.start), ("end", soak.end)):
        if usage is not None:
            print(f"{'console at the ' + when:<44}{'CPU':>8} {usage.cpu_percent:.1f} %{'RSS':>8} "
                  f"{usage.rss_mb:.0f} MB")
    if len(done) >= 3:
        marks = (1, len(done) // 2, len(done))
        print(f"{'RSS after cycles ' + ', '.join(map(str, marks)):<44}"
              f"{' / '.join(f'{done[m - 1].rss_mb:.0f}' for m in marks):>18} MB")
    for c in failed:
        print(f"failed: {c.victim} {c.signal}: {c.failed}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--checkpoint-ms", type=int, default=200)
    parser.add_argument("--qemu-root", type=Path, help="run QEMU in this Debian root (chroot), as `lab up` does")
    args = parser.parse_args()
    root = args.qemu_root.absolute() if args.qemu_root else None
    install = QemuInstall(prefix=("chroot", str(root)), root=root) if root else QemuInstall()
    soak = Soak()
    ends = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="colotui-soak-", dir=root / "tmp" if root else None) as tmp:
        number = 0
        while time.monotonic() < ends:
            number += 1
            lab, soak.version = colo_lab(Path(tmp) / f"lab{number}", install, args.checkpoint_ms)
            try:
                asyncio.run(soak_on(lab, args.checkpoint_ms, ends, soak))
            finally:
                lab.down()
    report(soak, args.minutes, args.checkpoint_ms)
    return 1 if any(c.failed for c in soak.cycles) or not soak.cycles else 0


if __name__ == "__main__":
    sys.exit(main())
