"""The watcher's read deadline follows COLO's checkpoints: low while they flow as usual (a peer hung
mid-checkpoint is found in a second), the ordinary one before the first checkpoint after COLO (re)starts and
while one runs longer than usual (a long checkpoint holds QEMU's lock legitimately)."""

from __future__ import annotations

from pathlib import Path

from colotui.qmp import Event, Session, UnixAddress
from colotui.service.watcher import COLO_QUERY_FLOOR, QUERY_DEADLINE, VMWatcher


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def real(self, seconds: float) -> float:
        return seconds


async def test_the_read_deadline_is_low_between_usual_checkpoints_only(tmp_path: Path) -> None:
    clock = _Clock()
    watcher = VMWatcher(Session("p", UnixAddress(tmp_path / "none.sock")), "", lambda view: None, clock=clock)

    async def event(name: str, **data: object) -> None:
        await watcher._handle(Event("p", name, dict(data), clock.now))

    async def checkpoint(pause: float) -> None:
        await event("STOP")
        clock.now += pause
        await event("RESUME")
        clock.now += 0.1

    assert watcher.query_deadline() == QUERY_DEADLINE, "out of COLO"
    watcher._publish(checkpoint_delay_ms=100)
    await event("MIGRATION", status="colo")
    assert watcher.query_deadline() == QUERY_DEADLINE, "before the first checkpoint"
    for _ in range(3):
        await checkpoint(0.01)
    assert watcher.query_deadline() == COLO_QUERY_FLOOR, "checkpoints of 10 ms: the floor"
    for _ in range(4):
        await checkpoint(0.2)
    assert watcher.query_deadline() == QUERY_DEADLINE, "ten median pauses above the ordinary: capped"
    for _ in range(6):
        await checkpoint(0.08)
    assert abs(watcher.query_deadline() - 0.8) < 1e-9, "ten median pauses"
    await event("STOP")
    clock.now += 0.1
    assert abs(watcher.query_deadline() - 0.8) < 1e-9, "a checkpoint under way, no longer than usual"
    clock.now += 0.6
    assert abs(watcher.query_deadline() - 0.8) < 1e-9, "a long one, but overdue soon (checkpoints 0.18 s apart)"
    await event("RESUME")
    for _ in range(10):  # every 2 s now
        await checkpoint(0.08)
        clock.now += 1.9
    clock.now -= 1.9
    await event("STOP")
    clock.now += 0.7
    assert watcher.query_deadline() == QUERY_DEADLINE, "a long one, due 3.4 s after the last: raised"
    clock.now += 2.3
    assert abs(watcher.query_deadline() - 0.8) < 1e-9, "overdue in 0.4 s: no longer than low"
    await event("RESUME")
    await event("MIGRATION", status="colo")  # COLO again (a resume): its first checkpoint is the longest
    assert watcher.query_deadline() == QUERY_DEADLINE


async def test_a_resume_with_a_longer_delay_is_not_taken_for_a_stall(tmp_path: Path) -> None:
    """The checkpoints' usual interval is measured again once COLO restarts: a resume that sets 1 s after a
    pair checkpointing every 0.2 s does not make each of its checkpoints look overdue (seen in the console)."""
    clock = _Clock()
    watcher = VMWatcher(Session("p", UnixAddress(tmp_path / "none.sock")), "", lambda view: None, clock=clock)

    async def event(name: str, **data: object) -> None:
        await watcher._handle(Event("p", name, dict(data), clock.now))

    await event("MIGRATION", status="colo")
    for _ in range(12):
        clock.now += 0.2
        await event("STOP")
        await event("RESUME")
    await event("MIGRATION", status="completed")  # failed over, then resumed with x-checkpoint-delay 1000
    watcher._publish(checkpoint_delay_ms=1000)
    await event("MIGRATION", status="colo")
    for _ in range(3):
        clock.now += 1.0
        await event("STOP")
        await event("RESUME")
        clock.now += 1.1  # the delay, and the checkpoint's pause
        await watcher._run_due()
        assert not watcher.view.checkpoints_stalled, "a checkpoint 1.1 s after the last is not overdue"
        clock.now -= 1.1
