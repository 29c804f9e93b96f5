"""A real pseudo-terminal for tests that run the console as an operator does: `colotui connect` in a pty."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Callable, Mapping
from pathlib import Path

_CONTROL = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class Terminal:
    """A program started in a pty of a given size; ``text`` is what it printed, escape sequences removed."""

    def __init__(self, argv: list[str], *, cwd: Path, env: Mapping[str, str],
                 size: tuple[int, int] = (160, 48)) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the program
            os.chdir(cwd)
            os.execve(argv[0], argv, dict(env))
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.raw = b""
        self.exit_code: int | None = None

    @property
    def text(self) -> str:
        return _CONTROL.sub(b"", self.raw).decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to ``timeout``); False once the program has closed the terminal."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 1 << 16)
        except OSError:  # EIO: the program is gone
            return False
        self.raw += chunk
        return bool(chunk)

    def wait_for(self, condition: Callable[[str], bool], timeout: float) -> bool:
        """Until ``condition(text)`` holds (True) or ``timeout`` passes or the program ends (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.text):
                return True
            if not self._read(0.1):
                return condition(self.text)
        return condition(self.text)

    def resize(self, size: tuple[int, int]) -> None:
        """As a window resized: the pty's size changes and the program gets SIGWINCH."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        os.kill(self.pid, signal.SIGWINCH)

    def press(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait_exit(self, timeout: float) -> int | None:
        """The exit status once the program ends within ``timeout``; None (and SIGKILL) if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
                os.close(self.fd)
                return self.exit_code
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return None
