"""Headless Chromium (Debian's package) driven over the Chrome DevTools Protocol, for `colotui serve`'s test.

The terminal is read from xterm.js itself, not from the screen: textual-serve's page draws with xterm.js's
WebGL or canvas renderer, so the DOM holds no text, and it keeps its ``Terminal`` in a closure. A script
run before the page's own (``Page.addScriptToEvaluateOnNewDocument``) puts a setter for ``terminal`` on
``Object.prototype``: the page's ``this.terminal = new Terminal(…)`` goes through it, which keeps the
object on ``window`` and then makes it an ordinary property again. The rows are then the terminal's
buffer (``buffer.active.getLine(i).translateToString()``): exactly the characters the app wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..conftest import live_pids

_SCHEME = "http"  # (no web address is written out in the repository: tests/qemu/test_install.py)
_KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {configurable: true, set(value) {
  Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  if (value && value.buffer && value.rows) window.__colotuiTerminal = value;
}});
"""
_READ_ROWS = """(() => {
  const t = window.__colotuiTerminal;
  if (!t) return null;
  const buffer = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) {
    const line = buffer.getLine(buffer.viewportY + i);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows;
})()"""


def chromium_or_fail() -> str:
    """Chromium's path; without it the test fails under CI and skips, with the reason, elsewhere."""
    path = shutil.which("chromium")
    if path is None:
        why = "headless Chromium is needed (apt-get install chromium, or scripts/setup --test)"
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return path


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: Callable[[], str]) -> None:
    """Poll ``check`` every 0.2 s until it holds; after ``timeout`` seconds fail with ``what()`` (what was seen)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what()}"
        await asyncio.sleep(0.2)


class Page:
    """One page of the browser: a DevTools session on it (events are read past; of them, only the
    requests the page sends are kept)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []  # each one's url and headers, as the page sends them

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        async for message in self.ws:
            reply = json.loads(message.data)
            if reply.get("id") == call_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return dict(reply["result"])
            if reply.get("method") == "Network.requestWillBeSent":
                self.requests.append(reply["params"]["request"])
        raise AssertionError(f"the browser closed its DevTools connection during {method}")

    async def rows(self) -> list[str]:
        """The terminal's rows as text (none before the page made its terminal)."""
        result = await self.call("Runtime.evaluate", expression=_READ_ROWS, returnByValue=True)
        return list(result["result"].get("value") or [])

    async def press(self, key: str, code: str, key_code: int, shift: bool = False) -> None:
        """A key pressed and released in the terminal, as the keyboard would (keydown with its text)."""
        await self.call("Runtime.evaluate", expression="window.__colotuiTerminal.focus()")
        modifiers = 8 if shift else 0
        await self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=key,
                        windowsVirtualKeyCode=key_code, modifiers=modifiers)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=code,
                        windowsVirtualKeyCode=key_code, modifiers=modifiers)


class Chromium:
    """Headless Chromium in its own session and profile directory; every process of it has that
    directory on its command line (its crash handler too, through XDG_CONFIG_HOME), which is how
    `close` checks that none is left."""

    def __init__(self, binary: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="colotui-chromium-"))
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.dir / "config")}
        argv = [binary, "--headless", "--no-sandbox", "--remote-debugging-port=0", f"--user-data-dir={self.dir}",
                "--window-size=1600,1000", "--enable-unsafe-swiftshader",
                # the page asks a font host for its stylesheet: no name but loopback's resolves, at once
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "about:blank"]
        self.log = (self.dir / "chromium.log").open("wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    async def debugger(self, timeout: float = 30.0) -> str:
        """The DevTools HTTP address, once the browser wrote it (DevToolsActivePort: port, then path)."""
        active = self.dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (active.exists() and len(active.read_text().split()) >= 2):
            assert self.proc.poll() is None, f"chromium exited with status {self.proc.returncode}"
            assert time.monotonic() < deadline, f"chromium wrote no DevToolsActivePort within {timeout:g} s"
            await asyncio.sleep(0.05)
        return f"{_SCHEME}://127.0.0.1:{active.read_text().split()[0]}"

    @contextlib.asynccontextmanager
    async def page(self, url: str) -> AsyncIterator[Page]:
        """The browser's first page, with the terminal kept (see the module's docstring), at ``url``."""
        base = await self.debugger()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/json/list") as reply:
                targets = await reply.json()
            target = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")  # without it, the script below is not run on new documents
                await page.call("Network.enable")  # the requests the page sends (`Page.requests`)
                await page.call("Page.addScriptToEvaluateOnNewDocument", source=_KEEP_TERMINAL)
                await page.call("Page.navigate", url=url)
                yield page

    def close(self) -> list[int]:
        """End the browser (SIGTERM to its PID, then its process group); the PIDs of its processes that
        were still running 10 s later (killed then)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # its helpers share its group
        deadline = time.monotonic() + 10
        while (left := live_pids(str(self.dir))) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return left
