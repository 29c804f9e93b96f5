"""Arguments checked against the connected QEMU's schema, as QEMU's input visitor checks them.

A mistake caught here comes back with its place and nothing is sent; QEMU
would refuse the same message anyway ("Parameter 'x' is unexpected",
"Invalid parameter type"). Integer ranges are not checked: introspection
reports every integer type as ``int``, so QEMU stays the judge of those.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..qmp.schema import Member, Schema
from .values import Path

#: Commands declared ``'gen': false`` in QAPI: they take properties the schema does not list.
OPEN_COMMANDS = frozenset({"device_add"})

_BUILTIN_WORDS = {"str": "a string", "int": "an integer", "number": "a number", "bool": "true or false",
                  "null": "null", "any": "any value"}


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # "argument" (not in the schema), "missing" or "type"
    path: Path  # where: the member (argument), its parent object (missing), the value (type)
    message: str
    wanted: str | None = None  # the schema type the value should have (kind "type")


def check_arguments(schema: Schema, command: str, arguments: Mapping[str, Any]) -> Problem | None:
    """The first thing QEMU would refuse in ``arguments`` for ``command`` (which must exist)."""
    arg_type = schema.commands[command]["arg-type"]
    return _Checker(schema, command).object(arguments, arg_type, (), command in OPEN_COMMANDS)


def check_value(schema: Schema, value: Any, type_name: str) -> Problem | None:
    """What QEMU would refuse in ``value`` as a ``type_name``."""
    return _Checker(schema, "").value(value, type_name, ())


def type_at(schema: Schema, type_name: str, value: Any, path: Path) -> str | None:
    """The schema type at ``path`` inside a ``type_name`` value (``value`` picks union variants); None if none."""
    for part in path:
        info = schema.type_info(type_name)
        if info.get("meta-type") == "alternate":
            wanted = "object" if isinstance(part, str) else "array"
            type_name = next((m["type"] for m in info["members"]
                              if schema.type_info(m["type"]).get("meta-type") == wanted), "")
            info = schema.type_info(type_name)
        if isinstance(part, int) and info.get("meta-type") == "array":
            type_name = info["element-type"]
            value = value[part] if isinstance(value, list) and 0 <= part < len(value) else None
        elif isinstance(part, str) and info.get("meta-type") == "object":
            member = schema.members(type_name, value if isinstance(value, Mapping) else None).get(part)
            if member is None:
                return None
            type_name = member.type
            value = value.get(part) if isinstance(value, Mapping) else None
        else:
            return None
    return type_name


def accepts_text_only(schema: Schema, type_name: str | None) -> bool:
    """Whether a value of this type can be a string but neither an object nor a list (nor anything)."""
    if type_name is None:
        return False
    kinds = _kinds(schema, type_name)
    return "string" in kinds and not kinds & {"object", "array", "value"}


def describe_type(schema: Schema, type_name: str) -> str:
    """The type in words, for messages: "a string", "one of primary, secondary", "a list of ..."."""
    info = schema.type_info(type_name)
    meta = info.get("meta-type")
    if meta == "enum":
        values = schema.enum_values(type_name)
        return "one of " + ", ".join(values[:8]) + (", …" if len(values) > 8 else "")
    if meta == "array":
        return f"a list of {_plain(describe_type(schema, info['element-type']))}"
    if meta == "object":
        return "an object"
    if meta == "alternate":
        return " or ".join(describe_type(schema, m["type"]) for m in info["members"])
    return _BUILTIN_WORDS.get(type_name, type_name)


def describe_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        text = json.dumps(value)
        return f"the string {text if len(text) <= 40 else text[:37] + '…'}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    return "a list" if isinstance(value, list) else "an object"


def show_path(path: Path) -> str:
    """``addr.data.port``, ``capabilities[0].state``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _plain(words: str) -> str:
    """"a string" → "strings", for "a list of strings"."""
    for article in ("a ", "an "):
        if words.startswith(article) and " or " not in words and "," not in words:
            return words[len(article):] + "s"
    return words


def _kinds(schema: Schema, type_name: str) -> set[str]:
    """The JSON kinds a value of this type may have: string, int, number, boolean, null, array, object, value."""
    info = schema.type_info(type_name)
    meta = info.get("meta-type")
    if meta == "builtin":
        return {info["json-type"]}
    if meta == "enum":
        return {"string"}
    if meta in ("array", "object"):
        return {meta}
    if meta == "alternate":
        return set().union(*(_kinds(schema, m["type"]) for m in info["members"]))
    return {"value"}


def _fits(kind: str, value: Any) -> bool:
    if kind == "value":
        return True
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int):
        return kind in ("int", "number")
    if isinstance(value, float):
        return kind == "number"
    return {str: "string", type(None): "null", list: "array", dict: "object"}.get(type(value)) == kind


class _Checker:
    def __init__(self, schema: Schema, command: str) -> None:
        self.schema = schema
        self.command = command

    def value(self, value: Any, type_name: str, path: Path) -> Problem | None:
        info = self.schema.type_info(type_name)
        meta = info.get("meta-type")
        if meta == "alternate":
            branch = next((m["type"] for m in info["members"]
                           if any(_fits(k, value) for k in _kinds(self.schema, m["type"]))), None)
            if branch is None:
                return self._wrong(value, type_name, path)
            return self.value(value, branch, path)
        if meta in ("builtin", "enum", "array", "object") and not any(
                _fits(k, value) for k in _kinds(self.schema, type_name)):
            return self._wrong(value, type_name, path)
        if meta == "enum" and value not in self.schema.enum_values(type_name):
            return self._wrong(value, type_name, path)
        if meta == "array":
            for i, item in enumerate(value):
                problem = self.value(item, info["element-type"], (*path, i))
                if problem is not None:
                    return problem
        if meta == "object":
            return self.object(value, type_name, path)
        return None  # builtins of the right kind, and types this schema does not describe

    def object(self, value: Mapping[str, Any], type_name: str, path: Path, open_: bool = False) -> Problem | None:
        info = self.schema.type_info(type_name)
        base = self.schema.members(type_name)
        tag = info.get("tag")
        if tag in base:  # the variant decides which other members exist: judge it first
            if tag not in value:
                return self._missing(base[tag], path)
            problem = self.value(value[tag], base[tag].type, (*path, tag))
            if problem is not None:
                return problem
        known = self.schema.members(type_name, value)
        for key, item in value.items():
            member = known.get(key)
            if member is None:
                if open_:
                    continue
                guess = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {guess[0]!r}?)" if guess else ""
                owner = f"{self.command} has no argument" if not path else f"{show_path(path)!r} has no member"
                return Problem("argument", (*path, key), f"{owner} {key!r}{hint}")
            problem = self.value(item, member.type, (*path, key))
            if problem is not None:
                return problem
        for member in known.values():
            if not member.optional and member.name not in value:
                return self._missing(member, path)
        return None

    def _missing(self, member: Member, path: Path) -> Problem:
        owner = self.command if not path else repr(show_path(path))
        return Problem("missing", path, f"{owner} needs {member.name!r} "
                                        f"({describe_type(self.schema, member.type)})")

    def _wrong(self, value: Any, type_name: str, path: Path) -> Problem:
        guess = difflib.get_close_matches(value, self.schema.enum_values(type_name), n=1) \
            if isinstance(value, str) else []
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        return Problem("type", path, f"{show_path(path)!r} wants {describe_type(self.schema, type_name)}, "
                                     f"got {describe_value(value)}{hint}", type_name)
