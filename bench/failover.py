"""Failover at QEMU's speed: from a dead or hung peer to a survivor running alone.

For each failover (primary-failover after the secondary goes, secondary-failover
after the primary goes) and each sample, on a fresh lab pair brought into COLO:
  - SIGKILL the peer, then time `colotui run <failover> --lab DIR --yes` (the whole
    process) and, on another fresh pair, a bare qemu.qmp script sending the same
    commands of QEMU's document (rendered by colotui's dry run beforehand) and
    waiting for the same end state: the survivor running, out of COLO;
  - SIGSTOP the peer, then time colotui likewise (the bare script cannot finish:
    its first drain waits on the hung peer for good);
  - in the console (in-process, Pilot), the time from the fault to the alert that
    offers the failover, for SIGKILL and for SIGSTOP.

Targets (issue 12): colotui / bare <= 1.2 after SIGKILL; alert <= 1 s after SIGKILL,
<= 3 s after SIGSTOP.

    .venv/bin/python bench/failover.py [--samples 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from colotui.config import Config
from colotui.control.console import ConsoleController
from colotui.control.terminal import Options, run_scenario
from colotui.lab import Lab, pair_from_lab
from colotui.scenario import find_scenario
from colotui.ui.app import ColotuiApp
from colotui.ui.vm_pane import VMPane

#: (procedure, the side that fails, the survivor)
FAILOVERS = (("primary-failover", "secondary", "primary"), ("secondary-failover", "primary", "secondary"))

BARE = """
import asyncio, json, sys
from qemu.qmp import QMPClient

async def main(socket, messages):
    client = QMPClient("bare")
    await client.connect(socket)
    for msg in messages:
        await client.execute(msg["execute"], msg.get("arguments"))
    while True:
        colo = await client.execute("query-colo-status")
        status = await client.execute("query-status")
        if colo["mode"] == "none" and status["status"] == "running":
            break
        await asyncio.sleep(0.05)
    await client.disconnect()

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
"""


VERSIONS: set[str] = set()


def colo_lab(root: Path, name: str) -> Lab:
    lab = Lab(root / name)
    VERSIONS.add(str(lab.up().qemu["version"]))
    with open(os.devnull, "w") as quiet:
        result = asyncio.run(run_scenario(find_scenario("startup"), pair_from_lab(lab.dir),
                                          Options(yes=True, json_lines=True), transcript=None, out=quiet))
    if result is None or not result.passed:
        lab.down()
        sys.exit(f"startup did not pass on {lab.dir}")
    time.sleep(2.0)  # a few checkpoints, the guest counting
    return lab


def document_commands(lab: Lab, procedure: str) -> list[dict[str, object]]:
    """The document's commands of ``procedure`` for this pair, as colotui renders them (its yank left out)."""
    out = subprocess.run([sys.executable, "-m", "colotui", "run", procedure, "--lab", str(lab.dir), "--dry-run",
                          "--json"], capture_output=True, text=True, timeout=60, check=True)
    requests = [json.loads(line)["request"] for line in out.stdout.splitlines()]
    return [r for r in requests if r and "execute" in r]


def fault(lab: Lab, role: str, sig: int) -> int:
    vm = lab.state().current(role)
    assert vm is not None
    os.kill(vm.pid, sig)
    return vm.pid


#: As an installed tool runs: with its compiled bytecode (pip compiles a wheel's modules at install).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], timeout: float = 60) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=ENV)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])}… failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-300:]}")
    return elapsed


def colotui_failover(root: Path, name: str, procedure: str, peer: str, sig: int) -> float:
    lab = colo_lab(root, name)
    stopped = None
    try:
        stopped = fault(lab, peer, sig)
        return timed([sys.executable, "-m", "colotui", "run", procedure, "--lab", str(lab.dir), "--yes"])
    finally:
        if sig == signal.SIGSTOP and stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        lab.down()


