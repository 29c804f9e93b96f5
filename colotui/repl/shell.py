"""``colotui shell``: the REPL on the command line, on a terminal or fed by a pipe.

cli.py registers it with `add_shell_parser`. The prompt (`colotui.repl.prompt`)
and the pipe mode (`colotui.repl.pipe`) are imported only when the shell runs,
so registering it costs the other subcommands nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import load_config
from ..errors import UserError
from ..qmp.transcript import new_transcript

if TYPE_CHECKING:  # the language (parser, safety) and the lab load only when the shell runs
    from ..pair import Endpoint
    from ..qmp import Transcript
    from .safety import Policy

#: How long to wait for the VMs before the first command.
CONNECT_TIMEOUT = 5.0
#: ``--confirm`` values (those of `colotui.repl.safety.Confirm`).
CONFIRM_CHOICES = ("colo", "always", "never")

DESCRIPTION = """\
A QMP shell on one VM or both: qmp-shell's shorthand (query-status, migrate
uri=tcp:127.0.0.2:9998, dotted keys for nested objects), raw JSON, and HMP with
'!' (!info network). Tab completes commands, arguments and values from the VM's
schema; ':target both' sends to both VMs and shows the replies side by side;
':help' explains the rest. With stdin not a terminal, it reads one command per
line, prints one JSON object per reply, and exits 1 if any command failed.
"""


def add_shell_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                     add_session_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Register ``colotui shell`` on cli.py's ``subparsers``, with the session options every subcommand shares."""
    shell = subparsers.add_parser("shell", help="a QMP shell on the primary, the secondary or both",
                                  description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    shell.add_argument("addresses", nargs="*", metavar="ADDR",
                       help="a VM's QMP address (socket path or host:port); two: the primary's and the secondary's")
    shell.add_argument("--lab", metavar="DIR", help="the primary and the secondary of the lab in DIR")
    shell.add_argument("--profile", metavar="NAME", help="a connection profile from the config file")
    shell.add_argument("--target", metavar="NAME",
                       help="where commands go at first: primary, secondary or both (default: the first VM)")
    shell.add_argument("--read-only", action="store_true", help="refuse every command that may change a VM")
    shell.add_argument("--confirm", choices=CONFIRM_CHOICES,
                       help="when to ask before a command that may change a VM: when it is in COLO, always, or "
                            "never (default: colo, or never if the config sets confirm.repl_in_colo = false); "
                            "from a pipe nothing can be asked, so such commands are refused")
    shell.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
    add_session_options(shell)
    shell.set_defaults(func=cmd_shell)
    return shell


def cmd_shell(args: argparse.Namespace) -> int:
    from ..resolve import resolve_targets
    from .safety import Confirm, Policy

    config = load_config(Path(args.config) if args.config else None)
    endpoints = resolve_targets(config, lab=args.lab, profile=args.profile, addresses=args.addresses)
    confirm = Confirm(args.confirm) if args.confirm else Confirm.COLO if config.confirm_repl_in_colo else Confirm.NEVER
    transcript = new_transcript(Path(args.transcript) if args.transcript else None, config.transcripts)
    try:
        return asyncio.run(_run(endpoints, transcript, deadline=args.deadline or config.deadline,
                                target=args.target, policy=Policy(args.read_only, confirm),
                                interactive=sys.stdin.isatty()))
    finally:
        transcript.close()


async def _run(endpoints: dict[str, Endpoint], transcript: Transcript, *, deadline: float, target: str | None,
               policy: Policy, interactive: bool) -> int:
    from ..service.sessions import open_sessions
    from .history import History
    from .runner import Repl

    async with open_sessions(endpoints, transcript=transcript, deadline=deadline,
                             connect_timeout=CONNECT_TIMEOUT, read_only=policy.read_only) as sessions:
        try:
            repl = Repl(sessions, target=target, policy=policy, history=History())
        except ValueError as exc:
            raise UserError(str(exc)) from None
        await repl.learn()
        if interactive:
            from .prompt import banner, interact

            return await interact(repl, banner(repl, endpoints, transcript))
        from .pipe import run_pipe

        return await run_pipe(repl, sys.stdin, sys.stdout, sys.stderr)
