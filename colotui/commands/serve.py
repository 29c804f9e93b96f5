"""``colotui serve``: the console in a browser, each browser session `colotui connect` (or `colotui fleet`)
with the arguments given. Its own options may stand anywhere; the rest passes through to that command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..serve import DEFAULT_HOST, DEFAULT_PORT, binding_warning, check_port, console_argv, parse_origin, split_args

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve the console in a browser (textual-serve)",
        usage="colotui serve [CONNECT ARGS | fleet FLEET ARGS] [--host HOST] [--port N] [--allow-origin ORIGIN]...",
        description="Serve the console on a web page: each browser session gets its own console, `colotui "
                    "connect` with the arguments given (`--lab DIR`, two addresses, `--profile NAME`, …), or "
                    "`colotui fleet …` after `fleet`. Whoever opens the page controls both VMs over QMP: the "
                    "address it prints holds a token made for this run, and only that page, at that address, "
                    "reaches a console. It listens on loopback unless --host says otherwise.")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help=f"the address to listen on (default {DEFAULT_HOST}; anything not loopback is warned "
                            "about: plain HTTP carries the token in clear)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the TCP port (default {DEFAULT_PORT})")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="another address the page is opened at, scheme://host[:port] (a tunnel's other "
                            "port, a proxy): its requests and websockets are let in (repeatable)")
    serve.set_defaults(func=cmd_serve, rest=[])


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``colotui serve ARGV``: serve's own options, wherever they are; the rest (``rest``) is the console's
    command, which the handler checks with ``parser``, the whole command line's."""
    own, rest = split_args(argv)
    args = parser.parse_args(["serve", *own])
    args.rest = rest
    args.parser = parser
    return args


def cmd_serve(args: argparse.Namespace) -> int:
    """The console in a browser: the pass-through arguments are checked as their own command would check
    them before anything listens, so a browser never shows a refusal."""
    from ..console_server import serve  # textual-serve and aiohttp load for this command only

    console = console_argv(args.rest)
    checked = args.parser.parse_args(console[3:])  # a bad option: argparse's usage and exit status 2
    if check := getattr(checked, "check", None):
        check(checked)
    allowed = [parse_origin(origin) for origin in args.allow_origin]
    if warning := binding_warning(args.host):
        print(f"colotui serve: {warning}", file=sys.stderr, flush=True)
    check_port(args.host, args.port)
    serve(console, host=args.host, port=args.port, allowed=allowed)
    return 0
