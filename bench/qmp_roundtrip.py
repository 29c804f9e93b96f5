"""QMP round trip: colotui's session service vs raw qemu.qmp, side by side on one QEMU.

Starts a paused QEMU (TCG) with two QMP monitors, connects a raw
``qemu.qmp.QMPClient`` to one and a colotui `Session` (with a transcript, as
the app runs it) to the other, and alternates ``query-status`` calls between
them so both see the same machine noise. Prints medians and the ratio
(target: session / raw <= 1.1).

    .venv/bin/python bench/qmp_roundtrip.py [--calls 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from qemu.qmp import QMPClient

from colotui.lab import process
from colotui.pair import Endpoint
from colotui.qmp import Ok, Transcript, UnixAddress
from colotui.service.sessions import open_sessions


async def measure(calls: int, directory: Path) -> dict[str, list[float]]:
    raw = QMPClient("raw")
    await raw.connect(str(directory / "raw.sock"))
    endpoint = Endpoint("session", UnixAddress(directory / "session.sock"))
    times: dict[str, list[float]] = {"raw qemu.qmp": [], "colotui Session": []}
    try:
        async with open_sessions({"session": endpoint}, transcript=Transcript(directory / "transcript.jsonl"),
                                 connect_timeout=10) as sessions:
            session = sessions["session"]
            assert session.connected, session.detail
            for _ in range(20):  # warm up both paths
                await raw.execute("query-status")
                await session.execute("query-status")
            for i in range(calls):
                order = ("raw", "session") if i % 2 else ("session", "raw")
                for which in order:
                    started = time.perf_counter()
                    if which == "raw":
                        await raw.execute("query-status")
                        times["raw qemu.qmp"].append(time.perf_counter() - started)
                    else:
                        reply = await session.execute("query-status")
                        times["colotui Session"].append(time.perf_counter() - started)
                        assert isinstance(reply, Ok), reply
    finally:
        await raw.disconnect()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="colotui-bench-") as tmp:
        directory = Path(tmp)
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "32", "-display", "none", "-nodefaults", "-S",
                "-qmp", f"unix:{directory / 'raw.sock'},server=on,wait=off",
                "-qmp", f"unix:{directory / 'session.sock'},server=on,wait=off"]
        pid = process.spawn(argv, directory / "qemu.log")
        try:
            while not (directory / "session.sock").exists():
                time.sleep(0.02)
            times = asyncio.run(measure(args.calls, directory))
        finally:
            process.stop(pid, str(directory / "raw.sock"))
    raw_median = statistics.median(times["raw qemu.qmp"])
    print(f"QMP round trip, query-status, {args.calls} calls each, alternating\n")
    print(f"{'client':<18}{'median µs':>11}{'p90 µs':>9}{'ratio':>8}")
    for name, samples in times.items():
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{name:<18}{median * 1e6:>11.0f}{p90 * 1e6:>9.0f}{median / raw_median:>8.2f}")
    print("\ntarget: colotui Session / raw <= 1.10")


if __name__ == "__main__":
    main()
