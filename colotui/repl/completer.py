"""Completion and the live signature hint, from the connected VM's ``query-qmp-schema``.

UI-agnostic: a `Completion` says which part of the input it replaces and what
to show beside it (type, optional, deprecated, unstable); a `Hint` lists the
arguments of the command being typed, marking the one under the cursor. The
shell turns them into prompt-toolkit's; the console pane into its widgets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..qmp.schema import Member, Schema
from .meta import META
from .tokens import Word, split_words
from .typecheck import type_at
from .values import BadValue, read_json, read_python


@dataclass(frozen=True, slots=True)
class Completion:
    """Replace ``input[start:cursor]`` with ``text``."""

    text: str
    start: int
    display: str
    meta: str = ""  # e.g. "str, optional", "enum", "deprecated"
    deprecated: bool = False
    unstable: bool = False


@dataclass(frozen=True, slots=True)
class ArgumentHint:
    name: str
    type: str  # a short label: str, int, bool, enum, object, [str], str | object …
    optional: bool
    deprecated: bool = False
    unstable: bool = False
    given: bool = False  # already typed


@dataclass(frozen=True, slots=True)
class Hint:
    """What the command being typed takes; ``scope`` is the nested object being filled ("" for the arguments)."""

    command: str
    arguments: tuple[ArgumentHint, ...] = ()
    scope: str = ""
    current: str | None = None  # the argument under the cursor
    deprecated: bool = False
    unstable: bool = False
    usage: str | None = None  # for colotui's own :commands, their usage line


@dataclass
class _Context:
    """Where the cursor is in a shorthand command."""

    word: Word  # the word under the cursor, up to the cursor (offsets into the whole input)
    command: str | None = None  # None: the cursor is on the command (or action) name
    object_type: str | None = None  # the schema object whose members are the arguments here
    given: dict[str, Any] | None = None
    action: bool = False  # inside a transaction(: the names are actions


def complete(text: str, cursor: int, schema: Schema | None, *, targets: Sequence[str] = ()) -> list[Completion]:
    """What could replace the word before ``cursor``."""
    stripped = text[:cursor].lstrip()
    if stripped.startswith(":"):
        return _complete_meta(text, cursor, schema, targets)
    if schema is None or stripped.startswith(("!", "{")):
        return []
    ctx = _context(text, cursor, schema)
    if ctx.command is None:
        names = _action_names(schema) if ctx.action else sorted(schema.commands)
        return [_named(name, ctx.word.start, schema, ctx.action) for name in names if name.startswith(ctx.word.text)]
    if ctx.object_type is None or ctx.given is None:
        return []
    key, eq, partial = ctx.word.text.partition("=")
    if eq:
        return _complete_value(schema, ctx, key, partial)
    return _complete_key(schema, ctx)


def hint(text: str, cursor: int, schema: Schema | None) -> Hint | None:
    """The signature of what is being typed, or None (raw JSON, HMP, an unknown command, no schema)."""
    stripped = text[:cursor].lstrip()
    if stripped.startswith(":"):
        spec = META.get(stripped[1:].split(maxsplit=1)[0] if stripped[1:].strip() else "")
        return Hint(f":{spec.name}", usage=f"{spec.usage}   {spec.summary}") if spec else None
    if schema is None or stripped.startswith(("!", "{")):
        return None
    ctx = _context(text, cursor, schema)
    if ctx.command is None:  # on the name: its signature once the name is whole
        name = ctx.word.text
        if name not in (_action_names(schema) if ctx.action else schema.commands):
            return None
        ctx = _Context(Word("", cursor), name, _object_type_of(schema, name, ctx.action), {}, ctx.action)
    command = ctx.command
    if command is None or ctx.object_type is None or ctx.given is None:
        return None
    parts = ctx.word.text.partition("=")[0].split(".")
    obj = _object_at(schema, ctx, tuple(parts[:-1]))
    if obj is None:
        return None
    object_type, given = obj
    available = schema.members(object_type, given)
    features = () if ctx.action else schema.features(command)
    return Hint(command, tuple(_argument_hint(schema, m, m.name in given) for m in _ordered(available.values())),
                ".".join(parts[:-1]), parts[-1] if parts[-1] in available else None,
                "deprecated" in features, "unstable" in features)


# -- context ---------------------------------------------------------------


def _context(text: str, cursor: int, schema: Schema) -> _Context:
    before = text[:cursor]
    line_start = before.rfind("\n") + 1
    line = before[line_start:]
    words = [Word(w.text, w.start + line_start) for w in split_words(line, lenient=True)]
    if words and words[-1].end == cursor:
        word, done = words[-1], words[:-1]
    else:
        word, done = Word("", cursor), words
    first_line = split_words(text.split("\n", 1)[0], lenient=True)
    in_transaction = bool(first_line) and first_line[0].text == "transaction(" and (line_start > 0 or bool(done))
    if in_transaction:
        if line_start == 0:
            done = done[1:]
        if not done:
            return _Context(word, action=True)
        action = done[0].text
        return _Context(word, action, _object_type_of(schema, action, True), _given(done[1:]), action=True)
    if not done:
        return _Context(word)
    command = done[0].text
    return _Context(word, command, _object_type_of(schema, command, False), _given(done[1:]))


def _object_type_of(schema: Schema, name: str, action: bool) -> str | None:
    """The arguments' type of a command, or of a transaction action's ``data``."""
    if not action:
        entry = schema.commands.get(name)
        return entry["arg-type"] if entry else None
    entry = schema.commands.get("transaction")
    if entry is None:
        return None
    union = type_at(schema, entry["arg-type"], {"actions": [{"type": name}]}, ("actions", 0))
    data = schema.members(union, {"type": name}).get("data") if union else None
    return data.type if data else None


def _given(words: Iterable[Word]) -> dict[str, Any]:
    """The arguments typed so far, read leniently: enough to know union variants and what is already there."""
    given: dict[str, Any] = {}
    for word in words:
        key, eq, raw = word.text.partition("=")
        if not eq:
            continue
        parent = given
        parts = key.split(".")
        for part in parts[:-1]:
            child = parent.setdefault(part, {})
            if not isinstance(child, dict):
                break
            parent = child
        else:
            parent.setdefault(parts[-1], _lenient_value(raw))
    return given


def _lenient_value(raw: str) -> Any:
    try:
        return int(raw)
    except ValueError:
        pass
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.startswith(("{", "[")):
        for reader in (read_json, read_python):
            try:
                return reader(raw).value
            except BadValue:
                continue
    return raw


def _action_names(schema: Schema) -> list[str]:
    entry = schema.commands.get("transaction")
    union = type_at(schema, entry["arg-type"], {}, ("actions", 0)) if entry else None
    tag = schema.members(union).get("type") if union else None
    return sorted(schema.enum_values(tag.type)) if tag else []


def _object_at(schema: Schema, ctx: _Context, path: tuple[str, ...]) -> tuple[str, dict[str, Any]] | None:
    """The object type at ``path`` below the arguments, and what was given for it."""
    assert ctx.object_type is not None and ctx.given is not None
    found = type_at(schema, ctx.object_type, ctx.given, path)
    if found is None:
        return None
    given: Any = ctx.given
    for part in path:
        given = given.get(part) if isinstance(given, dict) else None
    info = schema.type_info(found)
    if info.get("meta-type") == "alternate":
        found = next((m["type"] for m in info["members"]
                      if schema.type_info(m["type"]).get("meta-type") == "object"), None)
        if found is None:
            return None
    if schema.type_info(found).get("meta-type") != "object":
        return None
    return found, given if isinstance(given, dict) else {}


# -- completions -----------------------------------------------------------


def _complete_key(schema: Schema, ctx: _Context) -> list[Completion]:
    parts = ctx.word.text.split(".")
    scope, partial = tuple(parts[:-1]), parts[-1]
    obj = _object_at(schema, ctx, scope)
    if obj is None:
        return []
    object_type, given = obj
    result = []
    for member in _ordered(schema.members(object_type, given).values()):
        if not member.name.startswith(partial) or (member.name in given and member.name != partial):
            continue
        nests = _kinds_of(schema, member.type) == {"object"}
        text = ".".join((*scope, member.name)) + ("." if nests else "=")
        hint = _argument_hint(schema, member, False)
        result.append(Completion(text, ctx.word.start, member.name, _meta_text(hint), hint.deprecated, hint.unstable))
    return result


def _complete_value(schema: Schema, ctx: _Context, key: str, partial: str) -> list[Completion]:
    assert ctx.object_type is not None
    found = type_at(schema, ctx.object_type, ctx.given, tuple(key.split(".")))
    if found is None:
        return []
    start = ctx.word.start + len(key) + 1
    return [Completion(value, start, value, meta, "deprecated" in features, "unstable" in features)
            for value, meta, features in _values(schema, found) if value.startswith(partial)]


def _values(schema: Schema, type_name: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Values worth offering for a type: an enum's, true/false; (value, meta text, features)."""
    info = schema.type_info(type_name)
    meta = info.get("meta-type")
    if meta == "alternate":
        return [v for m in info["members"] for v in _values(schema, m["type"])]
    if meta == "enum":
        entries = info.get("members") or [{"name": v} for v in info.get("values", [])]
        return [(e["name"], ", ".join(e.get("features", ())) or "enum", tuple(e.get("features", ())))
                for e in entries]
    if type_name == "bool":
        return [("true", "bool", ()), ("false", "bool", ())]
    return []


