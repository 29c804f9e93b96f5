"""QMP through a real libvirtd: a domain defined here from XML written here, reached as
``qemu+unix:///system?socket=…&domain=NAME`` behind the same Session interface as a socket — replies,
typed errors, events, the transcript, a death — and the out-of-band yank refused on libvirt's monitor but
served by the extra ``-qmp`` socket the domain is given in ``<qemu:commandline>``.

The ``libvirt`` tier (``-m libvirt``): it needs root (libvirtd runs in a private mount namespace) and
libvirt's daemon (``scripts/setup --test`` installs both).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from colotui.lab import process
from colotui.pair import Endpoint
from colotui.qmp import CommandError, Disconnected, LinkState, Ok, Transcript, UnixAddress, parse_address
from colotui.qmp.health import Health, probe
from colotui.qmp.libvirt import NO_OOB
from colotui.qmp.transcript import read_transcript
from colotui.service.sessions import PairSessions, open_sessions

from ..support import libvirtd

pytestmark = [pytest.mark.libvirt, pytest.mark.kvm]



@pytest.fixture
async def domain(daemon: libvirtd.Libvirtd, short_tmp: Path) -> AsyncIterator[tuple[str, Path, int]]:
    """A transient domain (no disk: its BIOS waits for one), its extra -qmp socket, its QEMU's PID."""
    import libvirt
    name = f"colotui-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    conn = libvirt.open(daemon.uri)
    try:
        conn.createXML(libvirtd.domain_xml(name, ["-serial", f"file:{short_tmp}/serial.log", "-display", "none",
                                                  "-qmp", f"unix:{short_tmp}/yank.sock,server=on,wait=off"]), 0)
    except libvirt.libvirtError as exc:
        conn.close()
        pytest.fail(f"libvirt would not start the domain: {exc}\n{daemon.log()}")
    pid = daemon.qemu_pid(name)
    try:
        yield name, short_tmp / "yank.sock", pid
    finally:
        process.stop(pid, str(short_tmp), grace=2.0)
        conn.close()


async def until(predicate: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_domain_under_libvirt_is_a_session_like_any_other(
        daemon: libvirtd.Libvirtd, domain: tuple[str, Path, int], tmp_path: Path) -> None:
    name, yank, pid = domain
    address = parse_address(f"{daemon.uri}&domain={name}")
    transcript = Transcript(tmp_path / "t.jsonl")
    endpoints = {"vm": Endpoint(name, address, yank=UnixAddress(yank))}
    async with open_sessions(endpoints, transcript=transcript, connect_timeout=20) as sessions:
        vm = sessions["vm"]
        assert vm.connected, vm.detail
        assert f"via libvirt ({daemon.uri}, domain {name})" in vm.detail and vm.version is not None
        assert not vm.oob_capable
        events = vm.subscribe(events={"STOP", "RESUME"})
        status = await vm.execute("query-status")
        assert isinstance(status, Ok) and status.value["status"] == "running", status
        for command, event in (("stop", "STOP"), ("cont", "RESUME")):
            assert isinstance(await vm.execute(command), Ok)
            async with asyncio.timeout(5):
                heard = await events.get()
            assert getattr(heard, "name", None) == event, heard
        wrong = await vm.execute("no-such-command")
        assert isinstance(wrong, CommandError) and wrong.error_class == "CommandNotFound", wrong
        refused = await vm.execute("query-yank", oob=True)
        assert isinstance(refused, CommandError) and refused.desc == NO_OOB, refused
        spare = sessions.oob("vm")
        assert spare is not None and await spare.wait_connected(5), spare.detail if spare else None
        yanks = await spare.execute("query-yank", oob=True)
        assert isinstance(yanks, Ok) and isinstance(yanks.value, list), yanks

        os.kill(pid, signal.SIGKILL)
        await until(lambda: vm.state is not LinkState.CONNECTED, "libvirt says the domain is gone")
        assert "the domain stopped" in vm.detail, vm.detail
        assert isinstance(await vm.execute("query-status"), Disconnected)
        verdict = await probe(vm, spare, deadline=0.05)  # down at once (killed, not hung): not waited for
        assert verdict.health is Health.DOWN, verdict
    transcript.close()
    entries = read_transcript(tmp_path / "t.jsonl")
    links = [e["msg"] for e in entries if e["dir"] == "link" and e["vm"] == name]
    assert any("via libvirt" in link for link in links) and links[-1].startswith("idle"), links
    sent = [e["msg"] for e in entries if e["dir"] == "send" and e["vm"] == name]
    got = [e["msg"] for e in entries if e["dir"] == "recv" and e["vm"] == name]
    assert {"execute": "stop", "id": sent[[m["execute"] for m in sent].index("stop")]["id"]} in sent
    assert any(m.get("event") == "STOP" for m in got) and {m["id"] for m in sent} <= {m.get("id") for m in got}


async def test_libvirt_says_what_it_cannot_reach(daemon: libvirtd.Libvirtd) -> None:
    """No such domain, and no daemon at that socket: one line each, down at once (not waited for)."""
    for text, said in ((f"{daemon.uri}&domain=nothing-by-this-name", "nothing-by-this-name"),
                       ("qemu+unix:///system?socket=/nonexistent/sock&domain=x", "libvirt:")):
        sessions = PairSessions({"vm": Endpoint("vm", parse_address(text))})
        try:
            await sessions.wait_settled(["vm"], 10)
            vm = sessions["vm"]
            assert not vm.connected and said in vm.detail and "\n" not in vm.detail, vm.detail
        finally:
            await sessions.close()


def test_the_shell_and_doctor_over_libvirt(daemon: libvirtd.Libvirtd, domain: tuple[str, Path, int]) -> None:
    """What an operator types: the shell answers through libvirt; doctor reads the VM through it and judges
    a VM that is not in COLO, in lines, without a traceback."""
    name, yank, _ = domain
    address = f"{daemon.uri}&domain={name}"
    shell = subprocess.run([sys.executable, "-m", "colotui", "shell", address], input="query-status\n",
                           capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0, shell.stderr
    assert json.loads(shell.stdout.splitlines()[-1])["return"]["status"] == "running", shell.stdout
    doctor = subprocess.run([sys.executable, "-m", "colotui", "doctor", address, address, "--primary-yank",
                             str(yank)], capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr + doctor.stdout, doctor.stderr
    assert "QEMU" in doctor.stdout, doctor.stdout
