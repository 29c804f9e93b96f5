"""`colotui guard`: out-of-band sessions held for a pair, and the local socket a `colotui run` hands its cut to.

A peer that stops in the middle of a checkpoint wedges the survivor's main loop: a fresh QMP connection
then gets no greeting, so a `colotui run` started after the hang cannot reach the survivor at all. A session
that negotiated out-of-band execution before the hang still can: its ``yank`` of the peer's connections
frees the main loop. The guard holds one such session per VM (on its yank monitor, not the main ``-qmp``,
which the run needs) and serves a unix socket that only its user reaches, one JSON line per request:

    {"token": T, "cut": "primary", "qmp": ADDRESS}  →  {"ok": true, "vm": NAME, "yanked": [INSTANCES]}
    {"token": T, "status": true}                    →  {"ok": true, "status": {ROLE: {...}}}
    anything else, or a wrong token                 →  {"ok": false, "error": ONE LINE}   (nothing is sent)

``qmp`` (optional) names the VM by its main QMP address, as the client's pair has it: roles flip at a
failover and a resume, and a cut must reach the VM the run means, never the other one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..discovery import discover, swapped
from ..discovery.settle import flatten, settle
from ..errors import FileError, UserError
from ..files import loads, read_regular
from ..pair import Endpoint, Pair
from ..paths import state_dir
from ..qmp import Address, AddressError, CommandError, Ok, Session, Transcript, UnixAddress, parse_address
from ..roles import ROLES, flipped
from ..topology import Topology
from .sessions import OOB_DEADLINE, PairSessions, open_sessions
from .snapshots import take_snapshot

#: The longest request line, in bytes: a token and a role take about a hundred; an address at most a few hundred.
MAX_REQUEST = 4096
#: The longest reply a client reads: the yanked instances of one VM are a few hundred bytes.
MAX_REPLY = 65536
#: How long a client has to send its request after connecting (seconds): a silent one cannot hold the guard.
READ_DEADLINE = 2.0
#: Connections served at once; one more gets a one-line refusal at once (a cut takes two out-of-band commands).
MAX_CLIENTS = 8
#: Bytes of randomness in the token (256 bits, as `colotui serve`'s).
TOKEN_BYTES = 32
#: How long the guard waits for its out-of-band sessions at start before it serves anyway (seconds).
CONNECT_TIMEOUT = 5.0
#: Refused requests said on the guard's output, at most (then one line says the rest are not).
MAX_REFUSALS_SAID = 20
#: How long the peer may take to answer out of band before a cut: its monitor's own thread answers at once.
PEER_PROBE = 1.0

#: What finds a VM's connections to its peer out of band (the engine's `peer_connections_out_of_band`, handed
#: in by the command: service/ imports nothing of scenario/). Whatever it raises is a failed cut.
FindConnections = Callable[[Session, Topology, str], Awaitable[list[dict[str, Any]]]]


# -- where: one socket and one token per pair, in a private directory ------------------------------------------

def guard_dir() -> Path:
    """The private per-user directory guards listen in: ``$XDG_RUNTIME_DIR/colotui`` (a tmpfs only its user
    reaches, gone at logout), else colotui's state directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return Path(runtime) / "colotui" if runtime.startswith("/") else state_dir()


def spelled(address: Address) -> str:
    """An address the same wherever it is written from: a socket path made absolute (a guard and a run
    started in different directories name one VM), a host in lower case."""
    if isinstance(address, UnixAddress):
        return f"unix:{os.path.abspath(address.path)}"
    return f"tcp:{str(address).lower()}"


def guard_socket(pair: Pair) -> Path:
    """Where the guard of ``pair`` listens: named by a short hash of both VMs' QMP addresses, in either order
    (the roles flip at a failover; the pair is the same two VMs), so two pairs on a host never share one."""
    key = "\n".join(sorted(spelled(e.qmp) for e in pair.by_role().values()))
    return guard_dir() / f"guard-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


def token_path(socket_path: Path) -> Path:
    """The guard's token, beside its socket (0600: only its user may hand it a cut)."""
    return socket_path.with_suffix(".token")


