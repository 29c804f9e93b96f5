"""One VM's COLO wiring, read once: the replies discovery and the doctor work from.

A `Snapshot` is built from QMP replies keyed by command (the shape of the
introspection dumps in the reference material), so the same code reads a live
VM and a recorded one. Parsing is shared with the console's model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..model.network import Chardev, Filter, Netdev, parse_chardev, parse_info_network
from ..model.replies import STRUCTURE_QUERIES
from ..model.shape import tolerant
from ..qmp.version import QemuVersion

#: What a snapshot asks, by the key its reply is stored under: the console's structure queries, and the state.
SNAPSHOT_QUERIES: dict[str, tuple[str, dict[str, Any] | None]] = {
    **{name: (name, None) for name in ("query-version", "query-status", "query-colo-status", "query-migrate",
                                       "query-block")},
    **STRUCTURE_QUERIES,
}

#: colo-compare's properties that name what it is wired to (read with qom-get into "objects-props").
COMPARE_LINKS = ("primary_in", "secondary_in", "outdev", "iothread")


@dataclass(frozen=True)
class BlockNodeInfo:
    """A block node: its name, driver, options (from its json: filename), and children by edge name."""

    name: str
    driver: str
    options: dict[str, Any]
    children: dict[str, str]  # edge name → child node name
    size: int = 0
    writers: frozenset[str] = frozenset()  # parents (by node or backend name) that hold write permission


@dataclass(frozen=True)
class Snapshot:
    """A VM as discovery sees it; ``replies`` are kept whole, what is derived is computed once (from a reply
    not of QEMU's shape, as from none: `tolerant`)."""

    name: str
    replies: dict[str, Any] = field(default_factory=dict)

    def _get(self, key: str, kind: type) -> Any:
        value = self.replies.get(key)
        return value if isinstance(value, kind) else kind()

    @cached_property
    @tolerant(lambda: None)
    def version(self) -> QemuVersion | None:
        q = self._get("query-version", dict).get("qemu")
        return QemuVersion.from_qmp(q) if q else None

    @property
    def runstate(self) -> str:
        return str(self._get("query-status", dict).get("status", "unknown"))

    @property
    def colo_mode(self) -> str:
        return str(self._get("query-colo-status", dict).get("mode", "none"))

    @property
    def colo_last_mode(self) -> str:
        return str(self._get("query-colo-status", dict).get("last-mode", "none"))

    @property
    def migration(self) -> str:
        return str(self._get("query-migrate", dict).get("status", "none"))

    @cached_property
    @tolerant(lambda: None)
    def migration_listens(self) -> tuple[str, int] | None:
        """The incoming migration's listening address (``socket-address``), if it listens."""
        for address in self._get("query-migrate", dict).get("socket-address", []):
            if address.get("type") == "inet":
                return str(address.get("host", "")), int(address.get("port", 0))
        return None

    @cached_property
    @tolerant(dict)
    def capabilities(self) -> dict[str, bool]:
        return {c["capability"]: bool(c.get("state")) for c in self._get("query-migrate-capabilities", list)}

    @property
    @tolerant(lambda: None)
    def checkpoint_delay(self) -> int | None:
        value = self._get("query-migrate-parameters", dict).get("x-checkpoint-delay")
        return int(value) if value is not None else None

    @cached_property
    @tolerant(dict)
    def chardevs(self) -> dict[str, Chardev]:
        return {c.label: c for c in (parse_chardev(e) for e in self._get("query-chardev", list))}

    @cached_property
    @tolerant(tuple)
    def netdevs(self) -> tuple[Netdev, ...]:
        text = self.replies.get("hmp info network")
        return parse_info_network(text) if isinstance(text, str) else ()

    @cached_property
    @tolerant(dict)
    def objects(self) -> dict[str, str]:
        """id → QOM type, under /objects."""
        return {o["name"]: str(o.get("type", ""))[6:-1] for o in self._get("qom-list", list)
                if str(o.get("type", "")).startswith("child<")}

    def objects_of(self, qom_type: str) -> list[str]:
        return sorted(i for i, t in self.objects.items() if t == qom_type)

    @tolerant(dict)
    def props(self, object_id: str) -> dict[str, Any]:
        return dict(self._get("objects-props", dict).get(object_id, {}))

    @cached_property
    @tolerant(set)
    def iothreads(self) -> set[str]:
        return {t["id"] for t in self._get("query-iothreads", list)}

    def filters(self, kind: str | None = None) -> list[tuple[Netdev, Filter]]:
        """(netdev, filter) in chain order, of one type if given."""
        return [(n, f) for n in self.netdevs for f in n.filters if kind is None or f.type == kind]

    @cached_property
    @tolerant(dict)
    def drives(self) -> dict[str, str]:
        """Block backends with a medium: device name → its root node's name."""
        return {b["device"]: b["inserted"]["node-name"] for b in self._get("query-block", list)
                if b.get("device") and "inserted" in b}

    @cached_property
    @tolerant(set)
    def guest_drives(self) -> set[str]:
        """Drives a guest device is attached to."""
        return {b["device"] for b in self._get("query-block", list) if b.get("qdev") and "inserted" in b}

    @cached_property
    @tolerant(dict)
    def nodes(self) -> dict[str, BlockNodeInfo]:
        """Named block nodes with their children (by the block graph's edges) and options."""
        graph = self._get("x-debug-query-block-graph", dict)
        names = {n["id"]: n["name"] for n in graph.get("nodes", [])}
        children: dict[str, dict[str, str]] = {}
        writers: dict[str, set[str]] = {}
        for edge in graph.get("edges", []):
            parent, child = names.get(edge["parent"], ""), names.get(edge["child"], "")
            children.setdefault(parent, {})[edge["name"]] = child
            if "write" in edge.get("perm", []):
                writers.setdefault(child, set()).add(parent)
        nodes = {}
        for info in self._get("query-named-block-nodes", list):
            name, filename = info["node-name"], str(info.get("file", ""))
            options: dict[str, Any] = {}
            if filename.startswith("json:"):
                try:
                    options = json.loads(filename[5:])
                except ValueError:
                    options = {}
            nodes[name] = BlockNodeInfo(name, str(info.get("drv", "")), options, children.get(name, {}),
                                        int(info.get("image", {}).get("virtual-size", 0)),
                                        frozenset(writers.get(name, ())))
        return nodes

    def subtree(self, node: str) -> set[str]:
        """Every node below ``node`` (itself excluded)."""
        seen: set[str] = set()
        todo = list(self.nodes[node].children.values()) if node in self.nodes else []
        while todo:
            child = todo.pop()
            if child not in seen:
                seen.add(child)
                todo += self.nodes[child].children.values() if child in self.nodes else []
        return seen

    @cached_property
    @tolerant(list)
    def quorums(self) -> list[str]:
        """Drives whose root is a quorum, guest-attached first."""
        found = [d for d, n in self.drives.items() if n in self.nodes and self.nodes[n].driver == "quorum"]
        return sorted(found, key=lambda d: (d not in self.guest_drives, d))

    @tolerant(dict)
    def quorum_children(self, drive: str) -> dict[str, BlockNodeInfo]:
        """``children.N`` → node, for a quorum drive."""
        root = self.nodes.get(self.drives.get(drive, ""))
        if root is None:
            return {}
        return {edge: self.nodes[child] for edge, child in sorted(root.children.items())
                if edge.startswith("children.") and child in self.nodes}

    @cached_property
    @tolerant(dict)
    def exports(self) -> dict[str, str]:
        """NBD export id → node name."""
        return {str(e.get("id", "")): str(e.get("node-name", "")) for e in self._get("query-block-exports", list)}

    @cached_property
    @tolerant(dict)
    def jobs(self) -> dict[str, str]:
        """Block job id → status."""
        return {str(j.get("device", "")): str(j.get("status", "")) for j in self._get("query-block-jobs", list)}
