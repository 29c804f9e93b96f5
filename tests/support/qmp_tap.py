"""A recording tap in front of a real QEMU's QMP socket: what the VM received, seen from outside colotui.

The client (colotui) connects to the tap's socket; each connection gets its own connection to QEMU, and
bytes pass both ways unchanged. Every message the client sent is kept, decoded, in `received`: a witness
that does not depend on colotui's own transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any


class Tap:
    def __init__(self, upstream: Path, path: Path) -> None:
        self.upstream, self.path = upstream, path
        self.received: list[dict[str, Any]] = []
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Tap:
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def commands(self) -> list[tuple[str, dict[str, Any]]]:
        """Each command received: its name and arguments (HMP's as ``human-monitor-command``)."""
        return [(str(m.get("execute") or m.get("exec-oob")), dict(m.get("arguments") or {}))
                for m in self.received if "execute" in m or "exec-oob" in m]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            qemu_reader, qemu_writer = await asyncio.open_unix_connection(str(self.upstream))
        except OSError:
            writer.close()
            self._pipes.discard(task)
            return
        try:
            await asyncio.gather(self._pipe(qemu_reader, writer, record=False),
                                 self._pipe(reader, qemu_writer, record=True))
        finally:
            for w in (writer, qemu_writer):
                w.close()
            self._pipes.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, record: bool) -> None:
        decoder, pending = json.JSONDecoder(), ""
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1 << 16):
                if record:
                    pending += data.decode("utf-8", errors="replace")
                    pending = self._take(decoder, pending)
                writer.write(data)
                await writer.drain()
        writer.close()

    def _take(self, decoder: json.JSONDecoder, text: str) -> str:
        """Record every whole JSON message at the start of ``text``; return what is left (a partial one)."""
        while True:
            text = text.lstrip()
            if not text:
                return ""
            try:
                message, end = decoder.raw_decode(text)
            except ValueError:
                return text
            self.received.append(message if isinstance(message, dict) else {"garbage": message})
            text = text[end:]
