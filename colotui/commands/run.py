"""``colotui run``: a COLO procedure (scenario) step by step, without the TUI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from .options import (
    PROFILE_HELP,
    add_config,
    add_pair_options,
    add_session_options,
    add_topology_options,
    pair_of,
    read_config,
    transcript_of,
)

if TYPE_CHECKING:  # the procedures load only when this command runs
    from ..scenario import Scenario
    from .options import Subparsers

#: The exit status of a run that passed, or skipped some steps; anything else (failed, aborted, refused) is 1.
EXIT_STATUS = {"passed": 0, "skipped": 3}


def add_parser(subparsers: Subparsers) -> None:
    run = subparsers.add_parser("run", help="run a COLO procedure (scenario) step by step, without the TUI",
                                description="Run a procedure from scenarios/ (or your own) against a pair of VMs. "
                                            "Each step shows the QMP it sends and is confirmed unless --yes; a "
                                            "failure stops the run. Exit status: 0 all steps passed, 3 some were "
                                            "skipped, 1 failed, aborted or refused.")
    run.add_argument("name", nargs="?", metavar="NAME", help="scenario name (see --list) or path to a .toml file")
    run.add_argument("--list", action="store_true", help="list the scenarios and where they come from")
    run.add_argument("--show", action="store_true", help="print the scenario's steps without connecting")
    run.add_argument("--lab", metavar="DIR", help="the VMs and topology of the lab in DIR")
    run.add_argument("--profile", metavar="NAME", help=PROFILE_HELP)
    run.add_argument("--primary", metavar="ADDR",
                     help="the primary's QMP address (socket path, host:port, or qemu:///system?domain=NAME)")
    run.add_argument("--secondary", metavar="ADDR", help="the secondary's QMP address")
    add_topology_options(run)
    add_pair_options(run)
    run.add_argument("--yes", action="store_true", help="run every step without asking (a failure still stops)")
    run.add_argument("--dry-run", action="store_true", help="print each step's exact QMP message; send nothing")
    run.add_argument("--from", dest="start", metavar="STEP", help="start at this step (id or number)")
    run.add_argument("--resume", action="store_true",
                     help="start at the step where this procedure last stopped on this pair")
    run.add_argument("--json", action="store_true", help="print one JSON object per step event")
    run.add_argument("--runbook", metavar="FILE.md", help="also write what was run, and its results, as Markdown")
    add_config(run)
    run.add_argument("--scenarios", action="append", default=[], metavar="DIR",
                     help="also look for scenarios in DIR (after the built-in and user ones)")
    add_session_options(run)
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from ..control.terminal import Options, run_scenario
    from ..scenario import find_scenario

    extra = [Path(d) for d in args.scenarios]
    if args.list:
        _list(extra)
        return 0
    if args.name is None:
        raise UserError("name a scenario (colotui run --list shows them)")
    scenario = find_scenario(args.name, extra)
    if args.show:
        _show_scenario(scenario)
        return 0
    if args.start is not None:
        try:
            scenario.index_of(args.start)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    config = read_config(args)
    pair = pair_of(args, config)
    deadline = args.deadline or config.deadline
    options = Options(yes=args.yes, dry_run=args.dry_run, start=args.start, resume=args.resume, json_lines=args.json,
                      deadline=deadline)
    transcript = None if args.dry_run else transcript_of(args, config)
    result = asyncio.run(run_scenario(scenario, pair, options, transcript=transcript))
    if transcript is not None:
        transcript.close()
        if not args.json:
            print(f"transcript: {transcript.path}", file=sys.stderr)
        if args.runbook:
            _write_runbook(Path(args.runbook), transcript.path)
    if result is None:
        return 0
    return EXIT_STATUS.get(result.status, 1)


def _list(extra: list[Path]) -> None:
    """``--list``: every procedure, where it comes from, and its title or why it cannot be read."""
    from ..scenario import catalogue

    entries = catalogue(extra).values()
    width = max((len(e.name) for e in entries), default=0) + 2
    for entry in entries:
        status = f"ERROR {entry.error}" if entry.error else entry.title
        print(f"{entry.name:<{width}}{entry.origin:<10}{status}")


def _write_runbook(path: Path, transcript: Path) -> None:
    """``--runbook``: what was run and its results, from the run's transcript, as Markdown."""
    from ..qmp.transcript import read_series
    from ..runbook import runbook

    path.write_text(runbook(read_series(transcript), source=str(transcript)))
    print(f"runbook: {path}", file=sys.stderr)


def _show_scenario(scenario: Scenario) -> None:
    """``--show``: the procedure's steps, what each sends (secrets redacted), requires and waits for."""
    from ..qmp.redact import redact_message, redact_text

    print(f"{scenario.name}: {scenario.title}  ({scenario.path})\n{scenario.description}\n")
    for step in scenario.steps:
        if step.command.yank:
            command = (f'{{"exec-oob": "yank", "arguments": {{"instances": <its connections to the '
                       f'{step.command.yank}, from query-yank when the step runs>}}}}')
        else:
            arguments = {"arguments": step.command.arguments} if step.command.arguments else {}
            command = (step.command.hmp and f"HMP {redact_text(step.command.hmp)}") or json.dumps(
                redact_message({"execute": step.command.qmp, **arguments}))
        variant = f"  (variant {step.variant} only)" if step.variant else ""
        print(f"{step.number:>2}. {step.id} → {step.target}{variant}{'' if step.confirm else '  (no confirmation)'}")
        print(f"    {step.why}\n    sends: {command}")
        for check in step.require:
            print(f"    requires: {check.describe()}")
        for wait in step.waits:
            print(f"    waits for: {wait.describe()} (up to {wait.timeout:g} s)")
