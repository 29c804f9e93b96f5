"""`colotui guard` on a real COLO lab: a peer stopped in the middle of a checkpoint wedges the primary, a fresh
QMP connection gets no greeting, and the guard's out-of-band session (held since before the hang) cuts the
peer's connections, after which the fresh connection is greeted and answers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from colotui.lab import pair_from_lab
from colotui.lab.faults import strike_at_checkpoint
from colotui.qmp import Ok, Session, UnixAddress, read_transcript
from colotui.service.guard import ask_guard, guard_socket, guard_status, token_path

from ..conftest import LabFactory
from ..support.colo import observe, query, start_colo

pytestmark = [pytest.mark.kvm]

REPO = Path(__file__).resolve().parents[2]
#: How long `colotui guard` may take to open its sessions, learn the pair and listen (seconds).
START_WITHIN = 20.0


async def test_a_guard_cuts_a_primary_its_stopped_peer_wedged_mid_checkpoint(labs: LabFactory, short_tmp: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    lab = await start_colo(labs)
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    assert primary is not None and secondary is not None
    async with observe(primary) as watch:  # most hangs land inside a checkpoint at production's delays
        await query(watch, "migrate-set-parameters", {"x-checkpoint-delay": 200})
    runtime = short_tmp / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    transcript = short_tmp / "guard.jsonl"
    guard = subprocess.Popen([sys.executable, "-m", "colotui", "guard", "--lab", str(lab.dir),
                              "--transcript", str(transcript)], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(REPO), "XDG_RUNTIME_DIR": str(runtime)})
    pair = pair_from_lab(lab.dir)
    fresh = Session("fresh", UnixAddress(Path(primary.qmp)), deadline=3.0)
    try:
        assert guard.stdout is not None
        started = await asyncio.wait_for(asyncio.to_thread(guard.stdout.readline), START_WITHIN)
        assert started == ("guarding primary (primary/oob) and secondary (secondary/oob): a `colotui run` on this "
                           f"pair hands its out-of-band cut to me; socket {guard_socket(pair)}\n")
        status = await guard_status(pair)
        assert status is not None and status.status is not None, status
        assert all(status.status[r]["connected"] and status.status[r]["oob"] for r in ("primary", "secondary"))

        spare = UnixAddress(Path(primary.qmp_spare))
        strike = await strike_at_checkpoint(spare, secondary.pid, signal.SIGSTOP, survivor=spare, until_wedged=True)
        assert strike.wedged, f"the primary's main loop did not wedge in {strike.tries} checkpoints"
        fresh.start()
        assert not await fresh.wait_connected(2.0), "a fresh connection to the wedged primary was greeted"

        reply = await ask_guard(pair, "primary")
        assert reply is not None and reply.ok, reply
        assert reply.vm == "primary"
        kinds = {i["type"] for i in reply.yanked}
        assert {"block-node", "migration"} <= kinds, reply.yanked  # the NBD client's flush held the lock
        assert {i["id"] for i in reply.yanked if i["type"] == "chardev"} <= {"mirror0", "compare1"}

        assert await fresh.wait_connected(5.0), f"the primary stayed wedged after the cut: {fresh.detail}"
        colo = await fresh.execute("query-colo-status")
        assert isinstance(colo, Ok) and "mode" in colo.value, colo
        said = await asyncio.wait_for(asyncio.to_thread(guard.stdout.readline), 5)
        assert said.startswith("cut primary: yanked ") and "block-node" in said and "migration" in said
        token = token_path(guard_socket(pair)).read_text().strip()
    finally:
        await fresh.close()
        guard.send_signal(signal.SIGTERM)
        try:
            _, err = guard.communicate(timeout=10)
        finally:
            if guard.poll() is None:
                guard.kill()
                guard.wait()
        if secondary.is_alive():
            os.kill(secondary.pid, signal.SIGKILL)  # stopped mid-checkpoint: the failover would fence it
    assert guard.returncode == 0, err
    assert err.strip() == f"transcript: {transcript}", err  # no traceback, nothing else
    assert not guard_socket(pair).exists() and not token_path(guard_socket(pair)).exists()
    sent = [e["msg"] for e in read_transcript(transcript) if e["dir"] == "send" and e["vm"] == "primary/oob"]
    assert any(m.get("exec-oob") == "yank" and m["arguments"]["instances"] == reply.yanked for m in sent)
    assert token not in transcript.read_text() and token not in json.dumps(reply.yanked)


async def test_a_fresh_run_on_a_wedged_survivor_is_refused_in_one_line_or_handed_to_the_guard(
        labs: LabFactory, short_tmp: Path) -> None:
    """`colotui run primary-failover` started after the hang: without the pair's guard it refuses once, in one
    line, with what to do (it sent nothing); with the guard running it hands it the cut, and passes."""
    lab = await start_colo(labs)
    state = lab.state()
    primary, secondary = state.current("primary"), state.current("secondary")
    assert primary is not None and secondary is not None
    async with observe(primary) as watch:
        await query(watch, "migrate-set-parameters", {"x-checkpoint-delay": 200})
    runtime, elsewhere = short_tmp / "run", short_tmp / "elsewhere"
    for directory in (runtime, elsewhere):
        directory.mkdir(mode=0o700)
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_RUNTIME_DIR": str(runtime)}
    guard = subprocess.Popen([sys.executable, "-m", "colotui", "guard", "--lab", str(lab.dir)], cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    def failover(runtime_dir: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "colotui", "run", "primary-failover", "--lab", str(lab.dir),
                               "--yes"], cwd=REPO, text=True, capture_output=True, timeout=120,
                              env={**env, "XDG_RUNTIME_DIR": str(runtime_dir)})
    try:
        assert guard.stdout is not None
        assert (await asyncio.wait_for(asyncio.to_thread(guard.stdout.readline), START_WITHIN)).startswith("guarding")
        spare = UnixAddress(Path(primary.qmp_spare))
        strike = await strike_at_checkpoint(spare, secondary.pid, signal.SIGSTOP, survivor=spare, until_wedged=True)
        assert strike.wedged, f"the primary's main loop did not wedge in {strike.tries} checkpoints"

        alone = await asyncio.to_thread(failover, elsewhere)  # no guard to be found from there
        assert alone.returncode == 1, alone.stdout + alone.stderr
        refused = [line for line in alone.stdout.splitlines() if line.startswith("refused:")]
        assert len(refused) == 1 and len(refused[0]) < 600, alone.stdout
        assert refused[0].count("wedged") == 1 and "colotui guard" in refused[0] and "SIGKILL" in refused[0]
        assert "nothing was sent" in refused[0] and "[1/" not in alone.stdout, "no step began"

        handed = await asyncio.to_thread(failover, runtime)
        assert handed.returncode == 0, handed.stdout + handed.stderr
        assert "primary was wedged: the pair's guard cut its connections to its peer out of band" in handed.stdout
        assert "primary-failover: passed" in handed.stdout
    finally:
        guard.send_signal(signal.SIGTERM)
        try:
            guard.communicate(timeout=10)
        finally:
            if guard.poll() is None:
                guard.kill()
                guard.wait()
        if secondary.is_alive():
            os.kill(secondary.pid, signal.SIGKILL)
