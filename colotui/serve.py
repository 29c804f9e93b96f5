"""`colotui serve`'s command line: its own options, the command each browser session runs, the binding.

Each session runs this same colotui (``python -m colotui connect …`` or ``… fleet …``) under
textual-serve's web driver (`console_server`). It binds to loopback unless told otherwise: whoever
reaches the page has the console's full QMP control over both VMs, and textual-serve asks for no password.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence

from .errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8566
SCHEME = "http"  # plain: textual-serve does no TLS (loopback, or a proxy in front of it)


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Serve's own options (``--host``, ``--port``, ``-h``), wherever they are, and the rest, in order,
    which passes through to the console's command."""
    own: list[str] = []
    rest: list[str] = []
    items = iter(argv)
    for item in items:
        if item in ("-h", "--help") or item.startswith(("--host=", "--port=")):
            own.append(item)
        elif item in ("--host", "--port"):
            own.append(item)
            if (value := next(items, None)) is not None:  # none: argparse says the option needs one
                own.append(value)
        else:
            rest.append(item)
    return own, rest


def console_argv(rest: Sequence[str], python: str = sys.executable) -> list[str]:
    """What each browser session runs: ``colotui fleet …`` when the pass-through arguments start with
    ``fleet``, else ``colotui connect …`` with them (addresses, ``--lab``, ``--profile``, …)."""
    if rest[:1] == ["fleet"]:
        return [python, "-m", "colotui", "fleet", *rest[1:]]
    return [python, "-m", "colotui", "connect", *rest]


def shell_command(argv: Sequence[str]) -> str:
    """textual-serve runs its command with ``sh -c``: the console ignores SIGINT (Ctrl-C in the server's
    terminal stops the server, which then asks each console to quit) and replaces the shell (``exec``),
    so the server's children are the consoles themselves."""
    return f"trap '' INT; exec {shlex.join(argv)}"


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise UserError(f"--host {host}: {exc.strerror or exc}") from None
    return all(ipaddress.ip_address(str(info[4][0]).partition("%")[0]).is_loopback for info in infos)


def public_url(host: str, port: int) -> str:
    """The address a browser opens (and the page's websocket goes to): a wildcard bind is reached
    by the machine's name."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"{SCHEME}://[{host}]:{port}" if ":" in host else f"{SCHEME}://{host}:{port}"


def binding_warning(host: str) -> str | None:
    """One line when ``host`` is not loopback: what anyone who reaches it gets."""
    if _is_loopback(host):
        return None
    return (f"warning: serving on {host}, not loopback: whoever reaches it gets the console's full QMP control "
            f"of both VMs, with no authentication")


def check_port(host: str, port: int) -> None:
    """A `UserError` when ``port`` cannot be listened on at ``host`` (taken, or not an address of this machine)."""
    if not 0 < port < 65536:
        raise UserError(f"--port {port}: give a TCP port (1-65535)")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
            probe.listen()
        except OSError as exc:
            raise UserError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
