"""Scenario files (TOML) → `Scenario`, rejecting any mistake with file, line and reason.

Everything is checked before anything is sent: unknown fields, bad JSON in
arguments, unknown targets, placeholders that name no variable, checks of an
unknown kind, a situation (``offered_when``) no alert knows. See
``scenarios/README.md`` for the format.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..files import loads
from ..model.alerts import SITUATIONS
from ..paths import builtin_dir, config_dir
from ..roles import ROLES
from ..tomlfile import MAX_DEPTH, FileError, Locator, load_toml
from ..topology import VARIANTS, Topology
from .live import LIVE
from .model import CHECK_KINDS, ROLE_ALIASES, YANK_KINDS, Check, Command, Scenario, Step, Wait
from .template import placeholders, topology_variables

_STEP_KEYS = {"id", "title", "target", "why", "qmp", "hmp", "yank", "arguments", "otherwise", "confirm", "require",
              "wait", "done", "variant"}
_WAIT_KEYS = {"event", "data", "timeout", "target"}
_CHECK_MODIFIERS = {"target", "present", "status", "state"}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: What ``extends`` may name: a scenario beside the file or a built-in one, never a path.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DEFAULT_WAIT_TIMEOUT = 30.0
#: The longest a step may wait (seconds): a day is beyond any COLO procedure's wait (the disk copy's is 600 s).
MAX_WAIT_TIMEOUT = 86400.0
#: How many scenarios may extend one another in a row.
MAX_EXTENDS = 8
#: More steps than this is no procedure (the longest built-in has a dozen).
MAX_STEPS = 500
#: The most of a wrong offered_when an error shows (a situation's name is a few words).
_SHOWN = 64


@functools.cache
def known_variables() -> frozenset[str]:
    return frozenset(topology_variables(Topology())) | {f"live.{name}" for name in LIVE}


class _StepReader:
    """Validates one ``[[step]]`` table; every error names the closest line."""

    def __init__(self, where: Locator, index: int, raw: dict[str, Any]) -> None:
        self.where, self.index, self.raw = where, index, raw
        self.line = where.header("step", index)

    def at(self, key: str) -> int | None:
        return self.where.key(key, "step", self.index) or self.line

    def fail(self, reason: str, key: str | None = None) -> FileError:
        step = self.raw.get("id") if isinstance(self.raw.get("id"), str) else f"#{self.index + 1}"
        return self.where.error(f"step {step}: {reason}", self.at(key) if key else self.line)

    def role(self, value: Any, key: str) -> str:
        if isinstance(value, str) and (value in ROLES or value in ROLE_ALIASES):
            return str(value)
        raise self.fail(f"unknown target {value!r} (targets: {', '.join((*ROLES, *ROLE_ALIASES))})", key)

    def variables_known(self, value: Any, key: str) -> None:
        known = known_variables()
        for name in placeholders(value):
            if name not in known:
                hint = "live values: " + ", ".join(sorted(LIVE)) if name.startswith("live.") else \
                    "see scenarios/README.md for the variables"
                raise self.fail(f"{{{name}}} is not a variable ({hint})", key)

    def command(self, table: dict[str, Any], key: str) -> Command:
        extra = set(table) - {"qmp", "hmp", "yank", "arguments"}
        if extra:
            raise self.fail(f"unknown field {sorted(extra)[0]!r} in {key}", key)
        if sum(k in table for k in ("qmp", "hmp", "yank")) != 1:
            raise self.fail("says none or several of qmp =, hmp = and yank =; give exactly one", key)
        if "yank" in table:
            if table["yank"] not in YANK_KINDS or "arguments" in table:
                raise self.fail(f"yank = {table['yank']!r}: give yank = \"peer\" (every connection to the other "
                                "side, looked up when the step runs) and no arguments", "yank")
            return Command(yank=table["yank"])
        if "hmp" in table:
            if "arguments" in table:
                raise self.fail("an hmp command takes no arguments table: put them in the command line", key)
            if not isinstance(table["hmp"], str) or not table["hmp"].strip():
                raise self.fail("hmp must be a command line", key)
            self.variables_known(table["hmp"], key)
            return Command(hmp=table["hmp"])
        if not isinstance(table["qmp"], str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", table["qmp"]):
            raise self.fail(f"qmp must be a command name, not {table['qmp']!r}", key)
        arguments = table.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = loads(arguments, MAX_DEPTH)
            except ValueError as exc:
                raise self.fail(f"arguments are not valid JSON: {exc}", "arguments" if key == "qmp" else key) from None
        if arguments is not None and not isinstance(arguments, dict):
            raise self.fail("arguments must be a table (or a JSON object)", "arguments" if key == "qmp" else key)
        self.variables_known(arguments, "arguments" if key == "qmp" else key)
        return Command(qmp=table["qmp"], arguments=arguments)

    def check(self, table: Any, key: str, default_target: str) -> Check:
        if not isinstance(table, dict):
            raise self.fail(f"each {key} entry must be a table such as {{ colo_mode = \"primary\" }}", key)
        kinds = [k for k in table if k in CHECK_KINDS]
        unknown = set(table) - set(CHECK_KINDS) - _CHECK_MODIFIERS - (_WAIT_KEYS if key == "wait" else set())
        if unknown:
            raise self.fail(f"unknown field {sorted(unknown)[0]!r} in {key} (conditions: "
                            f"{', '.join(CHECK_KINDS)})", key)
        if len(kinds) != 1:
            raise self.fail(f"a {key} entry names exactly one condition; found {kinds or 'none'} "
                            f"(conditions: {', '.join(CHECK_KINDS)})", key)
        kind = kinds[0]
        expected = table[kind]
        if kind == "link" and expected not in ("up", "down"):
            raise self.fail(f"link must be \"up\" or \"down\", not {expected!r}", key)
        if kind == "answers":
            if not isinstance(expected, bool) or set(table) - {"answers", "target", "timeout"}:
                raise self.fail("answers must be true or false (and takes only target =)", key)
            return Check(kind=kind, target=self.role(table.get("target", default_target), key), expected=expected,
                         line=self.at(key))
        if kind == "same_version":
            if expected is not True or set(table) - {"same_version", "target"}:
                raise self.fail("same_version must be true (and takes only target =)", key)
            return Check(kind=kind, target=self.role(table.get("target", default_target), key), expected=True,
                         line=self.at(key))
        if kind == "same_size" and not (isinstance(expected, list) and len(expected) == 2):
            raise self.fail("same_size takes two drives: [this VM's, the other VM's]", key)
        if not isinstance(expected, (str, list)) or (isinstance(expected, list) and
                                                     not all(isinstance(v, str) for v in expected)):
            raise self.fail(f"{kind} must be a string (or, for states, a list of strings)", key)
        if ("status" in table and kind != "block_job") or ("state" in table and kind != "capability"):
            raise self.fail("status = goes with block_job, state = with capability", key)
        for flag in ("present", "state"):
            if flag in table and not isinstance(table[flag], bool):
                raise self.fail(f"{flag} must be true or false", key)
        self.variables_known(expected, key)
        return Check(kind=kind, target=self.role(table.get("target", default_target), key), expected=expected,
                     present=table.get("present", True), status=table.get("status"),
                     state=table.get("state", True) if kind == "capability" else None, line=self.at(key))

    def wait(self, table: Any) -> Wait:
        if not isinstance(table, dict):
            raise self.fail("wait must be a table such as { event = \"MIGRATION\", data = { status = \"colo\" } }",
                            "wait")
        target = self.role(table.get("target", self.raw.get("target")), "wait")
        timeout = table.get("timeout", DEFAULT_WAIT_TIMEOUT)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= MAX_WAIT_TIMEOUT:
            raise self.fail(f"wait timeout must be a positive number of seconds, at most {MAX_WAIT_TIMEOUT:g}",
                            "wait")
        if "event" in table:
            extra = set(table) - _WAIT_KEYS
            if extra:
                raise self.fail(f"unknown field {sorted(extra)[0]!r} in wait", "wait")
            if not isinstance(table["event"], str) or not isinstance(table.get("data", {}), dict):
                raise self.fail("wait event must be an event name, and data a table", "wait")
            self.variables_known(table.get("data", {}), "wait")
            return Wait(target=target, timeout=float(timeout), event=table["event"], data=table.get("data", {}),
                        line=self.at("wait"))
        rest = {k: v for k, v in table.items() if k != "timeout"}
        return Wait(target=target, timeout=float(timeout), until=self.check(rest, "wait", target), line=self.at("wait"))

    def step(self, seen: set[str]) -> Step:
        raw = self.raw
        unknown = set(raw) - _STEP_KEYS
        if unknown:
            name = sorted(unknown)[0]
            raise self.fail(f"unknown field {name!r} (fields: {', '.join(sorted(_STEP_KEYS))})", name)
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not _ID.match(step_id):
            raise self.fail("needs an id = \"lower-case-words\"", "id")
        if step_id in seen:
            raise self.fail("an earlier step has the same id", "id")
        target = self.role(raw.get("target"), "target")
        why = raw.get("why")
        if not isinstance(why, str) or not why.strip():
            raise self.fail("needs why = \"…\": what this step does and why, for the operator", "why")
        command = self.command({k: raw[k] for k in ("qmp", "hmp", "yank", "arguments") if k in raw}, "qmp")
        otherwise = None
        if "otherwise" in raw:
            if not isinstance(raw["otherwise"], dict):
                raise self.fail("otherwise must be a table: { qmp = …, arguments = … }", "otherwise")
            otherwise = self.command(raw["otherwise"], "otherwise")
        if not isinstance(raw.get("confirm", True), bool):
            raise self.fail("confirm must be true or false", "confirm")
        require, done = raw.get("require", []), raw.get("done", [])
        for key, value in (("require", require), ("done", done)):
            if not isinstance(value, list):
                raise self.fail(f"{key} must be a list of conditions", key)
        waits = raw.get("wait", [])
        waits = [waits] if isinstance(waits, dict) else waits
        if not isinstance(waits, list):
            raise self.fail("wait must be a table or a list of tables", "wait")
        title = raw.get("title", "")
        if not isinstance(title, str):
            raise self.fail("title must be a string", "title")
        variant = raw.get("variant")
        if variant is not None and (not isinstance(variant, str) or variant not in VARIANTS):
            raise self.fail(f"variant = {variant!r}: give one of {', '.join(VARIANTS)} (or none: every variant)",
                            "variant")
        return Step(id=step_id, number=self.index + 1, target=target, why=" ".join(why.split()), command=command,
                    otherwise=otherwise, title=title, confirm=raw.get("confirm", True),
                    require=tuple(self.check(c, "require", target) for c in require),
                    done=tuple(self.check(c, "done", target) for c in done),
                    waits=tuple(self.wait(w) for w in waits), variant=variant, line=self.line)


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; raises `FileError`."""
    return _load(Path(path), ())


