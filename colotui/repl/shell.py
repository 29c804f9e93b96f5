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

from ..config import Config, load_config
from ..errors import UserError
from ..pair import Endpoint, pair_from_addresses, pair_from_lab, pair_from_profile
from ..qmp import AddressError, Session, Transcript, parse_address
from ..qmp.transcript import new_transcript
from .safety import Confirm, Policy

if TYPE_CHECKING:
    from .runner import Repl

#: How long to wait for the VMs before the first command.
CONNECT_TIMEOUT = 5.0

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
    shell.add_argument("--confirm", choices=[c.value for c in Confirm],
                       help="when to ask before a command that may change a VM: when it is in COLO, always, or "
                            "never (default: colo, or never if the config sets confirm.repl_in_colo = false); "
                            "from a pipe nothing can be asked, so such commands are refused")
    shell.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
    add_session_options(shell)
    shell.set_defaults(func=cmd_shell)
    return shell


def cmd_shell(args: argparse.Namespace) -> int:
    from .history import History
    from .runner import Repl

    config = load_config(Path(args.config) if args.config else None)
    endpoints = _endpoints(args, config)
    confirm = Confirm(args.confirm) if args.confirm else Confirm.COLO if config.confirm_repl_in_colo else Confirm.NEVER
    transcript = new_transcript(Path(args.transcript) if args.transcript else None)
    try:
        sessions = {target: Session(ep.name, ep.qmp, deadline=args.deadline or config.deadline, transcript=transcript)
                    for target, ep in endpoints.items()}
        try:
            repl = Repl(sessions, target=args.target, policy=Policy(args.read_only, confirm), history=History())
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return asyncio.run(_run(repl, endpoints, transcript, interactive=sys.stdin.isatty()))
    finally:
        transcript.close()


def _endpoints(args: argparse.Namespace, config: Config) -> dict[str, Endpoint]:
    """The VMs by target name: ``primary`` and ``secondary`` for a lab, a profile or two addresses; ``vm`` for one."""
    if sum(map(bool, (args.lab, args.profile, args.addresses))) > 1:
        raise UserError("give one of --lab DIR, --profile NAME or addresses")
    if args.profile:
        return pair_from_profile(config.profile(args.profile)).by_role()
    if args.lab is not None:
        return pair_from_lab(Path(args.lab)).by_role()
    if len(args.addresses) == 2:
        return pair_from_addresses(*args.addresses).by_role()
    if len(args.addresses) == 1:
        try:
            return {"vm": Endpoint("vm", parse_address(args.addresses[0]))}
        except AddressError as exc:
            raise UserError(str(exc)) from None
    raise UserError("give --lab DIR, --profile NAME, or one or two QMP addresses (a socket path or host:port)")


async def _run(repl: Repl, endpoints: dict[str, Endpoint], transcript: Transcript, *, interactive: bool) -> int:
    for session in repl.sessions.values():
        session.start()
    try:
        await asyncio.gather(*(s.wait_connected(CONNECT_TIMEOUT) for s in repl.sessions.values()))
        await repl.learn()
        if interactive:
            from .prompt import banner, interact

            return await interact(repl, banner(repl, endpoints, transcript))
        from .pipe import run_pipe

        return await run_pipe(repl, sys.stdin, sys.stdout, sys.stderr)
    finally:
        for session in repl.sessions.values():
            await session.close()

