"""The QMP session service against real QEMU processes (the fake peer, for faults QEMU cannot make, is in
tests/unit/test_session.py)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import time
from pathlib import Path

from colotui.qmp import (
    CommandError,
    DeadlineExceeded,
    Disconnected,
    Event,
    LinkChanged,
    LinkState,
    Ok,
    Session,
    Transcript,
    UnixAddress,
    read_transcript,
)
from colotui.qmp.series import Limits
from colotui.qmp.transcript import read_series

from ..conftest import PlainVM


async def connected(vm: PlainVM, **kwargs: object) -> Session:
    session = Session("vm", UnixAddress(vm.qmp), **kwargs)  # type: ignore[arg-type]
    session.start()
    assert await session.wait_connected(10), session.detail
    return session


async def next_event(sub, name: str, timeout: float = 5.0) -> Event:
    deadline = time.monotonic() + timeout
    while True:
        notice = await asyncio.wait_for(sub.get(), deadline - time.monotonic())
        if isinstance(notice, Event) and notice.name == name:
            return notice


async def test_commands_return_values_and_typed_errors(plain_vm: PlainVM) -> None:
    session = await connected(plain_vm)
    try:
        status = await session.execute("query-status")
        assert isinstance(status, Ok) and status.value["status"] == "prelaunch"
        version = await session.execute("query-version")
        assert isinstance(version, Ok)
        assert session.version == tuple(version.value["qemu"][k] for k in ("major", "minor", "micro"))

        missing = await session.execute("object-del", {"id": "no-such-object"})
        assert isinstance(missing, CommandError)
        assert missing.error_class == "GenericError" and "no-such-object" in missing.desc

        unknown = await session.execute("no-such-command")
        assert isinstance(unknown, CommandError) and unknown.error_class == "CommandNotFound"

        hmp = await session.hmp("info status")
        assert isinstance(hmp, Ok) and "VM status: paused (prelaunch)" in hmp.value

        bad = await session.execute("qom-list", {"path": object()})
        assert isinstance(bad, CommandError) and "not JSON" in bad.message
        assert isinstance(await session.execute("query-status"), Ok), "a refused argument must not break the link"
    finally:
        await session.close()


async def test_a_stalled_monitor_hits_the_deadline_and_the_session_survives(plain_vm: PlainVM) -> None:
    session = await connected(plain_vm, deadline=0.3)
    try:
        plain_vm.pause()
        started = time.monotonic()
        late = await session.execute("query-status")
        elapsed = time.monotonic() - started
        assert isinstance(late, DeadlineExceeded) and late.deadline == 0.3
        assert 0.3 <= elapsed < 2.0
        plain_vm.resume()
        # the late reply arrives and is dropped; the next command gets its own reply
        again = await session.execute("query-status", deadline=5)
        assert isinstance(again, Ok) and again.value["status"] == "prelaunch"
        assert session.connected
    finally:
        plain_vm.resume()
        await session.close()


async def test_events_reach_every_subscriber(plain_vm: PlainVM) -> None:
    session = await connected(plain_vm)
    try:
        everything = session.subscribe()
        only_stop = session.subscribe(events={"STOP"})
        assert isinstance(await session.execute("cont"), Ok)
        resume = await next_event(everything, "RESUME")
        assert resume.vm == "vm" and resume.timestamp > 1e9
        assert isinstance(await session.execute("stop"), Ok)
        await next_event(everything, "STOP")
        stop = await asyncio.wait_for(only_stop.get(), 5)
        assert isinstance(stop, Event) and stop.name == "STOP"
        assert only_stop.get_nowait() is None, "the filtered subscription must not see RESUME"
    finally:
        await session.close()


async def test_a_slow_subscriber_loses_old_events_not_memory(plain_vm: PlainVM) -> None:
    session = await connected(plain_vm)
    try:
        slow = session.subscribe(maxlen=4, events={"STOP", "RESUME"})
        for _ in range(10):
            assert isinstance(await session.execute("cont"), Ok)
            assert isinstance(await session.execute("stop"), Ok)
        probe = session.subscribe()
        assert isinstance(await session.execute("cont"), Ok)
        await next_event(probe, "RESUME")  # every earlier event has been dispatched by now
        assert len(slow) == 4
        assert slow.dropped == 21 - 4
        kept = [n.name for n in slow.drain() if isinstance(n, Event)]
        assert kept == ["STOP", "RESUME", "STOP", "RESUME"]
    finally:
        await session.close()


async def test_reconnects_after_the_vm_restarts(plain_vm: PlainVM) -> None:
    session = await connected(plain_vm, backoff=(0.05, 0.2))
    try:
        links = session.subscribe(events=set())
        plain_vm.kill()
        lost = await asyncio.wait_for(links.get(), 5)
        assert isinstance(lost, LinkChanged) and lost.state is LinkState.DISCONNECTED
        assert "lost" in lost.detail
        reply = await session.execute("query-status")
        assert isinstance(reply, Disconnected)

        plain_vm.start()
        assert await session.wait_connected(10), session.detail
        assert session.connects == 2
        status = await session.execute("query-status")
        assert isinstance(status, Ok) and status.value["status"] == "prelaunch"
    finally:
        await session.close()


async def test_connecting_never_blocks_and_waits_for_a_late_vm(plain_vm: PlainVM, short_tmp: Path) -> None:
    plain_vm.kill()
    session = Session("vm", UnixAddress(plain_vm.qmp), backoff=(0.05, 0.2))
    started = time.monotonic()
    session.start()
    try:
        reply = await session.execute("query-status")
        assert isinstance(reply, Disconnected) and time.monotonic() - started < 0.5
        await asyncio.sleep(0.3)
        assert session.state is LinkState.CONNECTING
        assert "no socket" in session.detail
        plain_vm.start()
        assert await session.wait_connected(10)
    finally:
        await session.close()
    assert session.state is LinkState.IDLE


async def test_transcript_has_each_command_before_its_reply(plain_vm: PlainVM, short_tmp: Path) -> None:
    transcript = Transcript(short_tmp / "t.jsonl")
    session = await connected(plain_vm, transcript=transcript)
    try:
        sub = session.subscribe()
        assert isinstance(await session.execute("cont"), Ok)
        await next_event(sub, "RESUME")
        assert isinstance(await session.execute("object-del", {"id": "nope"}), CommandError)
    finally:
        await session.close()
        transcript.close()
    lines = read_transcript(short_tmp / "t.jsonl")
    assert all(line["vm"] == "vm" for line in lines)
    greeting = next(i for i, line in enumerate(lines) if line["dir"] == "recv" and "QMP" in line["msg"])
    sends = {line["msg"].get("execute"): (i, line["msg"].get("id")) for i, line in enumerate(lines)
             if line["dir"] == "send"}
    assert greeting < sends["qmp_capabilities"][0]
    for command in ("cont", "object-del"):
        index, msg_id = sends[command]
        reply = next(i for i, line in enumerate(lines) if line["dir"] == "recv" and line["msg"].get("id") == msg_id)
        assert index < reply
    assert any(line["dir"] == "recv" and line["msg"].get("event") == "RESUME" for line in lines)
    assert any(line["dir"] == "recv" and line["msg"].get("error", {}).get("class") == "GenericError" for line in lines)
    assert any(line["dir"] == "link" and line["msg"].startswith("connected") for line in lines)


async def test_the_schema_is_recorded_as_it_came_and_a_secret_still_is_not(plain_vm: PlainVM, short_tmp: Path,
                                                                          monkeypatch) -> None:
    from colotui.qmp import session as session_module

    walked: list[bytes] = []
    real = session_module.redact_wire
    monkeypatch.setattr(session_module, "redact_wire", lambda data: walked.append(data) or real(data))
    transcript = Transcript(short_tmp / "t.jsonl")
    session = await connected(plain_vm, transcript=transcript)
    try:
        schema = await session.execute("query-qmp-schema")
        assert isinstance(schema, Ok) and len(schema.value) > 1000
        secret = {"qom-type": "secret", "id": "s0", "data": "hunter2-in-clear"}
        assert isinstance(await session.execute("object-add", secret), Ok)
    finally:
        await session.close()
        transcript.close()
    assert not [d for d in walked if b'"meta-type"' in d], "the schema's reply is not walked for secrets"
    raw = (short_tmp / "t.jsonl").read_text()
    assert '"meta-type"' in raw and "hunter2-in-clear" not in raw


class _Recording(Transcript):
    """A transcript that also keeps each line it writes: what reading its series back must give."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.lines: list[str] = []
        super().__init__(path, limits)

    def _append(self, line: str, now: float) -> None:
        self.lines.append(line)
        super()._append(line, now)