def _load(path: Path, extending: tuple[Path, ...]) -> Scenario:
    """``extending``: the files that extend this one, resolved (a cycle of ``extends`` is an error)."""
    data, where = load_toml(path)
    for key in data:
        if key not in ("title", "description", "step", "extends", "offered_when"):
            raise where.error(f"unknown field {key!r} (a scenario has title, description, extends, offered_when "
                              "and [[step]] tables)", where.key(key))
    for key in ("title", "description", "extends"):
        if not isinstance(data.get(key, ""), str):
            raise where.error(f"{key} must be a string", where.key(key))
    offered_when = _offered_when(path, data, where)
    if "extends" in data:
        return replace(_extend(path, data, where, extending), offered_when=offered_when)
    steps_raw = data.get("step")
    if not isinstance(steps_raw, list) or not steps_raw or not all(isinstance(raw, dict) for raw in steps_raw):
        raise where.error("a scenario needs at least one [[step]] (each a table)", where.key("step"))
    if len(steps_raw) > MAX_STEPS:
        raise where.error(f"{len(steps_raw)} steps: a scenario has at most {MAX_STEPS}",
                          where.header("step", MAX_STEPS))
    seen: set[str] = set()
    steps = []
    for index, raw in enumerate(steps_raw):
        step = _StepReader(where, index, raw).step(seen)
        seen.add(step.id)
        steps.append(step)
    return Scenario(name=Path(path).stem, title=data.get("title", Path(path).stem),
                    description=" ".join(str(data.get("description", "")).split()), path=Path(path),
                    steps=tuple(steps), offered_when=offered_when)


