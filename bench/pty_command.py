"""A colotui command in a pseudo-terminal, for the benchmarks: what it draws is read and dropped, and its
CPU time and memory are read from /proc."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import sys
import termios
import threading
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PtyCommand:
    """``python -m colotui ARGS`` in a pseudo-terminal of ``size`` (rows, columns), with ``env`` added."""

    def __init__(self, args: list[str], size: tuple[int, int], env: dict[str, str] | None = None) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["COLUMNS"], os.environ["LINES"] = str(size[1]), str(size[0])
            os.environ.update(env or {})
            os.execv(sys.executable, [sys.executable, "-m", "colotui", *args])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        self.drawn = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.drawn += len(chunk)

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:  # reaped already
            return False

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
