"""The price of colo-compare, as the net guest's clients see it.

Three guests side by side, the same net guest (`colotui.lab.netguest`) in each:
  - off:    a plain QEMU, our own command line, no COLO (user network, hostfwd);
  - same:   a lab in COLO, traffic ``same`` (replies match: colo-compare lets each out when the
            secondary's copy arrives);
  - differ: a lab in COLO, traffic ``differ`` (every packet miscompares: each waits for a checkpoint).
Requests go round-robin to the three, one at a time (each waits for its reply), so the machine's noise falls
on all of them alike. Printed: round trips (median, p90, p99) and their ratio to ``off``; checkpoints per
second on each lab's primary; the guest's own ticks per second (how much a checkpoint storm slows it).

Both labs run at x-checkpoint-delay 1000 (colotui's default); the labs' traffic helpers are stopped first so
that only this client talks.

    .venv/bin/python bench/net_price.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from colotui.control.terminal import Options, run_scenario
from colotui.lab import Lab, QemuInstall, pair_from_lab, process
from colotui.lab.guest import counters_in_serial, write_raw_disk
from colotui.lab.netguest import image, reply_to
from colotui.qmp import Event, Session, UnixAddress
from colotui.scenario import find_scenario


def plain_vm(directory: Path, install: QemuInstall) -> tuple[int, str, int]:
    """The net guest in a plain QEMU (KVM, as the labs): (pid, marker, service port on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        service = probe.getsockname()[1]
    raw = directory / "disk.raw"
    write_raw_disk(raw, 1 << 20, image("same", 9))  # its ticks go to the discard port
    qmp = f"unix:{directory / 'qmp.sock'},server=on,wait=off"
    argv = install.argv(install.system, "-accel", "kvm", "-cpu", "qemu64,kvmclock=on", "-m", "128", "-smp", "1",
                        "-display", "none", "-qmp", qmp, "-serial", f"file:{directory / 'serial.log'}",
                        "-netdev", f"user,id=hn0,hostfwd=udp:127.0.0.1:{service}-:7",
                        "-device", "rtl8139,netdev=hn0,romfile=",
                        "-drive", f"if=ide,file={raw},format=raw")
    return process.spawn(argv, directory / "qemu.log"), qmp, service


async def colo_lab(directory: Path, traffic: str) -> Lab:
    lab = Lab(directory)
    await asyncio.to_thread(lab.up, guest="net", traffic=traffic)
    state = lab.state()
    if state.helper is not None:  # only this client talks
        process.stop(state.helper.pid, state.helper.marker)
    result = await run_scenario(find_scenario("startup"), pair_from_lab(lab.dir), Options(yes=True),
                                transcript=None, out=io.StringIO())
    assert result is not None and result.passed, f"startup on the {traffic} lab: {result and result.status}"
    return lab


def round_trip(sock: socket.socket, address: tuple[str, int], n: int) -> float | None:
    """Seconds for one request and its reply; None if none came within 2 s."""
    request = f"bench {n}".encode()
    start = time.perf_counter()
    sock.sendto(request, address)
    deadline = start + 2.0
    while True:
        sock.settimeout(max(0.001, deadline - time.perf_counter()))
        try:
            reply = sock.recv(300)
        except TimeoutError:
            return None
        if reply_to(reply) == request:
            return time.perf_counter() - start


async def checkpoints(qmp: Path, seconds: float) -> float:
    session = Session("bench", UnixAddress(qmp))
    session.start()
    try:
        assert await session.wait_connected(10)
        sub = session.subscribe(events={"RESUME"})
        await asyncio.sleep(seconds)
        count = sum(1 for n in sub.drain() if isinstance(n, Event))
        sub.close()
        return count / seconds
    finally:
        await session.close()


def ticks_per_second(serial: Path, seconds: float) -> float:
    before = counters_in_serial(serial.read_text(errors="replace"))[-1]
    time.sleep(seconds)
    return (counters_in_serial(serial.read_text(errors="replace"))[-1] - before) / seconds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(requests: int) -> None:
    install = QemuInstall()
    root = Path(tempfile.mkdtemp(prefix="colotui-bench-"))
    (root / "off").mkdir()
    pid, marker, service = plain_vm(root / "off", install)
    labs: dict[str, Lab] = {}
    try:
        for traffic in ("same", "differ"):
            labs[traffic] = await colo_lab(root / traffic, traffic)
        targets = {"off": ("127.0.0.1", service)}
        for traffic, lab in labs.items():
            net = lab.state().net
            assert net is not None
            targets[traffic] = ("127.0.0.1", net.service)
        await asyncio.sleep(3.0)  # past COLO's first checkpoints
        rtts: dict[str, list[float]] = {name: [] for name in targets}
        lost = dict.fromkeys(targets, 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            for n in range(requests):
                for name, address in targets.items():
                    rtt = await asyncio.to_thread(round_trip, sock, address, n)
                    if rtt is None:
                        lost[name] += 1
                    else:
                        rtts[name].append(rtt * 1000)
        rates = {}
        for traffic, lab in labs.items():
            primary = lab.state().current("primary")
            assert primary is not None
            rates[traffic] = await checkpoints(Path(primary.qmp_spare), 10.0)
        ticks = {"off": await asyncio.to_thread(ticks_per_second, root / "off" / "serial.log", 5.0)}
        for traffic, lab in labs.items():
            primary = lab.state().current("primary")
            assert primary is not None
            ticks[traffic] = await asyncio.to_thread(ticks_per_second, Path(primary.serial), 5.0)
    finally:
        process.stop(pid, marker, sig=9)
        for lab in labs.values():
            lab.down()
        shutil.rmtree(root, ignore_errors=True)
    version = install.version
    base = statistics.median(rtts["off"])
    print(f"\nnet guest round trips, QEMU {version}, {requests} requests to each, round-robin "
          f"(x-checkpoint-delay 1000 ms on both labs)\n")
    print(f"{'guest':<8}{'median ms':>10}{'p90 ms':>9}{'p99 ms':>9}{'vs off':>8}{'lost':>6}{'ckpt/s':>8}"
          f"{'ticks/s':>9}")
    for name in targets:
        values = rtts[name]
        median = statistics.median(values) if values else float("nan")
        rate = f"{rates[name]:.1f}" if name in rates else "—"
        print(f"{name:<8}{median:>10.2f}{pct(values, 0.9):>9.2f}{pct(values, 0.99):>9.2f}"
              f"{median / base:>8.2f}{lost[name]:>6}{rate:>8}{ticks[name]:>9.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
