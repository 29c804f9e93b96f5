"""What builds a console: a pair's controller (a lab's pair follows the lab and shows its traffic), the
replay's, and the app on them with the operator's keymap.

The one module of the commands that imports a controller; the console (Textual) loads only when a
command builds one.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from ..config import Config
from ..pair import Pair
from ..qmp import Transcript

if TYPE_CHECKING:
    from ..control.console import ConsoleController, Follower, TrafficSource
    from ..service.player import Player
    from ..ui.app import ColotuiApp
    from ..ui.keymap import Keymap


def keymap(args: argparse.Namespace, config: Config) -> Keymap:
    """``--keymap``, else the config's; a refused keymap: the default, and why."""
    from ..ui.keymap import keymap_or_default

    return keymap_or_default(args.keymap or config.keymap)


def controller(args: argparse.Namespace, config: Config, pair: Pair,
               transcript: Transcript | None) -> ConsoleController:
    """The engine room of a console on ``pair``, with ``--deadline`` and ``--read-only`` if the command has them."""
    from ..control.console import ConsoleController

    if getattr(args, "deadline", None):
        config = replace(config, deadline=args.deadline)
    follow, traffic = _lab_feeds(pair)
    return ConsoleController(pair, config=config, transcript=transcript,
                             read_only=getattr(args, "read_only", False), follow=follow, traffic=traffic)


def _lab_feeds(pair: Pair) -> tuple[Follower | None, TrafficSource | None]:
    """A lab's pair: the lab's roles, which change at respawn (the console follows them), and for the net
    guest what its traffic helper sees; nothing for a pair from no lab."""
    if pair.lab is None:
        return None, None
    from ..lab import follow
    from ..lab.traffic import has_traffic, watch_stats

    return follow, partial(watch_stats, pair.lab) if has_traffic(pair.lab) else None


def console(args: argparse.Namespace, config: Config, pair: Pair, transcript: Transcript | None) -> ColotuiApp:
    """The console on ``pair`` with the operator's config and keymap."""
    from ..ui.app import ColotuiApp

    keys = keymap(args, config)
    return ColotuiApp(controller(args, config, pair, transcript), keymap=keys)


def replay_console(args: argparse.Namespace, config: Config, player: Player, *, source: str,
                   at: float | None) -> ColotuiApp:
    """The console over the recording ``player`` plays (named ``source``), standing at ``at`` (None: the first
    full view); ``--play``: playing."""
    from ..control.replay import ReplayController
    from ..ui.app import ColotuiApp

    replaying = ReplayController(player, source, config=config, at=at, play=args.play)
    return ColotuiApp(replaying, keymap=keymap(args, config))