def _unsafe_dir(path: Path) -> str | None:
    """Why ``path`` is no place for a guard's socket and token (None: it is the user's alone)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    if info.st_uid != os.getuid():
        return f"it belongs to uid {info.st_uid}, not to you"
    if info.st_mode & 0o077:
        return f"others may use it (mode {stat.S_IMODE(info.st_mode):04o}; 0700 expected)"
    return None


def private_dir(path: Path) -> None:
    """``path`` made (0700) if missing, and checked: refused (`UserError`) if it is a link, not ours, or open
    to others, since whoever can write there could stand in for the guard or read its token."""
    try:
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        reason = _unsafe_dir(path)
    except OSError as exc:
        raise UserError(f"cannot make the guard's directory {path}: {exc.strerror}") from None
    if reason is not None:
        raise UserError(f"the guard's directory {path} is refused: {reason}")


def _ours(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether ``path`` (not followed) is of ``kind`` and belongs to this user."""
    info = path.lstat()
    return kind(info.st_mode) and info.st_uid == os.getuid()


def _peer_uid(sock: socket.socket | None) -> int | None:
    """The user id of the process at the other end of a unix socket (SO_PEERCRED), if it can be read."""
    if sock is None:
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return None
    return int(uid)


# -- the server ------------------------------------------------------------------------------------------------

def _error(text: str) -> dict[str, Any]:
    return {"ok": False, "error": text}


