"""Filling ``{name}`` placeholders in scenario values.

A string that is exactly one placeholder takes the variable's own type (a port
stays a number, a live value may be ``null``); otherwise placeholders are
replaced as text. A dict member whose value renders to ``null`` is left out, so
a step can say "``insert = "{live.rewriter_insert}"``" and send nothing when
there is nothing to insert before. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any

from ..topology import Ids, Ports, Topology

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


class MissingVariable(KeyError):
    """A placeholder names a variable that has no value here."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no variable {{{self.name}}}"


def topology_variables(topology: Topology) -> dict[str, Any]:
    """``addr.primary``, ``ports.nbd``, ``ids.disk``, ``checkpoint_delay_ms``…

    Ports are text, as QMP's socket addresses (``InetSocketAddress.port``) take them.
    """
    variables: dict[str, Any] = {"addr.primary": topology.primary, "addr.secondary": topology.secondary,
                                 "checkpoint_delay_ms": topology.checkpoint_delay_ms}
    variables |= {f"ports.{f.name}": str(getattr(topology.ports, f.name)) for f in fields(Ports)}
    variables |= {f"ids.{f.name}": getattr(topology.ids, f.name) for f in fields(Ids)}
    return variables


def placeholders(value: Any) -> Iterator[str]:
    """Every variable name a template value refers to."""
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            if match[1]:
                yield match[1]
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from placeholders(v)
    elif isinstance(value, list):
        for v in value:
            yield from placeholders(v)


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder filled; raises `MissingVariable`."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole[1]:
            if whole[1] not in variables:
                raise MissingVariable(whole[1])
            return variables[whole[1]]

        def fill(match: re.Match[str]) -> str:
            if not match[1]:
                return match[0][0]
            if match[1] not in variables:
                raise MissingVariable(match[1])
            return str(variables[match[1]])

        return _PLACEHOLDER.sub(fill, value)
    if isinstance(value, Mapping):
        rendered = {k: render(v, variables) for k, v in value.items()}
        return {k: v for k, v in rendered.items() if v is not None}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value
