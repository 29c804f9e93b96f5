"""The QMP session service against a fake peer, for the faults QEMU cannot produce on demand: a peer that
never greets, garbage after the greeting, an event storm, an event before its link is announced. Against
real QEMU processes in tests/qemu/test_session.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from colotui.qmp import (
    Disconnected,
    Event,
    LinkChanged,
    LinkState,
    Session,
    Transcript,
    UnixAddress,
    read_transcript,
)

from ..support.fake_peer import GREETING, fake_peer, read_message

# -- faults QEMU cannot produce on demand: a fake peer ------------------------------------------

async def test_a_peer_that_never_greets_does_not_block_anyone(short_tmp: Path) -> None:
    async def silent(reader, writer) -> None:
        await asyncio.sleep(3600)

    server = await fake_peer(short_tmp / "silent.sock", silent)
    session = Session("vm", UnixAddress(short_tmp / "silent.sock"))
    session.start()
    try:
        await asyncio.sleep(1.3)
        assert session.state is LinkState.CONNECTING
        assert "greeting" in session.detail
        reply = await asyncio.wait_for(session.execute("query-status"), 0.5)
        assert isinstance(reply, Disconnected)
    finally:
        await asyncio.wait_for(session.close(), 2)
        server.close()


async def test_garbage_from_the_peer_drops_the_link_not_the_program(short_tmp: Path) -> None:
    connections = 0

    async def garbage_after_greeting(reader, writer) -> None:
        nonlocal connections
        connections += 1
        buffer = bytearray()
        writer.write(json.dumps(GREETING).encode() + b"\n")
        await read_message(reader, buffer)  # qmp_capabilities
        writer.write(b'{"return": {}}\n')
        await read_message(reader, buffer)  # the test's command
        writer.write(b"\x00\xff{not json at all\n")
        await writer.drain()
        await asyncio.sleep(3600)

    server = await fake_peer(short_tmp / "garbage.sock", garbage_after_greeting)
    transcript = Transcript(short_tmp / "t.jsonl")
    session = Session("vm", UnixAddress(short_tmp / "garbage.sock"), backoff=(0.05, 0.1), transcript=transcript)
    session.start()
    try:
        assert await session.wait_connected(5), session.detail
        reply = await session.execute("query-status", deadline=5)
        assert isinstance(reply, Disconnected)
        for _ in range(100):
            if connections >= 2:
                break
            await asyncio.sleep(0.05)
        assert connections >= 2, "the session should reconnect after a protocol error"
    finally:
        await session.close()
        server.close()
        transcript.close()
    garbage = [line for line in read_transcript(short_tmp / "t.jsonl") if line["dir"] == "garbage"]
    assert garbage and "not json at all" in garbage[0]["msg"]


async def test_an_event_storm_stays_bounded(short_tmp: Path) -> None:
    async def storm(reader, writer) -> None:
        writer.write(json.dumps(GREETING).encode() + b"\n")
        await read_message(reader, bytearray())
        writer.write(b'{"return": {}}\n')
        event = {"event": "STOP", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}
        line = json.dumps(event).encode() + b"\n"
        for _ in range(20):
            writer.write(line * 1000)
            await writer.drain()
        writer.write(b'{"event": "DONE", "timestamp": {"seconds": 2, "microseconds": 0}}\n')
        await writer.drain()
        await asyncio.sleep(3600)

    server = await fake_peer(short_tmp / "storm.sock", storm)
    session = Session("vm", UnixAddress(short_tmp / "storm.sock"))
    sub = session.subscribe(maxlen=100)
    session.start()
    try:
        done = session.subscribe(events={"DONE"})
        assert await session.wait_connected(5)
        while True:
            notice = await asyncio.wait_for(done.get(), 10)
            if isinstance(notice, Event):
                break
        assert len(sub) == 100
        assert sub.dropped >= 20_000 - 100
    finally:
        await session.close()
        server.close()


async def test_no_event_reaches_a_subscriber_before_its_link_is_announced(short_tmp: Path) -> None:
    """A COLO VM emits STOP/RESUME all the time, so events can follow the capabilities reply in the same
    read; a subscriber must still see the link come up first (the console folds checkpoints by what it
    learned on connecting, and logged them as state changes when they came first)."""
    async def eager(reader, writer) -> None:
        writer.write(json.dumps(GREETING).encode() + b"\n")
        await read_message(reader, bytearray())
        event = {"event": "RESUME", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}
        writer.write(b'{"return": {}}\n' + (json.dumps(event).encode() + b"\n") * 50)
        await writer.drain()
        await asyncio.sleep(3600)

    server = await fake_peer(short_tmp / "eager.sock", eager)
    session = Session("vm", UnixAddress(short_tmp / "eager.sock"))
    sub = session.subscribe(maxlen=1000)
    session.start()
    try:
        assert await session.wait_connected(5), session.detail
        for _ in range(100):
            if len(sub) >= 52:  # connecting, connected, 50 events
                break
            await asyncio.sleep(0.02)
        seen = [n.state.value if isinstance(n, LinkChanged) else n.name for n in sub.drain()]
    finally:
        await session.close()
        server.close()
    assert seen == ["connecting", "connected"] + ["RESUME"] * 50
