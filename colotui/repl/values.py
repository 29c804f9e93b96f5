"""Values as operators type them: JSON, or the Python-literal spelling qmp-shell also reads.

Both readers say where each part of a value starts, so that a type error deep
inside ``capabilities=[{...}]`` can point at its column. JSON is read by hand
(``json.loads`` keeps no positions) to the rules of Python's json module, which
qmp-shell uses; Python literals (``{'a': True}``, with ``true``/``false``/
``null`` as names) go through `ast`, as in qmp-shell. What cannot travel as
JSON (NaN, sets, bytes, non-string keys) is refused rather than mangled.
"""

from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, cast

#: A place inside a value: object member names and array indexes, outermost first.
Path = tuple[str | int, ...]

#: Deeper nesting is refused: no QMP argument comes close. Reading stops for good at four times that.
MAX_DEPTH = 100

_JSON_SPACE = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NAMES = {"true": True, "false": False, "null": None}


class BadValue(Exception):
    """The text is not a value; ``offset`` is where the trouble is (0-based, in the text read)."""

    def __init__(self, message: str, offset: int, kind: str = "value") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.kind = kind  # "value" (malformed), "not-json" (a value JSON cannot carry) or "depth"


@dataclass
class Reading:
    """A value and where its parts start (offsets into the text read)."""

    value: Any
    spots: dict[Path, int] = field(default_factory=dict)  # each value's first character
    keys: dict[Path, int] = field(default_factory=dict)  # each object member's key


def read_json(text: str) -> Reading:
    """One JSON value, whitespace around it allowed, as ``json.loads`` reads it.

    What ``json.loads`` accepts but JSON cannot carry (NaN, Infinity, 1e999) or
    what is nested too deep is refused only once the whole text has been read:
    a text that is not JSON at all is a different mistake (kind "value").
    """
    reader = _JsonReader(text)
    end = reader.skip_space(0)
    value, end = reader.value(end, (), 0)
    end = reader.skip_space(end)
    if end != len(text):
        raise BadValue(f"unexpected {_char(text, end)} after the end of the value", end)
    if reader.unfit is not None:
        raise reader.unfit
    return Reading(value, reader.spots, reader.keys)


def read_python(text: str) -> Reading:
    """A Python literal, with ``true``, ``false`` and ``null`` read as JSON's; what JSON cannot carry is refused."""
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" and the like: not the operator's business
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
        offset = min(max((getattr(exc, "offset", None) or 1) - 1, 0), len(text))
        raise BadValue("not a Python literal", offset) from None
    reading = Reading(None)
    converter = _PythonConverter(text, reading)
    reading.value = converter.convert(tree.body, (), 0)
    if converter.unfit is not None:  # a literal, but not one JSON can carry
        raise converter.unfit
    return reading


