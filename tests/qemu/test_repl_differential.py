"""colotui's parser against QEMU itself, over the corpus of the differential test against qmp-shell
(tests/long/test_repl_differential.py): with the VM's schema colotui also refuses what QEMU would refuse
and re-reads a value qmp-shell typed wrong; a real QEMU then judges both: everything colotui sends passes
QEMU's argument checks, and qmp-shell's message for everything colotui refused fails them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from colotui.lab import QemuInstall, process
from colotui.qmp import CommandError, Ok, Session, UnixAddress
from colotui.qmp.schema import Schema
from colotui.repl.parser import ParseError, Request, parse
from colotui.repl.safety import changes_state
from colotui.repl.typecheck import check_arguments, check_value, type_at

from ..conftest import PlainVM, temp_root
from ..long.test_repl_differential import (
    CORPUS_SIZE,
    SYNTAX_REASONS,
    Unconnected,
    qmp_shell,
    reason_holds,
    strict_json,
    wire,
)
from ..support.repl_corpus import argument_lines, corpus, installed_schema

SCHEMA_REASONS = {"command", "argument", "missing", "type"}
#: QEMU's own words when a command's arguments do not fit its schema.
ARGUMENT_ERROR = re.compile(r"Parameter '[^']*' (is missing|is unexpected|does not accept value|expects )"
                            r"|Invalid parameter type for '[^']*', expected: ")


@pytest.fixture(scope="module")
def schema(qemu: QemuInstall) -> Schema:
    return installed_schema(qemu)


def differing_paths(a: Any, b: Any, path: tuple = ()) -> list[tuple]:
    """Paths of the leaves where ``a`` and ``b`` differ; asserts they have the same shape."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), f"members differ at {path}: {list(a)} vs {list(b)}"
        return [p for k in a for p in differing_paths(a[k], b[k], (*path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in differing_paths(x, y, (*path, i))]
    return [] if wire(a) == wire(b) else [path]


def test_with_the_schema_colotui_changes_only_what_qemu_would_refuse(schema: Schema) -> None:
    tally: Counter[str] = Counter()
    every = sorted(schema.commands)
    for text in corpus(seed=3, size=CORPUS_SIZE // 2) + argument_lines(schema, every, seed=5, size=CORPUS_SIZE // 2):
        ours = parse(text, schema)
        kind, theirs = qmp_shell([text])
        if kind != "message" or text.lstrip()[:1] in (":", "!", "{"):
            continue
        if isinstance(ours, ParseError):
            assert ours.kind in SYNTAX_REASONS | SCHEMA_REASONS, f"{text!r}: {ours}"
            if ours.kind == "command":
                assert theirs["execute"] not in schema.commands
            elif ours.kind in SCHEMA_REASONS:
                assert check_arguments(schema, theirs["execute"], theirs["arguments"]) is not None, text
            else:
                assert reason_holds(ours, text, theirs), f"{text!r}: {ours}"
            tally[f"refused: {ours.kind}"] += 1
            continue
        assert isinstance(ours, Request)
        changed = differing_paths(ours.message(), theirs)
        arg_type = schema.commands[ours.command]["arg-type"]
        for path in changed:  # re-read for the schema: qmp-shell's value is wrong there, colotui's right
            assert path[0] == "arguments", f"{text!r}: {path}"
            wanted = type_at(schema, arg_type, ours.arguments, path[1:])
            assert wanted is not None
            assert check_value(schema, _at(theirs, path), wanted) is not None, f"{text!r}: {path} was fine"
            assert check_value(schema, _at(ours.message(), path), wanted) is None
            assert any(n.startswith(".".join(map(str, path[1:]))) for n in ours.notes), ours.notes
        tally["re-read" if changed else "same message"] += 1
    print(dict(tally))
    assert tally["same message"] > 100 and tally["re-read"] > 20, tally
    assert all(tally[f"refused: {k}"] for k in SCHEMA_REASONS), tally


def _at(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


# -- QEMU as the judge -----------------------------------------------------------


@pytest.fixture(scope="module")
def judge_vm(qemu: QemuInstall) -> Iterator[PlainVM]:
    vm = PlainVM(qemu, temp_root()).start()
    yield vm
    process.stop(vm.pid, str(vm.qmp), grace=2.0)


def _argument_error(reply: object) -> bool:
    if isinstance(reply, CommandError):
        return reply.error_class == "CommandNotFound" or (reply.error_class == "GenericError"
                                                          and ARGUMENT_ERROR.search(reply.desc) is not None)
    return False


async def test_qemu_accepts_what_colotui_sends_and_refuses_what_it_refused(schema: Schema, judge_vm: PlainVM) -> None:
    judge = Session("judge", UnixAddress(judge_vm.qmp))
    judge.start()
    assert await judge.wait_connected(10), judge.detail
    try:
        await _judge_corpus(schema, judge)
    finally:
        await judge.close()


async def _judge_corpus(schema: Schema, judge: Session) -> None:
    tally: Counter[str] = Counter()
    readers = sorted(c for c in schema.commands if not changes_state(Request(c)))
    dotted = ["query-cpu-model-expansion model.name=qemu64 type=static",  # qmp-shell nests type in model
              "query-cpu-model-expansion model.name=qemu64 model.props={} type=full"]
    for text in dotted + argument_lines(schema, readers, seed=4, size=2500):
        ours = parse(text, schema)
        kind, theirs = qmp_shell([text], Unconnected)  # as qmp-shell really sends it: QEMU judges
        if isinstance(ours, Request):
            reply = await judge.execute(ours.command, ours.arguments)
            assert isinstance(reply, Ok) or not _argument_error(reply), f"{text!r}: QEMU says {reply.message}"
            tally["sent, QEMU took the arguments"] += 1
            if kind == "message" and wire(theirs) != wire(ours.message()):
                reply = await judge.execute(theirs["execute"], theirs["arguments"])
                assert _argument_error(reply), f"{text!r}: qmp-shell's {theirs} was fine: {reply}"
                why = "dotted-key bug" if qmp_shell([text]) != (kind, theirs) else "value re-read"
                tally[f"differs ({why}); QEMU refused qmp-shell's"] += 1
        elif isinstance(ours, ParseError) and ours.kind in SCHEMA_REASONS and kind == "message" \
                and strict_json(theirs):
            reply = await judge.execute(theirs["execute"], theirs["arguments"])
            assert _argument_error(reply), f"{text!r}: colotui refused ({ours}) but QEMU took it: {reply}"
            tally[f"refused ({ours.kind}); so did QEMU"] += 1
    print(dict(tally))
    assert tally["sent, QEMU took the arguments"] > 500, tally
    assert tally["differs (value re-read); QEMU refused qmp-shell's"] > 10, tally
    assert tally["differs (dotted-key bug); QEMU refused qmp-shell's"] >= 2, tally
    assert sum(v for k, v in tally.items() if k.startswith("refused")) > 100, tally