def _offered_when(path: Path, data: dict[str, Any], where: Locator) -> str | None:
    """The situation the file claims (each file its own: one that extends another does not inherit it)."""
    value = data.get("offered_when")
    if value is None:
        return None
    if not isinstance(value, str) or value not in SITUATIONS:
        shown = repr(value) if len(repr(value)) <= _SHOWN else repr(value)[:_SHOWN - 1] + "…"
        raise where.error(f"offered_when = {shown} is no situation an alert offers a procedure for "
                          f"(situations: {', '.join(SITUATIONS)})", where.key("offered_when"))
    if not _NAME.fullmatch(path.stem):  # the console runs an offer by its name
        raise where.error("a procedure an alert offers needs a file name of letters, digits, _ . - "
                          f"(not {path.stem!r})", where.key("offered_when"))
    return value


def _extend(path: Path, data: dict[str, Any], where: Locator, extending: tuple[Path, ...]) -> Scenario:
    """A scenario that reuses another's steps under its own name, title and description."""
    if "step" in data:
        raise where.error("a scenario that extends another has no [[step]] of its own", where.header("step"))
    if not _NAME.fullmatch(data["extends"]):
        raise where.error(f"extends {data['extends']!r}: give a scenario's name (letters, digits, _ . -), not a path",
                          where.key("extends"))
    candidates = [path.with_name(f"{data['extends']}.toml"), builtin_dir("scenarios") / f"{data['extends']}.toml"]
    base_path = next((p for p in candidates if p.is_file() and p.resolve() != path.resolve()), None)
    if base_path is None:
        raise where.error(f"extends {data['extends']!r}, but there is no such scenario beside this file "
                          "or among the built-in ones", where.key("extends"))
    chain = (*extending, path.resolve())
    if base_path.resolve() in chain:
        raise where.error(f"extends {data['extends']!r}, which extends this one again (a cycle)", where.key("extends"))
    if len(chain) > MAX_EXTENDS:
        raise where.error(f"extends {data['extends']!r}: more than {MAX_EXTENDS} scenarios extend one another here",
                          where.key("extends"))
    base = _load(base_path, chain)
    return Scenario(name=path.stem, title=data.get("title", base.title),
                    description=" ".join(str(data.get("description", base.description)).split()), path=path,
                    steps=base.steps)


