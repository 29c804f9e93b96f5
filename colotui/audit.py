"""`colotui topology` and `colotui doctor`: open a pair, read both VMs once, and report.

The topology is printed as a file `--topology` reads back; the doctor prints
one line per finding and fails (exit 1) on an error.
"""

from __future__ import annotations

import json

from .discovery import Snapshot, discover, swapped
from .discovery.doctor import ERROR, Finding
from .discovery.settle import NAMES, Settled, flatten, settle
from .pair import Pair
from .roles import ROLES, flipped
from .scenario.plan import known_values
from .service.sessions import open_sessions
from .service.snapshots import examine_pair, snapshot_pair
from .topology import Topology

#: How long each VM may take to connect before it is reported as not answering (seconds).
CONNECT_TIMEOUT = 5.0


async def _read(pair: Pair) -> dict[str, Snapshot | None]:
    async with open_sessions(pair, transcript=None) as sessions:
        return await snapshot_pair({r: sessions[r] for r in ROLES}, CONNECT_TIMEOUT)


async def discovered_topology(pair: Pair) -> tuple[Settled, list[str]]:
    """The pair's topology as a procedure would settle it, with sources; and which VMs did not answer."""
    taken = await _read(pair)
    flip = swapped(taken["primary"], taken["secondary"])
    roles = flipped(flip)
    primary, secondary = taken[roles["primary"]], taken[roles["secondary"]]
    silent = [role for role, vm in (("primary", primary), ("secondary", secondary)) if vm is None]
    return settle(discover(primary, secondary), given=pair.given, given_from=pair.given_from,
                  known=known_values(pair, roles)), silent


def topology_toml(settled: Settled) -> str:
    """A topology file: what was found as settings, the rest commented out; each line says where its value
    comes from and, where colotui's name differs, the COLO-FT document's."""
    document = flatten(Topology())
    values = flatten(settled.topology)
    sections: dict[str, list[str]] = {"": [], "ports": [], "ids": []}
    for name in NAMES:
        section, _, key = name.rpartition(".")
        section = {"addr": ""}.get(section, section)
        source = settled.source(name)
        value = json.dumps(values[name])
        note = f"the document's {document[name]}" if values[name] != document[name] else ""
        why = source.describe() if source.kind != "default" else "not seen on the VMs: the document's default"
        comment = " · ".join(filter(None, (note, why)))
        line = f"{key} = {value}"
        sections[section].append(f"{'# ' if source.kind == 'default' else ''}{line:<36} # {comment}")
    out = ["# A COLO pair's topology as colotui discovered it on the live VMs (colotui topology).",
           "# Give it back with --topology FILE only to override what is discovered: every value set here must",
           "# agree with the VMs. Commented lines were not seen on the VMs (the document's defaults).", ""]
    out += sections[""]
    for section in ("ports", "ids"):
        out += ["", f"[{section}]", *sections[section]]
    return "\n".join(out) + "\n"


async def doctor(pair: Pair) -> list[Finding]:
    async with open_sessions(pair, transcript=None) as sessions:
        findings, _ = await examine_pair({r: sessions[r] for r in ROLES}, CONNECT_TIMEOUT)
    if pair.pacemaker:
        findings += await _cluster_findings(pair.pacemaker)
    return findings


async def _cluster_findings(resource: str) -> list[Finding]:
    """The cluster's view of the pair's resource: a warning while Pacemaker manages it (manual procedures are
    refused), an error when it cannot be read; the nodes, roles and scores as they are."""
    from .service.pacemaker import look

    state = await look(resource)
    level = "error" if not state.read else "ok" if state.refusal is None else "warning"
    head, *rest = (line.strip() for line in state.lines)
    return [Finding(level, "pacemaker", head.removeprefix("Pacemaker: "))] + \
        [Finding("warning" if line.startswith(("failed:", "fencing:", "stonith-enabled")) else "ok", "pacemaker", line)
         for line in rest]


def doctor_report(findings: list[Finding]) -> tuple[str, int]:
    """The findings, one per line, a summary, and the exit status (1 if any error)."""
    counts = {level: sum(f.level == level for f in findings) for level in ("ok", "warning", "error")}
    lines = [f.line() for f in findings]
    lines.append(f"{counts['ok']} ok, {counts['warning']} warnings, {counts['error']} errors")
    return "\n".join(lines) + "\n", 1 if counts[ERROR] else 0
