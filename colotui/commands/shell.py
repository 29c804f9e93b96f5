"""``colotui shell``: the REPL on the command line, on a terminal or fed by a pipe.

The language (`colotui.repl`), the prompt and the pipe mode load only when the shell runs, so its
parser costs the other commands nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from .options import PROFILE_HELP, add_config, add_session_options, read_config, transcript_of

if TYPE_CHECKING:
    from .options import Subparsers

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


def add_parser(subparsers: Subparsers) -> None:
    shell = subparsers.add_parser("shell", help="a QMP shell on the primary, the secondary or both",
                                  description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    shell.add_argument("addresses", nargs="*", metavar="ADDR",
                       help="a VM's QMP address (socket path, host:port, or qemu:///system?domain=NAME); two: the "
                            "primary's and the secondary's")
    shell.add_argument("--lab", metavar="DIR", help="the primary and the secondary of the lab in DIR")
    shell.add_argument("--profile", metavar="NAME", help=PROFILE_HELP)
    shell.add_argument("--target", metavar="NAME",
                       help="where commands go at first: primary, secondary or both (default: the first VM)")
    shell.add_argument("--read-only", action="store_true", help="refuse every command that may change a VM")
    shell.add_argument("--confirm", choices=CONFIRM_CHOICES,
                       help="when to ask before a command that may change a VM: when it is in COLO, always, or "
                            "never (default: colo, or never if the config sets confirm.repl_in_colo = false); "
                            "from a pipe nothing can be asked, so such commands are refused")
    add_config(shell)
    add_session_options(shell)
    shell.set_defaults(func=cmd_shell)


def cmd_shell(args: argparse.Namespace) -> int:
    from ..repl.safety import Confirm, Policy
    from ..repl.shell import run_shell
    from ..resolve import resolve_targets

    config = read_config(args)
    endpoints = resolve_targets(config, lab=args.lab, profile=args.profile, addresses=args.addresses)
    confirm = Confirm(args.confirm) if args.confirm else Confirm.COLO if config.confirm_repl_in_colo else Confirm.NEVER
    transcript = transcript_of(args, config)
    try:
        return asyncio.run(run_shell(endpoints, transcript, deadline=args.deadline or config.deadline,
                                     target=args.target, policy=Policy(args.read_only, confirm),
                                     interactive=sys.stdin.isatty()))
    finally:
        transcript.close()
