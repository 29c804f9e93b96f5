"""The options several commands share, each defined once, and what they become: the config, the pair,
the transcript, the lab's directory.

A pair resolves through `colotui.resolve` (it reads a lab's lab.json), imported only when a command
runs: building the parser loads no lab.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import MAX_SECONDS, Config, load_config
from ..errors import UserError
from ..pair import Pair
from ..paths import default_lab_dir, state_dir
from ..qmp import Transcript
from ..qmp.transcript import new_transcript
from ..topology import MAX_CHECKPOINT_DELAY_MS, VARIANTS

if TYPE_CHECKING:
    #: What each command's ``add_parser`` adds its parser to.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

CONFIG_HELP = "settings file (default: ~/.config/colotui/config.toml)"
PROFILE_HELP = "a connection profile from the config file"


def seconds(text: str) -> float:
    """An option's number of seconds: more than 0 and at most a day (not nan, not inf); argparse says why not."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text}: give a number of seconds more than 0 and at most {MAX_SECONDS:g}")
    return value


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def read_config(args: argparse.Namespace) -> Config:
    """The operator's settings, read once per command."""
    return load_config(Path(args.config) if getattr(args, "config", None) else None)


def add_lab_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", help=f"the lab's directory (default: {default_lab_dir()})")


def lab_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir else default_lab_dir()


def add_guest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--guest", choices=("counter", "net", "none"), default="counter",
                   help="counter (default): counts on disk and serial; net: also sends a UDP tick to the host "
                        "every 100 ms and answers UDP requests, so colo-compare has packets; none: blank disks")
    p.add_argument("--traffic", choices=("same", "differ"),
                   help="the net guest's packets: same (default; the secondary's match the primary's) or "
                        "differ (they carry the TSC: every one miscompares and forces a checkpoint)")


def add_pair_arguments(p: argparse.ArgumentParser) -> None:
    """A pair as `colotui topology` and `colotui doctor` take it: two addresses, a lab or a profile."""
    p.add_argument("primary", nargs="?", metavar="PRIMARY", help="the primary's QMP address")
    p.add_argument("secondary", nargs="?", metavar="SECONDARY", help="the secondary's QMP address")
    p.add_argument("--lab", metavar="DIR", help="the lab in DIR instead")
    p.add_argument("--profile", metavar="NAME", help=PROFILE_HELP)
    add_config(p)
    add_pair_options(p)


def add_pair_options(p: argparse.ArgumentParser) -> None:
    """Each VM's second QMP address, and the Pacemaker resource the pair is (what else goes with a pair)."""
    p.add_argument("--pacemaker", metavar="RESOURCE",
                   help="the Pacemaker resource this pair is (default: the profile's, or found from colod's "
                        "socket paths): the console shows the cluster's view, and manual procedures are refused "
                        "unless it is in maintenance; none: not a cluster's")
    p.add_argument("--primary-yank", metavar="ADDR",
                   help="the primary's second QMP address (another -qmp), held for out-of-band commands: "
                        "how a hung peer is cut off (a lab has one)")
    p.add_argument("--secondary-yank", metavar="ADDR", help="the secondary's second QMP address, likewise")


def add_topology_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topology", metavar="FILE",
                   help="values that override what is discovered on the VMs (TOML; `colotui topology` "
                        "prints the discovered one)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="one such value, e.g. addr.secondary=10.0.0.2 or ports.nbd=9999 (repeatable)")
    p.add_argument("--variant", choices=list(VARIANTS),
                   help="how procedures attach the secondary's disk: doc (HMP drive_add of a replication "
                        "node, as QEMU's COLO-FT document) or upstream (blockdev-add of an nbd node); "
                        "default: what the pair shows, else the topology's, else doc")


def pair_of(args: argparse.Namespace, config: Config) -> Pair:
    """The pair the arguments name (a lab, a profile, two addresses), with its topology and settings."""
    from ..resolve import resolve_pair  # it reads a lab's lab.json: the lab loads only for commands on a pair

    return resolve_pair(config, lab=args.lab, profile=args.profile, addresses=(args.primary, args.secondary),
                        topology=getattr(args, "topology", None), yank=(args.primary_yank, args.secondary_yank),
                        settings=parse_settings(getattr(args, "set", None) or [], getattr(args, "variant", None)),
                        pacemaker=getattr(args, "pacemaker", None))


def parse_settings(items: Sequence[str], variant: str | None = None) -> dict[str, object]:
    """``--set NAME=VALUE`` values (``ids.compare=cmp0``, ``ports.nbd=9999``, ``addr.secondary=10.0.0.2``), and
    ``--variant`` (the same as ``--set variant=…``)."""
    from ..discovery.settle import NAMES

    found: dict[str, object] = {"variant": variant} if variant else {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in NAMES:
            raise UserError(f"--set {item!r}: give NAME=VALUE with one of {', '.join(NAMES)}")
        if name.startswith("ports.") or name == "checkpoint_delay_ms":
            if not (value.isascii() and value.isdigit() and len(value) <= 10) or \
                    (name.startswith("ports.") and not 0 < int(value) < 65536) or int(value) > MAX_CHECKPOINT_DELAY_MS:
                raise UserError(f"--set {item!r}: {name} takes a number" + (" (a TCP port)" if "ports" in name else ""))
            found[name] = int(value)
        elif name == "variant" and value not in VARIANTS:
            raise UserError(f"--set {item!r}: variant is one of {', '.join(VARIANTS)}")
        else:
            found[name] = value
    return found


def add_session_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transcript", metavar="FILE",
                   help="write every QMP message here, NAME.jsonl (rotated into NAME.1.jsonl.gz, … as the "
                        f"config's [transcripts] says; default: a new file under {state_dir() / 'transcripts'})")
    add_deadline(p)


def add_deadline(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deadline", type=seconds, metavar="SECONDS",
                   help="how long any QMP command may take before it is reported as late "
                        "(default: the config's, 10)")


def transcript_of(args: argparse.Namespace, config: Config) -> Transcript:
    return new_transcript(Path(args.transcript) if args.transcript else None, config.transcripts)


def add_console_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keymap", metavar="NAME|PATH", help="key bindings: default, vim, or a file "
                                                         "(default: the config's keymap)")
    add_config(p)
    p.add_argument("--read-only", action="store_true",
                   help="the QMP console refuses every command that may change a VM")
