"""Read-only is a guarantee: every command of each QEMU's schema, and every HMP command of its ``help``,
through each read-only surface, and the VM received none that changes state.

Two real QEMUs (7.2, 10.0, 11.1) stand behind recording taps (`tests/support/qmp_tap.py`), so what the VMs
received is seen from outside colotui. The surfaces: the session itself (`Session(read_only=True)`,
which every other surface goes through), `colotui shell --read-only` fed by a pipe, and the console
(`connect --read-only`, which `serve … --read-only` runs per browser session) and a fleet's console: their
QMP console, the procedure picker, the palette and the failover key. The witness is independent of the
product's allowlist: a reading command is named like a query (or is one of the few object-model looks),
HMP reads only as ``info`` or ``help``, and a yank reads only with no instances.

The console's and a fleet's console's surfaces are in tests/ui/test_read_only.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from colotui.lab import QemuInstall, process
from colotui.model.replies import STRUCTURE_QUERIES
from colotui.pair import Endpoint, Pair
from colotui.qmp import Ok, Session, UnixAddress
from colotui.qmp.readonly import READ_ONLY_COMMANDS, is_read_only
from colotui.qmp.session import READ_ONLY_CLASS

from ..conftest import ALL_QEMUS, PlainVM, temp_root
from ..support.qmp_tap import Tap

pytestmark = ALL_QEMUS

#: Named like queries, yet not only reading: never to reach a read-only VM.
WRITES_ALTHOUGH_NAMED_LIKE_A_READ = {"ringbuf-read", "calc-dirty-rate", "x-query-profile"}
#: The object model's looks, besides the queries.
LOOKS = {"qom-get", "qom-list", "qom-list-get", "qom-list-types", "qom-list-properties", "device-list-properties",
         "trace-event-get-state", "x-debug-block-dirty-bitmap-sha256", "x-accel-stats"}
#: HMP forms that would change the VM if they got through (the rest of `help` is sent bare).
HMP_FORMS = {"i": "i /b 0x64 0xfe", "o": "o /b 0x64 0xfe", "change": "change vnc password s3cret",
             "set_password": "set_password vnc s3cret", "migrate": "migrate tcp:127.0.0.1:1",
             "quit": "quit", "q": "q", "system_reset": "system_reset", "stop": "stop"}


def only_reads(command: str, arguments: dict[str, Any]) -> bool:
    """The witness's own judgement of one command a VM received."""
    if command == "qmp_capabilities":  # the handshake
        return True
    if command == "human-monitor-command":
        words = str(arguments.get("command-line", "")).split()
        return bool(words) and words[0] in ("info", "help", "?")
    if command == "yank":
        return arguments.get("instances") == []
    if command in WRITES_ALTHOUGH_NAMED_LIKE_A_READ:
        return False
    return command.startswith(("query-", "x-query-", "x-debug-query-")) or command in LOOKS


def changed_state(tap: Tap) -> list[tuple[str, dict[str, Any]]]:
    return [(c, a) for c, a in tap.commands() if not only_reads(c, a)]


def hmp_commands(help_text: str) -> list[str]:
    """Every command (and alias) of HMP's ``help``: the first word of each line that starts one."""
    names: set[str] = set()
    for line in help_text.splitlines():
        if line and line[0] not in " \t[":
            names.update(line.split()[0].split("|"))
    return sorted(names)


@dataclass
class Schema:
    version: str
    commands: list[str]
    hmp: list[str]

    def qmp_lines(self) -> list[str]:
        """Each command as the shell's shorthand and as raw JSON."""
        return [form for name in self.commands for form in (name, json.dumps({"execute": name}))]

    def hmp_lines(self) -> list[str]:
        return [f"!{HMP_FORMS.get(name, name)}" for name in self.hmp] + \
            [json.dumps({"execute": "human-monitor-command", "arguments": {"command-line": "i /b 0x64 0xfe"}}),
             json.dumps({"execute": "yank", "arguments": {"instances": [{"type": "migration"}]}})]


@dataclass
class TwoVMs:
    primary: PlainVM
    secondary: PlainVM
    schema: Schema


async def _ask(path: Path, command: str, arguments: dict[str, Any] | None = None) -> Any:
    session = Session("witness", UnixAddress(path))
    session.start()
    try:
        assert await session.wait_connected(10), session.detail
        reply = await session.execute(command, arguments)
        assert isinstance(reply, Ok), reply
        return reply.value
    finally:
        await session.close()


