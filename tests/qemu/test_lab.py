"""`colotui lab` against real QEMU: up, status, kill, respawn, down, and bad input."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from colotui.errors import UserError
from colotui.lab import Lab, QemuInstall, follow, pair_from_lab, process
from colotui.lab import lab as lab_module
from colotui.pair import Pair
from colotui.qmp import Ok, Session, UnixAddress

from ..conftest import ACCEL, LabFactory, live_qemus_under
from ..unit.test_lab import run_cli


async def ask(qmp: str, command: str) -> object:
    session = Session("probe", UnixAddress(Path(qmp)))
    session.start()
    try:
        assert await session.wait_connected(10), session.detail
        reply = await session.execute(command)
        assert isinstance(reply, Ok), reply
        return reply.value
    finally:
        await session.close()


def test_up_writes_lab_json_and_both_vms_answer_on_both_monitors(lab: Lab, qemu: QemuInstall) -> None:
    data = json.loads((lab.dir / "lab.json").read_text())
    assert data["accel"] == ACCEL
    assert set(data["ports"]) == {"mirror", "compare", "compare_loop", "compare_out", "migration", "nbd"}
    vms = {vm["name"]: vm for vm in data["vms"]}
    assert set(vms) == {"primary", "secondary"}
    assert vms["primary"]["address"] == "127.0.0.1" and vms["secondary"]["address"] == "127.0.0.2"
    for name, vm in vms.items():
        assert vm["started_as"] == name and vm["role"] == name and vm["state"] == "running"
        assert vm["qemu_version"] == str(qemu.version)
        for key in ("qmp", "qmp_spare", "serial"):
            assert Path(vm[key]).is_relative_to(lab.dir)
    assert sorted(live_qemus_under(lab.dir)) == sorted(vm["pid"] for vm in vms.values())
    assert data["topology"]["ports"] == data["ports"]

    async def both_monitors() -> None:
        # the spare monitor serves a second client while colotui holds the first
        main = Session("main", UnixAddress(Path(vms["primary"]["qmp"])))
        main.start()
        try:
            assert await main.wait_connected(10)
            assert (await ask(vms["primary"]["qmp_spare"], "query-status"))["status"] == "prelaunch"
            assert (await ask(vms["secondary"]["qmp"], "query-status"))["status"] == "inmigrate"
            chardevs = await ask(vms["secondary"]["qmp_spare"], "query-chardev")
            red1 = next(c for c in chardevs if c["label"] == "red1")
            assert f"127.0.0.1:{data['ports']['compare']}" in red1["filename"]
        finally:
            await main.close()

    asyncio.run(both_monitors())


def test_kill_respawn_down(lab: Lab) -> None:
    first = lab.state()
    killed = lab.kill("secondary")
    assert killed.name == "secondary"
    state = lab.state()
    assert {vm.name: vm.state for vm in state.vms} == {"primary": "running", "secondary": "killed"}
    assert live_qemus_under(lab.dir) == [first.current("primary").pid]
    with pytest.raises(UserError, match="no running secondary"):
        lab.kill("secondary")

    fresh = lab.respawn()
    assert fresh.name == "secondary2" and fresh.address == "127.0.0.2" and fresh.role == "secondary"
    state = lab.state()
    assert state.current("primary").name == "primary" and state.current("secondary").name == "secondary2"
    assert asyncio.run(ask(fresh.qmp, "query-status"))["status"] == "inmigrate"
    assert "-incoming" in fresh.argv and f"host=127.0.0.1,id=red0,port={state.ports.mirror}" in " ".join(fresh.argv)
    # a fresh base of the same size, empty: the resync fills it
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", fresh.images["disk"]],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["virtual-size"] == state.disk_mb << 20
    with pytest.raises(UserError, match="both are running"):
        lab.respawn()

    stopped = lab.down()
    assert {vm.name for vm in stopped} == {"primary", "secondary2"}
    assert live_qemus_under(lab.dir) == []
    assert all(vm.state in ("stopped", "killed") for vm in lab.state().vms)


def test_a_respawn_is_ready_even_when_a_console_takes_the_new_monitor_first(lab: Lab) -> None:
    """lab.json names the new VM before it is ready, and a console following the lab may connect to its
    main monitor at once: that monitor serves one client, so the lab's own check must not wait behind it
    (it did: "no QMP greeting within 30 s", seen in CI under load)."""
    lab.kill("secondary")
    socket_path = lab.dir / "secondary2" / "qmp.sock"
    holder = socket.socket(socket.AF_UNIX)
    stop = threading.Event()

    def take_it_first() -> None:
        while not stop.is_set():
            try:
                holder.connect(str(socket_path))
                return
            except OSError:
                time.sleep(0.001)

    thread = threading.Thread(target=take_it_first)
    thread.start()
    try:
        fresh = lab.respawn(timeout=10.0)
        assert fresh.qemu_version, "the lab read the new VM's version"
    finally:
        stop.set()
        thread.join()
        holder.close()
    assert asyncio.run(ask(fresh.qmp, "query-status"))["status"] == "inmigrate", "the main monitor, free again"


def test_the_surviving_secondary_becomes_primary_at_respawn(lab: Lab) -> None:
    lab.kill("primary")
    fresh = lab.respawn()
    state = lab.state()
    survivor = state.current("primary")
    assert survivor.name == "secondary" and survivor.started_as == "secondary"
    assert fresh.address == "127.0.0.1", "the new secondary takes the dead primary's address"
    assert f"host=127.0.0.2,id=red0,port={state.ports.mirror}" in " ".join(fresh.argv)
    assert state.topology().primary == "127.0.0.2" and state.topology().secondary == "127.0.0.1"


def test_two_labs_run_at_once_and_a_busy_dir_is_refused(labs: LabFactory) -> None:
    a = labs.up("a", guest="none")
    b = labs.up("b", guest="none")
    pa, pb = a.state().ports, b.state().ports
    assert not set(pa.all()) & set(pb.all())
    before = live_qemus_under(labs.root)
    assert len(before) == 4
    with pytest.raises(UserError, match="in use by a running lab"):
        a.up(install=labs.qemu, accel=ACCEL)
    assert live_qemus_under(labs.root) == before


def test_a_taken_port_is_a_clear_error_and_leaves_no_qemu(qemu: QemuInstall, short_tmp: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.2", 0))
        port = blocker.getsockname()[1]
        with pytest.raises(UserError, match="taken"):
            Lab(short_tmp / "lab").up(install=qemu, accel=ACCEL, base_port=port - 9)
    assert live_qemus_under(short_tmp) == []


def test_missing_qemu_and_bad_images_are_clear_errors(qemu: QemuInstall, short_tmp: Path) -> None:
    with pytest.raises(UserError, match=r"not found: install QEMU \(apt-get install -y qemu-system-x86"):
        Lab(short_tmp / "a").up(install=QemuInstall(system="qemu-system-nonexistent"), accel=ACCEL)
    with pytest.raises(UserError, match=r"cannot create .*disk\.qcow2: .*size"):
        Lab(short_tmp / "b").up(install=qemu, accel=ACCEL, disk_mb=1 << 44)
    assert live_qemus_under(short_tmp) == []
    assert list((short_tmp / "b").iterdir()) == [], "a failed up leaves the directory reusable"


def test_without_kvm_up_says_why_instead_of_hanging(qemu: QemuInstall, short_tmp: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module, "kvm_problem", lambda: "/dev/kvm does not exist")
    with pytest.raises(UserError, match=r"COLO under TCG deadlocks.*--accel tcg"):
        Lab(short_tmp / "lab").up(install=qemu)
    assert live_qemus_under(short_tmp) == []


def test_cli_lab_cycle(short_tmp: Path) -> None:
    directory = short_tmp / "lab"
    up = run_cli("lab", "up", "--dir", str(directory), "--accel", ACCEL, "--no-guest")
    try:
        assert up.returncode == 0, up.stderr
        assert "primary" in up.stdout and "colotui connect --lab" in up.stdout
        status = run_cli("lab", "status", "--dir", str(directory), "--json")
        assert [vm["state"] for vm in json.loads(status.stdout)["vms"]] == ["running", "running"]
        assert "warning:" not in up.stdout, "the lab's QEMU says nothing of its options is deprecated"
        # QEMU's own deprecation warnings, in a VM's log, are passed on (COLO's would come from migrate-set-…)
        with open(directory / "secondary" / "qemu.log", "a") as log:
            log.write("qemu-system-x86_64: warning: COLO migration framework is deprecated\n")
        status = run_cli("lab", "status", "--dir", str(directory))
        assert "warning: secondary (QEMU): qemu-system-x86_64: warning: COLO migration framework is deprecated" \
            in status.stdout.splitlines()
        kill = run_cli("lab", "kill", "primary", "--dir", str(directory))
        assert kill.returncode == 0 and "SIGKILL" in kill.stdout
    finally:
        down = run_cli("lab", "down", "--dir", str(directory))
    assert down.returncode == 0 and "secondary" in down.stdout
    assert live_qemus_under(directory) == []


async def test_following_a_lab_keeps_what_the_operator_gave(lab: Lab) -> None:
    """The console follows a lab's respawns; the values given for the pair (--variant, --set) stay."""
    in_use = replace(pair_from_lab(lab.dir), given={"variant": "upstream"}, given_from="--variant")
    seen: list[Pair] = []

    async def consume() -> None:
        async for pair in follow(lambda: in_use, interval=0.05):
            seen.append(pair)

    task = asyncio.create_task(consume())
    try:
        await asyncio.sleep(0.5)
        assert seen == [], "nothing changed: nothing to follow (the given values are not a change)"
        await asyncio.to_thread(lab.kill, "secondary")
        fresh = await asyncio.to_thread(lab.respawn)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen and seen[0].secondary.name == fresh.name
        assert seen[0].given == {"variant": "upstream"} and seen[0].given_from == "--variant"
    finally:
        task.cancel()


