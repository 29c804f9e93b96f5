"""Key bindings as data: files in ``keymaps/`` map binding ids to keys.

Every binding in the console has an id (``app.quit``, ``procedure.skip``…);
a keymap file is a ``[bindings]`` table of ``"id" = "keys"``, where keys are
Textual key names joined by commas (``"ctrl+r,f5"``). ``default.toml`` covers
every action; another keymap (``vim.toml``, or a file of the operator's) only
needs what it changes. A keymap with an error (unknown id, a key that is not a
key, two actions on one key in one place) is rejected with file, line and
reason, and the console starts with the default one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.keys import KEY_NAME_REPLACEMENTS, Keys, _character_to_key

from ..paths import builtin_dir, config_dir
from ..tomlfile import FileError, load_toml

_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_NAMED = ({k.value for k in Keys if "+" not in k.value} | set(KEY_NAME_REPLACEMENTS.values())
          | {_character_to_key(c) for c in string.punctuation} | {"enter", "space", "backspace", "tab", "escape"}
          | {f"f{n}" for n in range(1, 25)})


@dataclass(frozen=True)
class Action:
    """A binding with an id: where it applies, what it does, its built-in keys."""

    id: str
    scope: str  # the widget (or the app) whose bindings it is part of
    description: str
    keys: str


def valid_key(key: str) -> bool:
    """A Textual key name: ``q``, ``enter``, ``ctrl+r``, ``f5``, ``question_mark``…"""
    *modifiers, base = key.strip().split("+")
    if any(m not in _MODIFIERS for m in modifiers) or not base:
        return False
    return (len(base) == 1 and base.isprintable() and not base.isspace()) or base in _NAMED


def actions() -> dict[str, Action]:
    """Every binding with an id, from the console's classes (the single source of what exists)."""
    from .app import ColotuiApp
    from .help import HelpScreen
    from .procedure import ProcedurePanel, ScenarioPicker
    from .repl_pane import ConfirmScreen, ReplPane
    from .vm_tree import VMTree

    found: dict[str, Action] = {}
    for scope, cls in (("app", ColotuiApp), ("procedure", ProcedurePanel), ("picker", ScenarioPicker),
                       ("tree", VMTree), ("help", HelpScreen), ("repl", ReplPane), ("confirm", ConfirmScreen)):
        for binding in cls.BINDINGS:
            if isinstance(binding, Binding) and binding.id:
                found[binding.id] = Action(binding.id, scope, binding.description or binding.action, binding.key)
    return found


def find_keymap(name: str) -> Path:
    """A keymap by name (``vim``: the operator's config dir first, then the built-in ones) or path."""
    if name.endswith(".toml") or "/" in name:
        return Path(name)
    for directory in (config_dir() / "keymaps", builtin_dir("keymaps")):
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
    known = actions()
    for action_id, keys in bindings.items():
        line = where.key(action_id, "bindings")
        if action_id not in known:
            raise where.error(f"unknown action id {action_id!r} (see `colotui keys` for the ids)", line)
        if not isinstance(keys, str) or not keys.strip():
            raise where.error(f"{action_id}: keys must be a string such as \"ctrl+r,f5\"", line)
        for key in keys.split(","):
            if not valid_key(key):
                raise where.error(f"{action_id}: {key.strip()!r} is not a key (try names like q, enter, "
                                  "ctrl+r, f5, question_mark)", line)
    return {k: ",".join(part.strip() for part in v.split(",")) for k, v in bindings.items()}


def effective(*layers: dict[str, str]) -> dict[str, str]:
    """Built-in keys overlaid with each layer in turn."""
    result = {a.id: a.keys for a in actions().values()}
    for layer in layers:
        result |= layer
    return result


def clashes(mapping: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, first id, second id) for two actions on one key in one scope."""
    known = actions()
    seen: dict[tuple[str, str], str] = {}
    found = []
    for action_id, keys in mapping.items():
        for key in keys.split(","):
            slot = (known[action_id].scope, key.strip())
            if slot in seen and seen[slot] != action_id:
                found.append((key.strip(), seen[slot], action_id))
            seen.setdefault(slot, action_id)
    return found


def load_keymap(name: str) -> dict[str, str]:
    """The effective keymap for ``name``: default.toml, then the named file; raises `FileError`."""
    default = read_keymap(builtin_dir("keymaps") / "default.toml")
    path = find_keymap(name)
    layer = read_keymap(path) if path.resolve() != (builtin_dir("keymaps") / "default.toml").resolve() else {}
    mapping = effective(default, layer)
    for key, first, second in clashes(mapping):
        _data, where = load_toml(path)
        culprit = second if second in layer else first
        raise where.error(f"{key!r} is bound to both {first} and {second} in the same place",
                          where.key(culprit, "bindings"))
    return mapping
