"""One VM's live tree: COLO, network, chardevs and block, as labelled items keyed for updates.

`sections` is a pure function of a `VMView` (tested without a terminal);
`VMTree` keeps a Textual tree in step with it, changing labels in place and
briefly highlighting the ones that changed. Checkpoints are not in the tree
(the pane's checkpoint strip counts them): nothing here changes at every one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..model.block import BlockJob, BlockNode
from ..model.checkpoints import CheckpointStats
from ..model.network import Chardev, Filter
from ..model.vm import VMView
from .keymap import bindings

HIGHLIGHT_SECONDS = 1.5
#: Items that start folded (their label says enough); the operator's own folding is kept.
COLLAPSED = ("compare/",)
_SOCKETS = ("tcp",)


@dataclass
class Item:
    key: str
    label: Text
    children: list[Item] = field(default_factory=list)


def _t(*parts: str | tuple[str, str]) -> Text:
    return Text.assemble(*parts)


def _colo(view: VMView) -> Item:
    items = [Item("colo/role", _t("role: ", (view.role, "bold magenta")))]
    migration = view.migration or "?"
    items.append(Item("colo/migration", _t("migration: ", (migration, "bold green" if migration == "colo" else ""))))
    if view.checkpoint_delay_ms is not None and (view.colo is None or view.colo.mode != "secondary"):
        items.append(Item("colo/delay", _t(f"x-checkpoint-delay: {view.checkpoint_delay_ms} ms")))
    if view.capabilities:
        items.append(Item("colo/caps", _t("capabilities on: " + ", ".join(view.capabilities))))
    if view.colo_exit is not None:
        data = dict(view.colo_exit)
        style = "bold red" if data.get("reason") == "error" else "yellow"
        items.append(Item("colo/exit", _t(("last COLO_EXIT: ", style),
                                          (f"mode {data.get('mode', '?')}, reason {data.get('reason', '?')}", style))))
    return Item("colo", _t(("COLO", "bold")), items)


def _filter_label(index: int, f: Filter) -> Text:
    flow = f" ← {f.indev}" if f.indev else ""
    flow += f" → {f.outdev}" if f.outdev else ""
    where = f" (inserted {f.insert} {f.position.removeprefix('id=')})" if f.position != "tail" else ""
    status = "" if f.status == "on" else f" [{f.status}]"
    return _t(f"{index}. ", (f.id, "bold"), f" {f.type} {f.queue}{flow}{where}", (status, "red"))


def _network(view: VMView) -> Item:
    items = []
    for nd in view.netdevs:
        nic = f" ← {nd.nic}" if nd.nic else ""
        filters = [Item(f"net/{nd.id}/{f.id}", _filter_label(i, f)) for i, f in enumerate(nd.filters, 1)]
        if not filters:
            filters = [Item(f"net/{nd.id}/none", _t(("no filters", "dim")))]
        items.append(Item(f"net/{nd.id}", _t((nd.id, "bold"), f" ({nd.type}){nic}"), filters))
    for c in view.compares:
        props = [Item(f"compare/{c.id}/{name}", _t(f"{name}: {value}")) for name, value in c.props]
        flow = f": {c.get('primary_in')} + {c.get('secondary_in')} → {c.get('outdev')}"
        items.append(Item(f"compare/{c.id}", _t((c.id, "bold"), " colo-compare", flow), props))
    if view.iothreads:
        items.append(Item("iothreads", _t("iothreads: " + ", ".join(view.iothreads))))
    return Item("network", _t(("Network", "bold")), items)


def _chardev_label(c: Chardev) -> Text:
    if c.exposed:
        style = "bold red"
    elif c.server:
        style = "green" if c.connected else "yellow"
    else:
        style = "green" if c.connected else "bold red"
    label = _t((c.label, "bold"), " ", (c.describe(), style))
    if c.exposed:
        label.append("  EXPOSED: listens on every interface (raw guest packets)", "bold red")
    return label


def _chardevs(view: VMView) -> Item:
    sockets = [c for c in view.chardevs if c.backend in _SOCKETS]
    items = [Item(f"chardev/{c.label}", _chardev_label(c)) for c in sockets]
    others = [f"{c.label} ({c.backend})" for c in view.chardevs if c.backend not in _SOCKETS]
    if others:
        items.append(Item("chardev/others", _t(("other: " + ", ".join(others), "dim"))))
    return Item("chardevs", _t(("Chardevs", "bold")), items)


_EDGE_NAMES = {"file": "active disk"}  # under a secondary's replication node


def _block_node(prefix: str, node: BlockNode, parent_driver: str = "", parent_detail: str = "") -> Item:
    key = f"{prefix}/{node.edge}"
    edge = node.edge
    if parent_driver == "replication" and parent_detail == "mode secondary":
        edge = _EDGE_NAMES.get(edge, edge)
    name = node.drive or (node.name if not node.name.startswith("#") else "")
    label = _t(f"{edge}: ", (node.driver or "?", "bold"), f" {name}" if name else "",
               (f" {node.detail}" if node.detail else "", "cyan"), (" (shown above)" if node.repeated else "", "dim"))
    children = [] if node.repeated else [_block_node(key, c, node.driver, node.detail) for c in node.children]
    return Item(key, label, children)


def _job_label(job: BlockJob) -> Text:
    if job.internal:
        return _t((job.id, "bold"), f" {job.type} ", ("(internal: not listed by query-block-jobs)", "dim"))
    width = 20
    filled = round(job.progress * width)
    bar = "█" * filled + "░" * (width - filled)
    speed = f", {job.rate / 2**20:.1f} MiB/s" if job.rate else ""
    eta = f", ETA {job.eta:.0f} s" if job.eta is not None else ""
    return _t((job.id, "bold"), f" {job.type} {job.status} ", (bar, "green"), f" {job.progress:.0%}{speed}{eta}")


def _block(view: VMView) -> Item:
    items = [Item(f"drive/{d.device}", _t((d.device, "bold")), [_block_node(f"drive/{d.device}", d.root)])
             for d in view.drives]
    for job in view.jobs:
        items.append(Item(f"job/{job.id}", _job_label(job)))
    for e in view.exports:
        items.append(Item(f"export/{e.id}", _t(f"{e.type} export ", (e.id, "bold"), f" of node {e.node}")))
    return Item("block", _t(("Block", "bold")), items)


#: What changes at every checkpoint or event and the tree does not show (the pane's strip and log do):
#: a view that differs only in these leaves the tree as it is. Anything else may change it.
_NOT_IN_TREE = {"checkpoints": CheckpointStats(), "log": ()}


def sections(view: VMView) -> list[Item]:
    """Everything the pane's tree shows for ``view``."""
    return [_colo(view), _network(view), _chardevs(view), _block(view)]


