"""A fake QMP peer on a unix socket, for the faults QEMU cannot produce on demand (a peer that never greets,
garbage after the greeting, a storm of events, replies of any shape)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "fake"},
                    "capabilities": []}}


async def read_message(reader: asyncio.StreamReader, buffer: bytearray) -> dict:
    """One JSON object from the client: qemu.qmp sends no newline after its messages."""
    decoder = json.JSONDecoder()
    while True:
        text = buffer.decode().lstrip()
        if text:
            try:
                msg, end = decoder.raw_decode(text)
            except ValueError:
                pass
            else:
                del buffer[:]
                buffer.extend(text[end:].encode())
                return msg
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("client went away")
        buffer.extend(chunk)


async def fake_peer(path: Path, behaviour) -> asyncio.AbstractServer:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await behaviour(reader, writer)

    return await asyncio.start_unix_server(serve, path=str(path))
