"""colotui's parser against qmp-shell's own (QMPShell._build_cmd), and against QEMU itself.

Over a deterministic corpus: where qmp-shell builds a message, colotui builds
the very same bytes, or refuses for one of a few stated reasons, each checked
on qmp-shell's message (it dropped a quote, sent a malformed {…} as text, sent
what JSON cannot carry, or named no command). With the VM's schema colotui
also refuses what QEMU would refuse and re-reads a value qmp-shell typed wrong;
a real QEMU then judges both: everything colotui sends passes QEMU's argument
checks, and qmp-shell's message for everything colotui refused fails them.

The tests against QEMU (its schema, a real VM as the judge) are in tests/qemu/test_repl_differential.py.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

from qemu.qmp.qmp_shell import QMPShell, QMPShellError

from colotui.repl.parser import Incomplete, ParseError, Request, is_command_name, parse
from colotui.repl.values import MAX_DEPTH

from ..support.repl_corpus import corpus, transactions

CORPUS_SIZE = 12_000
SYNTAX_REASONS = {"quote", "value", "not-json", "depth", "name"}


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
