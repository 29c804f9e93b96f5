"""Which QEMUs COLO works on, and what to tell the operator when it does not.

From colo-notes §3: COLO's precopy→COLO transition is broken in QEMU
10.0.0–10.0.6 and in 10.1.x; a QEMU built without replication has no
``x-colo-lost-heartbeat``; both sides should run the same version.
"""

from __future__ import annotations

from .qmp.probe import VMFacts
from .qmp.version import QemuVersion

#: (first, last) broken versions, inclusive, and why.
BROKEN: tuple[tuple[tuple[int, int, int], tuple[int, int, int], str], ...] = (
    ((10, 0, 0), (10, 0, 6), "COLO's precopy→COLO transition is broken in QEMU 10.0.0–10.0.6 "
                             "(the primary's migration completes instead of entering COLO); use 10.0.7 or later"),
    ((10, 1, 0), (10, 1, 999), "COLO's precopy→COLO transition is broken in QEMU 10.1.x "
                               "(the primary's migration completes instead of entering COLO)"),
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


def pair_warnings(facts: dict[str, VMFacts]) -> list[str]:
    """Warnings about a pair as a whole (different versions)."""
    versions = {role: str(f.version) for role, f in facts.items()}
    if len(set(versions.values())) > 1:
        listed = ", ".join(f"{role} {v}" for role, v in versions.items())
        return [f"the VMs run different QEMU versions ({listed}); COLO expects the same version on both sides"]
    return []
