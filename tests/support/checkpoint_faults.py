"""A peer lost in the middle of a checkpoint, with the net guest's traffic running: one round.

A fresh net-guest lab goes into COLO at ``x-checkpoint-delay`` 200 ms with a host client talking to it; the
console's sessions (main and out of band) are open, as a console's are before anything goes wrong; the victim
is stopped (SIGSTOP) or killed (SIGKILL) the moment the primary's checkpoint STOP arrives; the failover then
runs headless on those sessions (`run_scenario(..., sessions=)`, the console's own path). A hung victim is
fenced (killed) afterwards, as an operator's fence would: a hung primary keeps the lab's route until then.

``COLOTUI_CHECKPOINT_RESULTS=FILE`` appends each round as one JSON line, for `bench/checkpoint_faults.py`'s
table and docs/faults.md.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from colotui.control.terminal import Options, run_scenario
from colotui.lab import pair_from_lab
from colotui.lab.faults import strike_at_checkpoint
from colotui.lab.guest import read_disk_counter
from colotui.lab.traffic import LabRoute, Traffic
from colotui.qmp import Transcript, UnixAddress
from colotui.roles import other
from colotui.scenario import find_scenario
from colotui.service.sessions import open_sessions

from ..conftest import LabFactory
from .colo import serial_counters
from .traffic import booted, colo_with_traffic, failover_window, until_replies

#: COLO's checkpoint interval in the rounds (ms): common in production, and most hangs land inside one.
CHECKPOINT_DELAY_MS = 200
#: The console's command deadline in the rounds (seconds).
DEADLINE = 10.0
SIGNALS = {"STOP": signal.SIGSTOP, "KILL": signal.SIGKILL}


@dataclass
class Round:
    qemu: str
    victim: str  # the role struck: "secondary" (primary-failover follows) or "primary"
    signal: str  # STOP or KILL
    after_stop_ms: float = 0.0  # from the STOP's arrival to the signal
    wedged: bool | None = None  # the survivor's main loop stalled in band after the strike
    status: str = ""  # how the failover ended
    said: str = ""  # the last step's message (where a cut went first out of band, it says so)
    failover_ms: float = 0.0  # from the strike to the failover's end
    client_window_ms: float = 0.0  # from the strike to the client's first reply after it
    client_lost_outside: int = 0  # requests lost outside that window
    counter_before: int | None = None  # the survivor guest's counter just before the strike
    counter_after: int | None = None  # and a second after the failover
    disk_counter: int | None = None  # on the survivor's disk then

    def write(self) -> None:
        target = os.environ.get("COLOTUI_CHECKPOINT_RESULTS")
        if target:
            problems = self.problems()
            with open(target, "a") as out:
                out.write(json.dumps(asdict(self) | {"ok": not problems, "problems": problems}) + "\n")

    def problems(self) -> list[str]:
        """What went wrong, for people; empty when the round passed."""
        found = []
        if self.status != "passed":
            found.append(f"the failover {self.status}: {self.said}")
        if self.client_lost_outside:
            found.append(f"the client lost {self.client_lost_outside} requests outside the window")
        if not (self.counter_before and self.counter_after and self.counter_after > self.counter_before):
            found.append(f"the survivor's guest did not count on ({self.counter_before} → {self.counter_after})")
        if self.disk_counter is None or self.counter_before is None or self.disk_counter < self.counter_before:
            found.append(f"the survivor's disk holds {self.disk_counter}, below {self.counter_before}")
        return found


async def strike_round(labs: LabFactory, name: str, victim: str, sig: str, *, until_wedged: bool = False) -> Round:
    """One round on a fresh lab in ``labs``' directory ``name``; the result, also written (see above).
    ``until_wedged``: strike again at later checkpoints until the survivor's main loop is wedged."""
    lab = await colo_with_traffic(labs, "same", {"checkpoint_delay_ms": CHECKPOINT_DELAY_MS}, name=name)
    state = lab.state()
    result = Round(str(state.qemu["version"]), victim, sig)
    primary, struck = state.current("primary"), state.current(victim)
    survivor = state.current(other(victim))
    assert primary is not None and struck is not None and survivor is not None
    await booted(lab)
    client = Traffic(None, LabRoute(lab.dir))
    talking = asyncio.create_task(client.run())
    transcript = Transcript(lab.dir / f"transcript-{name}.jsonl")
    procedure = find_scenario("primary-failover" if victim == "secondary" else "secondary-failover")
    out = io.StringIO()
    try:
        await until_replies(client, 10)
        async with open_sessions(pair_from_lab(lab.dir), transcript=transcript, deadline=DEADLINE,
                                 connect_timeout=5) as sessions:
            for role in ("primary", "secondary"):
                oob = sessions.oob(role)
                assert oob is not None and await oob.wait_connected(5), f"{role}'s out-of-band session"
            result.counter_before = (serial_counters(survivor) or [None])[-1]
            strike = await strike_at_checkpoint(UnixAddress(Path(primary.qmp_spare)), struck.pid, SIGNALS[sig],
                                                survivor=UnixAddress(Path(survivor.qmp_spare)),
                                                until_wedged=until_wedged)
            fault = strike.struck_at
            result.after_stop_ms, result.wedged = round(strike.after_stop_s * 1000, 1), strike.wedged
            run = await run_scenario(procedure, pair_from_lab(lab.dir), Options(yes=True, json_lines=True),
                                     transcript=transcript, out=out, sessions=sessions)
            result.failover_ms = round((time.monotonic() - fault) * 1000)
        assert run is not None
        result.status = run.status
        result.said = run.last.message if run.last else _first_message(out.getvalue())
        if sig == "STOP" and struck.is_alive():  # the fence
            os.kill(struck.pid, signal.SIGKILL)
        await until_replies(client, 10)
        await asyncio.sleep(1.0)
        # the tries before a wedge (stopped, then continued) are not this failover's
        window = failover_window(client, fault, 1.0 if strike.tries == 1 else 0.5)
        result.client_window_ms, result.client_lost_outside = window.window_ms, window.lost_outside
        result.counter_after = (serial_counters(survivor) or [None])[-1]
        result.disk_counter = await asyncio.to_thread(read_disk_counter, state.install(),
                                                      Path(survivor.images["disk"]))
    finally:
        talking.cancel()
        await asyncio.gather(talking, return_exceptions=True)
        transcript.close()
        if struck.is_alive():
            os.kill(struck.pid, signal.SIGKILL)
        await asyncio.to_thread(lab.down)
    result.write()
    return result


def _first_message(json_lines: str) -> str:
    """The first step's message (a cut out of band says so there), from the run's JSON lines."""
    for line in json_lines.splitlines():
        event = json.loads(line)
        if event.get("number") == 1 and event.get("state") == "ok":
            return str(event.get("message", ""))
    return ""
