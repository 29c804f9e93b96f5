"""``colotui connect``: the console on a primary and a secondary."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import console
from .options import (
    PROFILE_HELP,
    add_console_options,
    add_pair_options,
    add_session_options,
    add_topology_options,
    pair_of,
    read_config,
    transcript_of,
)

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    connect = subparsers.add_parser("connect", help="open the console on a primary and a secondary",
                                    description="Open the console with a QMP session to each VM. An address is a "
                                                "unix socket path, host:port, or a libvirt domain "
                                                "(qemu:///system?domain=NAME, any libvirt URI).")
    connect.add_argument("primary", nargs="?", metavar="PRIMARY")
    connect.add_argument("secondary", nargs="?", metavar="SECONDARY")
    connect.add_argument("--lab", metavar="DIR", help="attach to the lab in DIR instead")
    connect.add_argument("--profile", metavar="NAME", help=PROFILE_HELP)
    add_topology_options(connect)
    add_pair_options(connect)
    add_session_options(connect)
    add_console_options(connect)
    # check: what `colotui serve` runs before serving this command (a subcommand it serves may set one)
    connect.set_defaults(func=cmd_connect, check=check_connect)


def cmd_connect(args: argparse.Namespace) -> int:
    config = read_config(args)
    console.console(args, config, pair_of(args, config), transcript_of(args, config)).run()
    return 0


def check_connect(args: argparse.Namespace) -> None:
    """What `colotui connect` refuses before its console starts (a wrong lab, profile, address or setting)."""
    pair_of(args, read_config(args))
