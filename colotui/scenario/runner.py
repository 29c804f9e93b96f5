"""Running a scenario without the TUI: `colotui run`, the demo, and automation.

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
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TextIO

from ..pair import Pair, pair_record
from ..qmp import Transcript
from ..qmp.probe import FactsCache, VMFacts
from ..qmp.redact import redact_text, redact_value
from ..service.sessions import PairSessions, open_sessions
from .engine import Decide, Decision, Engine, PreflightError, RunResult, StepState, StepUpdate
from .model import ROLE_ALIASES, Scenario
from .plan import PlanRefused, by_role, make_plan
from .record import last_stop, remember, stopped_at

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


async def run_scenario(scenario: Scenario, pair: Pair, options: Options, *, transcript: Transcript | None,
                       out: TextIO = sys.stdout, read: Callable[[str], str | None] = read_line,
                       decide: Decide | None = None, sessions: PairSessions | None = None) -> RunResult | None:
    """Connect to both VMs, work out the plan (roles, topology, up-front checks), run (or dry-run)
    ``scenario``, and report; None for a dry run. ``decide`` answers the engine instead of the terminal,
    and ``sessions`` are used instead of new ones, as the console does (automation: a supervisor that
    watches the pair with them, a test that injects a fault before a step)."""
    printer = Printer(out, options.json_lines)

    def refuse(reason: str) -> RunResult:
        printer.say(f"refused: {reason}")
        if options.json_lines:
            print(json.dumps({"scenario": scenario.name, "refused": reason}), file=out, flush=True)
        return RunResult(scenario.name, "refused")

    if transcript is not None and sessions is None:  # which VM played which role: a replay attaches the same
        transcript.write("", "pair", pair_record(pair))
    opened = nullcontext(sessions) if sessions is not None else \
        open_sessions(pair, transcript=transcript, deadline=options.deadline)
    async with opened as sessions:
        # wait for the VMs the steps talk to; a VM only checked (a failover's dead or hung peer) is
        # asked when its check comes, and one that refuses connections is down at once
        await sessions.wait_settled(scenario.targets, options.connect_timeout)
        try:
            plan = await make_plan(scenario, sessions, pair)
        except PlanRefused as exc:
            return refuse(str(exc))
        scenario = plan.scenario
        facts = FactsCache()
        engine = Engine(scenario, by_role(plan, sessions), plan.settled.topology,
                        decide=decide or TerminalDecider(options.yes, read), on_update=printer.update, facts=facts,
                        oob=lambda role: sessions.oob(plan.roles[role]))
        await _introduce(printer, scenario, engine)
        for note in plan.notes:
            printer.say(f"note: {note}")
        missing = await engine.upfront()
        if missing:
            return refuse("; ".join(missing) + " — nothing was sent")
        if options.dry_run:
            await engine.dry_run()
            return None
        try:
            for warning in await engine.preflight():
                printer.say(f"warning: {warning}")
        except PreflightError as exc:
            return refuse(str(exc))
        try:
            start = await _start(scenario, pair, options, printer, read)
        except PlanRefused as exc:
            return refuse(str(exc))
        result = await engine.run(start)
        printer.say(f"{scenario.name}: {result.status}")
        remember(pair, stopped_at(scenario, result), scenario.name)
        return result


async def _start(scenario: Scenario, pair: Pair, options: Options, printer: Printer,
                 read: Callable[[str], str | None]) -> int:
    """Where to start: ``--from``; with ``--resume``, the step the last run stopped at; otherwise the first
    step, after saying (and, when asking is allowed, offering) where the last run stopped."""
    if options.start is not None:
        try:
            return scenario.index_of(options.start)
        except ValueError as exc:
            raise PlanRefused(f"{exc} — nothing was sent") from None
    stopped = last_stop(scenario.name, pair)
    if stopped is None or not any(s.id == stopped.step for s in scenario.steps):
        if options.resume:
            printer.say(f"note: no stopped run of {scenario.name} on this pair to resume: starting at step 1")
        return 0
    printer.say(f"note: {stopped.describe()}")
    if options.resume:
        return scenario.index_of(stopped.step)
    if not options.yes and not options.json_lines:
        answer = await asyncio.to_thread(read, f"      continue from step {stopped.number} {stopped.step}? "
                                               "[Y]es / [n]o, from the start: ")
        if answer is not None and answer.strip().lower() in ("", "y", "yes"):
            return scenario.index_of(stopped.step)
    printer.say("      from the start: steps already done are recognised and not sent again "
                "(--resume starts at the stopped step)")
    return 0


async def _introduce(printer: Printer, scenario: Scenario, engine: Engine) -> None:
    parts = []
    for role in ("primary", "secondary"):
        session = engine.session(role)
        known = await engine.facts.get(session) if session.connected else None
        state = f"QEMU {known.version}" if isinstance(known, VMFacts) else f"not connected: {session.detail}"
        parts.append(f"{role} {session.name} ({state})")
    printer.say(f"{scenario.name}: {len(scenario.steps)} steps; " + "; ".join(parts))
    for role in sorted(scenario.targets):
        if any(s.command.yank for s in scenario.steps if ROLE_ALIASES.get(s.target, s.target) == role) \
                and engine.oob(role) is None:
            printer.say(f"warning: {role} has no out-of-band monitor (a second -qmp; --{role}-yank ADDR): its "
                        "yank goes through the main session, and waits behind it if that is busy")
