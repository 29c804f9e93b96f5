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
    fleet.add_argument("--pacemaker", action="store_true",
                       help="also every COLO resource of the Pacemaker cluster (crm_mon), as a pair: a profile "
                            "that names it, else its VMs at the config's [pacemaker] qmp address on each node")
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
    if not labs and not profiles and not args.pacemaker:
        profiles = list(config.profiles)
    if not labs and not profiles and not args.pacemaker:
        where = config.path or default_config_path()
        raise UserError(f"no pairs: give --lab DIR or --profile NAME (each repeatable), or add profiles to {where}")
    pairs = [(Path(lab).name or str(lab), resolve_pair(config, lab=lab)) for lab in labs]
    pairs += [(profile, resolve_pair(config, profile=profile)) for profile in profiles]
    if args.pacemaker:
        pairs += cluster_pairs(config, {pair.pacemaker for _, pair in pairs if pair.pacemaker})
    names = [name for name, _ in pairs]
    pairs = [(name if names.count(name) == 1 else f"{name}#{i + 1}", pair) for i, (name, pair) in enumerate(pairs)]
    seen: dict[str, str] = {}
    for name, pair in pairs:  # a QMP socket serves one client: one VM in two rows would starve one of them
        for endpoint in pair.by_role().values():
            other = seen.setdefault(str(endpoint.qmp), name)
            if other != name:
                raise UserError(f"{other} and {name} share the VM at {endpoint.qmp}: give each pair once")
    return pairs


def cluster_pairs(config: Config, listed: set[str]) -> list[tuple[str, Pair]]:
    """The Pacemaker cluster's COLO resources as pairs (those not ``listed`` already): a profile that names
    the resource, else the config's ``[pacemaker]`` addresses on the nodes that play each role."""
    import asyncio

    from ..model.pacemaker import pair_nodes
    from ..pair import pair_from_addresses, with_cluster
    from ..resolve import resolve_pair
    from ..service.pacemaker import ClusterUnavailable, read_cluster

    try:
        view = asyncio.run(read_cluster())
    except ClusterUnavailable as exc:
        raise UserError(f"--pacemaker: {exc}") from None
    if not view.resources:
        raise UserError("--pacemaker: the cluster has no COLO resource (agent type colo)")
    named = {p.pacemaker: name for name, p in config.profiles.items() if p.pacemaker}
    pairs = []
    for resource in view.resources:
        if listed & resource.names():
            continue
        profile = next((named[n] for n in (resource.id, resource.primitive) if n in named), None)
        if profile is not None:
            pairs.append((profile, resolve_pair(config, profile=profile)))
            continue
        nodes = pair_nodes(view, resource)
        if nodes is None:
            raise UserError(f"--pacemaker: {resource.id} has fewer than two nodes to run on")
        qmp = [config.pacemaker_qmp.format(node=n, resource=resource.primitive) for n in nodes]
        if qmp[0] == qmp[1]:
            raise UserError(f"--pacemaker: {resource.id}'s VMs on {nodes[0]} and {nodes[1]} would both be "
                            f"{qmp[0]}: set [pacemaker] qmp in the config with {{node}} in it (e.g. a libvirt "
                            f"URI qemu+ssh://root@{{node}}/system?domain={{resource}}), or a profile with "
                            f"pacemaker = \"{resource.id}\"")
        yank = [config.pacemaker_yank.format(node=n, resource=resource.primitive) if config.pacemaker_yank
                else None for n in nodes]
        if yank[0] == yank[1]:
            yank = [None, None]
        pair = pair_from_addresses(qmp[0], qmp[1], primary_yank=yank[0], secondary_yank=yank[1])
        pairs.append((resource.id, with_cluster(pair, resource.id)))
    return pairs
