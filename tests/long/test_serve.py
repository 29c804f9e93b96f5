"""`colotui serve`: the console in a browser. Its command line (own options, the console's command, the
binding's checks); who it lets in (`Access`: Host, Origin, the run's token), tried as an attacker against
a real server, with no console ever started for a refused request; and, against a real lab, the page in
headless Chromium at the printed address: both panes with the lab's COLO objects, a key that reaches the
console, and Ctrl-C ending the server and every console it started.

Here, real servers; the command line and `Access` alone are in tests/unit/test_serve.py, the browser
against a real lab in tests/ui/test_serve.py."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from colotui.console_server import LOGGED_LINES
from colotui.serve import (
    SCHEME,
)

COLOTUI = [sys.executable, "-m", "colotui"]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_bad_lab_is_one_line_and_nothing_listens(tmp_path: Path) -> None:
    port = _free_port()
    out = subprocess.run([*COLOTUI, "serve", "--lab", str(tmp_path / "none"), "--port", str(port)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"colotui: no lab in {tmp_path / 'none'} (no lab.json): start one with " \
                         f"`colotui lab up --dir {tmp_path / 'none'}`\n"
    assert not _listening(port)


def test_what_fleet_refuses_is_refused_before_anything_listens(tmp_path: Path) -> None:
    port = _free_port()
    bad = subprocess.run([*COLOTUI, "serve", "fleet", "--lab", str(tmp_path / "none"), "--port", str(port)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith(f"colotui: no lab in {tmp_path / 'none'}")
    (tmp_path / "empty.toml").write_text("keymap = \"default\"\n")
    none = subprocess.run([*COLOTUI, "serve", "fleet", "--config", str(tmp_path / "empty.toml"), "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert none.returncode == 1 and none.stderr.startswith("colotui: no pairs"), none.stderr
    assert not _listening(port)


def test_what_connect_refuses_is_refused_before_anything_listens(tmp_path: Path) -> None:
    port = _free_port()
    bare = subprocess.run([*COLOTUI, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert (bare.returncode, bare.stderr) == (1, "colotui: give --lab DIR, --profile NAME, or the primary's and the "
                                                 "secondary's QMP addresses (a socket path, host:port, or a libvirt "
                                                 "domain: qemu:///system?domain=NAME)\n")
    unknown = subprocess.run([*COLOTUI, "serve", "--lab", str(tmp_path), "--bogus", "--port", str(port)],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and unknown.stderr.endswith("error: unrecognized arguments: --bogus\n")
    assert not _listening(port)


def test_a_host_not_loopback_is_warned_about_before_anything_else(tmp_path: Path) -> None:
    """192.0.2.1 (TEST-NET-1) is no address of this machine: the warning comes, then the refusal to
    listen there, and nothing is served."""
    out = subprocess.run([*COLOTUI, "serve", str(tmp_path / "p.sock"), "127.0.0.2:4444", "--host", "192.0.2.1",
                          "--port", str(_free_port())], capture_output=True, text=True, timeout=60)
    lines = out.stderr.splitlines()
    assert out.returncode == 1 and len(lines) == 2, out.stderr
    assert lines[0].startswith("colotui serve: warning: serving on 192.0.2.1, not loopback")
    assert lines[1].startswith("colotui: cannot listen on 192.0.2.1 port")


def _group(pgid: int) -> list[tuple[int, str]]:
    """The running processes of process group ``pgid``: PID and command line."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, _, group = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(group) == pgid and state not in ("Z", "X"):
            found.append((int(proc.name), cmdline))
    return found


