"""Starting and stopping lab QEMUs by PID, and only ours.

A PID is checked against its command line before any signal: after a reboot
or a long pause the number may belong to someone else's process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from ..errors import UserError

# Children started by this process, so that their exit status can be told.
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(argv: list[str], log: Path) -> int:
    """Start ``argv`` in its own session (so Ctrl-C in the terminal spares it), output to ``log``."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _children[proc.pid] = proc
    return proc.pid


def how_it_ended(pid: int) -> str:
    """``exit status N`` or ``killed by SIGNAL`` for a child of ours that ended; else an empty string."""
    proc = _children.get(pid)
    code = proc.poll() if proc is not None else None
    if code is None:
        return ""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our exited child, so it does not linger as a zombie."""
    if pid in _children:
        _children[pid].poll()
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _state(pid: int) -> str | None:
    """The process's state letter in /proc (R, S, T for stopped by a signal, Z…); None if there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid: int, marker: str) -> bool:
    """True if ``pid`` runs and its command line contains ``marker`` (e.g. its QMP socket path). An empty
    marker is in every command line: it tells nothing, and no process is ours by it."""
    if not marker or pid < 2:  # 0 and -1 are no process: os.kill takes them for groups, or for everyone
        return False
    _reap(pid)
    state = _state(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    if state in (None, "Z", "X"):
        return False
    if not cmdline.strip("\0") and pid in _children and _children[pid].returncode is None:
        return True  # our child, just exec'd: its arguments are not in /proc yet
    return marker in cmdline


def stopped(pid: int, marker: str) -> bool:
    """True if ``pid`` is ours and stopped by a signal (SIGSTOP: /proc's state T): a hung VM, which keeps
    its sockets and answers nothing until SIGCONT."""
    return alive(pid, marker) and _state(pid) == "T"


def send(pid: int, marker: str, sig: int) -> None:
    """Send ``sig`` to ``pid`` if it is still ours; a one-line error if it is not."""
    if not alive(pid, marker):
        raise UserError(f"process {pid} is not running (or is not the lab's any more): nothing was sent")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise UserError(f"process {pid} ended just now: nothing was sent") from None


def wait_gone(pid: int, marker: str, timeout: float) -> bool:
    """Until ``pid`` is no longer ours and running, or ``timeout``; True if it is gone."""
    deadline = time.monotonic() + timeout
    while alive(pid, marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop(pid: int, marker: str, *, sig: int = signal.SIGTERM, grace: float = 5.0) -> bool:
    """Signal ``pid`` (if it is still ours) and wait for it to go; SIGKILL after ``grace``.

    Returns True if the process was running and is now gone.
    """
    if not alive(pid, marker):
        return False
    for signum in (sig, signal.SIGKILL):
        try:
            os.kill(pid, signum)
            if signum != signal.SIGKILL and _state(pid) == "T":
                os.kill(pid, signal.SIGCONT)  # a hung (SIGSTOPped) process acts on SIGTERM only once continued
        except ProcessLookupError:
            return True
        if wait_gone(pid, marker, grace):
            return True
    raise UserError(f"process {pid} is still running after SIGKILL")
