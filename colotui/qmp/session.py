"""The QMP session service: the only code in colotui that talks to QEMU.

One `Session` per VM. It connects in the background and reconnects with
backoff, because a COLO primary started with ``compare1 ...,wait=on`` sends no
greeting until its secondary connects, and a VM that dies may come back. Every
command has a deadline; every outcome comes back as a typed `Reply`; events
reach subscribers through bounded buffers; every message is transcribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from qemu.qmp import ConnectError, ExecInterruptedError, ExecuteError, QMPClient, Runstate, StateError
from qemu.qmp.message import Message

from .address import Address, TcpAddress, UnixAddress
from .notices import CommandSent, Event, Hub, LinkChanged, LinkState, Subscription, Unreached, event_filter
from .readonly import is_read_only, refusal
from .redact import redact_text, redact_wire
from .reply import CommandError, DeadlineExceeded, Disconnected, Ok, Reply
from .transcript import Transcript
from .version import QemuVersion

# qemu.qmp logs connection failures at ERROR level; left alone, Python's
# last-resort handler would print them over the TUI. Colotui reports them itself.
logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())
logging.getLogger("qemu.qmp").propagate = False

#: The error class of a command a read-only session refused (it was never sent).
READ_ONLY_CLASS = "ReadOnly"

#: How long a connection attempt may wait for the greeting before the link
#: state says so (it keeps waiting: the greeting may legitimately be late).
GREETING_NOTICE_AFTER = 1.0


#: Commands whose replies hold no secret, whatever their words: the schema names members ("password") but holds
#: no value of one. Recorded as they came, not walked for secrets.
PLAIN_REPLIES = frozenset({"query-qmp-schema"})


class _WireClient(QMPClient):
    """A `QMPClient` that reports each message at the wire and keeps no event history.

    qemu.qmp's default event listener stores every event forever and cannot be
    removed; dispatching events ourselves keeps memory flat under COLO's
    STOP/RESUME stream.
    """

    def __init__(self, session: Session) -> None:
        super().__init__(session.name)
        self._session = session
        self._schema_ids: set[object] = set()  # query-qmp-schema asked: its reply is read as it is

    # qemu.qmp's documented message hooks. The bytes handed to the transcript
    # are the ones on the wire (a Message caches them); the base hooks only
    # pretty-print each message for a debug log, so skip them unless it is on.

    def _cb_outbound(self, msg: Message) -> Message:
        if msg.get("execute") in PLAIN_REPLIES and "id" in msg:
            self._schema_ids.add(msg["id"])
        self._session._wire("send", bytes(msg))
        return super()._cb_outbound(msg) if self.logger.isEnabledFor(logging.DEBUG) else msg

    def _cb_inbound(self, msg: Message) -> Message:
        plain = "id" in msg and msg["id"] in self._schema_ids
        if plain:
            self._schema_ids.discard(msg["id"])
        self._session._wire("recv", bytes(msg), plain=plain)
        return super()._cb_inbound(msg) if self.logger.isEnabledFor(logging.DEBUG) else msg

    async def _do_recv(self) -> Message:
        data = await self._readline()
        try:
            return Message(data, eager=True)
        except Exception:  # not JSON, or not UTF-8: keep the bytes, then let the link drop
            self._session._wire("garbage", data)
            raise

    async def _event_dispatch(self, msg: Message) -> None:
        self._session._event(msg)


def _root(exc: BaseException) -> BaseException:
    while isinstance(exc, ConnectError) and exc.exc is not None:
        exc = exc.exc
    return exc


def _describe(exc: BaseException) -> str:
    """One line for people, from whatever qemu.qmp raised."""
    root = _root(exc)
    if isinstance(root, FileNotFoundError):
        return "no socket at that path (QEMU not running, or a wrong path)"
    if isinstance(root, ConnectionRefusedError):
        return "connection refused (nothing listening)"
    if isinstance(root, EOFError):
        return "QEMU closed the connection"
    text = str(root) or type(root).__name__
    return text.splitlines()[0]


class Session:
    """A supervised QMP connection to one VM.

    ``start()`` launches the background connector; ``execute()`` never raises
    for QMP, connection or deadline trouble, it returns a `Reply`.
    """

    def __init__(
        self,
        name: str,
        address: Address,
        *,
        deadline: float = 10.0,
        transcript: Transcript | None = None,
        backoff: tuple[float, float] = (0.1, 2.0),
        read_only: bool = False,
    ) -> None:
        self.name = name
        self.address = address
        self.deadline = deadline
        self.transcript = transcript
        self.backoff = backoff
        #: Send only what `is_read_only` allows; anything else is refused here, where every surface's
        #: commands pass (the console, the shell, procedures), so read-only holds whatever asks.
        self.read_only = read_only
        self.state = LinkState.IDLE
        self.detail = "not started"
        self.greeting: dict[str, Any] | None = None
        self.connects = 0  # successful connections so far
        #: What the last connection attempt found, if it did not get through (nothing listens: down, not slow).
        self.unreached: Unreached | None = None
        self._hub = Hub()
        self._client: _WireClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        # Events read on a connection that is not announced yet: delivered just after its
        # LinkChanged(CONNECTED), so subscribers never see an event before the link that carried it.
        self._held: list[Event] | None = None

    def note(self, text: str) -> None:
        """Put colotui's own remark about this VM into the transcript (``dir: note``), where the runbook
        shows it beside the messages it is about."""
        if self.transcript is not None:
            self.transcript.write(self.name, "note", redact_text(text))  # it may quote an HMP line

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"qmp-{self.name}")

    async def close(self) -> None:
        """Disconnect and stop reconnecting; subscriptions end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop_client()
        self._set_state(LinkState.IDLE, "closed")
        self._hub.close()

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """True once connected (now or within ``timeout`` seconds)."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_settled(self, timeout: float) -> None:
        """Until connected, or nothing listens (no point waiting), or ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.connected and self.unreached is not Unreached.NOTHING_LISTENS and time.monotonic() < deadline:
            await self.wait_connected(min(0.05, max(0.0, deadline - time.monotonic())))

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    @property
    def oob_capable(self) -> bool:
        """This connection negotiated out-of-band execution (QEMU offers it on every -qmp monitor)."""
        return "oob" in (self.greeting or {}).get("QMP", {}).get("capabilities", [])

    @property
    def version(self) -> QemuVersion | None:
        """QEMU's version from the greeting."""
        if not self.greeting:
            return None
        try:
            return QemuVersion.from_qmp(self.greeting.get("QMP", {}).get("version", {}).get("qemu", {}))
        except (KeyError, TypeError, ValueError):
            return None

    # -- events ----------------------------------------------------------

    def subscribe(self, maxlen: int = 512, events: set[str] | frozenset[str] | None = None) -> Subscription:
        """A bounded feed of this VM's events (only ``events``, if given) and link changes."""
        return self._hub.subscribe(maxlen, event_filter(events) if events is not None else None)

    def feed(self, sub: Subscription) -> None:
        """Deliver this VM's notices into ``sub`` as well (one queue for several VMs, in arrival order);
        the reader closes it."""
        self._hub.feed(sub)

    # -- commands --------------------------------------------------------

    async def execute(self, command: str, arguments: Mapping[str, Any] | None = None,
                      *, deadline: float | None = None, oob: bool = False) -> Reply:
        """Run one QMP command; wait at most ``deadline`` seconds (default: the session's).
        ``oob``: out of band (``exec-oob``), answered by the monitor's own thread even while QEMU's
        main loop is blocked; only commands the schema allows out of band, on a session that
        negotiated it (`oob_capable`)."""
        limit = self.deadline if deadline is None else deadline
        if self.read_only and not is_read_only(command, arguments):
            self.note(refusal(command, arguments))
            return CommandError(command, READ_ONLY_CLASS, refusal(command, arguments), 0.0)
        if arguments is not None:
            try:
                json.dumps(arguments)
            except (TypeError, ValueError) as exc:
                return CommandError(command, "InvalidArguments", f"arguments are not JSON: {exc}", 0.0)
        reply = await self._send(command, arguments, limit, oob)
        if not is_read_only(command, arguments):
            self._hub.publish(CommandSent(self.name, command, reply.ok))
        return reply

    async def _send(self, command: str, arguments: Mapping[str, Any] | None, limit: float, oob: bool) -> Reply:
        """The command on the wire and its reply (a transport's own part of `execute`)."""
        client = self._client
        if client is None or client.runstate is not Runstate.RUNNING:
            return Disconnected(command, self.detail)
        msg = client.make_execute_msg(command, arguments, oob=oob)
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):  # no extra task per command, unlike wait_for
                value = await client.execute_msg(msg)
            return Ok(command, value, time.monotonic() - started)
        except ExecuteError as exc:
            return CommandError(command, exc.error_class, str(exc), time.monotonic() - started)
        except TimeoutError:
            return DeadlineExceeded(command, limit, time.monotonic() - started)
        except (ExecInterruptedError, StateError) as exc:
            return Disconnected(command, _describe(exc), time.monotonic() - started)

    async def hmp(self, command_line: str, *, deadline: float | None = None) -> Reply:
        """Run an HMP command through ``human-monitor-command``.

        HMP reports errors as text in the return value; judging that text is
        the caller's business (the scenario engine treats non-empty as failed).
        """
        return await self.execute("human-monitor-command", {"command-line": command_line}, deadline=deadline)

    # -- internals -------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.backoff[0]
        while True:
            client = _WireClient(self)
            self._set_state(LinkState.CONNECTING, f"connecting to {self.address}")
            self._held = []
            try:
                connected = await self._connect(client)
            finally:
                held, self._held = self._held, None
            if connected:
                delay = self.backoff[0]
                self._client = client
                self.greeting = client.greeting._asdict() if client.greeting else None
                self.connects += 1
                self.unreached = None
                self._connected.set()
                self._set_state(LinkState.CONNECTED, self._greeting_text())
                for event in held:
                    self._hub.publish(event)
                reason = await self._until_lost(client)
                self._connected.clear()
                self._client = None
                self._set_state(LinkState.DISCONNECTED, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _connect(self, client: _WireClient) -> bool:
        assert isinstance(self.address, (UnixAddress, TcpAddress)), "a libvirt domain takes a LibvirtSession"
        attempt = asyncio.ensure_future(client.connect(self.address.target()))
        try:
            done, _ = await asyncio.wait({attempt}, timeout=GREETING_NOTICE_AFTER)
            if not done:
                self.unreached = Unreached.NO_GREETING
                self._set_state(LinkState.CONNECTING,
                                f"waiting for QEMU's greeting on {self.address} (a COLO primary sends none until "
                                "its secondary connects; a -qmp socket serves one client at a time)")
            await attempt
        except ConnectError as exc:
            refused = isinstance(_root(exc), (FileNotFoundError, ConnectionRefusedError))
            self.unreached = Unreached.NOTHING_LISTENS if refused else None
            self._set_state(LinkState.CONNECTING, f"cannot connect to {self.address}: {_describe(exc)}")
            return False
        finally:
            if not attempt.done():  # we were cancelled: don't leave the attempt running
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
            elif not attempt.cancelled():  # it failed just as we were cancelled: its error is seen, not
                attempt.exception()  # left for asyncio to print as "Task exception was never retrieved"
        return True

    async def _until_lost(self, client: _WireClient) -> str:
        while client.runstate is Runstate.RUNNING:
            await client.runstate_changed()
        try:
            await client.disconnect()
        except Exception as exc:  # the error that ended the session
            return f"connection lost: {_describe(exc)}"
        return "connection lost"

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._connected.clear()
        if client is not None:
            with contextlib.suppress(Exception):  # already reported when the link went down
                await client.disconnect()

    def _greeting_text(self) -> str:
        return f"QEMU {self.version}" if self.version else "connected"

    def _set_state(self, state: LinkState, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        unreached = self.unreached if state is LinkState.CONNECTING else None
        if self.transcript is not None:  # what the attempt found goes along, for a replay's watcher
            more = {"unreached": unreached.value} if unreached is not None else {}
            self.transcript.write(self.name, "link", f"{state.value}: {detail}", **more)
        self._hub.publish(LinkChanged(self.name, state, detail, unreached))

    def _wire(self, direction: str, data: bytes, *, plain: bool = False) -> None:
        """On record, without its secrets (the wire gets the message as it was); ``plain``: a reply of
        `PLAIN_REPLIES`, which holds none (walking a schema's 15,000 nodes for them took 46 ms a failover)."""
        if self.transcript is not None:
            self.transcript.write_wire(self.name, direction, data if plain else redact_wire(data))

    def _event(self, msg: Message) -> None:
        event = Event.from_message(self.name, dict(msg))
        if self._held is not None:
            self._held.append(event)
        else:
            self._hub.publish(event)