def _complete_meta(text: str, cursor: int, schema: Schema | None, targets: Sequence[str]) -> list[Completion]:
    line = text[:cursor]
    words = split_words(line, lenient=True)
    if words and words[-1].end == cursor:
        word, done = words[-1], words[:-1]
    else:
        word, done = Word("", cursor), words
    if not done:
        return [Completion(f":{spec.name}", word.start, f":{spec.name}", spec.summary)
                for spec in META.values() if f":{spec.name}".startswith(word.text)]
    name = done[0].text[1:]
    choices: list[tuple[str, str]] = []
    if name == "target" and not done[1:]:
        choices = [(t, "target") for t in targets] + ([("both", "every VM")] if len(targets) > 1 else [])
    elif name == "events":
        sign = word.text[:1] if word.text[:1] in "+-" else ""
        events = sorted(schema.events) if schema else []
        choices = [(f"{sign}{e}", "event") for e in events]
        if not sign:
            choices = [(w, "filter") for w in ("on", "off", "all", "default")] + choices
    elif name == "help" and not done[1:] and schema is not None:
        choices = [(c, "command") for c in sorted(schema.commands)]
    return [Completion(value, word.start, value, meta) for value, meta in choices
            if value.upper().startswith(word.text.upper())]


# -- presentation ----------------------------------------------------------


