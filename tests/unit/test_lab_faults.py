"""`colotui lab hang|cont|kill` without QEMU: a hung process as /proc shows it, and every refusal in one line.

The lab here is a lab.json whose VMs are real processes (Python asleep, with a lab's ``-qmp`` marker on their
command line), each killed by its PID at the end. The strike at a checkpoint against real QEMU is in
tests/qemu/test_lab_faults.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from colotui.errors import UserError
from colotui.lab import LabState, VMRecord, process
from colotui.lab.faults import strike_at_checkpoint
from colotui.qmp import UnixAddress
from colotui.topology import Ports

from .test_lab import run_cli


def _argv(marker: str) -> list[str]:
    """A process that sleeps, ``-qmp MARKER`` on its command line as a lab QEMU has."""
    return [sys.executable, "-c", "import time; time.sleep(60)", "-qmp", marker]


def _sleeper(marker: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_argv(marker))


def _state_is(pid: int, letter: str, timeout: float = 5.0) -> bool:
    """Whether /proc shows ``pid`` in the state ``letter`` within ``timeout`` (a signal takes effect soon, not
    at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == letter:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def fake_lab(short_tmp: Path) -> Iterator[tuple[Path, dict[str, subprocess.Popen[bytes]]]]:
    """A lab directory whose lab.json names two sleeping processes as its primary and secondary."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    state = LabState(dir=str(short_tmp), accel="kvm", guest="none", disk_mb=64, memory_mb=128,
                     ports=Ports.from_base(20000),
                     qemu={"system": "qemu-system-x86_64", "prefix": [], "root": None, "version": "7.2.22"})
    try:
        for role in ("primary", "secondary"):
            vm_dir = (short_tmp / role).resolve()
            vm_dir.mkdir()
            argv = _argv(f"unix:{vm_dir / 'qmp.sock'},server=on,wait=off")
            procs[role] = subprocess.Popen(argv)
            state.vms.append(VMRecord(name=role, address="127.0.0.1" if role == "primary" else "127.0.0.2",
                                      pid=procs[role].pid, qmp=str(vm_dir / "qmp.sock"),
                                      qmp_spare=str(vm_dir / "qmp-spare.sock"), serial=str(vm_dir / "serial.log"),
                                      log=str(vm_dir / "qemu.log"), started_as=role, role=role,
                                      argv=argv, qmp_yank=str(vm_dir / "qmp-yank.sock")))
        state.save()
        yield short_tmp, procs
    finally:
        for proc in procs.values():
            proc.kill()  # by its PID (SIGKILL works on a stopped process too)
            proc.wait()


def test_a_sigstopped_process_is_stopped_until_sigcont(short_tmp: Path) -> None:
    marker = f"unix:{short_tmp}/qmp.sock,server=on"
    proc = _sleeper(marker)
    try:
        assert _state_is(proc.pid, "S")
        assert process.alive(proc.pid, marker) and not process.stopped(proc.pid, marker)
        os.kill(proc.pid, signal.SIGSTOP)
        assert _state_is(proc.pid, "T")
        assert process.stopped(proc.pid, marker), "SIGSTOPped: /proc says T"
        assert process.alive(proc.pid, marker), "a hung process is still alive"
        assert not process.stopped(proc.pid, "someone else's marker"), "not ours: not stopped either"
        os.kill(proc.pid, signal.SIGCONT)
        assert _state_is(proc.pid, "S")
        assert not process.stopped(proc.pid, marker)
    finally:
        proc.kill()
        proc.wait()
    assert not process.stopped(proc.pid, marker)


def test_stop_ends_a_hung_process_with_sigterm_without_waiting_for_sigkill(short_tmp: Path) -> None:
    """A SIGSTOPped process acts on SIGTERM only once continued: `lab down` of a hung lab waited out its
    whole grace, then SIGKILLed."""
    marker = f"unix:{short_tmp}/qmp.sock,server=on"
    pid = process.spawn(_argv(marker), short_tmp / "log")  # as the lab starts its QEMUs: it tells how they ended
    try:
        os.kill(pid, signal.SIGSTOP)
        assert _state_is(pid, "T")
        started = time.monotonic()
        assert process.stop(pid, marker, grace=5.0)
        assert time.monotonic() - started < 2.0
        assert process.how_it_ended(pid) == "killed by SIGTERM", "not by the SIGKILL after the grace"
    finally:
        if process.alive(pid, marker):
            os.kill(pid, signal.SIGKILL)


def test_hang_status_cont_through_the_cli(fake_lab: tuple[Path, dict[str, subprocess.Popen[bytes]]]) -> None:
    directory, procs = fake_lab
    pid = procs["secondary"].pid
    out = run_cli("lab", "hang", "secondary", "--dir", str(directory))
    assert (out.returncode, out.stdout, out.stderr) == (0, f"hung secondary (pid {pid}, secondary) with SIGSTOP\n", "")
    assert _state_is(pid, "T")
    assert _state_is(procs["primary"].pid, "S"), "only the secondary"

    out = run_cli("lab", "status", "--dir", str(directory))
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()
            if line.split()[1:2] in (["primary"], ["secondary"])}
    assert rows["secondary"][2] == "stopped" and rows["primary"][2] == "running", out.stdout
    assert f"secondary is hung (SIGSTOP): `colotui lab cont secondary --dir {directory}` continues it" in out.stdout
    shown = json.loads(run_cli("lab", "status", "--json", "--dir", str(directory)).stdout)
    assert {vm["name"]: (vm["state"], vm["hung"]) for vm in shown["vms"]} == \
        {"primary": ("running", False), "secondary": ("running", True)}

    out = run_cli("lab", "hang", "secondary", "--dir", str(directory))
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"secondary (pid {pid}, secondary) is hung already (SIGSTOP)" in out.stderr
    out = run_cli("lab", "kill", "primary", "--during-checkpoint", "--dir", str(directory))
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "no checkpoint will begin: secondary" in out.stderr and "nothing was signalled" in out.stderr
    assert _state_is(procs["primary"].pid, "S") and procs["primary"].poll() is None

    out = run_cli("lab", "cont", "secondary", "--dir", str(directory))
    assert (out.returncode, out.stdout) == (0, f"continued secondary (pid {pid}, secondary) with SIGCONT\n")
    assert _state_is(pid, "S")
    out = run_cli("lab", "cont", "secondary", "--dir", str(directory))
    assert out.returncode == 1 and out.stderr == f"colotui: secondary (pid {pid}, secondary) is not hung: " \
                                                 "nothing was sent\n"


@pytest.mark.parametrize("args, said", [
    (["hang", "secondary", "--after-stop-ms", "5"], "--after-stop-ms needs --during-checkpoint"),
    (["kill", "primary", "--after-stop-ms", "0"], "--after-stop-ms needs --during-checkpoint"),
    (["hang", "primary", "--until-wedged"], "--until-wedged needs --during-checkpoint"),
    (["hang", "primary", "--during-checkpoint", "--after-stop-ms", "-1"], "--after-stop-ms is from 0 to 10000, not -1"),
    (["kill", "secondary", "--during-checkpoint", "--after-stop-ms", "10001"], "is from 0 to 10000, not 10001"),
])
def test_options_that_do_not_fit_are_one_line_and_signal_nothing(
        fake_lab: tuple[Path, dict[str, subprocess.Popen[bytes]]], args: list[str], said: str) -> None:
    directory, procs = fake_lab
    out = run_cli("lab", *args, "--dir", str(directory))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and said in out.stderr, out.stderr
    assert all(_state_is(proc.pid, "S") and proc.poll() is None for proc in procs.values())


def test_no_monitor_no_lab_no_vm_are_one_line(fake_lab: tuple[Path, dict[str, subprocess.Popen[bytes]]]) -> None:
    directory, procs = fake_lab
    out = run_cli("lab", "hang", "secondary", "--during-checkpoint", "--dir", str(directory))
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "qmp-spare.sock: no socket at that path" in out.stderr and "nothing was signalled" in out.stderr
    assert _state_is(procs["secondary"].pid, "S")

    out = run_cli("lab", "cont", "primary", "--dir", str(directory / "nothing-here"))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "no lab in" in out.stderr

    procs["secondary"].kill()
    procs["secondary"].wait()
    for args in (["hang", "secondary"], ["cont", "secondary"], ["kill", "secondary", "--during-checkpoint"],
                 ["hang", "primary", "--during-checkpoint"]):
        out = run_cli("lab", *args, "--dir", str(directory))
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert f"no running secondary in the lab at {directory}" in out.stderr, out.stderr
    assert _state_is(procs["primary"].pid, "S")


def test_a_strike_refuses_what_it_cannot_do() -> None:
    """Programming errors in a test's call, said before anything is opened or signalled."""
    address = UnixAddress(Path("/nonexistent/qmp.sock"))
    for kwargs, sig in (({"until_wedged": True}, signal.SIGSTOP), ({"until_wedged": True, "survivor": address},
                        signal.SIGKILL), ({}, signal.SIGTERM), ({"tries": 0}, signal.SIGSTOP),
                        ({"after_stop": -0.1}, signal.SIGSTOP)):
        with pytest.raises(ValueError):
            asyncio.run(strike_at_checkpoint(address, os.getpid(), sig, **kwargs))  # type: ignore[arg-type]


def test_a_strike_on_a_pid_that_is_gone_signals_nothing() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    with pytest.raises(UserError, match=f"no process {proc.pid}: nothing was signalled"):
        asyncio.run(strike_at_checkpoint(UnixAddress(Path("/nonexistent/qmp.sock")), proc.pid, signal.SIGSTOP))
