"""`colotui serve`'s command line: its own options, the console's command, the binding's checks, and who it
lets in (`Access`: Host, Origin, the run's token). Against real servers in tests/long/test_serve.py; in a
browser in tests/ui/test_serve.py."""

from __future__ import annotations

import re
import socket

import pytest

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
