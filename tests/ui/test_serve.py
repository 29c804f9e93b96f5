"""`colotui serve` against a real lab, in headless Chromium at the printed address: both panes with the
lab's COLO objects, a key that reaches the console, and Ctrl-C ending the server and every console it
started. Its command line is in tests/unit/test_serve.py; who a real server lets in, and what it refuses
before anything listens, in tests/long/test_serve.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from colotui.serve import (
    public_url,
)

from ..conftest import LabFactory
from ..long.test_serve import _free_port, _group, _listening, _serve, _stop
from ..support.browser import Chromium, chromium_or_fail, eventually


def _panes(rows: list[str]) -> tuple[str, str]:
    """The two panes' text: each row cut where the primary's border meets the secondary's."""
    edge = next((row.index("╮╭") + 1 for row in rows if "╮╭" in row), None)
    if edge is None:
        return "", ""
    return "\n".join(row[:edge] for row in rows), "\n".join(row[edge:] for row in rows)


async def _use_the_page(browser: Chromium, url: str, server: subprocess.Popen[bytes], lab_dir: Path) -> None:
    """Both panes with the lab's COLO objects, one console for the session, ``?`` opening the keys screen;
    then Ctrl-C in serve's terminal (SIGINT to its whole process group, the consoles included), the page
    still open."""
    async with browser.page(url) as page:
        seen: list[str] = []

        async def panes_shown() -> bool:
            seen[:] = await page.rows()
            primary, secondary = _panes(seen)
            return all(s in primary for s in ("primary: primary", "primary  127.0.0.1  QEMU", "link: connected",
                                              "m0 filter-mirror", "comp0 colo-compare", "colo-disk0")) and \
                all(s in secondary for s in ("secondary: secondary", "secondary  127.0.0.2  QEMU",
                                             "link: connected", "f1 filter-redirector", "rew0 filter-rewriter"))

        await eventually(panes_shown, 45, lambda: "both panes with the lab's COLO objects:\n" + "\n".join(seen))
        # the page asks a font host for a stylesheet: it is not told the page's address (Referrer-Policy; by
        # default Chromium would send its origin; an older browser, or one set so, the whole address)
        token, served = url.partition("?token=")[2], url.partition("?")[0]
        elsewhere = [request for request in page.requests if not request["url"].startswith(served)]
        assert elsewhere, "the page asked no other host for anything (its font stylesheet)"
        assert [r for r in elsewhere if token in json.dumps(r) or r["headers"].get("Referer")] == []
        consoles = [cmd for _, cmd in _group(server.pid) if f"colotui connect --lab {lab_dir}" in cmd]
        assert len(consoles) == 1, _group(server.pid)

        await page.press("?", "Slash", 191, shift=True)

        async def keys_shown() -> bool:
            seen[:] = await page.rows()
            text = "\n".join(seen)
            return "Keys (default)" in text and "app.quit" in text

        await eventually(keys_shown, 20, lambda: "the keys screen after ?:\n" + "\n".join(seen))
        os.killpg(server.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while server.poll() is None:
            assert time.monotonic() < deadline, "serve did not stop within 30 s of SIGINT"
            await asyncio.sleep(0.1)


def test_the_console_in_a_browser_shows_both_panes_takes_keys_and_stops_on_ctrl_c(labs: LabFactory) -> None:
    """The printed address, token and all, opened as an operator would: the page's websocket gets in
    (its Origin is the page's, and it carries the token), with ``Referrer-Policy: no-referrer`` on."""
    binary = chromium_or_fail()
    lab = labs.up()
    port = _free_port()
    workdir = labs.root / "serve"
    workdir.mkdir()
    browser = None
    started = time.monotonic()
    server, url, _ = _serve(workdir, ["--lab", str(lab.dir), "--port", str(port)])
    try:
        assert url.startswith(f"{public_url('127.0.0.1', port)}/?token=")
        browser = Chromium(binary)
        asyncio.run(_use_the_page(browser, url, server, lab.dir))
        assert server.returncode == 0, (workdir / "stderr").read_text()
        assert (workdir / "stdout").read_text() == f"colotui serve: open {url} in a browser (Ctrl-C stops it)\n"
        assert (workdir / "stderr").read_text() == "", "serve wrote more than its address (a refusal? a traceback?)"
        assert _group(server.pid) == [], "a console outlived serve"
        assert not _listening(port)
        assert time.monotonic() - started < 60
    finally:
        _stop(server)
        if browser is not None:
            assert browser.close() == [], "chromium processes outlived SIGTERM"