async def test_a_rotating_transcript_of_a_real_session_reads_back_whole(plain_vm: PlainVM, short_tmp: Path) -> None:
    transcript = _Recording(short_tmp / "t.jsonl", Limits(max_size=1024, max_age=None, keep_size=None, keep_days=None))
    session = await connected(plain_vm, transcript=transcript)
    try:
        sub = session.subscribe()
        for i in range(60):  # commands, replies and events, through a rotation every dozen lines or so
            command, event = ("stop", "STOP") if i % 2 else ("cont", "RESUME")
            assert isinstance(await session.execute(command), Ok)
            await next_event(sub, event)
            assert isinstance(await session.execute("query-status"), Ok)
    finally:
        await session.close()
        transcript.close()
    members = sorted(short_tmp.glob("t.*.jsonl*"))
    assert len(members) >= 20 and all(m.name.endswith(".jsonl.gz") for m in members), [m.name for m in members]
    entries = read_series(short_tmp / "t.jsonl")
    assert entries == [json.loads(line) for line in transcript.lines], "every line once, in the order written"
    sent = [e["msg"]["execute"] for e in entries if e["dir"] == "send"]
    assert sent.count("query-status") >= 60 and sent.count("stop") == sent.count("cont") == 30
    events = [e["msg"]["event"] for e in entries if e["dir"] == "recv" and "event" in e["msg"]]
    assert events.count("STOP") == events.count("RESUME") == 30


