"""Which QEMUs COLO works on, and what to tell the operator when it does not.

From colo-notes §3: COLO's precopy→COLO transition is broken in QEMU
10.0.0–10.0.6 and 10.1.0–10.1.2 (the fix, "migration: Fix transition to COLO
state from precopy", went into master before 10.2.0 and into the stable
round-ups of 10.0.7 and 10.1.3); a QEMU built without replication has no
``x-colo-lost-heartbeat``; both sides should run the same version. Newer QEMUs
refuse x-colo without the return-path capability, which older ones cannot enter
COLO with; a QEMU may mark COLO's interfaces deprecated in its schema.
"""

from __future__ import annotations

import re

from .qmp.probe import VMFacts
from .qmp.schema import Schema
from .qmp.version import QemuVersion

#: (first, last) broken versions, inclusive, and why.
BROKEN: tuple[tuple[tuple[int, int, int], tuple[int, int, int], str], ...] = (
    ((10, 0, 0), (10, 0, 6), "COLO's precopy→COLO transition is broken in QEMU 10.0.0–10.0.6 "
                             "(the primary's migration completes instead of entering COLO); use 10.0.7 or later"),
    ((10, 1, 0), (10, 1, 2), "COLO's precopy→COLO transition is broken in QEMU 10.1.0–10.1.2 "
                             "(the primary's migration completes instead of entering COLO); use 10.1.3 or later"),
)


def broken(version: QemuVersion) -> str | None:
    """Why COLO does not work on this QEMU version, or None."""
    for first, last, why in BROKEN:
        if first <= version <= last:
            return f"QEMU {version}: {why}"
    return None


def refusal(facts: VMFacts) -> str | None:
    """Why COLO procedures must not run on this QEMU, or None."""
    if reason := broken(facts.version):
        return reason
    if not facts.schema.has_command("x-colo-lost-heartbeat"):
        return (f"QEMU {facts.version} was built without COLO (no x-colo-lost-heartbeat: "
                "configure --disable-replication)")
    return None


#: The first QEMU that wants the return-path capability with x-colo. The schema does not say so (x-colo's
#: features are the same on every version), so this is measured, not read: 11.1.3 refuses x-colo without
#: it ("Capability 'x-colo' requires capability 'return-path'"); 7.2.22 and 10.0.13 accept both but never
#: reach COLO with return-path on (the primary's migration does not enter colo). 10.1 is refused anyway;
#: 10.2 and 11.0 were not measured, and 11.0 is where the requirement is taken to start.
RETURN_PATH_WITH_COLO = QemuVersion(11, 0, 0)


def needs_return_path(version: QemuVersion) -> bool:
    """Whether this QEMU wants return-path switched on together with x-colo (and must not get it otherwise)."""
    return version >= RETURN_PATH_WITH_COLO


#: What of a QEMU's interface COLO stands on: commands, and members of enums (the x-colo migration
#: capability, the replication block driver, the filter and colo-compare object types).
COLO_COMMANDS = ("x-colo-lost-heartbeat", "query-colo-status", "x-blockdev-change")
COLO_MEMBERS = ("x-colo", "replication", "colo-compare", "filter-mirror", "filter-redirector", "filter-rewriter")


def deprecated_colo(schema: Schema) -> list[str]:
    """The parts of COLO this QEMU's schema marks ``deprecated``: QEMU's own notice that they will go."""
    found = [f"the command {name}" for name in COLO_COMMANDS if "deprecated" in schema.features(name)]
    for entry in schema.enums():
        for member in entry.get("members", ()):
            if member.get("name") in COLO_MEMBERS and "deprecated" in member.get("features", ()):
                found.append(f"{member['name']}")
    return sorted(set(found))


#: A QEMU warning on its standard error that something is deprecated ("warning: ... is deprecated").
_DEPRECATION = re.compile(r"deprecat", re.IGNORECASE)
_COLO_WORDS = re.compile(r"colo|replication|x-colo|filter-(mirror|redirector|rewriter)", re.IGNORECASE)


def deprecation_lines(output: str) -> list[str]:
    """QEMU's own deprecation warnings in its output (its stderr, or a lab VM's log), COLO's first;
    each once."""
    lines = list(dict.fromkeys(line.strip() for line in output.splitlines() if _DEPRECATION.search(line)))
    return sorted(lines, key=lambda line: not _COLO_WORDS.search(line))


def warnings(facts: VMFacts) -> list[str]:
    """What to tell the operator about one QEMU before COLO runs on it."""
    found = deprecated_colo(facts.schema)
    if found:
        return [f"QEMU {facts.version} marks COLO deprecated in its schema ({', '.join(found)}): "
                "it may be removed in a later version"]
    return []


def pair_warnings(facts: dict[str, VMFacts]) -> list[str]:
    """Warnings about a pair: each VM's (a deprecated COLO), and the pair's as a whole (different versions)."""
    found = [f"{role}: {text}" for role, f in facts.items() for text in warnings(f)]
    versions = {role: str(f.version) for role, f in facts.items()}
    if len(set(versions.values())) > 1:
        listed = ", ".join(f"{role} {v}" for role, v in versions.items())
        found.append(f"the VMs run different QEMU versions ({listed}); COLO expects the same version on both sides")
    return found
