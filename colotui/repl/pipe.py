"""The REPL without a terminal: commands from a pipe, replies as JSON lines, an exit status.

One command per line (a transaction( may span lines); one JSON object per
reply (per VM) on stdout, and one line per failure on stderr; the status is 1
if any command failed, parsed wrong or was refused. Nothing can be confirmed
here, so what needs confirmation is refused (``--confirm never`` sends it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import TextIO

from .outcome import Outcome, Pending, Quit, Refused, Rejected, Sent
from .redacted import scrub
from .render import json_records
from .runner import Repl


async def run_pipe(repl: Repl, lines: TextIO, out: TextIO, err: TextIO) -> int:
    """Run every command read from ``lines``; 0 if all succeeded, else 1."""
    failed = False
    pending = ""  # the lines of an open transaction(
    number = 0
    while line := await asyncio.to_thread(lines.readline):
        number += 1
        text = pending + line
        outcome = await repl.submit(text.rstrip("\n"))
        if isinstance(outcome, Pending):
            pending = text
            continue
        pending = ""
        if outcome is None:
            continue
        if isinstance(outcome, Quit):
            break
        for record in json_records(outcome):
            print(json.dumps(record), file=out, flush=True)
        if not outcome.ok:
            failed = True
            for problem in _problems(outcome):
                print(f"colotui: line {number}: {scrub(problem, outcome.text)}", file=err, flush=True)
    if pending:
        failed = True
        print(f"colotui: line {number}: the input ended inside a transaction( (end it with ')')", file=err)
    return 1 if failed else 0


def _problems(outcome: Outcome) -> Iterable[str]:
    if isinstance(outcome, Sent):
        return [f"{r.target}: {r.reply.message}" for r in outcome.replies if not r.reply.ok]
    if isinstance(outcome, Rejected):
        return [f"{outcome.error}" + (f" (for {outcome.target})" if outcome.target else "")]
    assert isinstance(outcome, Refused)
    return [outcome.reason]
