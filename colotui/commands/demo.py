"""``colotui demo``: a local COLO lab, brought into COLO, with the console attached; the lab stops on exit."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import UserError
from . import console
from .options import (
    add_console_options,
    add_guest_options,
    add_lab_dir,
    add_session_options,
    lab_dir,
    read_config,
    transcript_of,
)

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    demo = subparsers.add_parser("demo", help="start a local COLO lab, open the console, stop the lab on exit")
    add_lab_dir(demo)
    demo.add_argument("--accel", choices=("kvm", "tcg"))
    add_guest_options(demo)
    add_session_options(demo)
    add_console_options(demo)
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """A lab, brought into COLO by the startup procedure, with the console attached; the lab stops on exit."""
    import asyncio

    from ..control.terminal import Options, run_scenario
    from ..lab import Lab, pair_from_lab
    from ..scenario import find_scenario

    config = read_config(args)
    lab = Lab(lab_dir(args))
    print(f"starting a COLO lab in {lab.dir} …", flush=True)
    lab.up(accel=args.accel, guest=args.guest, traffic=args.traffic)
    try:
        pair = pair_from_lab(lab.dir)
        transcript = transcript_of(args, config)
        if args.accel != "tcg":
            print("bringing it into COLO (the startup procedure):", flush=True)
            result = asyncio.run(run_scenario(find_scenario("startup"), pair, Options(yes=True),
                                              transcript=transcript))
            if result is None or not result.passed:
                raise UserError(f"the startup procedure did not pass; see {transcript.path}")
        console.console(args, config, pair, transcript).run()
    finally:
        lab.down()
        print(f"lab stopped; its logs stay in {lab.dir}")
    return 0
