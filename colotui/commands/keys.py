"""``colotui keys``: the console's key bindings with a keymap (and a check of that keymap)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .options import add_config, read_config

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    keys = subparsers.add_parser(
        "keys", help="list the console's key bindings (and check a keymap)",
        description="Print every binding of the console with the keymap in force: its keys, what it does and its "
                    "id (the ids a keymap file maps to keys). A keymap with an error is refused with its file, "
                    "line and reason.")
    keys.add_argument("--keymap", metavar="NAME|PATH", help="default, vim, or a file (default: the config's keymap)")
    add_config(keys)
    keys.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace) -> int:
    """The bindings in force with a keymap (the config's by default); a keymap with an error is refused."""
    from ..ui.help import keys_rows
    from ..ui.keymap import find_keymap, load_keymap

    name = args.keymap or read_config(args).keymap
    rows = keys_rows(load_keymap(name))
    print(f"keymap {name} ({find_keymap(name)})")
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for where, keys, does, action_id in rows:
        print(f"{where:<{widths[0]}}  {keys:<{widths[1]}}  {does:<{widths[2]}}  {action_id}")
    return 0
