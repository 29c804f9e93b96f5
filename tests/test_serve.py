"""`colotui serve`: the console in a browser. Its command line (own options, the console's command, the
binding's checks) and, against a real lab, the page in headless Chromium: both panes with the lab's
COLO objects, a key that reaches the console, and Ctrl-C ending the server and every console it started."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colotui.errors import UserError
from colotui.serve import SCHEME, binding_warning, check_port, console_argv, public_url, shell_command, split_args

from .browser import Chromium, chromium_or_fail, eventually
from .conftest import LabFactory

COLOTUI = [sys.executable, "-m", "colotui"]


def test_serve_options_come_out_wherever_they_are_and_the_rest_passes_through_in_order() -> None:
    assert split_args(["--lab", "/l", "--port", "9000", "--read-only", "--host=::1"]) == (
        ["--port", "9000", "--host=::1"], ["--lab", "/l", "--read-only"])
    assert split_args(["fleet", "a", "--host", "127.0.0.2", "b"]) == (["--host", "127.0.0.2"], ["fleet", "a", "b"])
    assert split_args(["--help"]) == (["--help"], [])


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
    # (no web address is written out in the repository: tests/test_install.py)
    assert public_url("127.0.0.1", 8566) == f"{SCHEME}://127.0.0.1:8566"
    assert public_url("::1", 80) == f"{SCHEME}://[::1]:80"
    assert public_url("0.0.0.0", 80) == f"{SCHEME}://{socket.gethostname()}:80"


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
    binary = chromium_or_fail()
    lab = labs.up()
    port = _free_port()
    workdir = labs.root / "serve"
    workdir.mkdir()
    stdout, stderr = workdir / "stdout", workdir / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        server = subprocess.Popen([*COLOTUI, "serve", "--lab", str(lab.dir), "--port", str(port)],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
    browser = None
    started = time.monotonic()
    try:
        url = public_url("127.0.0.1", port)
        deadline = time.monotonic() + 30
        while f"open {url} in a browser" not in stdout.read_text():
            assert server.poll() is None, f"serve exited: {stderr.read_text()}"
            assert time.monotonic() < deadline, "serve printed no address within 30 s"
            time.sleep(0.05)
        browser = Chromium(binary)
        asyncio.run(_use_the_page(browser, url, server, lab.dir))
        assert server.returncode == 0, stderr.read_text()
        assert stdout.read_text() == f"colotui serve: open {url} in a browser (Ctrl-C stops it)\n"
        assert stderr.read_text() == "", "serve wrote more than its address (a traceback?)"
        assert _group(server.pid) == [], "a console outlived serve"
        assert not _listening(port)
        assert time.monotonic() - started < 60
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        for pid, _ in _group(server.pid):
            os.kill(pid, signal.SIGKILL)
        if browser is not None:
            assert browser.close() == [], "chromium processes outlived SIGTERM"