# -- where scenarios live ------------------------------------------------------------------------


def user_dir() -> Path:
    return config_dir() / "scenarios"


@dataclass(frozen=True)
class Entry:
    """A scenario file found on the search path; ``error`` if it does not load."""

    name: str
    path: Path
    origin: str  # "built-in", "user", or the directory given
    title: str = ""
    error: str | None = None
    offered_when: str | None = None
    risk: int = 0  # how much it undoes: 0; FAILOVER (it ends replication); ABORT (it undoes a resume)


FAILOVER, ABORT = 1, 2


def _risk(name: str, scenario: Scenario) -> int:
    """An abort by its name (``…-abort``); a failover by a step that declares the peer lost
    (x-colo-lost-heartbeat): the pair leaves COLO for good."""
    if name.endswith("-abort"):
        return ABORT
    return FAILOVER if any(c is not None and c.qmp == "x-colo-lost-heartbeat"
                           for step in scenario.steps for c in (step.command, step.otherwise)) else 0


def search_path(extra: list[Path] | None = None) -> list[tuple[str, Path]]:
    """Directories searched, lowest priority first: later ones override same-named files."""
    dirs = [("built-in", builtin_dir("scenarios")), ("user", user_dir())]
    return dirs + [(str(d), Path(d)) for d in (extra or [])]


def catalogue(extra: list[Path] | None = None) -> dict[str, Entry]:
    """Every scenario by name; a file that fails to load is listed with its error, and so is one that claims
    a situation (``offered_when``) an earlier one on the search path claims already: one procedure answers
    each, and the one found first keeps it (an added file never takes a built-in failover's offer away)."""
    found: dict[str, Entry] = {}
    for origin, directory in search_path(extra):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                scenario = load_scenario(path)
            except FileError as exc:
                found[path.stem] = Entry(path.stem, path, origin, error=str(exc))
            else:
                found[path.stem] = Entry(path.stem, path, origin, scenario.title, offered_when=scenario.offered_when,
                                         risk=_risk(path.stem, scenario))
    claimed: dict[str, Entry] = {}
    for name, entry in found.items():
        if entry.offered_when is None or entry.error is not None:
            continue
        first = claimed.setdefault(entry.offered_when, entry)
        if first is not entry:
            found[name] = replace(entry, error=str(FileError(entry.path, None, (
                f"offered_when = \"{entry.offered_when}\" is claimed by {first.name} ({first.path}) already: one "
                "procedure answers a situation"))))
    return found


def offers(extra: list[Path] | None = None) -> dict[str, str]:
    """Which procedure answers each situation an alert offers one for (`colotui.model.alerts.assess`'s
    ``offers``), from the scenario files' ``offered_when``. Read once per search path in a process: the
    console judges its alerts at every change."""
    return dict(_offers(user_dir(), tuple(extra or ())))


@functools.lru_cache(maxsize=8)
def _offers(user: Path, extra: tuple[Path, ...]) -> tuple[tuple[str, str], ...]:
    """``user``: the user's directory, part of the key (it follows the environment)."""
    return tuple((e.offered_when, e.name) for e in catalogue(list(extra)).values()
                 if e.offered_when is not None and e.error is None)


def find_scenario(name: str, extra: list[Path] | None = None) -> Scenario:
    """A scenario by name (or by path to a .toml file); only that file is read."""
    if name.endswith(".toml") or "/" in name:
        return load_scenario(Path(name))
    directories = [directory for _, directory in search_path(extra) if directory.is_dir()]
    for directory in reversed(directories if _NAME.fullmatch(name) else []):  # the last one on the path wins
        if (directory / f"{name}.toml").is_file():
            return load_scenario(directory / f"{name}.toml")
    known = sorted({path.stem for directory in directories for path in directory.glob("*.toml")})
    raise FileError(name, None, f"no scenario named {name!r} (known: {', '.join(known) or 'none'})")