def _named(name: str, start: int, schema: Schema, action: bool) -> Completion:
    features = () if action else schema.features(name)
    flags = [f for f in ("deprecated", "unstable") if f in features]
    return Completion(name, start, name, ", ".join(flags) or ("action" if action else ""),
                      "deprecated" in flags, "unstable" in flags)


def _ordered(items: Iterable[Member]) -> list[Member]:
    """Required arguments first, then the optional ones; each group alphabetical."""
    return sorted(items, key=lambda m: (m.optional, m.name))


def _argument_hint(schema: Schema, member: Member, given: bool) -> ArgumentHint:
    return ArgumentHint(member.name, schema.type_label(member.type), member.optional,
                        "deprecated" in member.features, "unstable" in member.features, given)


def _meta_text(hint: ArgumentHint) -> str:
    flags = [hint.type] + (["optional"] if hint.optional else []) \
        + [f for f, on in (("deprecated", hint.deprecated), ("unstable", hint.unstable)) if on]
    return ", ".join(flags)


def _kinds_of(schema: Schema, type_name: str) -> set[str]:
    info = schema.type_info(type_name)
    if info.get("meta-type") == "alternate":
        return {schema.type_info(m["type"]).get("meta-type", "") for m in info["members"]}
    return {info.get("meta-type", "")}
