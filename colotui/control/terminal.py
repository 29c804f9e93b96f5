"""A procedure on the terminal, without the TUI: `colotui run`, the demo, and automation.

Human-readable lines by default, one JSON object per step event with
``json_lines``. Without ``yes`` every step that needs confirmation is asked
about on the terminal (or read line by line from a pipe); a failure is asked
about too, and with ``yes`` or no answer it aborts: nothing goes past a failure
unless someone says so.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ..pair import Pair
from ..qmp import Transcript
from ..qmp.redact import redact_text, redact_value
from ..scenario import Decision, RunResult, Scenario, StepState, StepUpdate
from ..scenario.engine import Decide
from ..scenario.record import Stopped
from ..service.sessions import PairSessions, open_sessions
from . import procedures
from .procedures import Request, Said

_MARK = {StepState.OK: "ok", StepState.FAILED: "FAILED", StepState.SKIPPED: "skipped"}


@dataclass
class Options:
    yes: bool = False
    dry_run: bool = False
    start: str | None = None  # --from: a step's id or number (in the pair's variant)
    resume: bool = False
    json_lines: bool = False
    connect_timeout: float = 5.0
    deadline: float = 10.0


class Printer:
    """Writes step updates for people, or as JSON lines."""

    def __init__(self, out: TextIO, json_lines: bool) -> None:
        self.out, self.json_lines = out, json_lines

    def say(self, text: str) -> None:
        if not self.json_lines:  # a run's output is often kept (a CI log, a ticket): no secret in it
            print(redact_text(text), file=self.out, flush=True)

    def update(self, u: StepUpdate) -> None:
        if self.json_lines:
            print(json.dumps(redact_value(u.to_json()), default=str), file=self.out, flush=True)
            return
        head = f"[{u.step.number}/{u.total}] {u.step.id} → {u.vm}" + (f"  ({u.step.variant})" if u.step.variant else "")
        if u.state in (StepState.PENDING, StepState.CONFIRM):  # pending: a dry run
            self.say(f"{head}\n      {u.message if u.state is StepState.PENDING else u.step.why}\n"
                     f"      sends: {u.request.text() if u.request else '?'}")
            for c in u.checks:
                self.say(f"      checked: {c.text}")
        elif u.state is StepState.WAITING:
            self.say(f"      {u.message}")
        elif u.state in _MARK:
            detail = f" ({u.elapsed * 1000:.0f} ms)" if u.state is StepState.OK and not u.message else f": {u.message}"
            self.say(f"{head}  {_MARK[u.state]}{detail}")


class TerminalDecider:
    """Asks the operator; ``read`` returns a line, or None at end of input."""

    def __init__(self, yes: bool, read: Callable[[str], str | None]) -> None:
        self.yes, self.read = yes, read

    async def __call__(self, update: StepUpdate) -> Decision:
        if update.state is StepState.CONFIRM:
            if self.yes:
                return Decision.RUN
            answer = await self._ask("      run this step? [Y]es / [s]kip / [a]bort: ")
            return {"": Decision.RUN, "y": Decision.RUN, "yes": Decision.RUN, "s": Decision.SKIP,
                    "skip": Decision.SKIP}.get("abort" if answer is None else answer, Decision.ABORT)
        if self.yes:
            return Decision.ABORT
        answer = await self._ask("      [r]etry / [s]kip / [a]bort? ")
        return {"r": Decision.RETRY, "retry": Decision.RETRY, "s": Decision.SKIP,
                "skip": Decision.SKIP}.get("abort" if answer is None else answer, Decision.ABORT)

    async def _ask(self, prompt: str) -> str | None:
        line = await asyncio.to_thread(self.read, prompt)
        return None if line is None else line.strip().lower()


def read_line(prompt: str) -> str | None:
    """A line from stdin (prompting on stderr, so stdout stays clean), None at end of input."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    return line if line else None


class TerminalFront:
    """`colotui run`'s front: steps printed (or JSON lines), confirmations and failures asked on the terminal."""

    def __init__(self, options: Options, out: TextIO, read: Callable[[str], str | None],
                 decide: Decide | None) -> None:
        self.options, self.read = options, read
        self.printer = Printer(out, options.json_lines)
        self._decide = decide or TerminalDecider(options.yes, read)

    def update(self, update: StepUpdate) -> None:
        self.printer.update(update)

    async def decide(self, update: StepUpdate) -> Decision:
        return await self._decide(update)

    def planned(self, scenario: Scenario, vms: dict[str, str]) -> None:
        self.printer.say(f"{scenario.name}: {len(scenario.steps)} steps; "
                         + "; ".join(f"{role} {vm}" for role, vm in vms.items()))

    def say(self, kind: Said, text: str) -> None:
        self.printer.say(f"{kind}: {text}")

    async def resume(self, stopped: Stopped) -> bool:
        self.printer.say(f"note: {stopped.describe()}")
        if not self.options.yes and not self.options.json_lines:
            answer = await asyncio.to_thread(self.read, f"      continue from step {stopped.number} {stopped.step}? "
                                                        "[Y]es / [n]o, from the start: ")
            if answer is not None and answer.strip().lower() in ("", "y", "yes"):
                return True
        self.printer.say("      from the start: steps already done are recognised and not sent again "
                         "(--resume starts at the stopped step)")
        return False


async def run_scenario(scenario: Scenario, pair: Pair, options: Options, *, transcript: Transcript | None,
                       out: TextIO = sys.stdout, read: Callable[[str], str | None] = read_line,
                       decide: Decide | None = None, sessions: PairSessions | None = None) -> RunResult | None:
    """Connect to both VMs and run (or dry-run) ``scenario`` through the one run path, reporting on ``out``;
    None for a dry run. ``decide`` answers the engine instead of the terminal, and ``sessions`` are used
    instead of new ones, as the console does (automation: a supervisor that watches the pair with them, a
    test that injects a fault before a step)."""
    front = TerminalFront(options, out, read, decide)
    request = Request(scenario, start=options.start, resume=options.resume, dry_run=options.dry_run,
                      settle=options.connect_timeout)
    if sessions is not None:
        outcome = await procedures.run(request, pair, sessions, front)
    else:
        async with open_sessions(pair, transcript=transcript, deadline=options.deadline) as opened:
            outcome = await procedures.run(request, pair, opened, front)
    if outcome.refused is not None:
        front.printer.say(f"refused: {outcome.refused}")
        if options.json_lines:
            print(json.dumps({"scenario": scenario.name, "refused": outcome.refused}), file=out, flush=True)
        return RunResult(scenario.name, "refused")
    if outcome.result is not None:
        front.printer.say(f"{outcome.result.scenario}: {outcome.status}")
    return outcome.result
