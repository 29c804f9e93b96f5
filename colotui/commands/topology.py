"""``colotui topology``: a pair's topology as discovered on its VMs, as a file ``--topology`` reads back."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .options import add_pair_arguments, add_topology_options, pair_of, read_config

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    topology = subparsers.add_parser(
        "topology", help="print a pair's topology as discovered on its VMs (TOML)",
        description="Read both VMs and print every id, port and address colotui found, with where each came "
                    "from and the COLO-FT document's name, as a file --topology reads back. Roles come from the "
                    "VMs, not the order given.")
    add_pair_arguments(topology)
    add_topology_options(topology)
    topology.set_defaults(func=cmd_topology)


def cmd_topology(args: argparse.Namespace) -> int:
    """The pair's topology as discovered on its VMs, as a topology file."""
    import asyncio

    from ..audit import discovered_topology, topology_toml

    settled, silent = asyncio.run(discovered_topology(pair_of(args, read_config(args))))
    for role in silent:
        print(f"colotui: the {role} did not answer: what only it shows is not discovered", file=sys.stderr)
    print(topology_toml(settled), end="")
    return 0
