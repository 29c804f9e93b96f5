"""A VM's view from QMP replies: what the watcher asks, and the plain functions that read the answers.

Kept apart from the watcher (a service that asks) so the same parsing serves
recorded replies: the tests' introspection dumps, and snapshots of the console.
"""

from __future__ import annotations

from typing import Any

from ..qmp.notices import LinkState
from ..qmp.version import QemuVersion
from .block import parse_block, parse_exports, parse_jobs
from .network import parse_chardev, parse_info_network
from .vm import ColoStatus, Compare, VMView

#: colo-compare properties an operator wants to see (read with qom-get).
COMPARE_PROPS = ("primary_in", "secondary_in", "outdev", "iothread", "compare_timeout", "expired_scan_cycle",
                 "max_queue_size")

#: What a structure refresh asks, by the name its reply is known under.
STRUCTURE_QUERIES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "hmp info network": ("human-monitor-command", {"command-line": "info network"}),
    "query-chardev": ("query-chardev", None),
    "qom-list": ("qom-list", {"path": "/objects"}),
    "query-iothreads": ("query-iothreads", None),
    "x-debug-query-block-graph": ("x-debug-query-block-graph", None),
    "query-named-block-nodes": ("query-named-block-nodes", {"flat": True}),
    "query-block-jobs": ("query-block-jobs", None),
    "query-block-exports": ("query-block-exports", None),
    "query-migrate-parameters": ("query-migrate-parameters", None),
    "query-migrate-capabilities": ("query-migrate-capabilities", None),
}


def fast_changes(status: Any, colo: Any, migrate: Any, *, colo_missing: bool = False) -> dict[str, Any]:
    """View fields from query-status, query-colo-status and query-migrate replies (None: no reply)."""
    changes: dict[str, Any] = {}
    if isinstance(status, dict):
        changes |= {"status": status.get("status"), "running": status.get("running")}
    if colo_missing:
        changes |= {"colo": None, "colo_available": False}
    elif isinstance(colo, dict):
        changes |= {"colo": ColoStatus.from_reply(colo), "colo_available": True}
    if isinstance(migrate, dict):
        changes["migration"] = migrate.get("status", "none")
    return changes


def structure_changes(replies: dict[str, Any]) -> dict[str, Any]:
    """View fields from the `STRUCTURE_QUERIES` replies (a missing or failed reply leaves its fields)."""
    changes: dict[str, Any] = {"structure_known": True}
    network, chardevs, objects = replies.get("hmp info network"), replies.get("query-chardev"), replies.get("qom-list")
    if isinstance(network, str):
        changes["netdevs"] = parse_info_network(network)
    if isinstance(chardevs, list):
        changes["chardevs"] = tuple(sorted((parse_chardev(c) for c in chardevs), key=lambda c: c.label))
    if isinstance(objects, list):
        changes["objects"] = tuple(sorted((o["name"], str(o.get("type", ""))[6:-1]) for o in objects
                                          if str(o.get("type", "")).startswith("child<")))
    if isinstance(replies.get("query-iothreads"), list):
        changes["iothreads"] = tuple(sorted(t["id"] for t in replies["query-iothreads"]))
    graph, nodes, jobs = (replies.get(k) for k in ("x-debug-query-block-graph", "query-named-block-nodes",
                                                   "query-block-jobs"))
    if isinstance(graph, dict) and isinstance(nodes, list):
        drives, internal = parse_block(graph, nodes)
        changes["drives"] = drives
        if isinstance(jobs, list):
            changes["jobs"] = parse_jobs(jobs) + internal
    if isinstance(replies.get("query-block-exports"), list):
        changes["exports"] = parse_exports(replies["query-block-exports"])
    params, caps = replies.get("query-migrate-parameters"), replies.get("query-migrate-capabilities")
    if isinstance(params, dict):
        changes["checkpoint_delay_ms"] = params.get("x-checkpoint-delay")
    if isinstance(caps, list):
        changes["capabilities"] = tuple(sorted(c["capability"] for c in caps if c.get("state")))
    return changes


def view_from_replies(name: str, address: str, replies: dict[str, Any]) -> VMView:
    """A whole view from recorded replies (keyed by command, as in an introspection dump)."""
    view = VMView(name, address, LinkState.CONNECTED)
    q = replies.get("query-version", {}).get("qemu")
    version = str(QemuVersion.from_qmp(q)) if q else None
    changes = fast_changes(replies.get("query-status"), replies.get("query-colo-status"), replies.get("query-migrate"))
    changes |= structure_changes(replies)
    props = replies.get("objects-props", {})
    changes["compares"] = tuple(
        Compare(i, tuple((p, str(props[i][p])) for p in COMPARE_PROPS if p in props.get(i, {})))
        for i, t in changes.get("objects", ()) if t == "colo-compare")
    return view.with_(version=version, **changes)
