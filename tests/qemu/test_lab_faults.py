"""`colotui lab hang|cont|kill --during-checkpoint` on a real COLO lab (QEMU 7.2), through the real CLI: a
secondary hung at the primary's checkpoint STOP wedges the primary's main loop, `lab cont` lets COLO go on,
and a primary killed at its STOP dies inside that checkpoint. The refusals without COLO or with a busy
monitor are here too; the QEMU-free parts are in tests/unit/test_lab_faults.py."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from colotui.errors import UserError
from colotui.lab import Lab, VMRecord
from colotui.lab.faults import strike_at_checkpoint
from colotui.qmp import DeadlineExceeded, Event, LinkChanged, LinkState, Ok, Session, Subscription, UnixAddress

from ..conftest import LabFactory
from ..support.colo import count_checkpoints, counter_advances, query, start_colo

_CHECKOUT = Path(__file__).resolve().parents[2]
#: The delay the issue measures at: most hangs then land inside a checkpoint.
_DELAY_MS = 200


def colotui(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m colotui ARGS`` of this checkout."""
    env = {**os.environ, "PYTHONPATH": str(_CHECKOUT)}
    return subprocess.run([sys.executable, "-m", "colotui", *args], capture_output=True, text=True, timeout=120,
                          env=env)


async def lab_cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """``colotui lab ARGS --dir DIR``, off the event loop (the test's sessions keep reading meanwhile)."""
    return await asyncio.to_thread(colotui, "lab", *args, "--dir", str(lab.dir))


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    return out.stderr


def state_of(out: subprocess.CompletedProcess[str], name: str) -> str:
    """The state column of ``name``'s row in `lab status`."""
    return next(line.split()[2] for line in out.stdout.splitlines() if line.split()[:1] == [name])


def events_of(sub: Subscription) -> list[str]:
    return [n.name for n in sub.drain() if isinstance(n, Event)]


async def opened(path: str) -> Session:
    session = Session(f"test-{Path(path).parent.name}", UnixAddress(Path(path)))
    session.start()
    assert await session.wait_connected(10), session.detail
    return session


async def test_without_colo_or_with_a_busy_monitor_nothing_is_signalled(lab: Lab) -> None:
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    assert primary is not None and secondary is not None
    said = one_line(await lab_cli(lab, "hang", "secondary", "--during-checkpoint"))
    assert f"{primary.qmp_spare} is not in COLO (COLO mode none): no checkpoint will begin; nothing was " \
           "signalled" in said
    holder = await opened(primary.qmp_spare)  # another tool on the spare monitor: it serves one client
    try:
        said = one_line(await lab_cli(lab, "kill", "primary", "--during-checkpoint"))
    finally:
        await holder.close()
    assert f"no QMP greeting from {primary.qmp_spare} within 2 s" in said and "nothing was signalled" in said
    status = await lab_cli(lab, "status")
    assert state_of(status, "primary") == state_of(status, "secondary") == "running"
    assert not secondary.is_hung() and primary.is_alive()


@pytest.mark.kvm
async def test_hang_at_the_checkpoint_wedges_the_primary_cont_resumes_kill_lands_inside_one(
        labs: LabFactory) -> None:
    lab = await start_colo(labs)
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    assert primary is not None and secondary is not None
    p = await opened(primary.qmp)  # the test's own view, on the main monitor: the CLI takes the spare ones
    try:
        await no_checkpoint_no_signal(p, primary.qmp_spare, secondary.pid)
        await query(p, "migrate-set-parameters", {"x-checkpoint-delay": _DELAY_MS})
        await hang_until_wedged(lab, p)
        assert state_of(await lab_cli(lab, "status"), "secondary") == "stopped"

        out = await lab_cli(lab, "cont", "secondary")
        assert out.stdout == f"continued secondary (pid {secondary.pid}, secondary) with SIGCONT\n", out.stderr
        assert isinstance(await p.execute("query-status", deadline=5), Ok), "the primary answers in band again"
        checkpoints, _ = await asyncio.gather(count_checkpoints(p, 2.0), counter_advances(primary))
        assert checkpoints >= 3, f"COLO goes on: {checkpoints} checkpoints in 2 s at {_DELAY_MS} ms"
        assert state_of(await lab_cli(lab, "status"), "secondary") == "running"

        await kill_inside_a_checkpoint(lab, p, primary)
    finally:
        await p.close()


async def no_checkpoint_no_signal(p: Session, spare: str, victim: int) -> None:
    """A pair in COLO that takes no checkpoint within the timeout: one line, and the victim left alone."""
    await query(p, "migrate-set-parameters", {"x-checkpoint-delay": 30_000})  # takes one now, then none for 30 s
    await asyncio.sleep(0.5)
    with pytest.raises(UserError, match=r"no checkpoint began on .* within 1 s \(no STOP event: is the pair in "
                                        r"COLO\?\); nothing was signalled"):
        await strike_at_checkpoint(UnixAddress(Path(spare)), victim, signal.SIGSTOP, timeout=1.0)
    assert Path(f"/proc/{victim}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T"


async def hang_until_wedged(lab: Lab, p: Session) -> None:
    """`lab hang secondary --during-checkpoint --until-wedged`: the STOP came first, within milliseconds, and the
    primary's main loop stalls in band (seen on the test's own session too), its checkpoint never ended."""
    events = p.subscribe(events={"STOP", "RESUME"})
    out = await lab_cli(lab, "hang", "secondary", "--during-checkpoint", "--until-wedged")
    assert out.returncode == 0, out.stderr
    said = re.fullmatch(r"hung secondary \(pid \d+, secondary\) with SIGSTOP ([\d.]+) ms after checkpoint STOP on "
                        r"primary; primary's main loop is wedged \(try (\d+)\)\n", out.stdout)
    assert said is not None, out.stdout
    assert float(said[1]) < 20, f"signalled {said[1]} ms after the STOP: not at the checkpoint's start"
    assert 1 <= int(said[2]) <= 20
    stalled = await p.execute("query-status", deadline=0.5)
    assert isinstance(stalled, DeadlineExceeded), f"the primary's main loop answers in band: {stalled}"
    seen = events_of(events)
    events.close()
    assert seen and seen[-1] == "STOP", f"the wedged checkpoint began and never ended: {seen[-6:]}"


async def kill_inside_a_checkpoint(lab: Lab, p: Session, primary: VMRecord) -> None:
    """`lab kill primary --during-checkpoint`: the primary dies after a checkpoint's STOP and before its
    RESUME (as the test's own session on it saw them), and the lab records it killed."""
    notices = p.subscribe(events={"STOP", "RESUME"})
    out = await lab_cli(lab, "kill", "primary", "--during-checkpoint")
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(rf"killed primary \(pid {primary.pid}, primary\) with SIGKILL [\d.]+ ms after checkpoint "
                        r"STOP on primary; secondary's main loop still answers\n", out.stdout), out.stdout
    async with asyncio.timeout(5):  # the CLI waited until the process was gone: its socket closes with it
        while p.connected:
            await asyncio.sleep(0.05)
    seen = [n.name if isinstance(n, Event) else n.state for n in notices.drain()
            if isinstance(n, Event) or (isinstance(n, LinkChanged) and n.state is LinkState.DISCONNECTED)]
    notices.close()
    assert seen[-2:] == ["STOP", LinkState.DISCONNECTED], f"killed inside a checkpoint: {seen[-6:]}"
    status = await lab_cli(lab, "status")
    assert state_of(status, "primary") == "killed" and state_of(status, "secondary") == "running"
    assert not primary.is_alive()
