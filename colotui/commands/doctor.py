"""``colotui doctor``: a cross-VM audit of a pair's COLO wiring, one line per check."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from .options import add_pair_arguments, pair_of, read_config

if TYPE_CHECKING:
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    doctor = subparsers.add_parser(
        "doctor", help="audit a pair's COLO wiring across both VMs",
        description="Check the pair's wiring across both VMs: versions, capabilities, filter chains, the chardev "
                    "links between them, colo-compare, quorum and replication, the NBD export, the incoming "
                    "migration, listeners. One line per check (ok / warning / error); exit status 1 on an error.")
    add_pair_arguments(doctor)
    doctor.add_argument("--json", action="store_true", help="one JSON object per finding")
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """A cross-VM audit of the pair's wiring; exit status 1 on an error."""
    import asyncio

    from ..audit import doctor, doctor_report

    findings = asyncio.run(doctor(pair_of(args, read_config(args))))
    if args.json:
        for finding in findings:
            print(json.dumps(finding.__dict__))
        return 1 if any(f.level == "error" for f in findings) else 0
    text, status = doctor_report(findings)
    print(text, end="")
    return status
