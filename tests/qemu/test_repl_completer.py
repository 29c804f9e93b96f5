"""Completion and the signature hint from the installed QEMU's schema."""

from __future__ import annotations

import pytest

from colotui.lab import QemuInstall
from colotui.qmp.schema import Schema
from colotui.repl.completer import Completion, complete, hint

from ..support.repl_corpus import installed_schema


@pytest.fixture(scope="module")
def schema(qemu: QemuInstall) -> Schema:
    return installed_schema(qemu)


def offered(text: str, schema: Schema | None, **kwargs: object) -> dict[str, Completion]:
    return {c.display: c for c in complete(text, len(text), schema, **kwargs)}  # type: ignore[arg-type]


def applied(text: str, c: Completion) -> str:
    return text[:c.start] + c.text


def test_command_names_with_their_status(schema: Schema) -> None:
    names = offered("query-st", schema)
    assert set(names) == {"query-stats", "query-stats-schemas", "query-status"}
    assert applied("query-st", names["query-status"]) == "query-status"
    colo = offered("x-colo", schema)["x-colo-lost-heartbeat"]
    assert colo.unstable and colo.meta == "unstable"
    old = offered("nbd-server-a", schema)["nbd-server-add"]
    assert old.deprecated and "deprecated" in old.meta
    assert offered("query-st", None) == {}


def test_arguments_show_type_and_optional_and_skip_those_given(schema: Schema) -> None:
    args = offered("migrate ", schema)
    assert next(iter(args)) == "uri" and args["uri"].meta == "str"  # required first
    assert args["blk"].meta == "bool, optional" and args["blk"].text == "blk="
    assert "uri" not in offered("migrate uri=x ", schema)
    delay = offered("migrate-set-parameters x-check", schema)["x-checkpoint-delay"]
    assert delay.unstable and delay.meta == "int, optional, unstable"
    assert offered("migrate-set-parameters bl", schema)["block-incremental"].meta.startswith("bool")


def test_nested_arguments_follow_dots_and_union_variants(schema: Schema) -> None:
    text = "nbd-server-start "
    assert offered(text, schema)["addr"].text == "addr."  # an object: its members come next
    assert applied(text + "addr.", offered(text + "addr.", schema)["type"]) == text + "addr.type="
    inet = "nbd-server-start addr.type=inet addr.data."
    members = offered(inet, schema)
    assert {"host", "port", "ipv4", "to"} <= set(members) and members["host"].meta == "str"
    assert applied(inet, members["port"]) == inet + "port="
    unix = offered("nbd-server-start addr.type=unix addr.data.", schema)
    assert "path" in unix and "host" not in unix
    mirror = offered("object-add qom-type=filter-mirror id=m0 ", schema)
    assert {"netdev", "outdev", "queue"} <= set(mirror) and "primary_in" not in mirror
    assert "primary_in" in offered("object-add qom-type=colo-compare id=c ", schema)


def test_values_of_enums_and_booleans(schema: Schema) -> None:
    assert {"full", "top", "none", "incremental"} <= set(offered("drive-mirror sync=", schema))
    assert set(offered("drive-mirror mode=ex", schema)) == {"existing"}
    assert set(offered("migrate blk=", schema)) == {"true", "false"}
    remote = offered("object-add qom-type=x-", schema)
    assert remote["x-remote-object"].unstable
    text = "object-add qom-type=filter-m"
    assert applied(text, offered(text, schema)["filter-mirror"]) == "object-add qom-type=filter-mirror"


def test_transaction_actions_and_their_data(schema: Schema) -> None:
    assert "block-dirty-bitmap-add" in offered("transaction( block-dirty", schema)
    assert set(offered("transaction(\nblock-dirty-bitmap-add n", schema)) == {"name", "node"}
    assert "abort" in offered("transaction(\nabort\nab", schema)


def test_colotuis_own_commands(schema: Schema) -> None:
    assert set(offered(":", schema)) == {":target", ":events", ":history", ":help", ":quit"}
    assert set(offered(":target ", schema, targets=("primary", "secondary"))) == {"primary", "secondary", "both"}
    assert set(offered(":target ", schema, targets=("vm",))) == {"vm"}
    assert set(offered(":events -BLOCK_JOB_C", schema)) == {"-BLOCK_JOB_CANCELLED", "-BLOCK_JOB_COMPLETED"}
    assert "migrate" in offered(":help mig", schema)


def test_the_hint_lists_arguments_and_marks_the_current_one(schema: Schema) -> None:
    h = hint("migrate uri=tcp:x ", len("migrate uri=tcp:x "), schema)
    assert h is not None and h.command == "migrate" and h.current is None
    uri = next(a for a in h.arguments if a.name == "uri")
    assert (uri.type, uri.optional, uri.given) == ("str", False, True)
    text = "drive-mirror device=d sync=f"
    h = hint(text, len(text), schema)
    assert h is not None and h.current == "sync"
    text = "nbd-server-start addr.type=inet addr.data.ho"
    h = hint(text, len(text), schema)
    assert h is not None and h.scope == "addr.data" and {a.name for a in h.arguments} >= {"host", "port"}
    h = hint("x-colo-lost-heartbeat", len("x-colo-lost-heartbeat"), schema)
    assert h is not None and h.unstable and h.arguments == ()
    assert hint("no-such-command ", 16, schema) is None
    assert hint('{"execute": "migrate"', 10, schema) is None
    usage = hint(":target b", 9, schema)
    assert usage is not None and usage.usage is not None and "primary|secondary|both" in usage.usage