def test_cli_net_lab(short_tmp: Path) -> None:
    """`lab up --guest net --traffic differ`: lab.json records both choices and the ports, each VM forwards the
    service port on its own address, the traffic helper runs (by PID) and `lab down` stops it."""
    directory = short_tmp / "net"
    refused = run_cli("lab", "up", "--dir", str(directory), "--accel", ACCEL, "--traffic", "differ")
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        "colotui: --traffic is for the net guest: add --guest net"]
    up = run_cli("lab", "up", "--dir", str(directory), "--accel", ACCEL, "--guest", "net", "--traffic", "differ")
    try:
        assert up.returncode == 0, up.stderr
        data = json.loads((directory / "lab.json").read_text())
        assert (data["guest"], data["traffic"]) == ("net", "differ")
        service = data["net"]["service"]
        for vm in data["vms"]:
            assert f"hostfwd=udp:{vm['address']}:{service}-:7" in " ".join(vm["argv"])
        helper = data["helper"]
        assert str(directory) in helper["argv"] and process.alive(helper["pid"], str(directory))
        assert "guest net, traffic differ" in up.stdout and f"udp port {service}" in up.stdout
        status = run_cli("lab", "status", "--dir", str(directory))
        assert "traffic (running): " in status.stdout, status.stdout
        # both VMs gone, the directory used again: the old helper goes with the old lab
        for role in ("primary", "secondary"):
            assert run_cli("lab", "kill", role, "--dir", str(directory)).returncode == 0
        old = helper
        again = run_cli("lab", "up", "--dir", str(directory), "--accel", ACCEL, "--guest", "net")
        assert again.returncode == 0, again.stderr
        helper = json.loads((directory / "lab.json").read_text())["helper"]
        assert helper["pid"] != old["pid"] and not process.alive(old["pid"], str(directory))
    finally:
        down = run_cli("lab", "down", "--dir", str(directory))
    assert down.returncode == 0
    assert not process.alive(helper["pid"], str(directory))
    assert "traffic (not running)" in run_cli("lab", "status", "--dir", str(directory)).stdout


def test_a_lab_json_from_before_the_net_guest_loads(lab: Lab) -> None:
    data = json.loads((lab.dir / "lab.json").read_text())
    for key in ("traffic", "net", "helper"):
        del data[key]
    data["guest"] = True
    (lab.dir / "lab.json").write_text(json.dumps(data))
    state = lab.state()
    assert (state.guest, state.traffic, state.net) == ("counter", None, None)