def bare_failover(root: Path, name: str, procedure: str, peer: str, survivor: str) -> float:
    lab = colo_lab(root, name)
    try:
        commands = document_commands(lab, procedure)
        fault(lab, peer, signal.SIGKILL)
        vm = lab.state().current(survivor)
        assert vm is not None
        return timed([sys.executable, "-c", BARE, vm.qmp, json.dumps(commands)])
    finally:
        lab.down()


async def alert_after(lab: Lab, peer: str, survivor: str, sig: int) -> float:
    """Seconds from the fault to the survivor's pane offering the failover."""
    app = ColotuiApp(ConsoleController(pair_from_lab(lab.dir), config=Config(refresh_interval=5.0)))
    async with app.run_test() as pilot:
        deadline = time.monotonic() + 30
        while not (all(v.structure_known and v.in_colo for v in app.main.views.values())
                   and app.main.views["primary"].checkpoints.count >= 2):
            assert time.monotonic() < deadline, "the console never saw the pair in COLO"
            await pilot.pause(0.02)
        pane = app.query_one(f"#pane-{survivor}", VMPane)
        pid = fault(lab, peer, sig)
        started = time.monotonic()
        try:
            while pane.current_alert is None or pane.current_alert.offer is None:
                assert time.monotonic() - started < 30, "no alert offered the failover in 30 s"
                await pilot.pause(0.01)
            return time.monotonic() - started
        finally:
            if sig == signal.SIGSTOP:
                os.kill(pid, signal.SIGCONT)


def console_alert(root: Path, name: str, peer: str, survivor: str, sig: int) -> float:
    lab = colo_lab(root, name)
    try:
        return asyncio.run(alert_after(lab, peer, survivor, sig))
    finally:
        lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, list[float], list[float], list[float]]] = []
    for warm_up in ([sys.executable, "-m", "colotui", "run", "--list"], [sys.executable, "-c", "import qemu.qmp"]):
        subprocess.run(warm_up, capture_output=True, env=ENV, check=True)  # both start from compiled bytecode
    alerts: dict[str, list[float]] = {"SIGKILL": [], "SIGSTOP": []}
    with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
        root = Path(tmp)
        for procedure, peer, survivor in FAILOVERS:
            killed, bare, stopped = [], [], []
            for i in range(args.samples):  # interleaved: the machine's noise falls on both alike
                killed.append(colotui_failover(root, f"k{procedure}{i}", procedure, peer, signal.SIGKILL))
                bare.append(bare_failover(root, f"b{procedure}{i}", procedure, peer, survivor))
                stopped.append(colotui_failover(root, f"s{procedure}{i}", procedure, peer, signal.SIGSTOP))
            rows.append((procedure, killed, bare, stopped))
        for i in range(args.samples):
            for name, sig in (("SIGKILL", signal.SIGKILL), ("SIGSTOP", signal.SIGSTOP)):
                alerts[name].append(console_alert(root, f"a{name}{i}", "secondary", "primary", sig))

    median = statistics.median
    print(f"failover, whole process, median of {args.samples} (a fresh COLO pair each; QEMU "
          f"{', '.join(sorted(VERSIONS))}, KVM)\n")
    print(f"{'failover':<22}{'colotui, SIGKILL':>18}{'bare, SIGKILL':>16}{'ratio':>8}{'target':>9}"
          f"{'colotui, SIGSTOP':>19}")
    for procedure, killed, bare, stopped in rows:
        ratio = median(killed) / median(bare)
        print(f"{procedure:<22}{median(killed):>16.2f} s{median(bare):>14.2f} s{ratio:>8.2f}{'<= 1.2':>9}"
              f"{median(stopped):>17.2f} s")
    print("\n(bare, SIGSTOP: does not finish; its first drain waits on the hung peer)\n")
    print(f"{'console: fault to alert offering the failover':<48}{'median':>9}{'max':>9}{'target':>9}")
    for name, target in (("SIGKILL", "<= 1 s"), ("SIGSTOP", "<= 3 s")):
        print(f"{'  secondary ' + name:<48}{median(alerts[name]):>7.2f} s{max(alerts[name]):>7.2f} s{target:>9}")


if __name__ == "__main__":
    main()
