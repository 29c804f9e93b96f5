"""`colotui serve`: the console in a browser. Its command line (own options, the console's command, the
binding's checks); who it lets in (`Access`: Host, Origin, the run's token), tried as an attacker against
a real server, with no console ever started for a refused request; and, against a real lab, the page in
headless Chromium at the printed address: both panes with the lab's COLO objects, a key that reaches the
console, and Ctrl-C ending the server and every console it started."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from colotui.console_server import LOGGED_LINES
from colotui.errors import UserError
from colotui.serve import (
    SCHEME,
    Access,
    binding_warning,
    check_port,
    console_argv,
    parse_origin,
    public_url,
    shell_command,
    split_args,
)

from ..conftest import LabFactory
from ..support.browser import Chromium, chromium_or_fail, eventually

COLOTUI = [sys.executable, "-m", "colotui"]


def test_serve_options_come_out_wherever_they_are_and_the_rest_passes_through_in_order() -> None:
    assert split_args(["--lab", "/l", "--port", "9000", "--read-only", "--host=::1"]) == (
        ["--port", "9000", "--host=::1"], ["--lab", "/l", "--read-only"])
    assert split_args(["fleet", "a", "--host", "127.0.0.2", "b"]) == (["--host", "127.0.0.2"], ["fleet", "a", "b"])
    assert split_args(["--help"]) == (["--help"], [])
    assert split_args(["a", "--allow-origin", "scheme://h:1", "b", "--allow-origin=scheme://g"]) == (
        ["--allow-origin", "scheme://h:1", "--allow-origin=scheme://g"], ["a", "b"])


def test_each_session_runs_this_colotui_connect_or_fleet_with_the_arguments() -> None:
    assert console_argv(["--lab", "/l"], python="/py") == ["/py", "-m", "colotui", "connect", "--lab", "/l"]
    assert console_argv([], python="/py") == ["/py", "-m", "colotui", "connect"]
    assert console_argv(["fleet", "--config", "f.toml", "a"], python="/py") == \
        ["/py", "-m", "colotui", "fleet", "--config", "f.toml", "a"]
    assert console_argv(["/run/fleet", "fleet"], python="/py")[3:] == ["connect", "/run/fleet", "fleet"]
    command = shell_command(["/py", "-m", "colotui", "connect", "/a b.sock", "x;y"])
    assert command == "trap '' INT; exec /py -m colotui connect '/a b.sock' 'x;y'"


def test_binding_on_anything_but_loopback_is_warned_about() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert binding_warning(host) is None, host
    for host in ("0.0.0.0", "192.0.2.1"):
        warning = binding_warning(host)
        assert warning is not None and "not loopback" in warning and "\n" not in warning
        assert "token is sent in clear over plain HTTP" in warning
    # (no web address is written out in the repository: tests/qemu/test_install.py)
    assert public_url("127.0.0.1", 8566) == f"{SCHEME}://127.0.0.1:8566"
    assert public_url("::1", 80) == f"{SCHEME}://[::1]:80"
    assert public_url("0.0.0.0", 80) == f"{SCHEME}://{socket.gethostname()}:80"


def test_an_allowed_origin_is_one_as_a_browser_sends_it_and_nothing_else() -> None:
    assert parse_origin(f"{SCHEME}://127.0.0.1:9000") == f"{SCHEME}://127.0.0.1:9000"
    assert parse_origin(f"{SCHEME.upper()}://Tunnel.Example:80/") == f"{SCHEME}://tunnel.example"
    assert parse_origin(f"{SCHEME}s://[::1]:443") == f"{SCHEME}s://[::1]"
    for bad in ("null", "127.0.0.1:9000", f"{SCHEME}://h/path", f"{SCHEME}://h?q", f"{SCHEME}://user@h",
                f"{SCHEME}://h:99999", f"{SCHEME}://", "file:///tmp", "gopher://h"):
        with pytest.raises(UserError, match=f"^--allow-origin {re.escape(bad)}: give an origin as a browser sends"):
            parse_origin(bad)


def test_the_served_origins_are_the_printed_address_and_loopback_s_names_at_its_port() -> None:
    access = Access.new("127.0.0.1", 8566, [parse_origin(f"{SCHEME}://127.0.0.1:9000")])
    assert access.origins == {f"{SCHEME}://{name}" for name in
                              ("127.0.0.1:8566", "localhost:8566", "[::1]:8566", "127.0.0.1:9000")}
    assert access.hosts == {"127.0.0.1:8566", "localhost:8566", "[::1]:8566", "127.0.0.1:9000"}
    assert access.url == f"{SCHEME}://127.0.0.1:8566/?token={access.token}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", access.token), "256 bits, URL-safe"
    assert Access.new("127.0.0.1", 8566).token != access.token, "a token per run"
    # port 80: a browser leaves it out of Host and Origin; a client may write it
    assert Access.new("::1", 80).hosts == {"[::1]", "[::1]:80", "127.0.0.1", "127.0.0.1:80", "localhost",
                                           "localhost:80"}
    assert Access.new("192.0.2.1", 8566).origins == {f"{SCHEME}://192.0.2.1:8566"}  # no loopback name reaches it
    assert f"{SCHEME}://{socket.gethostname().lower()}:8566" in Access.new("0.0.0.0", 8566).origins


def test_a_request_is_refused_for_a_foreign_host_or_origin_or_without_the_token() -> None:
    access = Access.new("127.0.0.1", 8566, [parse_origin(f"{SCHEME}://127.0.0.1:9000")])
    token, page = access.token, f"{SCHEME}://127.0.0.1:8566"

    def refusal(host: str | None, origin: str | None = None, given: str | None = token) -> str | None:
        return access.refusal(host, origin, given, needs_token=True)

    assert refusal("127.0.0.1:8566", page) is None
    assert refusal("LOCALHOST:8566", f"{SCHEME}://localhost:8566") is None
    assert refusal("127.0.0.1:8566") is None, "no Origin: not a browser (a browser sends one on a websocket)"
    assert refusal("127.0.0.1:9000", f"{SCHEME}://127.0.0.1:9000") is None, "allowed: its Host and its Origin"
    assert refusal("evil.example.com:8566", page) == "for host evil.example.com:8566", "DNS rebinding"
    assert refusal("127.0.0.1:8567", page) == "for host 127.0.0.1:8567"
    assert refusal(None, page) == "without a Host header"
    assert refusal("127.0.0.1:8566", f"{SCHEME}://evil.example.com") == f"from origin {SCHEME}://evil.example.com"
    assert refusal("127.0.0.1:8566", "null") == "from origin null", "a sandboxed frame, a local file"
    assert refusal("127.0.0.1:8566", f"{SCHEME}://127.0.0.1:8566.evil.example") is not None
    assert refusal("127.0.0.1:8566", page, None) == "without the token"
    assert refusal("127.0.0.1:8566", page, "") == "without the token"
    assert refusal("127.0.0.1:8566", page, token[:-1]) == "with a wrong token"
    assert refusal("127.0.0.1:8566", page, token + "x") == "with a wrong token"
    assert refusal("127.0.0.1:8566", page, "é\udcff" + token) == "with a wrong token", "not ASCII: no exception"
    assert access.refusal("127.0.0.1:8566", None, None, needs_token=False) is None, "the static files"
    assert access.refusal("evil.example.com", None, None, needs_token=False) == "for host evil.example.com"
    shown = refusal("\x1b]0;pwned\x07" + "x" * 200, page)
    assert shown is not None and shown.isprintable() and shown.isascii() and len(shown) < 100


def test_a_port_in_use_is_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1 port {port}: Address already in use"):
            check_port("127.0.0.1", port)


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
                                                 "secondary's QMP addresses (a socket path or host:port)\n")
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
