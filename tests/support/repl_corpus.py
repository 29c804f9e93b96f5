"""Inputs for the REPL's parser tests, and the schema of the QEMU installed here.

The corpus is deterministic (a seeded generator): command lines built from
pieces that probe qmp-shell's corners (quotes, dotted keys, Python literals,
odd whitespace and digits), mutations of them, and plain noise.
"""

from __future__ import annotations

import asyncio
import functools
import random
import shutil
import tempfile
from pathlib import Path

from colotui.lab import QemuInstall, process
from colotui.qmp import Failure, Session, UnixAddress
from colotui.qmp.probe import VMFacts, probe
from colotui.qmp.schema import Schema


@functools.cache
def installed_schema(qemu: QemuInstall) -> Schema:
    """``query-qmp-schema`` of this QEMU, asked once through colotui's own session service.

    (Through ``-qmp stdio`` with a ``quit`` behind it, QEMU could exit before the
    whole reply of a few hundred kilobytes was written, now and then.)
    """
    directory = Path(tempfile.mkdtemp(prefix="colotui-schema-", dir=qemu.root / "tmp" if qemu.root else None))
    socket = directory / "qmp.sock"
    marker = f"unix:{qemu.qemu_path(socket)},server=on,wait=off"
    pid = process.spawn(qemu.argv(qemu.system, "-machine", "none", "-display", "none", "-nodefaults", "-S",
                                  "-qmp", marker), directory / "qemu.log")
    try:
        facts = asyncio.run(_probe(socket))
    finally:
        process.stop(pid, marker)
        shutil.rmtree(directory, ignore_errors=True)
    assert isinstance(facts, VMFacts), f"QEMU gave no schema: {facts}"
    return facts.schema


async def _probe(socket: Path) -> VMFacts | Failure:
    session = Session("schema", UnixAddress(socket), backoff=(0.02, 0.1))
    session.start()
    try:
        assert await session.wait_connected(10), session.detail
        return await probe(session)
    finally:
        await session.close()


COMMANDS = ["query-status", "migrate", "object-add", "qom-get", "qom-set", "nbd-server-start", "drive-mirror",
            "migrate-set-capabilities", "migrate-set-parameters", "x-blockdev-change", "human-monitor-command",
            "device_add", "x-colo-lost-heartbeat", "chardev-add", "query-nope", "blockdev-add"]
ODD_COMMANDS = ["__com.redhat_x", "9lives", "a.b", "q(", "é", ")", "transaction()", "x=1"]
KEYS = ["uri", "id", "qom-type", "path", "property", "value", "device", "addr.type", "addr.data.host",
        "addr.data.port", "capabilities", "x-checkpoint-delay", "a.b.c", "a..b", ".a", "a.", "", "x-y_z", "ключ",
        '"q"', "'s'", "a=b", "sync", "mode", "blk", "netdev", "queue", "data.x"]
VALUES = [
    # integers the way int() reads them, and near misses
    "0", "-1", "+7", "007", "1_000", "1__0", "_1", "٣", "0x10", "1e3", "1.5", "-0", "99999999999999999999",
    # qmp-shell's booleans, and what is merely text
    "true", "False", "tRuE", "null", "None", "", "abc", "tcp:127.0.0.2:9998", "/tmp/x.sock", "existing",
    # quoted text (the quotes stay)
    '"a b"', "'x'", '"a\\"b"', "'it''s'", '"', "'", '"\\"', '"a"b"c"', "\"'\"", "x\"y",
    # JSON
    "[1,2]", '{"a":{"b":[true,null]}}', "[1.5,-0.0,1E3]", '["\\u00e9","\\ud83d\\ude00"]', '{"a":1,"a":2}', "[]",
    "{}", '[{"capability":"x-colo","state":true}]', '["\\ud800"]', "[-0]", "[0.5e-3]", '{"a":"b c"}',
    # Python literals qmp-shell also reads
    "{'a':True}", "[None,(1,2)]", "['a''b']", "[0x10,1_0]", "{'a':-1}", "[+1]", "[1,]", "[true,False,null]",
    "['\\x41']", "[r'\\d']", "{'k':[{'n':None}]}", "[1]#c", "[u'x']", "[()]",
    # malformed structured values (qmp-shell sends them as text)
    "[1,", '{"a"', "[abc]", "[::1]", "{'a':}", "[1 2]", "{", "[", "]", "}", "[1]]", '{"a":1,}', "[f'x']",
    "[-True]", "[--1]", "[1+1]", "{**a}",
    # values JSON cannot carry
    "[NaN]", "[Infinity]", "[-Infinity]", "[1e999]", "{1,2}", "[set()]", "[1j]", "[1+2j]", "[b'x']", "{1:2}",
    "[1j+2j]", "[-1j-1j]", "[-1.5+2j]", "[NaN]x", "[1e999,",
    "[...]", "{True:1}", "{[1]:2}", "[1e400]",
]
SPACES = [" ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\x1c", "\x85", "\u2028", "\x0b"]
NOISE = "ab=.{}[]()\"'\\ ,:-_0123456789 \t!#xyzé٣\u00a0"


