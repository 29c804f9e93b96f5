"""``colotui fleet``: many pairs in one table, worst alert first; each row opens that pair's console on the
fleet's own sessions to it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..config import default_path as default_config_path
from ..errors import UserError
from ..pair import Pair
from ..qmp.transcript import new_transcript
from . import console
from .options import PROFILE_HELP, add_console_options, add_deadline, read_config

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    fleet = subparsers.add_parser(
        "fleet", help="a table of many COLO pairs, worst alert first; enter opens a pair's console",
        description="One row per pair: its addresses, roles, COLO state, checkpoint rate and pauses, each side's "
                    "link, and its alert, worst first. enter opens the pair's console, escape comes back; every "
                    "pair stays watched meanwhile. Without --lab or --profile: every profile of the config.")
    fleet.add_argument("--lab", action="append", metavar="DIR", help="a lab's pair (repeatable)")
    fleet.add_argument("--profile", action="append", metavar="NAME", help=f"{PROFILE_HELP} (repeatable)")
    add_deadline(fleet)
    add_console_options(fleet)
    fleet.set_defaults(func=cmd_fleet, check=check_fleet)


def cmd_fleet(args: argparse.Namespace) -> int:
    """Many pairs in one table; each row opens that pair's console on the fleet's own sessions to it."""
    from ..ui.app import FleetApp

    config = read_config(args)
    pairs = [(name, console.controller(args, config, pair, new_transcript(None, config.transcripts,
                                                                          label=f"fleet-{name.replace('/', '_')}")))
             for name, pair in fleet_pairs(args, config)]
    FleetApp(pairs, config=config, keymap=console.keymap(args, config)).run()
    return 0


def check_fleet(args: argparse.Namespace) -> None:
    """What `colotui fleet` refuses before its table starts (no pairs, a wrong lab or profile, a VM twice)."""
    fleet_pairs(args, read_config(args))


def fleet_pairs(args: argparse.Namespace, config: Config) -> list[tuple[str, Pair]]:
    """The pairs of ``--lab`` and ``--profile`` (each repeatable), else every profile of the config; by name
    (a lab's directory name, a profile's name)."""
    from ..resolve import resolve_pair

    labs, profiles = args.lab or [], args.profile or []
    if not labs and not profiles:
        profiles = list(config.profiles)
    if not labs and not profiles:
        where = config.path or default_config_path()
        raise UserError(f"no pairs: give --lab DIR or --profile NAME (each repeatable), or add profiles to {where}")
    pairs = [(Path(lab).name or str(lab), resolve_pair(config, lab=lab)) for lab in labs]
    pairs += [(profile, resolve_pair(config, profile=profile)) for profile in profiles]
    names = [name for name, _ in pairs]
    pairs = [(name if names.count(name) == 1 else f"{name}#{i + 1}", pair) for i, (name, pair) in enumerate(pairs)]
    seen: dict[str, str] = {}
    for name, pair in pairs:  # a QMP socket serves one client: one VM in two rows would starve one of them
        for endpoint in pair.by_role().values():
            other = seen.setdefault(str(endpoint.qmp), name)
            if other != name:
                raise UserError(f"{other} and {name} share the VM at {endpoint.qmp}: give each pair once")
    return pairs
