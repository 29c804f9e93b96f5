"""A step as the exact QMP message it will send, for the QEMU it will reach.

Scenarios are written for current QEMU (flat ``object-add``,
``block-export-add``); the schema of the connected QEMU decides what goes on
the wire: the step's ``otherwise`` command when the first one is missing, and
``object-add`` properties under ``props`` where QEMU (before 6.0) wants them. Its
version decides one thing the schema cannot tell: whether x-colo goes with
return-path (`compat.needs_return_path`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..compat import needs_return_path
from ..qmp.request import QMPRequest
from ..qmp.schema import Schema
from ..qmp.version import QemuVersion
from .model import Command, Step
from .template import render


@dataclass(frozen=True)
class Request(QMPRequest):
    """One message for one VM: the side it plays (``role``) and its name."""

    role: str = ""
    vm: str = ""


def pick_command(step: Step, schema: Schema | None) -> Command:
    """The step's command, or its ``otherwise`` when this QEMU does not offer the first."""
    if step.otherwise is not None and schema is not None and step.command.qmp \
            and not schema.has_command(step.command.qmp):
        return step.otherwise
    return step.command


def adapt_for(command: str, arguments: dict[str, Any] | None, schema: Schema | None,
              version: QemuVersion | None = None) -> dict[str, Any] | None:
    """Reshape arguments the way this QEMU's schema (and version) wants them."""
    if command == "migrate-set-capabilities" and arguments is not None and version is not None \
            and needs_return_path(version):
        caps = list(arguments.get("capabilities", []))
        names = {c.get("capability") for c in caps}
        if {"capability": "x-colo", "state": True} in caps and "return-path" not in names:
            at = caps.index({"capability": "x-colo", "state": True}) + 1
            return {**arguments, "capabilities": [*caps[:at], {"capability": "return-path", "state": True}, *caps[at:]]}
    if command == "object-add" and arguments is not None and schema is not None \
            and "props" in schema.arguments("object-add"):
        flat = {k: v for k, v in arguments.items() if k not in ("qom-type", "id")}
        return {"qom-type": arguments["qom-type"], "id": arguments["id"], **({"props": flat} if flat else {})}
    return arguments


def build_request(step: Step, role: str, vm: str, variables: Mapping[str, Any], schema: Schema | None,
                  version: QemuVersion | None = None) -> Request:
    """Render ``step`` into its `Request`; raises `MissingVariable` for a value that is not known."""
    command = pick_command(step, schema)
    if command.hmp is not None:
        line = render(command.hmp, variables)
        return Request("human-monitor-command", {"command-line": line}, hmp=line, role=role, vm=vm)
    assert command.qmp is not None
    arguments = render(command.arguments, variables) if command.arguments is not None else None
    return Request(command.qmp, adapt_for(command.qmp, arguments, schema, version), role=role, vm=vm)