class _Reader:
    """Keeps the first reason a value cannot travel as JSON, to raise once the text is known to be a value."""

    def __init__(self) -> None:
        self.unfit: BadValue | None = None

    def refuse_later(self, message: str, offset: int, kind: str = "not-json") -> None:
        if self.unfit is None:
            self.unfit = BadValue(message, offset, kind)

    def nest(self, at: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.refuse_later(f"nested more than {MAX_DEPTH} levels deep", at, "depth")
        if depth > 4 * MAX_DEPTH:
            raise BadValue(f"nested far more than {MAX_DEPTH} levels deep", at, "depth")


class _JsonReader(_Reader):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.s = text
        self.spots: dict[Path, int] = {}
        self.keys: dict[Path, int] = {}

    def skip_space(self, i: int) -> int:
        while i < len(self.s) and self.s[i] in _JSON_SPACE:
            i += 1
        return i

    def value(self, i: int, path: Path, depth: int) -> tuple[Any, int]:
        s = self.s
        if i >= len(s):
            raise BadValue("a value is missing at the end", i)
        self.spots[path] = i
        c = s[i]
        if c == "{":
            return self.object(i, path, depth + 1)
        if c == "[":
            return self.array(i, path, depth + 1)
        if c == '"':
            return self.string(i)
        if c == "-" or "0" <= c <= "9":
            return self.number(i)
        for word, value in _NAMES.items():
            if s.startswith(word, i):
                return value, i + len(word)
        for word in ("NaN", "Infinity"):
            if s.startswith(word, i):
                self.refuse_later(f"{word} is not a number JSON can carry", i)
                return math.nan, i + len(word)
        raise BadValue(f"expected a value, found {_char(s, i)}", i)

    def object(self, start: int, path: Path, depth: int) -> tuple[dict[str, Any], int]:
        self.nest(start, depth)
        s, result = self.s, dict[str, Any]()
        i = self.skip_space(start + 1)
        if i < len(s) and s[i] == "}":
            return result, i + 1
        while True:
            if i >= len(s):
                raise BadValue("this { is never closed", start)
            if s[i] != '"':
                raise BadValue(f"expected a member name in double quotes, found {_char(s, i)}", i)
            key_at = i
            key, i = self.string(i)
            i = self.skip_space(i)
            if i >= len(s):
                raise BadValue("this { is never closed", start)
            if s[i] != ":":
                raise BadValue(f"expected ':' after the member name, found {_char(s, i)}", i)
            self.keys.setdefault((*path, key), key_at)
            result[key], i = self.value(self.skip_space(i + 1), (*path, key), depth)
            i = self.skip_space(i)
            if i >= len(s):
                raise BadValue("this { is never closed", start)
            if s[i] == "}":
                return result, i + 1
            if s[i] != ",":
                raise BadValue(f"expected ',' or '}}', found {_char(s, i)}", i)
            i = self.skip_space(i + 1)

    def array(self, start: int, path: Path, depth: int) -> tuple[list[Any], int]:
        self.nest(start, depth)
        s, result = self.s, list[Any]()
        i = self.skip_space(start + 1)
        if i < len(s) and s[i] == "]":
            return result, i + 1
        while True:
            if i >= len(s):
                raise BadValue("this [ is never closed", start)
            item, i = self.value(i, (*path, len(result)), depth)
            result.append(item)
            i = self.skip_space(i)
            if i >= len(s):
                raise BadValue("this [ is never closed", start)
            if s[i] == "]":
                return result, i + 1
            if s[i] != ",":
                raise BadValue(f"expected ',' or ']', found {_char(s, i)}", i)
            i = self.skip_space(i + 1)

    def string(self, start: int) -> tuple[str, int]:
        s, parts, i = self.s, list[str](), start + 1
        while True:
            if i >= len(s):
                raise BadValue("this string never ends", start)
            c = s[i]
            if c == '"':
                return "".join(parts), i + 1
            if c < " ":
                raise BadValue(f"a control character (U+{ord(c):04X}) inside a string must be escaped", i)
            if c != "\\":
                parts.append(c)
                i += 1
                continue
            escape = s[i + 1:i + 2]
            if escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                i += 2
            elif escape == "u":
                unit = self.hex4(i)
                i += 6
                if 0xD800 <= unit <= 0xDBFF and s.startswith("\\u", i):
                    low = self.hex4(i)
                    if 0xDC00 <= low <= 0xDFFF:
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                parts.append(chr(unit))
            else:
                raise BadValue(f"\\{escape} is not a JSON escape", i)

    def hex4(self, i: int) -> int:
        digits = self.s[i + 2:i + 6]
        if len(digits) < 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise BadValue("\\u needs four hex digits", i)
        return int(digits, 16)

    def number(self, start: int) -> tuple[int | float, int]:
        s, i = self.s, start
        if s[i] == "-":
            i += 1
            if s.startswith("Infinity", i):
                self.refuse_later("-Infinity is not a number JSON can carry", start)
                return -math.inf, i + len("Infinity")
        digits = _digits(s, i)
        if digits == i:
            raise BadValue(f"expected a digit, found {_char(s, i)}", i)
        i = i + 1 if s[i] == "0" else digits
        exact = True
        if s[i:i + 1] == "." and _digits(s, i + 1) > i + 1:
            i, exact = _digits(s, i + 1), False
        if s[i:i + 1] in ("e", "E"):
            j = i + 2 if s[i + 1:i + 2] in ("+", "-") else i + 1
            if _digits(s, j) > j:
                i, exact = _digits(s, j), False
        text = s[start:i]
        if exact:
            try:
                return int(text), i
            except ValueError:  # beyond Python's digit limit: json.loads fails too
                raise BadValue("a number with too many digits", start) from None
        value = float(text)
        if not math.isfinite(value):
            self.refuse_later(f"{text} is too large for a number", start)
        return value, i


class _PythonConverter(_Reader):
    """Turns a literal's syntax tree into a JSON value, as ``ast.literal_eval`` would evaluate it."""

    def __init__(self, text: str, reading: Reading) -> None:
        super().__init__()
        self.text = text
        self.reading = reading
        self.utf8 = text.encode("utf-8")

    def at(self, node: ast.AST) -> int:
        return len(self.utf8[:getattr(node, "col_offset", 0)].decode("utf-8", errors="ignore"))

    def convert(self, node: ast.expr, path: Path, depth: int) -> Any:
        at = self.at(node)
        self.reading.spots[path] = at
        if isinstance(node, ast.Constant):
            return self.scalar(node.value, at)
        if isinstance(node, ast.Name) and node.id in _NAMES:
            return _NAMES[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)) \
                and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float, complex):
            value = cast(complex, node.operand.value)  # an int, a float or a complex, checked just above
            return self.scalar(-value if isinstance(node.op, ast.USub) else +value, at)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)) and _signed_number(node.left) \
                and isinstance(node.right, ast.Constant) and type(node.right.value) is complex:
            self.refuse_later("a complex number is not JSON", at)
            return None
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            self.nest(at, depth + 1)
            if isinstance(node, ast.Set):
                self.refuse_later("a set is not JSON: use [...]", at)
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.elts)]
        if isinstance(node, ast.Dict):
            self.nest(at, depth + 1)
            return self.mapping(node, path, depth)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "set" \
                and not node.args and not node.keywords:
            self.refuse_later("a set is not JSON: use [...]", at)
            return []
        raise BadValue(f"{self.text[at:at + 20]!r} is not a literal value", at)

    def scalar(self, value: object, at: int) -> Any:
        if value is None or isinstance(value, (str, bool, int)):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                self.refuse_later("an infinite number is not JSON", at)
            return value
        kind = {complex: "a complex number", bytes: "a bytes literal"}.get(type(value), repr(value))
        self.refuse_later(f"{kind} is not JSON", at)
        return None

    def mapping(self, node: ast.Dict, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                raise BadValue("** is not a literal value", self.at(value_node))
            if isinstance(key_node, ast.Constant) and isinstance(key_node.value, str):
                key = key_node.value
            else:  # a literal still (or qmp-shell sends the text), but not a JSON member name
                _PythonConverter(self.text, Reading(None)).convert(key_node, (), depth + 1)
                self.refuse_later("object member names must be strings", self.at(key_node))
                key = f"<{len(result)}>"
            self.reading.keys.setdefault((*path, key), self.at(key_node))
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        return result


def _signed_number(node: ast.expr) -> bool:
    """``1``, ``-2.5``: what ``ast.literal_eval`` accepts left of the ``+`` in a complex literal."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _digits(s: str, i: int) -> int:
    """The end of the run of ASCII digits starting at ``i``."""
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
    return i


def _char(s: str, i: int) -> str:
    return "the end" if i >= len(s) else repr(s[i])