def _walk(items: list[Item]) -> list[Item]:
    return [found for item in items for found in [item, *_walk(item.children)]]


def _shape(items: list[Item], parent: str = "") -> list[tuple[str, str]]:
    return [pair for item in items for pair in [(parent, item.key), *_shape(item.children, item.key)]]


class VMTree(Tree[str]):
    """The tree widget; `show` brings it in line with a view."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("tree")
    DEFAULT_CSS = "VMTree { height: 1fr; background: $surface; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("vm", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self._node_by_key: dict[str, TreeNode[str]] = {}
        self._label_by_key: dict[str, str] = {}
        self._tree_shape: list[tuple[str, str]] = []
        self._folded: dict[str, bool] = {}  # expandable node → folded, as last seen (the operator's choice)
        self._shown: VMView | None = None  # the view last shown, less what the tree does not show

    def show(self, view: VMView) -> None:
        shown = view.with_(**_NOT_IN_TREE)
        if shown == self._shown:
            return
        self._shown = shown
        items = sections(view)
        shape = _shape(items)
        if shape != self._tree_shape:
            self._rebuild(items)
            self._tree_shape = shape
            return
        self._relabel(items)

    def reveal(self, key: str) -> bool:
        """Unfold down to the node with ``key``, put the cursor on it and focus the tree; False if none."""
        node = self._node_by_key.get(key)
        if node is None:
            return False
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.focus()
        self.call_after_refresh(self.move_cursor, node)
        return True

    def _rebuild(self, items: list[Item]) -> None:
        """New shape: build it again, keeping each node's folding, highlighting the nodes that are new."""
        self._folded |= {k: not n.is_expanded for k, n in self._node_by_key.items() if n.allow_expand}
        known = set(self._node_by_key)
        self.clear()
        self._node_by_key.clear()

        def add(parent: TreeNode[str], item: Item) -> None:
            if item.children:
                folded = self._folded.get(item.key, item.key.startswith(COLLAPSED))
                node = parent.add(item.label, data=item.key, expand=not folded)
                for child in item.children:
                    add(node, child)
            else:
                node = parent.add_leaf(item.label, data=item.key)
            self._node_by_key[item.key] = node

        for item in items:
            add(self.root, item)
        self._label_by_key = {k: str(n.label) for k, n in self._node_by_key.items()}
        if known:
            self._highlight([i for i in _walk(items) if i.key not in known])

    def _relabel(self, items: list[Item]) -> None:
        changed = []
        for item in _walk(items):
            text = item.label.plain
            if self._label_by_key.get(item.key) != text:
                self._label_by_key[item.key] = text
                self._node_by_key[item.key].set_label(item.label)
                changed.append(item)
        self._highlight(changed)

    def _highlight(self, items: list[Item]) -> None:
        """Show ``items`` reversed for a moment: what just changed catches the eye, then calms down."""
        for item in items:
            highlighted = item.label.copy()
            highlighted.stylize("reverse")
            self._node_by_key[item.key].set_label(highlighted)
        if items:
            self.set_timer(HIGHLIGHT_SECONDS, lambda: self._calm(items))

    def _calm(self, items: list[Item]) -> None:
        for item in items:
            node = self._node_by_key.get(item.key)
            if node is not None and self._label_by_key.get(item.key) == item.label.plain:
                node.set_label(item.label)
