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
from .shape import tolerant
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
    """View fields from query-status, query-colo-status and query-migrate replies (None: no reply; a reply
    not of QEMU's shape counts as none)."""
    changes: dict[str, Any] = {}
    if isinstance(status, dict):
        changes |= _status(status)
    if colo_missing:
        changes |= {"colo": None, "colo_available": False}
    elif isinstance(colo, dict):
        changes |= _colo(colo)
    if isinstance(migrate, dict):
        changes |= _migration(migrate)
    return changes


@tolerant(dict)
def _status(status: dict[str, Any]) -> dict[str, Any]:
    return {"status": str(status["status"]), "running": bool(status.get("running"))}


@tolerant(dict)
def _colo(colo: dict[str, Any]) -> dict[str, Any]:
    return {"colo": ColoStatus.from_reply(colo), "colo_available": True}


@tolerant(dict)
def _migration(migrate: dict[str, Any]) -> dict[str, Any]:
    return {"migration": str(migrate.get("status", "none"))}


def structure_changes(replies: dict[str, Any]) -> dict[str, Any]:
    """View fields from the `STRUCTURE_QUERIES` replies (a missing or failed reply leaves its fields, and so
    does one not of QEMU's shape)."""
    changes: dict[str, Any] = {"structure_known": True}
    for section in _SECTIONS:
        changes |= section(replies)
    return changes


@tolerant(dict)
def _network(replies: dict[str, Any]) -> dict[str, Any]:
    network = replies.get("hmp info network")
    return {"netdevs": parse_info_network(network)} if isinstance(network, str) else {}


@tolerant(dict)
def _chardevs(replies: dict[str, Any]) -> dict[str, Any]:
    chardevs = replies.get("query-chardev")
    if not isinstance(chardevs, list):
        return {}
    return {"chardevs": tuple(sorted((parse_chardev(c) for c in chardevs), key=lambda c: c.label))}


@tolerant(dict)
def _objects(replies: dict[str, Any]) -> dict[str, Any]:
    objects = replies.get("qom-list")
    if not isinstance(objects, list):
        return {}
    return {"objects": tuple(sorted((str(o["name"]), str(o.get("type", ""))[6:-1]) for o in objects
                                    if str(o.get("type", "")).startswith("child<")))}


@tolerant(dict)
def _iothreads(replies: dict[str, Any]) -> dict[str, Any]:
    threads = replies.get("query-iothreads")
    return {"iothreads": tuple(sorted(str(t["id"]) for t in threads))} if isinstance(threads, list) else {}


@tolerant(dict)
def _block(replies: dict[str, Any]) -> dict[str, Any]:
    graph, nodes, jobs = (replies.get(k) for k in ("x-debug-query-block-graph", "query-named-block-nodes",
                                                   "query-block-jobs"))
    if not (isinstance(graph, dict) and isinstance(nodes, list)):
        return {}
    drives, internal = parse_block(graph, nodes)
    changes: dict[str, Any] = {"drives": drives}
    if isinstance(jobs, list):
        changes["jobs"] = parse_jobs(jobs) + internal
    return changes


@tolerant(dict)
def _exports(replies: dict[str, Any]) -> dict[str, Any]:
    exports = replies.get("query-block-exports")
    return {"exports": parse_exports(exports)} if isinstance(exports, list) else {}


@tolerant(dict)
def _migration_settings(replies: dict[str, Any]) -> dict[str, Any]:
    params, caps = replies.get("query-migrate-parameters"), replies.get("query-migrate-capabilities")
    changes: dict[str, Any] = {}
    if isinstance(params, dict):
        delay = params.get("x-checkpoint-delay")
        changes["checkpoint_delay_ms"] = int(delay) if delay is not None else None
    if isinstance(caps, list):
        changes["capabilities"] = tuple(sorted(str(c["capability"]) for c in caps if c.get("state")))
    return changes


#: The structure's parts, each read on its own: one misshapen reply costs only its own fields.
_SECTIONS = (_network, _chardevs, _objects, _iothreads, _block, _exports, _migration_settings)


@tolerant(lambda: None)
def version_of(reply: Any) -> QemuVersion | None:
    """QEMU's version from a ``query-version`` reply (None if it is not one)."""
    return QemuVersion.from_qmp(reply["qemu"]) if isinstance(reply, dict) and reply.get("qemu") else None


@tolerant(tuple)
def _compares(objects: tuple[tuple[str, str], ...], props: Any) -> tuple[Compare, ...]:
    props = props if isinstance(props, dict) else {}
    return tuple(Compare(i, tuple((p, str(props[i][p])) for p in COMPARE_PROPS if p in props.get(i, {})))
                 for i, t in objects if t == "colo-compare")


def view_from_replies(name: str, address: str, replies: dict[str, Any]) -> VMView:
    """A whole view from recorded replies (keyed by command, as in an introspection dump)."""
    view = VMView(name, address, LinkState.CONNECTED)
    version = version_of(replies.get("query-version"))
    changes = fast_changes(replies.get("query-status"), replies.get("query-colo-status"), replies.get("query-migrate"))
    changes |= structure_changes(replies)
    changes["compares"] = _compares(changes.get("objects", ()), replies.get("objects-props"))
    return view.with_(version=str(version) if version else None, **changes)
