"""`colotui lab`'s bad input is one line. The lab against real QEMU is in tests/qemu/test_lab.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "colotui", *args], capture_output=True, text=True, timeout=60)


def test_cli_reports_bad_input_in_one_line(short_tmp: Path) -> None:
    out = run_cli("lab", "status", "--dir", str(short_tmp / "nothing-here"))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "no lab in" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("connect", "not an address", "127.0.0.2:x")
    assert out.returncode == 1 and "neither a unix socket path nor host:port" in out.stderr
    out = run_cli("--help")
    assert out.returncode == 0
    for word in ("lab", "connect", "demo"):
        assert word in out.stdout
