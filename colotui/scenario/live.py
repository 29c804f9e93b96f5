"""Values a procedure can only know at run time, asked of the VM it is about to touch.

After repeated failovers the quorum child to detach is not always
``children.1``; the node behind a drive has an automatic name; a primary that
was once a secondary still has its ``rew0`` rewriter, and new filters must go
in before it. Each resolver asks QEMU, never assumes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..qmp import Ok, Session
from ..topology import Topology


class LiveError(Exception):
    """A question to a VM went unanswered, or a live value could not be found; the message says why."""


class Asker:
    """One step's questions to its target VM: each asked once, however many values need the answer."""

    def __init__(self, session: Session, topology: Topology) -> None:
        self.session, self.topology = session, topology
        self._answers: dict[str, Any] = {}

    async def query(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        key = f"{command} {arguments}"
        if key not in self._answers:
            reply = await self.session.execute(command, arguments)
            if not isinstance(reply, Ok):
                raise LiveError(f"{command} on {self.session.name}: {reply.message}")
            self._answers[key] = reply.value
        return self._answers[key]

    async def object_ids(self) -> set[str]:
        return {o["name"] for o in await self.query("qom-list", {"path": "/objects"})
                if str(o.get("type", "")).startswith("child<")}


async def replication_child(ask: Asker) -> str:
    """The name (``children.N``) under which the quorum holds the replication node."""
    ids, session = ask.topology.ids, ask.session
    graph = await ask.query("x-debug-query-block-graph")
    names = {n["id"]: n["name"] for n in graph["nodes"]}
    backend = next((n["id"] for n in graph["nodes"] if n["name"] == ids.disk and n["type"] == "block-backend"), None)
    if backend is None:
        raise LiveError(f"{session.name} has no drive {ids.disk}")
    root = next((e["child"] for e in graph["edges"] if e["parent"] == backend), None)
    children: dict[str, str | None] = {e["name"]: names.get(e["child"]) for e in graph["edges"] if e["parent"] == root}
    for child, node in children.items():
        if node == ids.replication_node:
            return child
    raise LiveError(f"the quorum of {ids.disk} on {session.name} has no child {ids.replication_node} "
                    f"(its children: {', '.join(f'{k}={v}' for k, v in children.items()) or 'none'}); "
                    "was it detached already?")


async def peer_connections(ask: Asker, role: str) -> list[dict[str, Any]]:
    """What ties this VM to the other side, as ``yank`` instances from ``query-yank``: the chardevs to the
    peer (by the topology's ids for ``role``), the NBD clients under the replication node (or the replication
    node itself, where it is an nbd node) and under a resume's disk copy, and the migration. Never a monitor,
    nor the local loops colo-compare reads."""
    ids = ask.topology.ids
    chardevs = _peer_chardevs(ask.topology, role)
    listed = await ask.query("query-yank")
    clients: set[str] = set()
    if any(i.get("type") == "block-node" for i in listed):
        graph = await ask.query("x-debug-query-block-graph")
        # under the replication node, and under a resume's disk copy (its target writes to the new secondary)
        below = [n["id"] for n in graph["nodes"] if n["name"] == ids.replication_node
                 or (n["name"] == ids.resync_job and n["type"] == "block-job")]
        clients.add(ids.replication_node)  # itself, when it is the NBD client (the upstream variant)
        while below:
            node = below.pop()
            children = [e["child"] for e in graph["edges"] if e["parent"] == node]
            clients |= {n["name"] for n in graph["nodes"] if n["id"] in children}
            below += children
    return [i for i in listed if (i.get("type") == "chardev" and i.get("id") in chardevs)
            or (i.get("type") == "block-node" and i.get("node-name") in clients) or i.get("type") == "migration"]


def _peer_chardevs(topology: Topology, role: str) -> set[str]:
    ids = topology.ids
    return {"primary": {ids.mirror_chardev, ids.compare_chardev},
            "secondary": {ids.secondary_in, ids.secondary_out}}[role]


async def peer_connections_out_of_band(oob: Session, topology: Topology, role: str) -> list[dict[str, Any]]:
    """`peer_connections` for a VM whose main loop is wedged (a peer that stopped in the middle of a
    checkpoint holds QEMU's big lock on it: the drain waits on its NBD client, the RAM on the migration
    socket), asked on its out-of-band session. The block graph cannot be read then, so every NBD client
    ``query-yank`` lists is taken: on a COLO VM each of them writes to the peer (the replication's, a resume's
    disk copy), and it is the one whose flush holds the lock."""
    reply = await oob.execute("query-yank", oob=oob.oob_capable)
    if not isinstance(reply, Ok):
        raise LiveError(f"query-yank on {oob.name}: {reply.message}")
    chardevs = _peer_chardevs(topology, role)
    return [i for i in reply.value if (i.get("type") == "chardev" and i.get("id") in chardevs)
            or i.get("type") in ("block-node", "migration")]


def described(instances: list[Any]) -> str:
    """Yank instances for people: ``chardev mirror0, block-node #block318, migration``."""
    return ", ".join(" ".join(str(i[k]) for k in ("type", "id", "node-name") if k in i) for i in instances
                     if isinstance(i, dict)) or "nothing"


async def parent_node(ask: Asker) -> str:
    """The node name behind the secondary's ``parent0`` drive (needed by block-export-add)."""
    parent = ask.topology.ids.parent
    for device in await ask.query("query-block"):
        if device.get("device") == parent and "inserted" in device:
            return str(device["inserted"]["node-name"])
    raise LiveError(f"{ask.session.name} has no drive {parent} with a medium")


async def rewriter_insert(ask: Asker) -> str | None:
    """``before`` if this VM still has the secondary's rewriter filter, else nothing."""
    return "before" if ask.topology.ids.rewriter in await ask.object_ids() else None


async def rewriter_position(ask: Asker) -> str | None:
    rewriter = ask.topology.ids.rewriter
    return f"id={rewriter}" if rewriter in await ask.object_ids() else None


Resolver = Callable[[Asker], Awaitable[Any]]

#: ``{live.NAME}`` → how to find it on the step's target VM.
LIVE: dict[str, Resolver] = {
    "replication_child": replication_child,
    "parent_node": parent_node,
    "rewriter_insert": rewriter_insert,
    "rewriter_position": rewriter_position,
}