class GuardServer:
    """Holds an out-of-band session to each VM of ``pair`` that has a yank address, and serves cuts of a VM's
    connections to its peer on `socket_path` from `start` (after `claim`) to `close`. ``say`` gets one line
    per cut and per refused request (at most `MAX_REFUSALS_SAID` of those); ``read_only`` refuses every cut."""

    def __init__(self, pair: Pair, *, find_connections: FindConnections, read_only: bool = False,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.pair, self.find_connections = pair, find_connections
        self.read_only, self.say = read_only, say
        self.socket_path = guard_socket(pair)
        self.token_path = token_path(self.socket_path)
        #: The VMs held (main QMP address as `spelled` → endpoint) and who plays which role (→ that address).
        self.held: dict[str, Endpoint] = {spelled(e.qmp): e for e in pair.by_role().values() if e.yank}
        self.roles: dict[str, str] = {role: spelled(e.qmp) for role, e in pair.by_role().items()}
        self.topology = pair.known or Topology()
        self._sessions: PairSessions | None = None
        self._stack = contextlib.AsyncExitStack()
        self._server: asyncio.AbstractServer | None = None
        self._token = ""
        self._token_fd: int | None = None  # the token file, locked: this guard's hold on the pair's place
        self._bound: tuple[int, int] | None = None  # the socket's (device, inode): removed on exit only if ours
        self._lock = asyncio.Lock()  # one cut at a time: two runs handing theirs in get one answer each
        self._clients = 0
        self._refusals = 0

    def session(self, address: str) -> Session | None:
        return self._sessions.get(address) if self._sessions is not None else None

    async def claim(self) -> None:
        """Take this pair's place before anything else is made (`UserError` if the directory is not private,
        or a guard already serves the pair): the token file, held with an exclusive ``flock`` for the guard's
        life (a second guard of the pair is refused however far the first one got, and one killed outright
        lets go), the new token in it, and the socket, bound but answering nobody until `start`."""
        if not self.held:
            raise UserError("neither VM of the pair has a yank address (--primary-yank/--secondary-yank, or "
                            "primary_yank/secondary_yank in a profile): a guard has nothing to hold")
        private_dir(self.socket_path.parent)
        self._token_fd = self._lock_token()
        try:
            self._token = secrets.token_urlsafe(TOKEN_BYTES)
            os.ftruncate(self._token_fd, 0)
            os.pwrite(self._token_fd, f"{self._token}\n".encode(), 0)
            await self._bind()
        except BaseException:
            await self.close()
            raise

    async def start(self, *, transcript: Transcript | None = None, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        """Open the out-of-band sessions (every message in ``transcript``), learn the pair's roles and ids from
        them, then answer on the socket (claimed first if `claim` was not called)."""
        if self._server is None:
            await self.claim()
        oob = {address: Endpoint(f"{e.name}/oob", e.yank) for address, e in self.held.items() if e.yank}
        try:
            self._sessions = await self._stack.enter_async_context(open_sessions(
                oob, transcript=transcript, deadline=OOB_DEADLINE, read_only=self.read_only))
            await self._sessions.wait_settled(list(oob), connect_timeout)
            await self._learn()
            if self._server is not None:  # not closed meanwhile
                await self._server.start_serving()
        except BaseException:
            await self.close()
            raise

    async def _learn(self) -> None:
        """Who plays which role, and the pair's ids, as the VMs show them now (in band on the out-of-band
        monitors, while nothing is wedged: once one is, only out-of-band commands are sent there, since each
        in-band one would wait in QEMU's queue, and a full queue stops the monitor reading even those)."""
        snaps = {}
        for role in ROLES:
            session = self.session(self.roles[role])
            snaps[role] = await take_snapshot(session) if session is not None else None
        flip = swapped(snaps["primary"], snaps["secondary"])
        given = {role: self.roles[role] for role in ROLES}
        self.roles = {role: given[flipped(flip)[role]] for role in ROLES}
        played = flipped(flip)
        found = discover(snaps[played["primary"]], snaps[played["secondary"]])
        known = {k: (v, "the pair's topology") for k, v in flatten(self.topology).items()} if self.pair.known else {}
        self.topology = settle(found, given=self.pair.given, known=known).topology

    def _lock_token(self) -> int:
        """The token file, opened (made 0600 if missing; never through a link) and locked: its descriptor."""
        not_one = f"{self.token_path} is not a guard's token"
        try:
            fd = os.open(self.token_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         0o600)
        except OSError as exc:
            raise UserError(f"{not_one} ({exc.strerror}): refused") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                raise UserError(f"{not_one} (not a file of yours): refused")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"a guard already serves this pair (its socket: {self.socket_path})") from None
            now = self.token_path.lstat()
            if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
                raise UserError("the guard that served this pair was stopping as this one started: start it again")
            os.fchmod(fd, 0o600)  # one left looser (by hand) is tightened before the token goes in
            return fd
        except BaseException:
            os.close(fd)
            raise

    async def _bind(self) -> None:
        """The socket, bound (0600) and not listening yet: a client meanwhile is refused, as with no guard."""
        with contextlib.suppress(FileNotFoundError):  # left by a guard killed outright: the lock is ours now
            if not _ours(self.socket_path, stat.S_ISSOCK):
                raise UserError(f"{self.socket_path} is not a guard's socket (not a socket of yours): refused")
            self.socket_path.unlink()
        try:
            self._server = await asyncio.start_unix_server(self._serve_client, path=str(self.socket_path),
                                                           limit=MAX_REQUEST, start_serving=False)
        except OSError as exc:
            raise UserError(f"cannot listen on {self.socket_path}: {exc.strerror or exc}") from None
        # bound with the process's umask; the directory is 0700, so nobody else reached it in between
        os.chmod(self.socket_path, 0o600)
        info = self.socket_path.lstat()
        self._bound = (info.st_dev, info.st_ino)

    async def close(self) -> None:
        """Stop answering, remove the socket and the token (only if still the ones made here), let go of the
        pair's place, close the sessions."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(OSError):
            info = self.socket_path.lstat()
            if (info.st_dev, info.st_ino) == self._bound:
                self.socket_path.unlink()
        if self._token_fd is not None:
            with contextlib.suppress(OSError):
                held, there = os.fstat(self._token_fd), self.token_path.lstat()
                if (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino):
                    self.token_path.unlink()  # before the lock goes: a guard that takes it makes its own
            os.close(self._token_fd)
            self._token_fd = None
        self._token = ""
        await self._stack.aclose()

    # -- one connection, one request --------------------------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients += 1
        try:
            reply = await self._reply_to(reader, writer)
            writer.write(json.dumps(reply).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), READ_DEADLINE)
        except (OSError, TimeoutError):
            pass  # the client went away, or reads nothing: its loss
        finally:
            self._clients -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), READ_DEADLINE)

    async def _reply_to(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
        uid = _peer_uid(writer.get_extra_info("socket"))
        if uid != os.getuid():  # the directory keeps others out already; this holds if it did not
            return self._refused(f"a process of uid {uid} is not this guard's user")
        if self._clients > MAX_CLIENTS:
            return self._refused(f"busy: {MAX_CLIENTS} connections are being served; try again")
        try:
            line = await asyncio.wait_for(reader.readline(), READ_DEADLINE)
        except TimeoutError:
            return self._refused(f"no request within {READ_DEADLINE:g} s")
        except ValueError:  # longer than the reader's limit
            return self._refused(f"a request is one JSON line of at most {MAX_REQUEST} bytes")
        try:
            return await self.answer(line)
        except Exception as exc:  # a bug must not end the guard, nor reach the client as more than a line
            self.say(f"internal error while answering a request: {type(exc).__name__}")
            return _error(f"the guard failed to answer ({type(exc).__name__}); nothing more was sent")

    def _refused(self, why: str) -> dict[str, Any]:
        """A refusal: the client gets it; the guard's output says it (within `MAX_REFUSALS_SAID`)."""
        self._refusals += 1
        if self._refusals <= MAX_REFUSALS_SAID:
            self.say(f"refused a request: {why}" + ("" if self._refusals < MAX_REFUSALS_SAID
                                                    else " (further refusals are not said)"))
        return _error(f"refused: {why}; nothing was sent")

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The reply to one request line. Nothing of the request is quoted back (it may hold the token)."""
        if len(line) > MAX_REQUEST:
            return self._refused(f"a request is one JSON line of at most {MAX_REQUEST} bytes")
        try:
            request = loads(line.decode("utf-8"), depth=4)
        except (UnicodeDecodeError, ValueError):
            return self._refused("a request is one JSON object on one line")
        if not isinstance(request, dict):
            return self._refused("a request is one JSON object on one line")
        given = request.get("token")
        if not isinstance(given, str) or not self._token or \
                not hmac.compare_digest(given.encode("utf-8", "replace"), self._token.encode()):
            return self._refused(f"wrong or missing token (the guard's is in {self.token_path})")
        action = set(request) - {"token"}
        if action == {"status"} and request["status"] is True:
            return {"ok": True, "status": self.status()}
        if action in ({"cut"}, {"cut", "qmp"}) and request["cut"] in ROLES and \
                isinstance(request.get("qmp", ""), str):
            return await self.cut(request["cut"], request.get("qmp"))
        return self._refused('unknown request: give "cut": "primary" or "secondary" (and "qmp"), '
                             'or "status": true')

    # -- the actions ------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Each role's out-of-band session as the guard holds it now (nothing is sent to the VMs)."""
        found: dict[str, Any] = {}
        for role in ROLES:
            endpoint, session = self.held.get(self.roles[role]), self.session(self.roles[role])
            found[role] = {"vm": endpoint.name, "yank": str(endpoint.yank), "connected": session.connected,
                           "oob": session.oob_capable, "detail": session.detail} \
                if endpoint is not None and session is not None else None
        return found

    async def cut(self, role: str, qmp: str | None = None) -> dict[str, Any]:
        """Yank, out of band, the connections the VM playing ``role`` (the one at main QMP address ``qmp``, if
        given) has to its peer."""
        if self.read_only:
            return self._said(_error("read-only: a cut yanks the VM's connections to its peer (it changes the "
                                     "VM); nothing was sent"))
        address = self._address_of(qmp) if qmp else self.roles[role]
        endpoint, session = self.held.get(address), self.session(address)
        if endpoint is None or session is None:
            return self._said(_error(f"this guard holds no out-of-band session to the {role}"
                                     + (" at that address" if qmp else "") + "; nothing was sent"))
        if not session.connected or not session.oob_capable:
            why = session.detail if not session.connected else "it did not negotiate out-of-band execution"
            return self._said(_error(f"the guard's out-of-band session to {endpoint.name} is not usable "
                                     f"({why}); nothing was sent"))
        async with self._lock:
            if (alive := await self._peer_answers(address)) is not None:
                return self._said(_error(alive))
            return self._said(await self._yank(session, endpoint, role))

    async def _peer_answers(self, address: str) -> str | None:
        """Why the VM at ``address`` must not be cut loose: its peer answers out of band (it is alive: the VM
        only looked wedged, e.g. its main -qmp socket is held by another client, which greets nobody else), or
        the guard cannot ask it. None when the peer is lost (gone, or silent out of band too)."""
        peers = [a for a in self.held if a != address]
        session = self.session(peers[0]) if peers else None
        if session is None:
            return "this guard holds no out-of-band session to the peer, so it cannot tell it is lost; nothing was sent"
        if not session.connected:
            return None  # its connection is gone (a SIGKILLed peer) or never came
        reply = await session.execute("yank", {"instances": []}, deadline=PEER_PROBE, oob=session.oob_capable)
        if isinstance(reply, (Ok, CommandError)):
            return (f"{self.held[peers[0]].name} still answers out of band: it is not lost, and a cut would break "
                    "COLO (a VM whose main -qmp socket another client holds greets nobody else); nothing was sent")
        return None

    def _address_of(self, qmp: str) -> str:
        try:
            return spelled(parse_address(qmp))
        except AddressError:
            return ""

    async def _yank(self, session: Session, endpoint: Endpoint, role: str) -> dict[str, Any]:
        session.note(f"guard: cutting {endpoint.name}'s connections to its peer (as the {role}), handed over "
                     "on the guard's socket")
        try:
            instances = await self.find_connections(session, self.topology, role)
        except Exception as exc:  # handed in: its own error type (an unanswered query-yank) is one line
            return _error(f"cannot list {endpoint.name}'s connections to its peer: {exc}; nothing was yanked")
        if not instances:
            return {"ok": True, "vm": endpoint.name, "yanked": []}
        reply = await session.execute("yank", {"instances": instances}, oob=True)
        if not isinstance(reply, Ok):
            return _error(f"yank on {endpoint.name} out of band: {reply.message}")
        return {"ok": True, "vm": endpoint.name, "yanked": instances}

    def _said(self, reply: dict[str, Any]) -> dict[str, Any]:
        """A cut's reply, also said in one line on the guard's output."""
        if reply["ok"]:
            what = ", ".join(_instance_text(i) for i in reply["yanked"]) or "nothing (no connection to its peer)"
            self.say(f"cut {reply['vm']}: yanked {what}")
        else:
            self.say(f"cut refused: {reply['error']}")
        return reply


def _instance_text(instance: Mapping[str, Any]) -> str:
    """``block-node #block123``, ``chardev mirror0``, ``migration``."""
    name = instance.get("node-name") or instance.get("id") or ""
    return f"{instance.get('type', '?')} {name}".strip()


# -- the client ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GuardReply:
    """What a guard answered: a cut (``vm``, ``yanked``), a status, or why not (``error``, one line)."""

    ok: bool
    vm: str = ""
    yanked: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    status: dict[str, Any] | None = None


async def ask_guard(pair: Pair, role: str, *, timeout: float = 3.0) -> GuardReply | None:
    """Hand the cut of the VM playing ``role`` (``pair.by_role()[role]``: flip the pair first if its VMs play
    the other way round) to the pair's guard. None if no guard listens for this pair; an error reply (never
    an exception) if one is there but does not cut within ``timeout`` seconds."""
    if role not in ROLES:
        return GuardReply(False, error=f"a cut names a role: {' or '.join(ROLES)}")
    return await _exchange(pair, {"cut": role, "qmp": spelled(pair.by_role()[role].qmp)}, timeout)


async def guard_status(pair: Pair, *, timeout: float = 3.0) -> GuardReply | None:
    """The pair's guard's out-of-band sessions (`GuardServer.status`), None if no guard listens."""
    return await _exchange(pair, {"status": True}, timeout)


async def _exchange(pair: Pair, request: dict[str, Any], timeout: float) -> GuardReply | None:
    path = guard_socket(pair)
    try:
        if not path.parent.exists() or not os.path.lexists(path):
            return None
        reason = _unsafe_dir(path.parent)
        if reason is not None:
            return GuardReply(False, error=f"the guard's directory {path.parent} is refused: {reason}")
        if not _ours(path, stat.S_ISSOCK):
            return GuardReply(False, error=f"{path} is not a guard's socket (not a socket of yours): refused")
        return await asyncio.wait_for(_talk(path, request), timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        return None  # gone, or a socket no guard listens on any more
    except TimeoutError:
        return GuardReply(False, error=f"the guard on {path} did not answer within {timeout:g} s")
    except FileError as exc:
        return GuardReply(False, error=f"the guard's token: {exc}")
    except (OSError, ValueError) as exc:
        return GuardReply(False, error=f"the guard on {path}: {getattr(exc, 'strerror', None) or exc}")


async def _talk(path: Path, request: dict[str, Any]) -> GuardReply:
    if not _ours(token_path(path), stat.S_ISREG):
        return GuardReply(False, error=f"{token_path(path)} is not a guard's token (not a file of yours): refused")
    token = read_regular(token_path(path), MAX_REQUEST).decode(errors="replace").strip()
    reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REPLY)
    try:
        if _peer_uid(writer.get_extra_info("socket")) != os.getuid():
            return GuardReply(False, error=f"the process on {path} is not yours: refused (the token was not sent)")
        writer.write(json.dumps({"token": token, **request}).encode() + b"\n")
        await writer.drain()
        return _reply_of(await reader.readline())
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _reply_of(line: bytes) -> GuardReply:
    """A guard's reply line read, or an error reply for one that is not a guard's."""
    try:
        data = loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        return GuardReply(False, error="the guard's reply is not one (it closed, or is not a guard)")
    yanked = data.get("yanked", [])
    status = data.get("status")
    return GuardReply(data["ok"], vm=str(data.get("vm", "")),
                      yanked=[i for i in yanked if isinstance(i, dict)] if isinstance(yanked, list) else [],
                      error=str(data.get("error", "")).splitlines()[0] if data.get("error") else "",
                      status=status if isinstance(status, dict) else None)
