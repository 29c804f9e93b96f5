"""The command language: what an operator types, read into a QMP command or refused with its place.

One language for the shell and the console pane::

    query-status                              qmp-shell's shorthand
    migrate uri=tcp:127.0.0.2:9998            values: integers, true/false, JSON or
    nbd-server-start addr.type=inet …         Python literals after { or [, else text;
                                              dotted keys build nested objects
    transaction( ACTION k=v … )               qmp-shell's transaction form, one or many lines
    {"execute": "query-status"}               raw JSON
    !info network                             HMP through human-monitor-command
    :target both                              colotui's own commands (`meta`)

Where qmp-shell builds a message, this parser builds the same one, or refuses
with a reason: a quote that never closes (qmp-shell drops it), a value after
{ or [ that is not JSON (qmp-shell sends the text), something JSON cannot
carry, or, with the VM's schema, a command or argument QEMU would refuse. The
schema also turns a value qmp-shell reads with the wrong type into the one it
wants (``port=9999`` for a string port is sent as ``"9999"``); that is noted.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..qmp.request import QMPRequest
from ..qmp.schema import Schema
from .meta import META
from .tokens import UnclosedQuote, Word, split_words
from .typecheck import Problem, accepts_text_only, check_arguments, check_value, show_path, type_at
from .values import BadValue, Path, read_json, read_python

_COMMAND_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_RAW_JSON_REFUSALS = {"id": "colotui numbers commands itself",
                      "exec-oob": "out-of-band commands are not supported here"}


@dataclass(frozen=True)
class Request(QMPRequest):
    """A QMP command ready to send, with what the operator should know about how it was read."""

    notes: tuple[str, ...] = ()  # coerced values, deprecations


@dataclass(frozen=True)
class MetaCommand:
    """``:name word …``; ``columns`` are where each word starts (1-based)."""

    name: str
    args: tuple[str, ...] = ()
    columns: tuple[int, ...] = ()


@dataclass(frozen=True)
class ParseError:
    """Why nothing is sent, and where (1-based line and column)."""

    message: str
    column: int
    line: int = 1
    kind: str = "syntax"  # what went wrong, for tests and tools: see `KINDS`

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line > 1 else f"column {self.column}"
        return f"{self.message} ({where})"


#: Every `ParseError.kind`; the first five are syntax, the rest need the VM's schema.
KINDS = ("syntax", "quote", "value", "not-json", "depth", "name", "transaction", "json", "hmp", "meta",
         "command", "argument", "missing", "type")


@dataclass(frozen=True)
class Incomplete:
    """A transaction( is open: more lines are to come."""

    message: str = "the transaction( is still open: end it with ')'"


Parsed = Request | MetaCommand | ParseError | Incomplete | None


def parse(text: str, schema: Schema | None = None) -> Parsed:
    """Read ``text`` (None when blank); with ``schema``, check the command against it."""
    try:
        return _Parser(text, schema).parse()
    except _Refusal as refusal:
        offset = min(max(refusal.offset, 0), len(text))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return ParseError(refusal.message, column, line, refusal.kind)


def is_command_name(word: str) -> bool:
    return _COMMAND_NAME.match(word) is not None


class _Refusal(Exception):
    def __init__(self, message: str, offset: int, kind: str) -> None:
        super().__init__(message)
        self.message, self.offset, self.kind = message, offset, kind


@dataclass
class _Leaf:
    """A value typed as ``key=raw``: qmp-shell's reading of it, and what the schema may make of it."""

    raw: str
    at: int
    structured: bool  # it started with { or [
    malformed: BadValue | None = None  # neither JSON nor a literal: the text itself, if the schema wants text


@dataclass
class _Places:
    """Where each argument's key and value start (offsets into the text), by path below ``arguments``."""

    values: dict[Path, int] = field(default_factory=dict)
    keys: dict[Path, int] = field(default_factory=dict)
    leaves: dict[Path, _Leaf] = field(default_factory=dict)

    def locate(self, problem: Problem, end: int) -> int:
        if problem.kind == "missing" and not problem.path:
            return end
        path = problem.path
        while path:
            table = self.keys if problem.kind == "argument" else self.values
            for spot in (table.get(path), self.values.get(path), self.keys.get(path)):
                if spot is not None:
                    return spot
            path = path[:-1]
        return end


class _Parser:
    def __init__(self, text: str, schema: Schema | None) -> None:
        self.text = text
        self.schema = schema
        self.places = _Places()
        self.end = len(text.rstrip())

    def parse(self) -> Parsed:
        start = len(self.text) - len(self.text.lstrip())
        if start == len(self.text):
            return None
        first = self.text[start]
        if first == ":":
            return self.meta(start)
        if first == "!":
            return self.finish(self.hmp(start), start + 1)
        if first == "{":
            return self.raw_json()
        return self.shorthand()

    # -- the forms ---------------------------------------------------------

    def meta(self, start: int) -> MetaCommand:
        if "\n" in self.text.strip():
            raise _Refusal("a colotui command is one line", self.text.index("\n", start), "meta")
        words = self.words(self.text, 0)
        name = words[0].text[1:]
        spec = META.get(name)
        if spec is None:
            guess = difflib.get_close_matches(name, META, n=1)
            hint = f"; did you mean :{guess[0]}?" if guess else "; :help lists them"
            raise _Refusal(f"unknown colotui command {words[0].text!r}{hint}", start, "meta")
        args = words[1:]
        if spec.max_args is not None and len(args) > spec.max_args:
            raise _Refusal(f"too many words: {spec.usage}", args[spec.max_args].start, "meta")
        return MetaCommand(name, tuple(w.text for w in args), tuple(w.start + 1 for w in args))

    def hmp(self, start: int) -> Request:
        line = self.text[start + 1:].strip()
        if not line:
            raise _Refusal("an HMP command line follows '!', e.g. !info status", start + 1, "hmp")
        if "\n" in line:
            raise _Refusal("an HMP command is one line", self.text.index("\n", start), "hmp")
        return Request("human-monitor-command", {"command-line": line}, hmp=line)

    def raw_json(self) -> Parsed:
        try:
            reading = read_json(self.text)
        except BadValue as exc:
            raise _Refusal(f"not JSON: {exc.message}", exc.offset,
                           "json" if exc.kind == "value" else exc.kind) from None
        message = reading.value
        for key in message:
            if key not in ("execute", "arguments"):
                reason = _RAW_JSON_REFUSALS.get(key, 'a command has only "execute" and "arguments"')
                raise _Refusal(f"unexpected member {key!r}: {reason}", reading.keys[(key,)], "json")
        if "execute" not in message:
            raise _Refusal('a raw JSON command needs "execute": {"execute": "query-status"}',
                           reading.spots[()], "json")
        command, at = message["execute"], reading.spots[("execute",)]
        if not isinstance(command, str):
            raise _Refusal('"execute" names the command, as a string', at, "json")
        arguments = message.get("arguments")
        if "arguments" in message and not isinstance(arguments, dict):
            raise _Refusal('"arguments" is an object', reading.spots[("arguments",)], "json")
        self.places.values = {p[1:]: o for p, o in reading.spots.items() if p[:1] == ("arguments",)}
        self.places.keys = {p[1:]: o for p, o in reading.keys.items() if p[:1] == ("arguments",) and p[1:]}
        self.check_name(command, at + 1)
        return self.finish(Request(command, arguments), at + 1)

    def shorthand(self) -> Parsed:
        command: Word | None = None
        arguments: dict[str, Any] = {}
        actions: list[dict[str, Any]] | None = None  # inside a transaction(
        complete = False
        offset = 0
        for line in self.text.split("\n"):
            words = self.words(line, offset)
            offset += len(line) + 1
            if not words:
                continue
            if complete:
                raise _Refusal("one command at a time: only a transaction( goes on over several lines",
                               words[0].start, "syntax")
            if words[0].text == "transaction(":
                if actions is not None:
                    raise _Refusal("a transaction( is already open", words[0].start, "transaction")
                command, actions, words = words[0], [], words[1:]
                self.places.values[("actions",)] = command.start
                if not words:
                    continue
            if actions is None:
                command = words[0]
                self.check_name(command.text, command.start)
                self.arguments(words[1:], arguments, ())
                complete = True
                continue
            if words[0].text == ")":
                if len(words) > 1:
                    raise _Refusal("nothing may follow the ')' that ends a transaction", words[1].start, "syntax")
                complete = True
                continue
            complete = words[-1].text == ")"
            self.action(words[:-1] if complete else words, actions)
        if command is None:
            return None
        if actions is not None:
            if not complete:
                return Incomplete()
            return self.finish(Request("transaction", {"actions": actions}), command.start)
        return self.finish(Request(command.text, arguments), command.start)

    def action(self, words: list[Word], actions: list[dict[str, Any]]) -> None:
        name, index = words[0], len(actions)
        self.check_name(name.text, name.start)
        data: dict[str, Any] = {}
        for path in (("actions", index), ("actions", index, "type"), ("actions", index, "data")):
            self.places.values[path] = self.places.keys[path] = name.start
        self.arguments(words[1:], data, ("actions", index, "data"))
        actions.append({"type": name.text, "data": data})

    # -- pieces ------------------------------------------------------------

    def words(self, line: str, offset: int) -> list[Word]:
        try:
            return [Word(w.text, w.start + offset) for w in split_words(line)]
        except UnclosedQuote as exc:
            raise _Refusal(f"unbalanced quote: the {exc.quote} is never closed", exc.offset + offset,
                           "quote") from None

    def check_name(self, name: str, at: int) -> None:
        if not is_command_name(name):
            raise _Refusal(f"{name!r} is not a command name", at, "name")

    def arguments(self, words: list[Word], into: dict[str, Any], prefix: Path) -> None:
        """qmp-shell's ``key=value`` pairs, with dotted keys making nested objects."""
        for word in words:
            key, sep, raw = word.text.partition("=")
            if not sep:
                raise _Refusal(f"expected key=value, got {word.text!r}", word.start, "syntax")
            value, leaf = self.value(raw, word.start + len(key) + 1, prefix + tuple(key.split(".")))
            parent, path = into, prefix
            for part in key.split(".")[:-1]:
                path += (part,)
                child = parent.setdefault(part, {})
                if not isinstance(child, dict):
                    raise _Refusal(f"{show_path(path)!r} is given a value and also members", word.start, "syntax")
                self.places.keys.setdefault(path, word.start)
                self.places.values.setdefault(path, word.start)
                parent = child
            last = key.split(".")[-1]
            path += (last,)
            if last in parent:
                what = "a value and also members" if isinstance(parent[last], dict) else "twice"
                raise _Refusal(f"{show_path(path)!r} is given {what}", word.start, "syntax")
            parent[last] = value
            self.places.keys[path] = word.start
            self.places.values[path] = leaf.at
            self.places.leaves[path] = leaf

    def value(self, raw: str, at: int, path: Path) -> tuple[Any, _Leaf]:
        """As qmp-shell reads it: an integer, true/false (any case), JSON or a literal after { or [, or text."""
        try:
            return int(raw), _Leaf(raw, at, False)
        except ValueError:
            pass
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true", _Leaf(raw, at, False)
        if not raw.startswith(("{", "[")):
            return raw, _Leaf(raw, at, False)
        try:
            reading = read_json(raw)
        except BadValue as json_error:
            if json_error.kind != "value":
                raise _Refusal(json_error.message, at + json_error.offset, json_error.kind) from None
            try:
                reading = read_python(raw)
            except BadValue as literal_error:
                if literal_error.kind != "value":
                    raise _Refusal(literal_error.message, at + literal_error.offset, literal_error.kind) from None
                return raw, _Leaf(raw, at, True, json_error)
        for sub, spot in reading.spots.items():
            self.places.values[path + sub] = at + spot
        for sub, spot in reading.keys.items():
            self.places.keys[path + sub] = at + spot
        return reading.value, _Leaf(raw, at, True)

    # -- against the schema ------------------------------------------------

    def finish(self, request: Request, at: int) -> Request:
        """Check ``request`` against the schema (if any); fill in its notes."""
        arguments = request.arguments if request.arguments is not None else {}
        schema = self.schema
        if schema is None:
            self.refuse_malformed(lambda path: False)
            return Request(request.command, request.arguments, request.hmp, notes=tuple(self.quoted_notes(arguments)))
        if not schema.has_command(request.command):
            guess = difflib.get_close_matches(request.command, schema.commands, n=1)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            raise _Refusal(f"this QEMU has no command {request.command!r}{hint}", at, "command")
        arg_type = schema.commands[request.command]["arg-type"]
        self.refuse_malformed(lambda path: accepts_text_only(schema, type_at(schema, arg_type, arguments, path)))
        notes = self.coerce(request.command, arguments)
        notes += self.quoted_notes(arguments) + self.deprecations(request.command, arguments)
        return Request(request.command, request.arguments, request.hmp, notes=tuple(notes))

    def refuse_malformed(self, text_wanted: Callable[[Path], bool]) -> None:
        """A value after { or [ that is neither JSON nor a literal is refused, unless its argument wants text."""
        for path, leaf in self.places.leaves.items():
            if leaf.malformed is not None and not text_wanted(path):
                error = leaf.malformed
                raise _Refusal(f"{show_path(path)!r} is not JSON: {error.message}", leaf.at + error.offset, "value")

    def coerce(self, command: str, arguments: dict[str, Any]) -> list[str]:
        """Fix values qmp-shell reads with a type QEMU would refuse, when the text reads right another way."""
        assert self.schema is not None
        notes: list[str] = []
        fixed: set[Path] = set()
        while (problem := check_arguments(self.schema, command, arguments)) is not None:
            leaf = self.places.leaves.get(problem.path)
            value = _UNREADABLE
            if problem.kind == "type" and leaf is not None and problem.path not in fixed:
                value = self.reread(leaf, problem.wanted)
            if value is _UNREADABLE:
                raise _Refusal(problem.message, self.places.locate(problem, self.end), problem.kind)
            _put(arguments, problem.path, value)
            fixed.add(problem.path)
            notes.append(f"{show_path(problem.path)} is sent as {json.dumps(value)}, the type this QEMU wants")
        return notes

    def reread(self, leaf: _Leaf, wanted: str | None) -> Any:
        if leaf.structured or wanted is None:
            return _UNREADABLE
        readings: list[Any] = [leaf.raw]
        try:
            as_json = read_json(leaf.raw).value
            if not isinstance(as_json, (dict, list)):
                readings.append(as_json)
        except BadValue:
            pass
        assert self.schema is not None
        for reading in readings:
            if check_value(self.schema, reading, wanted) is None:
                return reading
        return _UNREADABLE

    def quoted_notes(self, arguments: dict[str, Any]) -> list[str]:
        notes = []
        for path, leaf in self.places.leaves.items():
            if leaf.raw[:1] in ("'", '"') and _get(arguments, path) == leaf.raw:
                notes.append(f"{show_path(path)} is sent with its quotes, {json.dumps(leaf.raw)}, as qmp-shell "
                             "sends it")
        return notes

    def deprecations(self, command: str, arguments: dict[str, Any]) -> list[str]:
        assert self.schema is not None
        notes = [f"{command} is deprecated"] if "deprecated" in self.schema.features(command) else []
        arg_type = self.schema.commands[command]["arg-type"]
        for path in self.places.keys:
            parent = type_at(self.schema, arg_type, arguments, path[:-1])
            container = _get(arguments, path[:-1])
            member = self.schema.members(parent, container if isinstance(container, dict) else None).get(
                str(path[-1])) if parent else None
            if member is not None and "deprecated" in member.features:
                notes.append(f"{show_path(path)} is deprecated")
        return notes


_UNREADABLE = object()


def _get(value: Any, path: Path) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _put(value: Any, path: Path, new: Any) -> None:
    _get(value, path[:-1])[path[-1]] = new
