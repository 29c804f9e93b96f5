"""Fuzzed input (a fixed seed, 10^4 and more) never breaks the parser, the completer or the rendering.

Every input comes back as a command, colotui's own command, "more to come",
nothing, or a one-line error whose column lies on the line; every command is
JSON QEMU can read and, with the schema, one the schema accepts. Completion
and the hint answer at any cursor position.
"""

from __future__ import annotations

import io
import json
import random

import pytest
from rich.console import Console

from colotui.lab import QemuInstall
from colotui.qmp.schema import Schema
from colotui.repl.completer import complete, hint
from colotui.repl.outcome import Rejected
from colotui.repl.parser import KINDS, Incomplete, MetaCommand, ParseError, Request, parse
from colotui.repl.render import hint_text, rejected_renderable
from colotui.repl.typecheck import check_arguments

from ..support.repl_corpus import corpus, installed_schema, mutate, transactions

FUZZ_SIZE = 12_000
RAW_JSON = ['{"execute": "query-status"}', '{"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.2:9998"}}',
            '{"execute": "migrate-set-capabilities", "arguments": {"capabilities": '
            '[{"capability": "x-colo", "state": true}]}}', '{"execute": "qom-get", "arguments": {"path": 1}}']
OTHER_FORMS = ["!info network", "!drive_del replication0", ":target both", ":events -STOP +RESUME BLOCK_*",
               ":history migrate", ":help migrate", ":quit", "!"]


@pytest.fixture(scope="module")
def schema(qemu: QemuInstall) -> Schema:
    return installed_schema(qemu)


def fuzz_inputs(seed: int, size: int) -> list[str]:
    rng = random.Random(seed)
    inputs = corpus(seed, size * 6 // 10)
    inputs += [mutate(rng, rng.choice(RAW_JSON)) for _ in range(size * 15 // 100)]
    inputs += [mutate(rng, rng.choice(OTHER_FORMS)) for _ in range(size * 10 // 100)]
    inputs += ["\n".join(lines) for lines in transactions(seed, size * 5 // 100)]
    alphabet = [chr(c) for c in range(0x20, 0x7f)] + list("\t\n\u00a0\u3000é٣\U0001f600\x00\x1b")
    inputs += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(size // 10)]
    return inputs


def assert_well_formed(text: str, parsed: object, schema: Schema | None) -> None:
    if isinstance(parsed, ParseError):
        assert parsed.kind in KINDS, parsed
        assert parsed.message and "\n" not in str(parsed), parsed
        lines = text.split("\n")
        assert 1 <= parsed.line <= len(lines), (text, parsed)
        assert 1 <= parsed.column <= len(lines[parsed.line - 1]) + 1, (text, parsed)
    elif isinstance(parsed, Request):
        json.dumps(parsed.message(), allow_nan=False)  # strict JSON: what QEMU can read
        if schema is not None:
            assert schema.has_command(parsed.command), (text, parsed)
            assert check_arguments(schema, parsed.command, parsed.arguments or {}) is None, (text, parsed)
    else:
        assert parsed is None or isinstance(parsed, (MetaCommand, Incomplete)), (text, parsed)


def test_no_input_breaks_the_parser(schema: Schema) -> None:
    inputs = fuzz_inputs(seed=11, size=FUZZ_SIZE)
    assert len(inputs) >= 10_000
    seen = set()
    for text in inputs:
        for with_schema in (None, schema):
            parsed = parse(text, with_schema)
            assert_well_formed(text, parsed, with_schema)
            seen.add(type(parsed).__name__ if not isinstance(parsed, ParseError) else parsed.kind)
    assert {"Request", "MetaCommand", "Incomplete", "quote", "value", "not-json", "json", "command",
            "argument", "missing", "type"} <= seen, seen


def test_completion_and_hints_answer_anywhere(schema: Schema) -> None:
    rng = random.Random(12)
    console = Console(file=io.StringIO(), width=100)
    offered = 0
    for text in fuzz_inputs(seed=13, size=FUZZ_SIZE)[::4]:
        cursor = rng.randint(0, len(text))
        line_start = text.rfind("\n", 0, cursor) + 1
        for c in complete(text, cursor, schema, targets=("primary", "secondary")):
            assert line_start <= c.start <= cursor and c.text, (text, cursor, c)
            offered += 1
        h = hint(text, cursor, schema)
        if h is not None:
            console.print(hint_text(h))
        parsed = parse(text, schema)
        if isinstance(parsed, ParseError):
            console.print(rejected_renderable(Rejected(text, parsed)))
    assert offered > 1000
