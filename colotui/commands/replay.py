"""``colotui replay``: the console over a recorded transcript, read-only: nothing is sent."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..service.player import SPEEDS
from . import console
from .options import add_config, read_config

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    replay = subparsers.add_parser(
        "replay", help="open the console over a recorded transcript (read-only)",
        description="Replay a transcript: the console's panes, trees, alerts and event log as they were, driven "
                    "by the recorded replies and events. Nothing is sent.")
    replay.add_argument("transcript", metavar="TRANSCRIPT", help="a transcript file (JSON lines)")
    replay.add_argument("--at", metavar="WHEN", help="start at this moment (03:12:05, 90, end …; default: the "
                                                    "first moment both VMs had been read)")
    replay.add_argument("--speed", type=float, choices=SPEEDS, default=1.0, help="times real time")
    replay.add_argument("--play", action="store_true", help="start playing (default: paused where it opens)")
    replay.add_argument("--keymap", metavar="NAME|PATH", help="key bindings (default: the config's keymap)")
    add_config(replay)
    replay.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from ..service.player import Player, open_recording, parse_when

    config = read_config(args)
    path = Path(args.transcript)
    player = Player(open_recording(path))
    start = None  # the first moment both VMs' trees were read
    if args.at:
        try:
            start = parse_when(args.at, player.recording.start, player.recording.end, player.recording.start)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    player.set_speed(args.speed)
    console.replay_console(args, config, player, source=path.name, at=start).run()
    return 0
