"""A VM's block side as data: each drive's graph as a tree, block jobs, NBD exports.

``x-debug-query-block-graph`` is the one reply that shows the whole graph:
quorum children by name (``children.1`` is the replication child), the
secondary's active/hidden/base chain, and jobs — including the secondary's
internal backup job, which ``query-block-jobs`` does not list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any


@dataclass(frozen=True)
class BlockNode:
    """One node in a drive's tree, reached through ``edge`` (e.g. ``children.1``, ``backing``)."""

    edge: str
    name: str
    driver: str
    detail: str = ""  # an image's file name, an NBD server and export
    children: tuple[BlockNode, ...] = ()
    repeated: bool = False  # shown elsewhere in the same tree already
    drive: str = ""  # the drive (block backend) whose root this node is, if any

    def names(self) -> set[str]:
        """Node names in this subtree."""
        return {self.name}.union(*(c.names() for c in self.children))


@dataclass(frozen=True)
class Drive:
    device: str
    root: BlockNode


@dataclass(frozen=True)
class BlockJob:
    id: str
    type: str
    status: str
    offset: int = 0
    length: int = 0
    speed: int = 0
    internal: bool = False  # in the block graph only (the secondary's replication backup job)
    rate: float = 0.0  # bytes per second, measured between two looks

    @property
    def progress(self) -> float:
        return self.offset / self.length if self.length else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds until done at the measured rate, if it is moving."""
        return (self.length - self.offset) / self.rate if self.rate > 0 and self.length > self.offset else None


@dataclass(frozen=True)
class Export:
    id: str
    type: str
    node: str


def _detail(node: dict[str, Any]) -> str:
    """What a node points at, short: an image's base name, or an NBD URL."""
    driver, filename = node.get("drv", ""), str(node.get("file", ""))
    if driver == "nbd":
        return filename
    if driver == "replication" and filename.startswith("json:"):
        try:
            spec = json.loads(filename[5:])
        except ValueError:
            return ""
        return f"mode {spec.get('mode', '?')}"
    if driver in ("qcow2", "raw", "file") and filename and not filename.startswith("json:"):
        return PurePath(filename).name
    return ""


def parse_block(graph: dict[str, Any], named_nodes: list[dict[str, Any]],
                hide: frozenset[str] = frozenset()) -> tuple[tuple[Drive, ...], tuple[BlockJob, ...]]:
    """Drives (block backends with a medium, by device name) as trees, and the graph's job nodes."""
    nodes = {n["id"]: n for n in graph.get("nodes", [])}
    info = {n["node-name"]: n for n in named_nodes}
    edges: dict[int, list[dict[str, Any]]] = {}
    for edge in graph.get("edges", []):
        edges.setdefault(edge["parent"], []).append(edge)

    backends = {e["child"]: nodes[pid]["name"] for pid, es in edges.items() for e in es
                if nodes[pid]["type"] == "block-backend" and nodes[pid]["name"]}

    def build(edge_name: str, node_id: int, seen: set[int]) -> BlockNode:
        node = nodes[node_id]
        named = info.get(node["name"], {})
        drive = backends.get(node_id, "")
        if node_id in seen:
            return BlockNode(edge_name, node["name"], named.get("drv", ""), _detail(named), repeated=True,
                             drive=drive)
        seen.add(node_id)
        children = tuple(build(e["name"], e["child"], seen)
                         for e in sorted(edges.get(node_id, []), key=lambda e: e["name"]))
        return BlockNode(edge_name, node["name"], named.get("drv", ""), _detail(named), children, drive=drive)

    trees = []
    for node_id, node in nodes.items():
        if node["type"] != "block-backend" or not node["name"] or node["name"] in hide:
            continue
        for edge in edges.get(node_id, []):
            trees.append(Drive(node["name"], build(edge["name"], edge["child"], set())))
    # a drive whose root shows up inside another drive's tree (the secondary's childs0 and
    # parent0 sit under colo-disk0) is shown there, not again on its own
    drives = [d for d in trees
              if not any(d.root.name in other.root.names() for other in trees if other is not d)]
    jobs = []
    for node_id, node in nodes.items():
        if node["type"] == "block-job":
            main = next((nodes[e["child"]]["name"] for e in edges.get(node_id, []) if e["name"] == "main node"), "")
            jobs.append(BlockJob(node["name"] or f"(internal, on {main})", "backup" if not node["name"] else "job",
                                 "running", internal=True))
    return tuple(sorted(drives, key=lambda d: d.device)), tuple(jobs)


def parse_jobs(entries: list[dict[str, Any]]) -> tuple[BlockJob, ...]:
    return tuple(BlockJob(str(j.get("device", "")), str(j.get("type", "")), str(j.get("status", "")),
                          int(j.get("offset", 0)), int(j.get("len", 0)), int(j.get("speed", 0)))
                 for j in entries)


def parse_exports(entries: list[dict[str, Any]]) -> tuple[Export, ...]:
    return tuple(Export(str(e.get("id", "")), str(e.get("type", "")), str(e.get("node-name", ""))) for e in entries)
