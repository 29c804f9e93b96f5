"""Helpers for tests that drive procedures on a real lab and watch what COLO does."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot

from colotui.control.terminal import Options, run_scenario
from colotui.lab import Lab, VMRecord, pair_from_lab
from colotui.lab.faults import Strike, strike_at_checkpoint
from colotui.lab.guest import counters_in_serial, read_disk_counter
from colotui.qmp import Event, Ok, Session, Subscription, Transcript, UnixAddress
from colotui.scenario import RunResult, find_scenario
from colotui.scenario.engine import Decision, StepState, StepUpdate

from ..conftest import LabFactory


async def run(lab: Lab, name: str, *, expect: str | None = "passed", variant: str | None = None,
              settings: dict[str, object] | None = None, pace: float = 0.0) -> tuple[RunResult, list[dict], Path]:
    """Run a procedure as `colotui run NAME --lab DIR --yes --json [--variant V] [--set NAME=VALUE]...` does;
    returns result, events, transcript. ``pace``: seconds before each step is sent, as an operator confirming
    each one takes."""
    out = io.StringIO()
    transcript_path = lab.dir / f"transcript-{name}-{time.monotonic_ns()}.jsonl"
    transcript = Transcript(transcript_path)
    pair = pair_from_lab(lab.dir)
    if variant is not None:
        pair = replace(pair, given={**pair.given, "variant": variant}, given_from="--variant")
    if settings:
        pair = replace(pair, given={**pair.given, **settings}, given_from="--set")
    try:
        result = await run_scenario(find_scenario(name), pair, Options(yes=True, json_lines=True),
                                    transcript=transcript, out=out, decide=_paced(pace) if pace else None)
    finally:
        transcript.close()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert result is not None
    assert expect is None or result.status == expect, f"{name}: {result.status}\n" + "\n".join(
        f"{e.get('step')}: {e.get('state')} {e.get('message')}" for e in events if e.get("state") in
        ("failed", "ok", "skipped")) + "".join(f"\n{e['refused']}" for e in events if "refused" in e)
    return result, events, transcript_path


def _paced(seconds: float) -> Callable[[StepUpdate], Awaitable[Decision]]:
    async def decide(update: StepUpdate) -> Decision:
        if update.state is StepState.CONFIRM:
            await asyncio.sleep(seconds)
            return Decision.RUN
        return Decision.ABORT  # a failure stops the run, as --yes does

    return decide


@asynccontextmanager
async def observe(vm: VMRecord) -> AsyncIterator[Session]:
    """A session on the VM's spare monitor, so tests watch without taking colotui's."""
    session = Session(f"observer-{vm.name}", UnixAddress(Path(vm.qmp_spare)))
    session.start()
    try:
        assert await session.wait_connected(10), session.detail
        yield session
    finally:
        await session.close()


async def query(session: Session, command: str, arguments: dict | None = None) -> object:
    reply = await session.execute(command, arguments)
    assert isinstance(reply, Ok), reply
    return reply.value


async def count_checkpoints(primary: Session, seconds: float) -> int:
    """RESUME events from the primary in ``seconds``: in COLO each one ends a checkpoint (QEMU 11.1 sends no
    MIGRATION_PASS in COLO any more; STOP/RESUME pairs are the checkpoint on every version)."""
    sub = primary.subscribe(events={"RESUME"})
    await asyncio.sleep(seconds)
    passes = [n for n in sub.drain() if isinstance(n, Event)]
    sub.close()
    return len(passes)


def serial_counters(vm: VMRecord, offset: int = 0) -> list[int]:
    with open(vm.serial, "rb") as f:
        f.seek(offset)
        return counters_in_serial(f.read().decode(errors="replace"))


def serial_size(vm: VMRecord) -> int:
    return Path(vm.serial).stat().st_size


async def guest_counting(vm: VMRecord, timeout: float = 30.0) -> int:
    """Wait until the guest has booted and printed its counter (SeaBIOS takes a few seconds under COLO)."""
    deadline = time.monotonic() + timeout
    while not serial_counters(vm):
        assert time.monotonic() < deadline, f"{vm.name}'s guest printed no counter within {timeout:g} s"
        await asyncio.sleep(0.2)
    return serial_counters(vm)[-1]


async def counter_advances(vm: VMRecord, seconds: float = 2.0) -> tuple[int, int]:
    """The guest's last printed counter now and ``seconds`` later; asserts it grew."""
    before = serial_counters(vm)[-1]
    await asyncio.sleep(seconds)
    after = serial_counters(vm)[-1]
    assert after > before, f"{vm.name}'s guest counter is stuck at {before} ({await _why_stuck(vm)})"
    return before, after


