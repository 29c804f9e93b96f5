"""Failover with a checkpoint in flight: the peer is killed right after the primary's STOP (the checkpoint
began) and before its RESUME, again and again on one lab, alternating sides: kill the secondary →
primary-failover → respawn → primary-resume; kill the primary → secondary-failover → respawn →
secondary-resume. Every failover must complete, the survivor's guest count on, and its disk hold at least
the counter of the last finished checkpoint.

``-m slow`` (not in CI): 20 rounds per QEMU take about 3 minutes each. ``COLOTUI_INFLIGHT_RESULTS=FILE``
appends one JSON line per round.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from colotui.lab import Lab
from colotui.lab.guest import read_disk_counter
from colotui.qmp import Event

from ..conftest import ALL_QEMUS, LabFactory
from ..support.colo import counter_advances, observe, run, serial_counters, start_colo

ROUNDS = int(os.environ.get("COLOTUI_INFLIGHT_ROUNDS", "20"))

pytestmark = [pytest.mark.kvm, pytest.mark.slow, ALL_QEMUS]


async def kill_in_flight(lab: Lab, victim: str) -> tuple[int, bool, float]:
    """Kill ``victim`` just after a checkpoint begins on the primary; the counter the guest printed at the
    last finished checkpoint, whether the checkpoint was still in flight at the kill, and how long after
    its STOP the kill came (ms)."""
    primary = lab.state().current("primary")
    assert primary is not None
    async with observe(primary) as watch:
        sub = watch.subscribe(events={"STOP", "RESUME"})
        settled = 0
        while True:
            notice = await asyncio.wait_for(sub.get(), 10)
            if not isinstance(notice, Event):
                continue
            if notice.name == "RESUME":
                settled = serial_counters(primary)[-1]  # the checkpoint just finished holds at least this
            elif notice.name == "STOP" and settled:
                stopped_at = time.time()
                await asyncio.to_thread(lab.kill, victim)
                late = (time.time() - stopped_at) * 1000
                break
        await asyncio.sleep(0.3)
        after = [n for n in sub.drain() if isinstance(n, Event) and n.name == "RESUME"
                 and n.timestamp < stopped_at + late / 1000]
        sub.close()
    return settled, not after, late


async def disk_reaches(lab: Lab, vm_name: str, at_least: int, seconds: float = 10.0) -> int:
    """The survivor's disk counter, read until it is at least ``at_least`` (a failed-over secondary commits
    its overlay into its disk in the background)."""
    vm = next(v for v in lab.state().vms if v.name == vm_name)
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(read_disk_counter, lab.state().install(), Path(vm.images["disk"]))
        if value is not None and value >= at_least:
            return value
        await asyncio.sleep(0.3)
    raise AssertionError(f"{vm_name}'s disk holds {value}, below {at_least} of the last finished checkpoint")


async def test_failover_with_a_checkpoint_in_flight(labs: LabFactory) -> None:
    lab = await start_colo(labs)
    results = []
    for round_ in range(ROUNDS):
        victim = ("secondary", "primary")[round_ % 2]
        survivor_role = "primary" if victim == "secondary" else "secondary"
        survivor = lab.state().current(survivor_role)
        assert survivor is not None
        settled, in_flight, late = await kill_in_flight(lab, victim)
        started = time.monotonic()
        result, _, _ = await run(lab, f"{survivor_role}-failover", expect=None)
        took = time.monotonic() - started
        entry = {"round": round_ + 1, "qemu": lab.state().qemu["version"], "killed": victim,
                 "in_flight": in_flight, "kill_after_stop_ms": round(late, 1), "failover": result.status,
                 "failover_s": round(took, 2), "settled_counter": settled}
        if result.status == "passed":
            await counter_advances(survivor)
            entry["disk_counter"] = await disk_reaches(lab, survivor.name, settled)
        results.append(entry)
        if os.environ.get("COLOTUI_INFLIGHT_RESULTS"):
            with open(os.environ["COLOTUI_INFLIGHT_RESULTS"], "a") as out:
                out.write(json.dumps(entry) + "\n")
        assert result.status == "passed", entry
        if round_ + 1 < ROUNDS:  # back into COLO for the next round
            await asyncio.to_thread(lab.respawn)
            await run(lab, f"{survivor_role}-resume")
    in_flight = sum(r["in_flight"] for r in results)
    assert in_flight >= ROUNDS // 2, f"only {in_flight} of {ROUNDS} kills landed inside a checkpoint"
