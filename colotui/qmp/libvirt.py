"""QMP through libvirtd, for a domain whose monitor socket libvirt holds (one client per QMP socket).

A `LibvirtSession` is a `Session` whose wire is libvirt-qemu's ``qemuMonitorCommand`` (each command queued
behind libvirt's own on the domain's monitor) and whose events come from ``qemuMonitorEventRegister``; the
link is up while the domain runs and libvirtd answers. What libvirt cannot do is said, not tried: it never
enables out-of-band execution on its monitor, so ``exec-oob`` (the yank a failover needs when the main loop
is wedged) goes to an extra ``-qmp`` socket given to the domain in ``<qemu:commandline>``, as its yank
address. libvirt-python is optional (``pip install libvirt-python``): without it the link says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .address import LibvirtAddress
from .notices import LinkState, Unreached
from .reply import CommandError, DeadlineExceeded, Disconnected, Ok, Reply
from .session import PLAIN_REPLIES, Session

NO_BINDINGS = "libvirt-python is not installed (pip install libvirt-python; it builds against libvirt-dev)"
NO_OOB = ("libvirt's monitor runs no command out of band: give the domain an extra -qmp socket "
          "(<qemu:commandline>) and pass it as the VM's yank address")
#: The libvirt error codes that mean "nothing to talk to" (no daemon, no such domain, not running).
_DOWN_CODES = ("VIR_ERR_NO_CONNECT", "VIR_ERR_NO_DOMAIN", "VIR_ERR_OPERATION_INVALID", "VIR_ERR_SYSTEM_ERROR")

STOPPED = "the domain stopped (libvirt says)"
#: How long closing a connection may take (seconds): libvirt's event thread does it between two events.
CLOSE_WITHIN = 5.0

_loop_lock = threading.Lock()
_loop_started = False


def _bindings() -> tuple[Any, Any]:
    """libvirt and libvirt_qemu, with libvirt's event loop running in a thread of its own (it must be
    registered before the first connection is opened, once per process)."""
    global _loop_started
    import libvirt  # optional: imported only where a libvirt address is used
    import libvirt_qemu
    with _loop_lock:
        if not _loop_started:
            # its errors come back as exceptions, said in one line; its default handler would also print
            # them (and its own late warnings) on stderr, over the console
            libvirt.registerErrorHandler(lambda _ctx, _error: None, None)
            libvirt.virEventRegisterDefaultImpl()
            threading.Thread(target=_run_events, args=(libvirt,), name="libvirt-events", daemon=True).start()
            _loop_started = True
    return libvirt, libvirt_qemu


def _run_events(libvirt: Any) -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


class _Worker:
    """One daemon thread that runs a session's libvirt calls in order. A call to a hung domain may never return
    (libvirt waits on its monitor without a limit): it must not hold up the other VM's session (as in asyncio's
    shared pool), the closing of its own connection, nor the process's exit (as an executor's thread would)."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._thread.is_alive():
            self._thread.start()
        self._calls.put((loop, future, fn, args))
        return future

    def stop(self) -> None:
        """No more calls: the thread ends after the one it is in (if that one ever returns)."""
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            loop, future, fn, args = item
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except Exception as exc:
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for it any more
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled: its caller gave up (a deadline)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _once(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn`` in a daemon thread of its own (closing a connection while the session's thread is stuck in a call)."""
    worker = _Worker("libvirt-close")
    future = worker.call(fn, *args)
    worker.stop()
    return future


class _Unreachable(Exception):
    def __init__(self, text: str, unreached: Unreached | None) -> None:
        super().__init__(text)
        self.unreached = unreached


class LibvirtSession(Session):
    """A supervised QMP session to one libvirt domain (see the module's docstring)."""

    address: LibvirtAddress

    def __init__(self, name: str, address: LibvirtAddress, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self._conn: Any = None
        self._dom: Any = None
        self._callbacks: list[Callable[[], None]] = []  # deregistrations
        self._lost: asyncio.Future[str] | None = None
        self._ids = itertools.count(1)
        self._worker = _Worker(f"libvirt-{name}")

    # -- the link ----------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self.backoff[0]
        loop = asyncio.get_running_loop()
        while True:
            self._set_state(LinkState.CONNECTING, f"connecting to {self.address.domain} through libvirt "
                                                  f"({self.address.uri})")
            self._lost = loop.create_future()
            self._held = []
            try:
                await self._attached(loop)
                self.greeting = await self._greeting()
            except _Unreachable as exc:
                self._held = None
                self.unreached = exc.unreached
                await self._drop_client()
                self._set_state(LinkState.CONNECTING, f"cannot reach {self.address.domain}: {exc}")
            else:
                delay = self.backoff[0]
                held, self._held = self._held, None
                self.connects += 1
                self.unreached = None
                self._connected.set()
                self._set_state(LinkState.CONNECTED, f"{self._greeting_text()} via libvirt ({self.address.uri}, "
                                                     f"domain {self.address.domain})")
                for event in held or ():
                    self._hub.publish(event)
                reason = await self._lost
                await self._drop_client()
                if reason == STOPPED:  # down, not hung: a probe need not wait for the next attempt to say so
                    self.unreached = Unreached.NOTHING_LISTENS
                self._set_state(LinkState.DISCONNECTED, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _attached(self, loop: asyncio.AbstractEventLoop) -> None:
        """`_attach`, in a thread; cancelled (the session closes), it lets the thread finish and closes what
        it opened: a connection left open would be freed under libvirt's event thread at exit."""
        attempt = asyncio.ensure_future(self._in_thread(self._attach, loop))
        try:
            await asyncio.shield(attempt)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await attempt
            await self._drop_client()
            raise

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the connection, find the running domain, and hear its events and its end (in a thread)."""
        try:
            libvirt, libvirt_qemu = _bindings()
        except ImportError as exc:
            raise _Unreachable(NO_BINDINGS, Unreached.NOTHING_LISTENS) from exc
        try:
            self._conn = libvirt.open(self.address.uri)
            self._dom = self._conn.lookupByName(self.address.domain)
            if not self._dom.isActive():
                raise _Unreachable(f"domain {self.address.domain} is not running", Unreached.NOTHING_LISTENS)
        except libvirt.libvirtError as exc:
            raise _Unreachable(_said(exc), _unreached(libvirt, exc)) from exc

        def lost(reason: str) -> None:
            loop.call_soon_threadsafe(self._end, reason)

        def lifecycle(_conn: Any, _dom: Any, event: int, _detail: int, _opaque: Any) -> None:
            if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
                lost(STOPPED)

        def monitor(_conn: Any, _dom: Any, event: str, seconds: int, micros: int, details: str | None,
                    _opaque: Any) -> None:
            message = {"event": event, "data": json.loads(details) if details else {},
                       "timestamp": {"seconds": seconds, "microseconds": micros}}
            loop.call_soon_threadsafe(self._heard, message)

        conn, dom = self._conn, self._dom
        conn.registerCloseCallback(lambda _c, _reason, _o: lost("libvirtd closed the connection"), None)
        self._callbacks.append(conn.unregisterCloseCallback)
        life = conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lifecycle, None)
        self._callbacks.append(lambda: conn.domainEventDeregisterAny(life))
        events = libvirt_qemu.qemuMonitorEventRegister(conn, dom, None, monitor, None, 0)
        self._callbacks.append(lambda: libvirt_qemu.qemuMonitorEventDeregister(conn, events))
        if not dom.isActive():  # it stopped before the lifecycle callback was there
            lost(STOPPED)

    async def _greeting(self) -> dict[str, Any]:
        """What a socket's greeting would say: QEMU's version, and no capabilities (libvirt's monitor
        negotiated none for us: no out-of-band). In the transcript it follows the query-version it came from."""
        reply = await self._send("query-version", None, self.deadline, False)
        if not isinstance(reply, Ok) or not isinstance(reply.value, dict):
            raise _Unreachable(f"query-version through libvirt: {reply.message}", None)
        greeting = {"QMP": {"version": reply.value, "capabilities": []}}
        self._wire("recv", json.dumps(greeting).encode())  # recorded as a socket's is: a replay knows the version
        return greeting

    def _end(self, reason: str) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    def _heard(self, message: dict[str, Any]) -> None:
        self._wire("recv", json.dumps(message).encode())
        self._event(message)  # type: ignore[arg-type]  # a Message is a mapping like this dict

    async def _drop_client(self) -> None:
        self._connected.clear()
        conn, self._conn, self._dom = self._conn, None, None
        callbacks, self._callbacks = self._callbacks, []
        if conn is not None:  # not behind a call the session's thread may be stuck in
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_once(_close, conn, callbacks), CLOSE_WITHIN + 1)

    async def close(self) -> None:
        await super().close()
        self._worker.stop()

    def _in_thread(self, call: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        return self._worker.call(call, *args)

    # -- commands ----------------------------------------------------------------------------------

    async def _send(self, command: str, arguments: Mapping[str, Any] | None, limit: float, oob: bool) -> Reply:
        if oob:
            return CommandError(command, "OOBUnavailable", NO_OOB, 0.0)
        dom = self._dom
        if dom is None:
            return Disconnected(command, self.detail)
        libvirt, libvirt_qemu = _bindings()
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = dict(arguments)
        text = json.dumps(request)  # libvirt adds its own id: a command that carries one is refused
        tag = f"libvirt-{next(self._ids)}"  # in the transcript only, so that a replay pairs the reply
        self._wire("send", json.dumps({**request, "id": tag}).encode())
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                raw = await self._in_thread(libvirt_qemu.qemuMonitorCommand, dom, text, 0)
        except TimeoutError:
            return DeadlineExceeded(command, limit, time.monotonic() - started)
        except libvirt.libvirtError as exc:
            took = time.monotonic() - started
            if _unreached(libvirt, exc) is Unreached.NOTHING_LISTENS:
                return Disconnected(command, _said(exc), took)
            return CommandError(command, "LibvirtError", _said(exc), took)
        took = time.monotonic() - started
        reply = json.loads(raw)
        self._wire("recv", json.dumps({**reply, "id": tag}).encode(), plain=command in PLAIN_REPLIES)
        if "error" in reply:
            error = reply["error"]
            return CommandError(command, str(error.get("class", "GenericError")), str(error.get("desc", "")), took)
        return Ok(command, reply.get("return"), took)


def _close(conn: Any, callbacks: list[Callable[[], None]]) -> None:
    """Deregister and close in libvirt's event thread: there no event for this connection is being
    dispatched meanwhile (closed from another thread, one could still be, on a freed connection)."""
    libvirt, _ = _bindings()
    done = threading.Event()

    def now(timer: int, _opaque: Any) -> None:
        libvirt.virEventRemoveTimeout(timer)
        for undo in callbacks:
            with contextlib.suppress(Exception):  # the connection may be gone already
                undo()
        with contextlib.suppress(Exception):
            conn.close()
        done.set()

    libvirt.virEventAddTimeout(0, now, None)
    done.wait(CLOSE_WITHIN)


def _said(exc: Exception) -> str:
    return f"libvirt: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def _unreached(libvirt: Any, exc: Any) -> Unreached | None:
    code = exc.get_error_code()
    down = {getattr(libvirt, name) for name in _DOWN_CODES if hasattr(libvirt, name)}
    return Unreached.NOTHING_LISTENS if code in down else None
