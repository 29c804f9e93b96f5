"""colotui's parser against qmp-shell's own (QMPShell._build_cmd), and against QEMU itself.

Over a deterministic corpus: where qmp-shell builds a message, colotui builds
the very same bytes, or refuses for one of a few stated reasons, each checked
on qmp-shell's message (it dropped a quote, sent a malformed {…} as text, sent
what JSON cannot carry, or named no command). With the VM's schema colotui
also refuses what QEMU would refuse and re-reads a value qmp-shell typed wrong;
a real QEMU then judges both: everything colotui sends passes QEMU's argument
checks, and qmp-shell's message for everything colotui refused fails them.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from qemu.qmp.qmp_shell import QMPShell, QMPShellError

from colotui.lab import QemuInstall, process
from colotui.qmp import CommandError, Ok, Session, UnixAddress
from colotui.qmp.schema import Schema
from colotui.repl.parser import Incomplete, ParseError, Request, is_command_name, parse
from colotui.repl.safety import changes_state
from colotui.repl.typecheck import check_arguments, check_value, type_at
from colotui.repl.values import MAX_DEPTH

from ..conftest import PlainVM, temp_root
from ..support.repl_corpus import argument_lines, corpus, installed_schema, transactions

CORPUS_SIZE = 12_000
SYNTAX_REASONS = {"quote", "value", "not-json", "depth", "name"}
SCHEMA_REASONS = {"command", "argument", "missing", "type"}
#: QEMU's own words when a command's arguments do not fit its schema.
ARGUMENT_ERROR = re.compile(r"Parameter '[^']*' (is missing|is unexpected|does not accept value|expects )"
                            r"|Invalid parameter type for '[^']*', expected: ")


@pytest.fixture(scope="module")
def schema(qemu: QemuInstall) -> Schema:
    return installed_schema(qemu)


class Unconnected(QMPShell):
    """qmp-shell's parser without its connection (nothing to close when it goes)."""

    def __del__(self) -> None:
        pass


class DottedKeysFixed(Unconnected):
    """qmp-shell with one bug fixed: after a dotted key, ``_cli_expr`` keeps the nested object as the
    parent of every later argument (``a.b=1 c=2`` gives ``{"a": {"b": 1, "c": 2}}``). colotui nests
    as the documentation says; everything else is qmp-shell's own code."""

    def _cli_expr(self, tokens: Any, parent: Any) -> None:
        for token in tokens:
            super()._cli_expr([token], parent)


def qmp_shell(lines: list[str], shell_class: type[Unconnected] = DottedKeysFixed) -> tuple[str, Any]:
    """What qmp-shell makes of these lines typed in turn: ("message", msg), ("none", None) or ("refused", error).

    A second message, or one before the last line, is "several": qmp-shell would send each as it comes.
    """
    shell = object.__new__(shell_class)  # the parser needs no connection
    shell._transmode, shell._actions = False, []
    messages = []
    try:
        for line in lines:
            with warnings.catch_warnings():  # its ast.parse warns about escapes in literals
                warnings.simplefilter("ignore")
                messages.append(shell._build_cmd(line))
    except QMPShellError as exc:
        return "refused", exc
    except Exception as exc:  # qmp-shell itself would crash (RecursionError, TypeError from {[1]: 2}, …)
        return "refused", exc
    sent = [m for m in messages if m is not None]
    if not sent:
        return "none", None
    if len(sent) > 1 or messages[-1] is None:
        return "several", sent
    return "message", sent[0]


def wire(message: Any) -> str:
    """The message as qemu.qmp puts it on the wire (what "the same message" means here)."""
    return json.dumps(message, separators=(",", ":"))


def strict_json(value: Any) -> bool:
    """Whether ``value`` is JSON as QEMU reads it: finite numbers, string keys, nothing else."""
    def keys_ok(v: Any) -> bool:
        if isinstance(v, dict):
            return all(isinstance(k, str) and keys_ok(x) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return all(keys_ok(x) for x in v)
        return True
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return keys_ok(value)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max(map(depth, value), default=0)
    return 0


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def names(message: dict[str, Any]) -> list[Any]:
    """The command name, and a transaction's action types."""
    found = [message.get("execute")]
    if message.get("execute") == "transaction":
        found += [a.get("type") for a in message.get("arguments", {}).get("actions", []) if isinstance(a, dict)]
    return found


def reason_holds(error: ParseError, text: str, message: dict[str, Any]) -> bool:
    """Whether qmp-shell's ``message`` bears out why colotui refused ``text``."""
    if error.kind == "quote":
        return '"' in text or "'" in text
    if error.kind == "value":  # qmp-shell sent a value after { or [ as plain text
        return any(isinstance(v, str) and v.startswith(("{", "[")) for v in leaves(message.get("arguments")))
    if error.kind == "not-json":
        return not strict_json(message)
    if error.kind == "depth":
        return depth(message) > MAX_DEPTH
    if error.kind == "name":
        return not all(isinstance(n, str) and is_command_name(n) for n in names(message))
    return False


def differing_paths(a: Any, b: Any, path: tuple = ()) -> list[tuple]:
    """Paths of the leaves where ``a`` and ``b`` differ; asserts they have the same shape."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), f"members differ at {path}: {list(a)} vs {list(b)}"
        return [p for k in a for p in differing_paths(a[k], b[k], (*path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in differing_paths(x, y, (*path, i))]
    return [] if wire(a) == wire(b) else [path]


def test_colotui_builds_what_qmp_shell_builds_or_says_why_not() -> None:
    tally: Counter[str] = Counter()
    inputs = [[line] for line in corpus(seed=1, size=CORPUS_SIZE)] + transactions(seed=2, size=600)
    for lines in inputs:
        text = "\n".join(lines)
        ours = parse(text)
        kind, theirs = qmp_shell(lines)
        if text.lstrip()[:1] in (":", "!", "{"):  # colotui's own forms: qmp-shell has no such thing
            tally["colotui's own form"] += 1
        elif kind == "message":
            if isinstance(ours, Request):
                assert wire(ours.message()) == wire(theirs), f"{text!r}: colotui {ours.message()} vs {theirs}"
                tally["same message"] += 1
                if qmp_shell(lines, Unconnected) != (kind, theirs):
                    tally["same, but for qmp-shell's dotted-key bug"] += 1
            else:
                assert isinstance(ours, ParseError), f"{text!r}: {ours}"
                assert ours.kind in SYNTAX_REASONS and reason_holds(ours, text, theirs), \
                    f"{text!r}: colotui refused ({ours.kind}: {ours}) what qmp-shell sends as {theirs}"
                tally[f"refused: {ours.kind}"] += 1
        elif kind == "none":  # nothing typed, a quote qmp-shell dropped, or a transaction( still open
            if isinstance(ours, ParseError):  # colotui judges the actions as they come
                assert ours.kind == "quote" or (text.lstrip().startswith("transaction(")
                                                and ours.kind in SYNTAX_REASONS), f"{text!r}: {ours}"
            else:
                assert ours is None or isinstance(ours, Incomplete), f"{text!r}: {ours}"
            tally["nothing to send"] += 1
        else:  # qmp-shell refuses or would send several messages: colotui refuses
            assert isinstance(ours, ParseError), f"{text!r}: qmp-shell {kind} ({theirs}), colotui {ours}"
            tally[f"both refuse ({kind})"] += 1
    print(dict(tally))
    assert tally["same message"] > 0.25 * len(inputs), tally  # the corpus exercises real messages
    assert all(tally[f"refused: {k}"] for k in ("quote", "value", "not-json", "name")), tally


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
