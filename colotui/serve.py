"""`colotui serve`'s command line: its own options, the command each browser session runs, the binding,
and who may use what it serves (`Access`).

Each session runs this same colotui (``python -m colotui connect …`` or ``… fleet …``) under
textual-serve's web driver (`console_server`). Whoever uses the page has the console's full QMP control
over both VMs, and textual-serve checks nobody: `Access` is what does. It binds to loopback unless told
otherwise.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import shlex
import socket
import sys
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8566
SCHEME = "http"  # plain: textual-serve does no TLS (loopback, or a proxy in front of it)
#: The per-run token's bytes of randomness: 256 bits, as Jupyter's; no number of guesses over HTTP finds it.
TOKEN_BYTES = 32
#: Serve's own options that take a value (``--allow-origin`` may be given more than once).
OWN_OPTIONS = ("--host", "--port", "--allow-origin")
#: A bind to any of these listens on every address, loopback's too.
WILDCARDS = ("0.0.0.0", "::", "")
#: The names a browser on this machine reaches loopback by (none of them an attacker's DNS can point).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: The schemes an origin may have, and the port a browser leaves out of it (and of its Host).
DEFAULT_PORTS = {"http": 80, "https": 443}


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Serve's own options (``--host``, ``--port``, ``--allow-origin``, ``-h``), wherever they are, and the
    rest, in order, which passes through to the console's command."""
    own: list[str] = []
    rest: list[str] = []
    items = iter(argv)
    for item in items:
        if item in ("-h", "--help") or item.startswith(tuple(f"{option}=" for option in OWN_OPTIONS)):
            own.append(item)
        elif item in OWN_OPTIONS:
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
    """The address a browser opens (printed with the token): a wildcard bind is reached by the
    machine's name."""
    if host in WILDCARDS:
        host = socket.gethostname()
    return f"{SCHEME}://[{host}]:{port}" if ":" in host else f"{SCHEME}://{host}:{port}"


def binding_warning(host: str) -> str | None:
    """One line when ``host`` is not loopback: the token is all that guards it, and plain HTTP carries it."""
    if _is_loopback(host):
        return None
    return (f"warning: serving on {host}, not loopback: the token is sent in clear over plain HTTP, and whoever "
            f"sees it on the network gets the console's full QMP control of both VMs")


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


def _origin(scheme: str, hostname: str, port: int | None) -> str:
    """An origin as a browser sends it: lowercase, an IPv6 address in brackets, no default port."""
    name = f"[{hostname.lower()}]" if ":" in hostname else hostname.lower()
    return f"{scheme}://{name}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{name}:{port}"


def parse_origin(value: str) -> str:
    """``--allow-origin``'s value (``scheme://host[:port]``, http or https), as a browser would send it; a
    `UserError` for anything else (``null`` too: every sandboxed frame and local file sends it)."""
    parts = urllib.parse.urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port == -1 or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username is not None:
        raise UserError(f"--allow-origin {value}: give an origin as a browser sends it, scheme://host[:port] "
                        f"(http or https)")
    return _origin(parts.scheme, parts.hostname, port)


def _host_of(origin: str) -> set[str]:
    """The Host headers a request to ``origin`` comes with: its host[:port], and with the default port
    written out too."""
    parts = urllib.parse.urlsplit(origin)
    return {parts.netloc} if parts.port is not None else {parts.netloc, f"{parts.netloc}:{DEFAULT_PORTS[parts.scheme]}"}


def printable(value: str, limit: int = 80) -> str:
    """``value`` fit for the operator's terminal (it may come from anyone's request): printable ASCII
    only, and at most ``limit`` characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class Access:
    """Who may use the console served: a request for a served address (its Host) with the run's token,
    and, when it may change something (a websocket, a method other than GET), only from the served page
    or an origin the operator allowed (its Origin, when there is one). The Host check refuses a name an
    attacker's DNS points here (DNS rebinding); the Origin check refuses another site's page in the
    operator's own browser; the token refuses whoever has not seen the printed address."""

    address: str  # the printed address's scheme://host:port (`public_url`)
    token: str
    origins: frozenset[str]  # served or allowed, as browsers send them
    hosts: frozenset[str]  # the Host headers of those origins

    @classmethod
    def new(cls, host: str, port: int, allowed: Iterable[str] = ()) -> Access:
        """A fresh token, and the origins of the printed address (with, for a loopback or wildcard bind,
        loopback's own names at that port) and of each of ``allowed`` (`parse_origin`'s)."""
        address = public_url(host, port)
        names = [address.partition("://")[2]]
        if host in WILDCARDS or _is_loopback(host):
            names += [f"{name}:{port}" for name in LOOPBACK_NAMES]
        origins = {parse_origin(f"{SCHEME}://{name}") for name in names} | set(allowed)
        return cls(address=address, token=secrets.token_urlsafe(TOKEN_BYTES), origins=frozenset(origins),
                   hosts=frozenset(h for origin in origins for h in _host_of(origin)))

    @property
    def url(self) -> str:
        """The address to open: the page, with the token."""
        return f"{self.address}/?token={self.token}"

    def refusal(self, host: str | None, origin: str | None, token: str | None, *, needs_token: bool) -> str | None:
        """Why a request is refused (``for host …``, ``from origin …``, ``without the token``, ``with a
        wrong token``), or None. ``host`` and ``origin`` are its headers (``origin`` given only where it
        is checked); ``token`` what it carries (compared in constant time)."""
        if host is None:
            return "without a Host header"
        if host.lower() not in self.hosts:
            return f"for host {printable(host)}"
        if origin is not None and origin.lower() not in self.origins:
            return f"from origin {printable(origin)}"
        if not needs_token:
            return None
        if not token:
            return "without the token"
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self.token.encode()):
            return "with a wrong token"
        return None