@pytest.fixture(scope="module")
def vms(qemu: QemuInstall) -> Iterator[TwoVMs]:
    """Two real QEMUs waiting at -S (prelaunch: a stray `cont`, `quit` or reset would show), and their schema."""
    started = [PlainVM(qemu, temp_root(qemu)).start() for _ in range(2)]
    try:
        async def learn() -> Schema:
            version = await _ask(started[0].qmp, "query-version")
            commands = await _ask(started[0].qmp, "query-commands")
            help_text = await _ask(started[0].qmp, "human-monitor-command", {"command-line": "help"})
            q = version["qemu"]
            return Schema(f"{q['major']}.{q['minor']}.{q['micro']}", sorted(c["name"] for c in commands),
                          hmp_commands(help_text))

        yield TwoVMs(started[0], started[1], asyncio.run(learn()))
    finally:
        for vm in started:
            process.stop(vm.pid, vm.marker, grace=2.0)
            shutil.rmtree(vm.dir, ignore_errors=True)


@asynccontextmanager
async def tapped(vms: TwoVMs) -> AsyncIterator[tuple[Tap, Tap, Pair]]:
    """Taps in front of both VMs, and the pair a console reaches them by (through the taps)."""
    primary = Tap(vms.primary.qmp, vms.primary.dir / "tap.sock")
    secondary = Tap(vms.secondary.qmp, vms.secondary.dir / "tap.sock")
    async with primary, secondary:
        yield primary, secondary, Pair(Endpoint("p", UnixAddress(primary.path), "127.0.0.1"),
                                       Endpoint("s", UnixAddress(secondary.path), "127.0.0.2"))
    for path in (primary.path, secondary.path):
        path.unlink(missing_ok=True)


async def still_prelaunch(vms: TwoVMs) -> None:
    for vm in (vms.primary, vms.secondary):
        assert process.alive(vm.pid, vm.marker), "a VM is gone: something changing state got through"
        status = await _ask(vm.qmp, "query-status")
        assert status["status"] == "prelaunch", f"the VM is {status['status']}: something got through"


def test_the_allowlist_is_reviewed_names_and_keeps_the_console_seeing(vms: TwoVMs) -> None:
    """Every listed command reads by the witness's judgement; the console's own questions are on it."""
    assert not [c for c in READ_ONLY_COMMANDS if not only_reads(c, {})]
    wanted = {command for command, _ in STRUCTURE_QUERIES.values()} | {"query-status", "query-colo-status",
                                                                       "query-migrate", "query-version",
                                                                       "query-qmp-schema", "query-yank"}
    for command, arguments in [*STRUCTURE_QUERIES.values(), ("yank", {"instances": []})]:
        assert is_read_only(command, arguments), command
    assert wanted <= set(vms.schema.commands), "the console asks what this QEMU has"
    assert not is_read_only("yank", {"instances": [{"type": "migration"}]})
    assert not is_read_only("human-monitor-command", {"command-line": "i /b 0x64 0xfe"})


async def test_a_read_only_session_sends_nothing_that_changes_state(vms: TwoVMs) -> None:
    async with tapped(vms) as (tap, _, pair):
        session = Session("p", pair.primary.qmp, read_only=True, deadline=5)
        session.start()
        try:
            assert await session.wait_connected(10), session.detail
            refused = 0
            for command in vms.schema.commands:
                reply = await session.execute(command, {})
                refused += getattr(reply, "error_class", None) == READ_ONLY_CLASS
            for line in vms.schema.hmp_lines():
                if line.startswith("!"):
                    reply = await session.hmp(line[1:])
                    refused += getattr(reply, "error_class", None) == READ_ONLY_CLASS
            reply = await session.execute("yank", {"instances": [{"type": "migration"}]}, oob=True)
            assert getattr(reply, "error_class", None) == READ_ONLY_CLASS
        finally:
            await session.close()
        assert changed_state(tap) == []
        assert refused >= len([c for c in vms.schema.commands if not only_reads(c, {})])
        assert any(c == "query-status" for c, _ in tap.commands()), "reading commands still go through"
    await still_prelaunch(vms)


async def test_colotui_shell_read_only_sends_nothing_that_changes_state(vms: TwoVMs) -> None:
    lines = [":target both", *vms.schema.qmp_lines(), *vms.schema.hmp_lines()]
    async with tapped(vms) as (primary, secondary, pair):
        shell = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "colotui", "shell", "--read-only", str(pair.primary.qmp), str(pair.secondary.qmp),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(shell.communicate("\n".join(lines).encode() + b"\n"), 120)
        assert shell.returncode == 1, err.decode()  # some commands were refused
        assert b"Traceback" not in err, err.decode()
        for tap in (primary, secondary):
            assert changed_state(tap) == []
            assert any(c == "query-status" for c, _ in tap.commands()), "queries still reach both VMs"
        replies = [json.loads(line) for line in out.decode().splitlines()]
        refusals = [r for r in replies if r.get("error", {}).get("class") == "Refused"]
        assert any("read-only: stop may change the VM" in r["error"]["desc"] for r in refusals)
        assert any("read-only: HMP 'i' may change the VM" in r["error"]["desc"] for r in refusals)
    await still_prelaunch(vms)
