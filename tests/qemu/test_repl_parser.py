"""The command language: shorthand, raw JSON, HMP and colotui's own commands; errors with their place."""

from __future__ import annotations

import pytest

from colotui.lab import QemuInstall
from colotui.qmp.schema import Schema
from colotui.repl.parser import Incomplete, MetaCommand, ParseError, Request, parse

from ..support.repl_corpus import installed_schema


@pytest.fixture(scope="module")
def schema(qemu: QemuInstall) -> Schema:
    return installed_schema(qemu)


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


@pytest.mark.parametrize("text, column, words, kind", [
    ("quer-status", 1, "this QEMU has no command 'quer-status' (did you mean query-status?)", "command"),
    ("migrate urri=x", 9, "migrate has no argument 'urri' (did you mean 'uri'?)", "argument"),
    ("migrate", 8, "migrate needs 'uri' (a string)", "missing"),
    ("migrate uri=x blk=maybe", 19, "'blk' wants true or false, got the string \"maybe\"", "type"),
    ("drive-mirror device=d target=t sync=ful", 37, "(did you mean full?)", "type"),
    ("nbd-server-start addr.type=inet addr.data.hots=h addr.data.port=1", 33,
     "'addr.data' has no member 'hots' (did you mean 'host'?)", "argument"),
    ("migrate-set-capabilities capabilities=[{\"capability\":\"x-colo\",\"state\":1}]", 71,
     "'capabilities[0].state' wants true or false, got the integer 1", "type"),
    ('{"execute": "migrate", "arguments": {"uri": 5}}', 45, "'uri' wants a string, got the integer 5", "type"),
    ('{"execute": "query-status", "id": 1}', 29, "colotui numbers commands itself", "json"),
    ('{"execute": "query-status"', 1, "this { is never closed", "json"),
    ("object-add qom-type=filter-mirorr id=m0", 21, "(did you mean filter-mirror?)", "type"),
    ("object-add qom-type=filter-mirror id=m0 netdev=n outdev=o qeue=tx", 59, "no argument 'qeue'", "argument"),
])
def test_schema_errors_say_what_and_where(schema: Schema, text: str, column: int, words: str, kind: str) -> None:
    problem = error(text, schema)
    assert words in problem.message and problem.column == column and problem.kind == kind, problem


def test_colo_commands_from_the_procedures(schema: Schema) -> None:
    assert message("nbd-server-start addr.type=inet addr.data.host=127.0.0.2 addr.data.port=9999", schema) == {
        "execute": "nbd-server-start",
        "arguments": {"addr": {"type": "inet", "data": {"host": "127.0.0.2", "port": "9999"}}}}
    assert message('migrate-set-capabilities capabilities=[{"capability":"x-colo","state":true}]', schema)[
        "arguments"] == {"capabilities": [{"capability": "x-colo", "state": True}]}
    assert message("object-add qom-type=filter-mirror id=m0 netdev=hn0 queue=tx outdev=mirror0", schema)[
        "arguments"] == {"qom-type": "filter-mirror", "id": "m0", "netdev": "hn0", "queue": "tx", "outdev": "mirror0"}
    assert message("x-blockdev-change parent=colo-disk0 child=children.1", schema)["arguments"] == {
        "parent": "colo-disk0", "child": "children.1"}
    assert message("migrate-set-parameters x-checkpoint-delay=2000", schema)["arguments"] == {
        "x-checkpoint-delay": 2000}
    assert message("device_add driver=e1000 id=n1 netdev=hn0", schema)["arguments"]["netdev"] == "hn0"


def test_the_schema_rereads_what_qmp_shell_types_wrong_and_says_so(schema: Schema) -> None:
    port = parse("nbd-server-start addr.type=inet addr.data.host=h addr.data.port=9999", schema)
    assert isinstance(port, Request) and port.arguments["addr"]["data"]["port"] == "9999"
    assert port.notes == ('addr.data.port is sent as "9999", the type this QEMU wants',)
    mode = parse('drive-mirror device=d target=t sync=full mode="existing"', schema)
    assert isinstance(mode, Request) and mode.arguments["mode"] == "existing"
    quoted = parse('qom-get path="/machine" property=type', schema)
    assert isinstance(quoted, Request) and quoted.arguments["path"] == '"/machine"'
    assert "path is sent with its quotes" in quoted.notes[0]
    deprecated = parse("nbd-server-add device=parent0 writable=true", schema)
    assert isinstance(deprecated, Request) and "nbd-server-add is deprecated" in deprecated.notes


def test_text_after_a_bracket_passes_only_where_the_schema_wants_text(schema: Schema) -> None:
    # qmp-shell sends "[::1]" as it is; so does colotui for a string argument
    assert message("qom-get path=[::1] property=type", schema)["arguments"]["path"] == "[::1]"
    assert error("qom-get path=[::1] property=type").kind == "value"  # no schema: a typo is likelier
    assert error("qom-set path=/ property=p value=[1,", schema).kind == "value"  # 'any' wants JSON


def test_transactions_in_qmp_shell_form(schema: Schema) -> None:
    one = message("transaction( block-dirty-bitmap-add node=d0 name=b0 )", schema)
    assert one == {"execute": "transaction", "arguments": {"actions": [
        {"type": "block-dirty-bitmap-add", "data": {"node": "d0", "name": "b0"}}]}}
    many = message("transaction(\nblock-dirty-bitmap-add node=d0 name=b0\nabort\n)", schema)
    assert [a["type"] for a in many["arguments"]["actions"]] == ["block-dirty-bitmap-add", "abort"]
    assert isinstance(parse("transaction(\nabort"), Incomplete)
    assert error("transaction(\nabort\ntransaction(").kind == "transaction"
    assert error(") x").kind == "name"
    wrong = error("transaction(\nblock-dirty-bitmap-add node=d0 nmae=b0\n)", schema)
    assert (wrong.line, wrong.column, wrong.kind) == (2, 32, "argument")


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
