"""The operator's settings: ``~/.config/colotui/config.toml``.

Named connection profiles (a lab, or two QMP addresses and a topology), the
keymap, the theme, how often views refresh, command deadlines, which
confirmations to ask and how much of the transcripts to keep. A missing file means the defaults; a wrong one is
reported with its line, and nothing starts on a guess.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import config_dir
from .qmp.series import Limits
from .tomlfile import Locator, load_toml
from .topology import VARIANTS

_TOP = {"keymap": str, "theme": str, "refresh_interval": (int, float), "deadline": (int, float)}
_CONFIRM = {"procedure_steps": bool, "repl_in_colo": bool}
_TABLES = ("confirm", "pacemaker", "profiles", "transcripts")
#: `colotui fleet --pacemaker`: each resource's VMs' addresses, {node} and {resource} filled in.
_PACEMAKER = {"qmp": str, "yank": str}
_TRANSCRIPTS = ("compress", "keep_days", "keep_size", "max_age", "max_size")
_SIZES = {"b": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}
_DURATIONS = {"s": 1, "min": 60, "h": 3600, "d": 86400}
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]+)\s*$")
#: The longest a setting in seconds may be (a deadline, the refresh interval): a day is beyond any use of them.
MAX_SECONDS = 86400.0
_PROFILE = {"lab": str, "primary": str, "secondary": str, "topology": str, "primary_yank": str,
            "secondary_yank": str, "variant": str, "pacemaker": str}


@dataclass(frozen=True)
class Profile:
    name: str
    lab: Path | None = None
    primary: str | None = None
    secondary: str | None = None
    topology: Path | None = None
    primary_yank: str | None = None  # second QMP addresses, for out-of-band commands
    secondary_yank: str | None = None
    variant: str | None = None  # the procedures' variant for this pair (topology.VARIANTS)
    pacemaker: str | None = None  # the Pacemaker resource the pair is ("none": not one, whatever its sockets say)


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    keymap: str = "default"
    theme: str | None = None
    refresh_interval: float = 5.0
    deadline: float = 10.0
    confirm_procedure_steps: bool = True  # ask before each step of a procedure in the console
    confirm_repl_in_colo: bool = True  # REPL: ask before a state-changing command to a VM in COLO
    transcripts: Limits = field(default_factory=Limits)  # when a transcript rotates, and how much of them is kept
    #: where a Pacemaker resource's VM answers on a node ({node}, {resource}); default: colod's socket paths
    pacemaker_qmp: str = "/run/resource-agents/{resource}/qmp.sock"
    pacemaker_yank: str | None = "/run/resource-agents/{resource}/qmp-yank.sock"
    profiles: dict[str, Profile] = field(default_factory=dict)

    def profile(self, name: str) -> Profile:
        from .errors import UserError

        if name not in self.profiles:
            where = self.path or default_path()
            raise UserError(f"no profile {name!r} in {where} (profiles: {', '.join(self.profiles) or 'none'})")
        return self.profiles[name]


def default_path() -> Path:
    return config_dir() / "config.toml"


def _check(where: Locator, table: dict[str, Any], schema: dict[str, Any], section: str | None, index: int = 0,
           label: str = "") -> None:
    for key, value in table.items():
        line = where.key(key, section, index) if section else where.key(key)
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise where.error(f"unknown setting {label}{key!r} (known: {known})", line)
        kind = schema[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = {str: "a string", bool: "true or false", (int, float): "a number"}
            raise where.error(f"{label}{key} must be {names[kind]}", line)
        if kind == (int, float) and not 0 < value <= MAX_SECONDS:  # not NaN, not inf (TOML has both)
            raise where.error(f"{label}{key} must be more than 0 and at most {MAX_SECONDS:g} (seconds)", line)
        if kind is str and "\0" in value:
            raise where.error(f"{label}{key} holds a NUL character", line)


def _line(where: Locator, key: str) -> int | None:
    """A ``[transcripts]`` key's line (or the table's, written inline)."""
    return where.key(key, "transcripts") or where.key("transcripts")


def _amount(where: Locator, key: str, value: Any, units: dict[str, int], what: str) -> float | None:
    """A ``[transcripts]`` limit: a number (bytes, seconds, days), a string with a unit, or false (none)."""
    line = _line(where, key)
    if value is False:
        return None
    amount: float | None = None
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63):
        amount = float(value)
    elif isinstance(value, str) and (match := _AMOUNT.match(value)) and match[2].lower() in units:
        amount = float(match[1]) * units[match[2].lower()]
    if amount is None or not math.isfinite(amount):  # TOML has nan and inf; so has "1e999 MiB"
        raise where.error(f"transcripts.{key} must be {what}, or false for no limit", line)
    if amount <= 0:
        raise where.error(f"transcripts.{key} must be more than 0 (false: no limit)", line)
    return amount


def _transcripts(where: Locator, table: dict[str, Any]) -> Limits:
    for key in table:
        if key not in _TRANSCRIPTS:
            raise where.error(f"unknown setting transcripts.{key!r} (known: {', '.join(_TRANSCRIPTS)})",
                              _line(where, key))
    if not isinstance(table.get("compress", True), bool):
        raise where.error("transcripts.compress must be true or false", _line(where, "compress"))
    size = 'a number of bytes or a string like "16 MiB" (B, KB, KiB, MB, MiB, GB, GiB)'
    kinds = {"max_size": (_SIZES, size), "keep_size": (_SIZES, size), "keep_days": ({}, "a number of days"),
             "max_age": (_DURATIONS, 'a number of seconds or a string like "1 h" (s, min, h, d)')}
    defaults = Limits()
    got = {key: _amount(where, key, table[key], *kinds[key]) if key in table else getattr(defaults, key)
           for key in kinds}
    max_size, keep_size = got["max_size"], got["keep_size"]
    if max_size is not None and keep_size is not None and keep_size < max_size:
        raise where.error(f"transcripts.keep_size ({keep_size:.0f} bytes) is less than max_size ({max_size:.0f} "
                          "bytes): retention would delete each member as it is made",
                          _line(where, "keep_size"))
    return Limits(max_size=None if max_size is None else int(max_size), max_age=got["max_age"],
                  keep_size=None if keep_size is None else int(keep_size), keep_days=got["keep_days"],
                  compress=table.get("compress", defaults.compress))


def _user_path(text: str) -> Path:
    """``~/lab`` is under the home directory (``~nobody-known/x`` stays as written: it names no file)."""
    return Path(os.path.expanduser(text))


def load_config(path: Path | None = None) -> Config:
    """The config at ``path`` (default: the XDG config dir); defaults if the default file is absent."""
    target = path or default_path()
    if path is None and not target.exists():
        return Config()
    data, where = load_toml(target)
    for key, value in data.items():
        if key in _TABLES:
            if not isinstance(value, dict):
                raise where.error(f"{key} must be a table: [{key}]", where.key(key))
        elif key not in _TOP:
            raise where.error(f"unknown setting {key!r} (known: {', '.join(sorted([*_TOP, *_TABLES]))})",
                              where.key(key))
    _check(where, {k: v for k, v in data.items() if k in _TOP}, _TOP, None)
    if "theme" in data:
        from textual.theme import BUILTIN_THEMES

        if data["theme"] not in BUILTIN_THEMES:
            raise where.error(f"unknown theme {data['theme']!r} (themes: {', '.join(sorted(BUILTIN_THEMES))})",
                              where.key("theme"))
    _check(where, data.get("confirm", {}), _CONFIRM, "confirm", label="confirm.")
    profiles = {}
    for name, table in data.get("profiles", {}).items():
        section = f"profiles.{name}"
        line = where.header(section) or where.header(f'profiles."{name}"')
        if not isinstance(table, dict):
            raise where.error(f"profile {name!r} must be a table: [profiles.{name}]", line)
        _check(where, table, _PROFILE, section, label=f"profiles.{name}.")
        if "lab" in table and ("primary" in table or "secondary" in table):
            raise where.error(f"profile {name!r}: give lab, or primary and secondary, not both", line)
        if "variant" in table and table["variant"] not in VARIANTS:
            raise where.error(f"profile {name!r}: variant is one of {', '.join(VARIANTS)}",
                              where.key("variant", section) or line)
        if "lab" not in table and not ("primary" in table and "secondary" in table):
            raise where.error(f"profile {name!r} needs lab = DIR, or primary = and secondary = addresses", line)
        profiles[name] = Profile(name, _user_path(table["lab"]) if "lab" in table else None,
                                 table.get("primary"), table.get("secondary"),
                                 _user_path(table["topology"]) if "topology" in table else None,
                                 table.get("primary_yank"), table.get("secondary_yank"), table.get("variant"),
                                 table.get("pacemaker"))
    confirm = data.get("confirm", {})
    return Config(path=target, keymap=data.get("keymap", "default"), theme=data.get("theme"),
                  refresh_interval=float(data.get("refresh_interval", 5.0)), deadline=float(data.get("deadline", 10.0)),
                  confirm_procedure_steps=confirm.get("procedure_steps", True),
                  confirm_repl_in_colo=confirm.get("repl_in_colo", True), profiles=profiles,
                  transcripts=_transcripts(where, data.get("transcripts", {})),
                  **_pacemaker(where, data.get("pacemaker", {})))


def _pacemaker(where: Locator, table: dict[str, Any]) -> dict[str, Any]:
    _check(where, table, _PACEMAKER, "pacemaker", label="pacemaker.")
    for key, value in table.items():
        try:
            value.format(node="n", resource="r")
        except (KeyError, IndexError, ValueError):
            raise where.error(f"pacemaker.{key}: only {{node}} and {{resource}} may stand in braces",
                              where.key(key, "pacemaker")) from None
    if table.get("qmp") == "":
        raise where.error("pacemaker.qmp must not be empty", where.key("qmp", "pacemaker"))
    return {f"pacemaker_{key}": value or None for key, value in table.items()}  # yank = "": none
