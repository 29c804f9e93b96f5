"""The command language: shorthand, raw JSON, HMP and colotui's own commands; errors with their place."""

from __future__ import annotations

import pytest

from colotui.lab import QemuInstall
from colotui.qmp.schema import Schema
from colotui.repl.parser import Incomplete, Request, parse

from ..support.repl_corpus import installed_schema
from ..unit.test_repl_parser import error, message


@pytest.fixture(scope="module")
def schema(qemu: QemuInstall) -> Schema:
    return installed_schema(qemu)


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
