"""``colotui``: the command line. Each command is a module of `colotui.commands` (its parser and its
handler); this dispatcher assembles their parsers and runs the one asked for, with the crash log."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from . import __version__, crashlog
from .commands import connect, demo, doctor, fleet, guard, keys, lab, replay, run, serve, shell, topology
from .errors import UserError
from .paths import keep_state_private
from .qmp.redact import redact_text

DESCRIPTION = """\
An operator console for QEMU COLO fault tolerance: both VMs side by side,
the documented procedures step by step, and a real local COLO pair to try it on.
"""

EPILOG = """\
examples:
  colotui demo                          a local COLO pair and the console attached to it
  colotui lab up --dir /tmp/lab         start a primary (127.0.0.1) and a secondary (127.0.0.2)
  colotui connect --lab /tmp/lab        attach the console to that lab
  colotui connect /run/p.sock 127.0.0.2:4444
  colotui fleet --lab /tmp/lab --lab /tmp/lab2   both pairs in one table
  colotui lab kill secondary --dir /tmp/lab
  colotui keys --keymap vim             the console's keys with the vim keymap
  colotui serve --lab /tmp/lab          the console in a browser, on 127.0.0.1 port 8566
"""

#: The commands, in the order `colotui --help` lists them.
COMMANDS = (lab, connect, serve, run, guard, topology, doctor, keys, replay, shell, fleet, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colotui", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"colotui {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # every file colotui (and a QEMU its lab starts) creates is its user's alone
    keep_state_private()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # serve's own options, wherever they are; the rest is the console's command
    args = serve.parse_args(parser, argv[1:]) if argv[:1] == ["serve"] else parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"colotui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: keep the screen clean, keep the details (without secrets)
        try:
            where = f"details in {crashlog.record(traceback.format_exc(), sys.argv)}"
        except OSError as trouble:
            where = f"and {crashlog.default_path()} could not be written: {trouble.strerror}"
        print(f"colotui: internal error: {redact_text(repr(exc))} ({where})", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
