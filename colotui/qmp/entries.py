"""A transcript's line read back, and what an entry must be for a reader to take it.

A transcript can be damaged (a disk error, a crash mid-line, a hand edit) or
made to harm whoever reads it (a line 100,000 brackets deep, ``"t": NaN``, bytes
that are not UTF-8). Each line is judged alone: one that is not a strict JSON
object with a time, a VM and a direction is left out with the reason, and the
rest is read.
"""

from __future__ import annotations

import json
from typing import Any

from ..files import loads

#: The longest line read back: a QMP message is at most 10 MiB (qemu.qmp's read buffer), a note far less.
MAX_LINE = 64 * 2**20
#: The latest time an entry may have (the end of the year 9999, as far as the clock functions go).
MAX_TIME = 253402300799.0


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """An entry from one line's bytes, or None and why not (``is not UTF-8``, ``is not JSON (…)``…)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "is not UTF-8"
    try:
        value = loads(text)
    except json.JSONDecodeError as exc:
        return None, f"is not JSON ({exc.msg})"
    except ValueError as exc:
        return None, f"is refused: {exc}"
    why = problem(value)
    return (None, why) if why else (value, "")


def problem(entry: Any) -> str | None:
    """Why ``entry`` is not a transcript entry (None: it is one): it needs a time, a VM and a direction, and a
    message of the shape its direction has on QMP's wire (what a replay, a runbook and an export rely on)."""
    if not isinstance(entry, dict):
        return "is not a transcript entry (a JSON object)"
    t = entry.get("t")
    if not _number(t, 0):
        return "has no time a transcript can hold (t: seconds since 1970)"
    direction, msg = entry.get("dir"), entry.get("msg")
    if not isinstance(entry.get("vm"), str) or not isinstance(direction, str):
        return "names no VM or direction (vm, dir: strings)"
    if not _shaped(direction, msg):
        return f"holds a {direction} message that is not of QMP's shape"
    return None


def _shaped(direction: str, msg: Any) -> bool:
    if direction in ("link", "garbage"):
        return isinstance(msg, str)
    if direction == "pair":
        return isinstance(msg, dict)
    if direction == "send":
        return isinstance(msg, dict) and all(isinstance(msg.get(k, ""), str) for k in ("execute", "exec-oob")) and \
            isinstance(msg.get("arguments") or {}, dict)
    if direction != "recv":
        return True  # a note, or a kind a later colotui writes: readers skip what they do not know
    if not isinstance(msg, dict):
        return False
    if "QMP" in msg:
        greeting = msg["QMP"]
        version = (greeting.get("version") or {}) if isinstance(greeting, dict) else None
        return isinstance(version, dict) and isinstance(version.get("qemu") or {}, dict) and \
            isinstance(greeting.get("capabilities") or [], list)
    if "event" in msg:
        stamp = msg.get("timestamp") or {}
        return isinstance(msg["event"], str) and isinstance(msg.get("data") or {}, dict) and \
            isinstance(stamp, dict) and all(_number(stamp.get(k, 0), -MAX_TIME) for k in ("seconds", "microseconds"))
    return isinstance(msg.get("error") or {}, dict)


def _number(value: Any, low: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= MAX_TIME