async def _why_stuck(vm: VMRecord) -> str:
    """What QEMU says of a guest that stopped counting (a CI failure must be readable from its log alone)."""
    try:
        async with asyncio.timeout(5), observe(vm) as session:
            said = {c: await query(session, c) for c in ("query-status", "query-colo-status", "query-block-jobs")}
            said["info block"] = await query(session, "human-monitor-command", {"command-line": "info block"})
    except Exception as exc:  # only a description of the failure: the assertion is the test
        return f"QEMU not asked: {exc!r}"
    return json.dumps(said, default=str)


async def disks_agree(lab: Lab, a: VMRecord, b: VMRecord, above: int, attempts: int = 40) -> int:
    """Read both VMs' disks until they hold the same counter (> ``above``): the secondary keeps up."""
    install = lab.state().install()
    seen = []
    for _ in range(attempts):
        values = await asyncio.gather(asyncio.to_thread(read_disk_counter, install, Path(a.images["disk"])),
                                      asyncio.to_thread(read_disk_counter, install, Path(b.images["disk"])))
        seen.append(values)
        if values[0] == values[1] and values[0] is not None and values[0] > above:
            return values[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{a.name} and {b.name} disks never held the same counter above {above}: {seen[-5:]}")


async def until(pilot: Pilot, condition: Callable[[], bool], what: str = "the condition holds",
                timeout: float = 20.0) -> None:
    """Let the app run until ``condition`` holds; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await pilot.pause(0.05)


def sent(transcript: Path, command: str, *, oob: bool = False, vm: str | None = None) -> list[dict]:
    """Messages of ``command`` that were actually sent (per the transcript); ``oob``: out of band (exec-oob);
    ``vm``: by that session only. An out-of-band ``yank`` of nothing is a liveness probe, not counted."""
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    key = "exec-oob" if oob else "execute"
    return [line["msg"] for line in lines if line["dir"] == "send" and line["msg"].get(key) == command
            and (vm is None or line["vm"] == vm) and line["msg"].get("arguments") != {"instances": []}]


@asynccontextmanager
async def hung(vm: VMRecord, primary: VMRecord) -> AsyncIterator[None]:
    """SIGSTOP ``vm`` (a hung host, a stalled kernel: it keeps its sockets and says nothing) just after a
    checkpoint ends on ``primary``; SIGCONT when the block ends.

    Between checkpoints: the survivor's main loop goes on (`hung_mid_checkpoint` is the other case)."""
    async with observe(primary) as watch:
        sub = watch.subscribe(events={"RESUME"})
        await asyncio.wait_for(_next_event(sub), 10)
        os.kill(vm.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if vm.is_alive():
            os.kill(vm.pid, signal.SIGCONT)


@asynccontextmanager
async def hung_mid_checkpoint(vm: VMRecord, primary: VMRecord, survivor: VMRecord) -> AsyncIterator[Strike]:
    """SIGSTOP ``vm`` the moment a checkpoint begins on ``primary`` (its STOP), at later ones again until
    ``survivor``'s main loop is wedged (QEMU's big lock held in the checkpoint: no new connection greets);
    SIGCONT when the block ends. Watched and asked on the spare monitors."""
    strike = await strike_at_checkpoint(UnixAddress(Path(primary.qmp_spare)), vm.pid, signal.SIGSTOP,
                                        survivor=UnixAddress(Path(survivor.qmp_spare)), until_wedged=True)
    try:
        yield strike
    finally:
        if vm.is_alive():
            os.kill(vm.pid, signal.SIGCONT)


async def _next_event(sub: Subscription) -> Event:
    while True:
        notice = await sub.get()
        if isinstance(notice, Event):
            return notice


async def start_colo(labs: LabFactory, variant: str | None = None, name: str = "lab",
                     settings: dict[str, object] | None = None) -> Lab:
    """A fresh lab (in ``labs``' directory ``name``) brought into COLO by the startup procedure (in ``variant``,
    with ``settings`` as `--set` gives them), checkpointing, its guest counting."""
    lab = await asyncio.to_thread(labs.up, name)
    await run(lab, "startup", variant=variant, settings=settings)
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    async with observe(primary) as p, observe(secondary) as s:
        assert (await query(p, "query-migrate"))["status"] == "colo"
        assert (await query(s, "query-migrate"))["status"] == "colo"
        assert (await query(p, "query-colo-status"))["mode"] == "primary"
        assert (await query(s, "query-colo-status"))["mode"] == "secondary"
        assert await count_checkpoints(p, 4.0) >= 3, "COLO takes a checkpoint at least every second"
    await guest_counting(primary)
    return lab