def _children(pid: int) -> list[int]:
    """The running children of ``pid`` (the consoles a server started)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return [child for child, _ in _group(pid) if child in found]


#: What serve prints first: the page's address with the token.
_PRINTED = re.compile(rf"colotui serve: open ({SCHEME}://127\.0\.0\.1:\d+/\?token=([A-Za-z0-9_-]{{43}})) in a "
                      rf"browser \(Ctrl-C stops it\)\n")


def _serve(workdir: Path, args: list[str]) -> tuple[subprocess.Popen[bytes], str, str]:
    """``colotui serve ARGS`` in its own process group, its output in ``workdir``; once it printed its
    address: the process, the address and its token."""
    stdout, stderr = workdir / "stdout", workdir / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        server = subprocess.Popen([*COLOTUI, "serve", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  start_new_session=True)
    deadline = time.monotonic() + 30
    while not (printed := _PRINTED.match(stdout.read_text())):
        if server.poll() is not None or time.monotonic() > deadline:
            _stop(server)
            raise AssertionError(f"serve printed no address within 30 s: {stdout.read_text()!r} "
                                 f"{stderr.read_text()!r}")
        time.sleep(0.05)
    return server, printed[1], printed[2]


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGKILL to a server still running and to whatever of its process group is left."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    for pid, _ in _group(server.pid):
        os.kill(pid, signal.SIGKILL)


def _stop_by_ctrl_c(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGINT)
    assert server.wait(timeout=30) == 0


def _knows(pid: int, token: str) -> bool:
    """Whether ``token`` is in the command line or the environment of process ``pid``."""
    return any(token.encode() in (Path(f"/proc/{pid}") / part).read_bytes() for part in ("cmdline", "environ"))


async def _attack(port: int, token: str, allowed: str, server: subprocess.Popen[bytes]) -> None:
    """Every way in without the page's address and token is refused, with no console started; then the
    page itself, an allowed origin and a client that is no browser get in."""
    base, ws, page = f"{SCHEME}://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", f"{SCHEME}://127.0.0.1:{port}"
    rebound, foreign = f"evil.example.com:{port}", f"{SCHEME}://evil.example.com"
    async with aiohttp.ClientSession() as http:
        async def get(path: str, method: str = "GET", **headers: str) -> tuple[int, str, aiohttp.ClientResponse]:
            async with http.request(method, base + path, headers=headers, allow_redirects=False) as reply:
                return reply.status, await reply.text(), reply

        async def handshake(path: str, *repeated: tuple[str, str], **headers: str) -> int:
            try:
                async with http.ws_connect(ws + path, headers=[*repeated, *headers.items()]):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

        refused = {
            "the page without the token": await get("/"),
            "the page with a wrong token": await get(f"/?token={token[:-1]}"),
            "the page under an attacker's name (DNS rebinding)": await get(f"/?token={token}", Host=rebound),
            "a static file under an attacker's name": await get("/static/js/textual.js", Host=rebound),
            "a request that could change something, from another site": await get(
                f"/?token={token}", "POST", Origin=foreign),
        }
        assert {what: (status, text.split(":")[0]) for what, (status, text, _) in refused.items()} == {
            what: (403, "colotui serve refused this request") for what in refused}
        assert "token" not in refused["the page under an attacker's name (DNS rebinding)"][1].replace("the token", "")
        handshakes = {
            "textual-serve's own websocket (no token)": await handshake("/ws", Origin=page),
            "a wrong token": await handshake(f"/ws/{token[::-1]}", Origin=page),
            "another site's page": await handshake(f"/ws/{token}", Origin=foreign),
            "a sandboxed frame or a local file": await handshake(f"/ws/{token}", Origin="null"),
            "DNS rebinding": await handshake(f"/ws/{token}", Host=rebound, Origin=f"{SCHEME}://{rebound}"),
            "another port of loopback": await handshake(f"/ws/{token}", Origin=f"{SCHEME}://127.0.0.1:{port + 1}"),
            "the page's origin, and another's": await handshake(f"/ws/{token}", ("Origin", page), ("Origin", foreign)),
        }
        assert handshakes == {what: 403 for what in handshakes} | {"textual-serve's own websocket (no token)": 404}
        for i in range(3 * LOGGED_LINES):  # a flood of refusals
            assert await handshake(f"/ws/{token}", Origin=f"{SCHEME}://e{i}.example") == 403
        await asyncio.sleep(1.0)  # (a console starts within milliseconds of its handshake: below)
        assert _children(server.pid) == [], "a refused request started a console"

        status, text, reply = await get(f"/?token={token}")
        assert status == 200 and f'data-session-websocket-url="{ws}/ws/{token}"' in text
        assert (reply.headers["Referrer-Policy"], reply.headers["Cache-Control"]) == ("no-referrer", "no-store")
        status, text, _ = await get(f"/?token={token}", Host=f"localhost:{port}")
        assert status == 200 and f'"ws://localhost:{port}/ws/{token}"' in text, "its websocket where it was opened"
        assert (await get("/static/js/textual.js"))[0] == 200, "the static files need no token"
        started: set[int] = set()
        for origin in (page, allowed, None):  # (None: no Origin header, as a client that is no browser)
            async with http.ws_connect(f"{ws}/ws/{token}", headers={"Origin": origin} if origin else {}):
                deadline = time.monotonic() + 1.0
                while not (new := set(_children(server.pid)) - started):
                    assert time.monotonic() < deadline, f"no console within 1 s of a websocket from {origin}"
                    await asyncio.sleep(0.01)
                assert not any(_knows(pid, token) for pid in new), "a console was given the token"
                started |= new
        assert not _knows(server.pid, token), "the token is in serve's own command line or environment"


def test_only_its_own_page_at_its_address_with_the_token_reaches_a_console(tmp_path: Path) -> None:
    """An attacker's page in the operator's browser, a DNS rebinding, a guessed or missing token: 403 and
    one line each on serve's stderr (a flood of them, a few lines), and no console. Two addresses that
    lead nowhere pass connect's checks, so no lab is needed (a console started would only be connecting)."""
    port, tunnel = _free_port(), _free_port()
    allowed = f"{SCHEME}://127.0.0.1:{tunnel}"
    server, url, token = _serve(tmp_path, [str(tmp_path / "p.sock"), str(tmp_path / "s.sock"), "--port", str(port),
                                           "--allow-origin", allowed])
    try:
        assert url == f"{SCHEME}://127.0.0.1:{port}/?token={token}"
        asyncio.run(_attack(port, token, allowed, server))
        _stop_by_ctrl_c(server)
        assert (tmp_path / "stdout").read_text() == f"colotui serve: open {url} in a browser (Ctrl-C stops it)\n"
        lines = (tmp_path / "stderr").read_text().splitlines()
        rebound, foreign = f"evil.example.com:{port}", f"{SCHEME}://evil.example.com"
        page = f"{SCHEME}://127.0.0.1:{port}"
        assert lines[:11] == [f"colotui serve: refused {what}" for what in (
            "a request without the token", "a request with a wrong token", f"a request for host {rebound}",
            f"a request from origin {foreign}", "a websocket with a wrong token", f"a websocket from origin {foreign}",
            "a websocket from origin null", f"a websocket for host {rebound}",
            f"a websocket from origin {SCHEME}://127.0.0.1:{port + 1}", f"a websocket from origin {page}, {foreign}",
            f"a websocket from origin {SCHEME}://e0.example")]
        assert len(lines) == LOGGED_LINES + 1 and lines[-1] == "colotui serve: further lines are not logged", lines
        assert _group(server.pid) == []
    finally:
        _stop(server)


def test_an_allowed_origin_that_is_not_one_is_refused_before_anything_listens(tmp_path: Path) -> None:
    port = _free_port()
    out = subprocess.run([*COLOTUI, "serve", str(tmp_path / "p.sock"), str(tmp_path / "s.sock"), "--port", str(port),
                          "--allow-origin", "null"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == "colotui: --allow-origin null: give an origin as a browser sends it, scheme://host[:port] " \
                         "(http or https)\n"
    assert not _listening(port)
