"""What a connected QEMU accepts, from its ``query-qmp-schema``.

Procedures are rendered for the QEMU in front of them (flat ``object-add`` or
``props``, ``block-export-add`` or ``nbd-server-add``), and the REPL completes
command and argument names from here. Type names in the schema are opaque
numbers; this class resolves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Member:
    """One argument (or object member) as the schema describes it."""

    name: str
    type: str  # a schema type name: "str", "int", or an opaque number
    optional: bool
    features: tuple[str, ...] = ()


class Schema:
    """An index over one QEMU's ``query-qmp-schema`` reply."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self._by_name = {e["name"]: e for e in entries}
        self.commands = {e["name"]: e for e in entries if e.get("meta-type") == "command"}
        self.events = {e["name"]: e for e in entries if e.get("meta-type") == "event"}

    def has_command(self, name: str) -> bool:
        return name in self.commands

    def features(self, command: str) -> tuple[str, ...]:
        return tuple(self.commands.get(command, {}).get("features", ()))

    def type_info(self, name: str) -> dict[str, Any]:
        return self._by_name.get(name, {})

    def type_label(self, name: str) -> str:
        """A readable name for a schema type: builtins by name, others by their kind."""
        info = self.type_info(name)
        meta = info.get("meta-type")
        if meta == "builtin" or not info:
            return name
        if meta == "array":
            return f"[{self.type_label(info['element-type'])}]"
        if meta == "enum":
            return "enum"
        if meta == "alternate":
            return " | ".join(self.type_label(m["type"]) for m in info.get("members", []))
        return meta or name

    def members(self, type_name: str, value: Mapping[str, Any] | None = None) -> dict[str, Member]:
        """An object type's members; for a union, also those of the variant that ``value``'s tag
        selects (``qom-type`` for object-add), nested unions too."""
        info = self.type_info(type_name)
        result = {m["name"]: Member(m["name"], m["type"], "default" in m, tuple(m.get("features", ())))
                  for m in info.get("members", []) if info.get("meta-type") == "object"}
        tag = info.get("tag")
        if tag and value is not None and isinstance(value.get(tag), str):
            for case in info.get("variants", []):
                if case["case"] == value[tag]:
                    result.update(self.members(case["type"], value))
        return result

    def arguments(self, command: str, value: Mapping[str, Any] | None = None) -> dict[str, Member]:
        """A command's arguments (with ``value``, those of the union variant it selects too)."""
        entry = self.commands.get(command)
        return self.members(entry["arg-type"], value) if entry else {}

    def enums(self) -> list[dict[str, Any]]:
        """Every enum type's entry (with ``members`` and their ``features`` where this QEMU lists them)."""
        return [e for e in self._by_name.values() if e.get("meta-type") == "enum"]

    def enum_values(self, type_name: str) -> list[str]:
        info = self.type_info(type_name)
        if "members" in info and info.get("meta-type") == "enum":
            return [m["name"] for m in info["members"]]
        return list(info.get("values", []))
