"""The command language without a schema: shorthand, raw JSON, HMP and colotui's own commands; errors with
their place. With a real QEMU's schema: tests/qemu/test_repl_parser.py."""

from __future__ import annotations

import pytest

from colotui.qmp.schema import Schema
from colotui.repl.parser import MetaCommand, ParseError, Request, parse


def message(text: str, schema: Schema | None = None) -> dict:
    parsed = parse(text, schema)
    assert isinstance(parsed, Request), parsed
    return parsed.message()


def error(text: str, schema: Schema | None = None) -> ParseError:
    parsed = parse(text, schema)
    assert isinstance(parsed, ParseError), parsed
    return parsed


@pytest.mark.parametrize("text, arguments", [
    ("query-status", {}),
    ("migrate uri=tcp:127.0.0.2:9998", {"uri": "tcp:127.0.0.2:9998"}),
    ("x n=42 m=-1 p=+7 u=1_000", {"n": 42, "m": -1, "p": 7, "u": 1000}),
    ("x a=true b=FALSE c=null d=1.5 e=", {"a": True, "b": False, "c": "null", "d": "1.5", "e": ""}),
    ('x l=[1,"a",true,null] o={"k":{"n":[]}}', {"l": [1, "a", True, None], "o": {"k": {"n": []}}}),
    ("x p={'a':True,'b':None,'c':(1,2)} q=[true,null]", {"p": {"a": True, "b": None, "c": [1, 2]},
                                                         "q": [True, None]}),
    ("x addr.type=inet addr.data.host=h addr.data.port=9", {"addr": {"type": "inet", "data": {"host": "h",
                                                                                              "port": 9}}}),
    ('x s="a b" t=\'c\'', {"s": '"a b"', "t": "'c'"}),  # qmp-shell keeps the quotes
    ("  x\ta=1  ", {"a": 1}),
])
def test_shorthand_builds_qmp_shell_messages(text: str, arguments: dict) -> None:
    assert message(text) == {"execute": text.split()[0], "arguments": arguments}


@pytest.mark.parametrize("text, column, words", [
    ("migrate uri", 9, "expected key=value"),
    ("x a=1 a=2", 7, "'a' is given twice"),
    ("x a=1 a.b=2", 7, "'a' is given a value and also members"),
    ("x a.b=1 a=2", 9, "'a' is given a value and also members"),
    ('migrate uri="tcp:1', 13, "unbalanced quote"),
    ("qom-set path=/ property=p value=[1,2", 33, "'value' is not JSON: this [ is never closed"),
    ('x v={"a":1,"b"}', 15, "expected ':'"),
    ("x v=[NaN]", 6, "NaN is not a number JSON can carry"),
    ("x v={1,2}", 5, "a set is not JSON"),
    ("x v={1:2}", 6, "member names must be strings"),
    ("x v=" + "[" * 101 + "]" * 101, 105, "nested more than 100 levels deep"),
    ("x=1 y=2", 1, "'x=1' is not a command name"),
    ("migrate uri=x\nquery-status", 1, "one command at a time"),
])
def test_syntax_errors_say_what_and_where(text: str, column: int, words: str) -> None:
    problem = error(text)
    assert words in problem.message and problem.column == column, problem
    assert f"column {column}" in str(problem)


def test_hmp_and_colotuis_own_commands() -> None:
    hmp = parse("!info network")
    assert isinstance(hmp, Request) and hmp.hmp == "info network"
    assert hmp.message() == {"execute": "human-monitor-command", "arguments": {"command-line": "info network"}}
    assert error("!").kind == "hmp"
    assert parse(":target both") == MetaCommand("target", ("both",), (9,))
    assert parse(":events -STOP +RESUME") == MetaCommand("events", ("-STOP", "+RESUME"), (9, 15))
    assert "did you mean :target?" in error(":tagret x").message
    assert error(":quit now").column == 7
    assert parse("") is None and parse("  \n ") is None
