"""The web server of `colotui serve`: textual-serve's, with one console process per browser session,
and every one of them ended when it stops; only its own page with the run's token reaches a console
(`serve.Access`, checked before textual-serve sees the request). That is what this module adds to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import hdrs, web
from markupsafe import escape
from textual_serve.server import Server

from .errors import UserError
from .serve import Access, printable, public_url, shell_command

#: How long the console processes get to quit when the server stops, before SIGTERM and then SIGKILL.
QUIT_GRACE = 5.0
#: Lines logged on stderr (each different one once: anyone can make the server log, by a refused or a
#: malformed request); past these, one line says the rest are not.
LOGGED_LINES = 20
#: The longest line logged.
LOG_LINE = 200
#: The terminal's font size on the page (textual-serve's default).
FONT_SIZE = 16
#: What the page's responses add: the page's address holds the token, so no other site hears of it
#: (the page loads a font stylesheet from a font host), and no cache keeps the page (it holds it too).
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

log = logging.getLogger("colotui.serve")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConsoleServer(Server):
    """textual-serve's server, with colotui's one line instead of its banner and logs, `Access` in front
    of every route, and a stop that ends every console it started: each session is asked to quit, and
    whatever is left is killed by PID."""

    def __init__(self, command: str, host: str, port: int, title: str, access: Access) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url(host, port))
        self.access = access
        self.sessions: set[asyncio.Task[object]] = set()

    async def _make_app(self) -> web.Application:
        """textual-serve's application with colotui's routes: the page, the websocket with the token in
        its path (the page's script appends the terminal's size to its address as a query), and the
        static files (textual-serve's own, the same for everyone: they stay open). No downloads (a
        console delivers no file) and no listing of the static files. `_guard` sees every request first."""
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([web.get("/", self.handle_page, name="index"),
                        web.get("/ws/{token}", self.handle_websocket, name="websocket", allow_head=False),
                        web.static("/static", self.statics_path, name="static")])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """403 for a request `Access` refuses, before any handler runs (so no console starts)."""
        route = request.match_info.route.name
        websocket = route == "websocket"
        changes = websocket or request.method not in ("GET", "HEAD")
        origins = request.headers.getall(hdrs.ORIGIN, [])  # (several: a browser never sends them, so none passes)
        why = self.access.refusal(request.headers.get(hdrs.HOST),
                                  ", ".join(origins) if changes and origins else None,
                                  request.match_info.get("token") if websocket else request.query.get("token"),
                                  needs_token=route in ("index", "websocket"))
        if why is None:
            return await handler(request)
        log.warning("refused %s %s", "a websocket" if websocket else "a request", why)
        raise web.HTTPForbidden(text=f"colotui serve refused this request: {why} (open the address it printed)\n")

    async def handle_page(self, request: web.Request) -> web.Response:
        """textual-serve's page, its websocket at the address the browser used (a Host `_guard` accepted)."""
        context = {"font_size": FONT_SIZE,
                   "app_websocket_url": f"ws://{request.headers[hdrs.HOST]}/ws/{self.access.token}",  # http: ws
                   "config": {"static": {"url": "/static/"}},
                   "application": {"name": escape(self.title)}}
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers.update(PAGE_HEADERS)
        return response

    def initialize_logging(self) -> None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        handler.addFilter(_Unrepeated())
        logging.basicConfig(level=logging.WARNING, handlers=[handler])

    async def on_startup(self, app: web.Application) -> None:
        print(f"colotui serve: open {self.access.url} in a browser (Ctrl-C stops it)", flush=True)

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


class _OneLine(logging.Formatter):
    """A record as one line: its message and its exception's, never a traceback (aiohttp logs one for a
    malformed request from anyone)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {record.exc_info[1]}"
        return f"colotui serve: {printable(' '.join(text.split()), LOG_LINE)}"


class _Unrepeated(logging.Filter):
    """Each different message once, up to `LOGGED_LINES` of them, then one line saying the rest are not."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen or len(self.seen) > LOGGED_LINES:
            return False
        self.seen.add(message)
        if len(self.seen) > LOGGED_LINES:
            record.msg, record.args, record.exc_info = "further lines are not logged", None, None
        return True


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


def serve(console: Sequence[str], host: str, port: int, allowed: Sequence[str] = ()) -> None:
    """Serve the console ``console`` (an argv) on ``host``:``port`` until SIGINT or SIGTERM, to its own
    page and to the origins ``allowed`` (`serve.parse_origin`'s). The token stays in this process: the
    consoles are not given it (in their argv or environment), nor is any file."""
    server = ConsoleServer(shell_command(console), host=host, port=port, title=f"colotui {shlex.join(console[3:])}",
                           access=Access.new(host, port, allowed))
    try:
        server.serve()
    except OSError as exc:  # the port was taken between the check and the bind
        raise UserError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
