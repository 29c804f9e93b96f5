"""The web server of `colotui serve`: textual-serve's, with one console process per browser session,
and every one of them ended when it stops (that is what this module adds to textual-serve)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from .errors import UserError
from .serve import public_url, shell_command

#: How long the console processes get to quit when the server stops, before SIGTERM and then SIGKILL.
QUIT_GRACE = 5.0


class ConsoleServer(Server):
    """textual-serve's server, with colotui's one line instead of its banner and logs, and a stop that
    ends every console it started: each session is asked to quit, and whatever is left is killed by PID."""

    def __init__(self, command: str, host: str, port: int, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url(host, port))
        self.sessions: set[asyncio.Task[object]] = set()

    def initialize_logging(self) -> None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("colotui serve: %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[handler])

    async def on_startup(self, app: web.Application) -> None:
        print(f"colotui serve: open {self.public_url} in a browser (Ctrl-C stops it)", flush=True)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        """Each session's handler, cancelled, closes its browser's websocket and asks its console to quit
        (textual-serve's own cleanup; aiohttp would otherwise wait a minute for them). The consoles are
        waited for here, while the event loop that started them still runs to see them exit."""
        sessions = list(self.sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=QUIT_GRACE)
        await _end(_children(), grace=QUIT_GRACE)


def _children() -> list[int]:
    """This process's running children (the consoles the server started), from /proc."""
    pids = []
    for tid in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (tid / "children").read_text().split()]
    return [pid for pid in pids if _running(pid)]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


async def _end(pids: Sequence[int], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``pids`` (our children) to exit, then SIGTERM them, then SIGKILL."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                if sig is not None:
                    os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig is None else 2.0)
        while (pids := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not pids:
            return


def serve(console: Sequence[str], host: str, port: int) -> None:
    """Serve the console ``console`` (an argv) on ``host``:``port`` until SIGINT or SIGTERM."""
    server = ConsoleServer(shell_command(console), host=host, port=port, title=f"colotui {shlex.join(console[3:])}")
    try:
        server.serve()
    except OSError as exc:  # the port was taken between the check and the bind
        raise UserError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
