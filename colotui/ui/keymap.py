"""Key bindings as data: files in ``keymaps/`` map binding ids to keys.

Every action in the console has an id (``app.quit``, ``procedure.skip``…; the
table is `colotui.ui.actions`); a keymap file is a ``[bindings]`` table of
``"id" = "keys"``, where keys are Textual key names joined by commas
(``"ctrl+r,f5"``). ``default.toml`` gives every action its keys and is the only
place default keys are written; another keymap (``vim.toml``, or a file of the
operator's) only needs what it changes. A keymap with an error (unknown id, a
key that is not a key, two actions on one key in one place) is rejected with
file, line and reason, and the console starts with the default one.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding, BindingType
from textual.keys import KEY_NAME_REPLACEMENTS, Keys, _character_to_key

from ..paths import builtin_dir, config_dir
from ..tomlfile import FileError, load_toml
from .actions import ACTIONS, BY_ID

_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_NAMED = ({k.value for k in Keys if "+" not in k.value} | set(KEY_NAME_REPLACEMENTS.values())
          | {_character_to_key(c) for c in string.punctuation} | {"enter", "space", "backspace", "tab", "escape"}
          | {f"f{n}" for n in range(1, 25)})
#: A keymap's name (a file name in a keymaps directory, not too long for one).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: Key names shown as the character people press.
_SHOWN = {"question_mark": "?", "colon": ":", "slash": "/"}


@dataclass(frozen=True)
class Keymap:
    """The keys in force for every binding id, which keymap they came from, and why the operator's
    own was not used (if it was refused)."""

    name: str
    keys: dict[str, str]
    notice: str | None = None

    def key_for(self, action_id: str) -> str:
        """The first key bound to an action, as shown in hints on screen."""
        return shown(self.keys[action_id].split(",")[0])


def shown(key: str) -> str:
    return _SHOWN.get(key, key)


def valid_key(key: str) -> bool:
    """A Textual key name: ``q``, ``enter``, ``ctrl+r``, ``f5``, ``question_mark``…"""
    *modifiers, base = key.strip().split("+")
    if any(m not in _MODIFIERS for m in modifiers) or not base:
        return False
    return (len(base) == 1 and base.isprintable() and not base.isspace()) or base in _NAMED


def find_keymap(name: str) -> Path:
    """A keymap by name (``vim``: the operator's config dir first, then the built-in ones) or path."""
    if name.endswith(".toml") or "/" in name:
        return Path(name)
    for directory in (config_dir() / "keymaps", builtin_dir("keymaps")) if _NAME.fullmatch(name) else ():
        if (directory / f"{name}.toml").is_file():
            return directory / f"{name}.toml"
    known = sorted({p.stem for d in (config_dir() / "keymaps", builtin_dir("keymaps")) if d.is_dir()
                    for p in d.glob("*.toml")})
    raise FileError(name, None, f"no keymap named {name!r} (known: {', '.join(known)})")


def read_keymap(path: Path) -> dict[str, str]:
    """A keymap file's bindings, checked against the known actions; raises `FileError`."""
    data, where = load_toml(path)
    for key in data:
        if key != "bindings":
            raise where.error(f"unknown table {key!r} (a keymap has one [bindings] table)", where.key(key))
    bindings = data.get("bindings", {})
    if not isinstance(bindings, dict):
        raise where.error("bindings must be a table of \"id\" = \"keys\"", where.key("bindings"))
    for action_id, keys in bindings.items():
        line = where.key(action_id, "bindings")
        if action_id not in BY_ID:
            raise where.error(f"unknown action id {action_id!r} (see `colotui keys` for the ids)", line)
        if not isinstance(keys, str) or not keys.strip():
            raise where.error(f"{action_id}: keys must be a string such as \"ctrl+r,f5\"", line)
        for key in keys.split(","):
            if not valid_key(key):
                raise where.error(f"{action_id}: {key.strip()!r} is not a key (try names like q, enter, "
                                  "ctrl+r, f5, question_mark)", line)
    return {k: ",".join(part.strip() for part in v.split(",")) for k, v in bindings.items()}


@functools.cache
def default_keys() -> dict[str, str]:
    """``keymaps/default.toml``: every action's keys."""
    path = builtin_dir("keymaps") / "default.toml"
    keys = read_keymap(path)
    missing = [a.id for a in ACTIONS if a.id not in keys]
    if missing:
        raise FileError(path, None, f"no keys for {', '.join(missing)}")
    return keys


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope of `ACTIONS`, with their default keys."""
    return [Binding(default_keys()[a.id], a.action, a.description, show=a.show, id=a.id)
            for a in ACTIONS if a.scope == scope]


def clashes(mapping: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, first id, second id) for two actions on one key in one scope."""
    seen: dict[tuple[str, str], str] = {}
    found = []
    for action_id, keys in mapping.items():
        for key in keys.split(","):
            slot = (BY_ID[action_id].scope, key.strip())
            if slot in seen and seen[slot] != action_id:
                found.append((key.strip(), seen[slot], action_id))
            seen.setdefault(slot, action_id)
    return found


def load_keymap(name: str) -> Keymap:
    """The keys in force with keymap ``name``: default.toml, then the named file; raises `FileError`."""
    path = find_keymap(name)
    default = builtin_dir("keymaps") / "default.toml"
    layer = read_keymap(path) if path.resolve() != default.resolve() else {}
    mapping = default_keys() | layer
    for key, first, second in clashes(mapping):
        _, where = load_toml(path)
        culprit = second if second in layer else first
        raise where.error(f"{key!r} is bound to both {first} and {second} in the same place",
                          where.key(culprit, "bindings"))
    return Keymap(name, mapping)


def keymap_or_default(name: str) -> Keymap:
    """Keymap ``name``, or the default one with a notice saying why ``name`` was refused."""
    try:
        return load_keymap(name)
    except FileError as exc:
        return Keymap("default", load_keymap("default").keys, f"keymap not used: {exc}")