async def test_closing_while_a_dead_vm_refuses_prints_nothing(plain_vm: PlainVM) -> None:
    """Closing a session whose connection attempt to a dead VM failed at that very moment left asyncio a
    ConnectError to print on the operator's terminal ("Task exception was never retrieved")."""
    os.kill(plain_vm.pid, signal.SIGKILL)  # its socket stays; nothing listens on it: refused
    unhandled: list[str] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context["message"]))
    for attempt in range(200):
        session = Session("vm", UnixAddress(plain_vm.qmp), backoff=(0.001, 0.002))
        session.start()
        await asyncio.sleep(attempt % 10 / 1000)
        assert "refused" in session.detail or session.state is LinkState.CONNECTING
        await session.close()
    gc.collect()  # what was left unretrieved is garbage now, and asyncio reports it as it goes
    assert unhandled == []


async def test_a_session_over_tcp(qemu, short_tmp: Path) -> None:
    """host:port addresses work like socket paths (the port is chosen free, on loopback)."""
    import socket

    from colotui.lab import process
    from colotui.qmp import parse_address

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    marker = f"tcp:127.0.0.1:{port},server=on,wait=off"
    pid = process.spawn(qemu.argv(qemu.system, "-accel", "tcg", "-m", "32", "-display", "none", "-nodefaults",
                                  "-S", "-qmp", marker), short_tmp / "qemu.log")
    session = Session("tcp", parse_address(f"127.0.0.1:{port}"), backoff=(0.05, 0.2))
    session.start()
    try:
        assert await session.wait_connected(10), session.detail
        reply = await session.execute("query-status")
        assert isinstance(reply, Ok) and reply.value["status"] == "prelaunch"
    finally:
        await session.close()
        process.stop(pid, marker)