def command_line(rng: random.Random) -> str:
    words = [rng.choice(COMMANDS if rng.random() < 0.9 else ODD_COMMANDS)]
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
        value = rng.choice(VALUES)
        if rng.random() < 0.15:
            value = rng.choice(VALUES) + rng.choice(VALUES)
        words.append(f"{rng.choice(KEYS)}={value}" if rng.random() < 0.93 else rng.choice(VALUES + KEYS))
    line = "".join(w + rng.choice(SPACES) for w in words).rstrip(" ")
    return rng.choice(["", "", "", " ", "\t"]) + line


def mutate(rng: random.Random, line: str) -> str:
    chars = list(line)
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(chars))
        action = rng.random()
        if action < 0.4 or not chars:
            chars.insert(at, rng.choice(NOISE))
        elif action < 0.7:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = rng.choice(NOISE)
    return "".join(chars)


def noise(rng: random.Random) -> str:
    return "".join(rng.choice(NOISE) for _ in range(rng.randint(0, 30)))


def corpus(seed: int, size: int) -> list[str]:
    """``size`` one-line inputs: mostly command lines, a third of them mutated, some noise."""
    rng = random.Random(seed)
    lines = []
    for _ in range(size):
        roll = rng.random()
        line = command_line(rng) if roll < 0.9 else noise(rng)
        if 0.55 < roll < 0.9:
            line = mutate(rng, line)
        lines.append(line.replace("\n", " ").replace("\r", " "))
    return lines


def transactions(seed: int, size: int) -> list[list[str]]:
    """Transactions in qmp-shell's form, as the lines one would type, some of them broken."""
    rng = random.Random(seed)
    actions = ["block-dirty-bitmap-add node=d0 name=b0", "block-dirty-bitmap-clear node=d0 name=b0",
               "abort", "blockdev-snapshot-sync device=d0 snapshot-file=/tmp/s.qcow2", "x a=1 b.c=[1,2]"]
    result = []
    for _ in range(size):
        body = [rng.choice(actions) for _ in range(rng.randint(0, 3))]
        shape = rng.random()
        if shape < 0.3:
            lines = [f"transaction( {' '.join(body[:1])} )".replace("(  )", "( )")]
        elif shape < 0.8:
            lines = ["transaction(", *body, ")"]
        else:
            lines = ["transaction(", *body[:-1], (body[-1] + " )") if body else ")"]
        if rng.random() < 0.2:
            lines = [mutate(rng, line) for line in lines]
        result.append([line.replace("\n", " ") for line in lines])
    return result


def argument_lines(schema: Schema, commands: list[str], seed: int, size: int) -> list[str]:
    """Shorthand for ``commands`` built from the schema: right, and wrong in the usual ways."""
    rng = random.Random(seed)
    lines = []
    for _ in range(size):
        command = rng.choice(commands)
        args = schema.members(schema.commands[command]["arg-type"])
        words = [command]
        for member in args.values():
            if member.optional and rng.random() < 0.6:
                continue
            if not member.optional and rng.random() < 0.05:
                continue  # missing
            inner = schema.members(member.type) if schema.type_info(member.type).get("meta-type") == "object" \
                else {}
            if inner and rng.random() < 0.7:  # dotted keys for its members
                words += [f"{member.name}.{m.name}={_typed_text(schema, m.type, rng)}"
                          for m in inner.values() if not m.optional or rng.random() < 0.3]
            else:
                words.append(f"{member.name}={_typed_text(schema, member.type, rng)}")
        if rng.random() < 0.08:
            words.append(f"{rng.choice(['bogus', 'patth', 'nme'])}=1")
        arguments = words[1:]
        rng.shuffle(arguments)  # operators type them in any order
        lines.append(" ".join([command, *arguments]))
    return lines


def _typed_text(schema: Schema, type_name: str, rng: random.Random) -> str:
    """A value for ``type_name`` as an operator might type it; now and then of the wrong type."""
    info = schema.type_info(type_name)
    meta = info.get("meta-type")
    wrong = rng.random() < 0.12
    if meta == "enum":
        values = schema.enum_values(type_name)
        return rng.choice([f'"{values[0]}"', "x" + values[0], "7"]) if wrong else rng.choice(values)
    if type_name == "bool":
        return rng.choice(["yes", "1", '"true"']) if wrong else rng.choice(["true", "false", "True"])
    if type_name == "int":
        return rng.choice(["x", "1.5", "true", '"3"']) if wrong else rng.choice(["0", "1", "42"])
    if type_name == "number":
        return rng.choice(["x", "[1]"]) if wrong else rng.choice(["0", "1.5", "2e3"])
    if type_name == "str":
        return rng.choice(["9999", "true", "[1]", "{}"]) if wrong else rng.choice(["/machine", "x", '"q"', "[::1]"])
    if meta == "array":
        return rng.choice(["[]", "[1]", '["a"]', "x"])
    if meta == "object":
        return rng.choice(["{}", '{"x":1}', "1"])
    return rng.choice(["1", "x", "[]", "null", "true"])
