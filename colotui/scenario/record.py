"""What colotui remembers of a pair between runs: where each procedure last stopped (a failed run can
be picked up at the failed step), and the ids and ports its VMs showed (a dead VM shows nothing).

Kept in the state directory (``runs.json``), keyed by the procedure and the
two QMP addresses. A run that passes clears its record.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..pair import Pair
from ..paths import state_dir
from .engine import RunResult, StepState
from .model import Scenario


@dataclass(frozen=True)
class Stopped:
    scenario: str
    step: str  # the id of the step that failed (or was aborted)
    number: int
    done: tuple[str, ...]  # ids of the steps that had passed
    at: float  # wall clock
    reason: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.at))
        return (f"the last {self.scenario} on this pair stopped at step {self.number} {self.step} ({when}): "
                f"{self.reason}")


def _key(scenario: str, pair: Pair) -> str:
    return f"{scenario} {' '.join(sorted(str(e.qmp) for e in pair.by_role().values()))}"


def _path() -> Path:
    return state_dir() / "runs.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def last_stop(scenario: str, pair: Pair) -> Stopped | None:
    entry = _read(_path()).get(_key(scenario, pair))
    if not entry:
        return None
    try:
        return Stopped(str(entry["scenario"]), str(entry["step"]), int(entry["number"]),
                       tuple(entry["done"]), float(entry["at"]), str(entry["reason"]))
    except (KeyError, TypeError, ValueError):
        return None


def remember(pair: Pair, stopped: Stopped | None, scenario: str) -> None:
    """Record where ``scenario`` stopped on ``pair``; None (it passed) forgets it."""
    data = _read(_path())
    if stopped is None:
        data.pop(_key(scenario, pair), None)
    else:
        data[_key(scenario, pair)] = asdict(stopped)
    _write(_path(), data)


def stopped_at(scenario: Scenario, result: RunResult) -> Stopped | None:
    """Where a run stopped, if it did not finish."""
    if result.status in ("passed", "skipped") or result.last is None:
        return None
    done = tuple(s.id for s in scenario.steps if result.states.get(s.id) is StepState.OK)
    last = result.last
    return Stopped(scenario.name, last.step.id, last.step.number, done, time.time(), last.message)


def _seen_path() -> Path:
    return state_dir() / "seen.json"


def seen_values(pair: Pair) -> dict[str, tuple[Any, str]]:
    """Ids and ports discovered on this pair's VMs before (by QMP address): what a dead peer can no longer
    show, e.g. the old primary's chardev names and loop ports for a secondary failover."""
    data = _read(_seen_path())
    values: dict[str, tuple[Any, str]] = {}
    for endpoint in pair.by_role().values():
        entry = data.get(str(endpoint.qmp))
        if isinstance(entry, dict) and isinstance(entry.get("values"), dict):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(entry.get("at", 0))))
            for name, value in entry["values"].items():
                values.setdefault(name, (value, f"what {endpoint.name}'s pair showed at {when}"))
    return values


def see(pair: Pair, discovered: Mapping[str, Any]) -> None:
    """Keep the ids and ports discovered now, and the procedures' variant, under each VM's QMP address
    (addresses depend on roles, which change at a failover: they are not kept)."""
    values = {k: v for k, v in discovered.items() if k.startswith(("ids.", "ports.")) or k == "variant"}
    if not values:
        return
    data = _read(_seen_path())
    for endpoint in pair.by_role().values():
        entry = data.get(str(endpoint.qmp))
        old = entry.get("values", {}) if isinstance(entry, dict) else {}
        data[str(endpoint.qmp)] = {"at": time.time(), "values": {**old, **values}}
    _write(_seen_path(), data)
