"""A pair's topology, derived from its two live VMs: who plays which role, and every id and port.

Each value comes with where it was found, so an operator (and `colotui
topology`) can see why colotui believes it. Things are found by what they
are, not by their names: the quorum is the drive whose root is a quorum node,
the mirror filter is the filter-mirror on the guest's netdev, its chardev is
its outdev, and so on. What a dead or fresh VM cannot show stays unknown;
the caller fills it from hints (a lab, a remembered pair) or the document's
defaults, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.network import Chardev
from .snapshot import Snapshot


@dataclass(frozen=True)
class Found:
    """A topology value and where it came from (``primary: filter-mirror fmir``)."""

    value: Any
    where: str
    guess: bool = False  # told apart by port or by the document's name, not by what uses it: a value
    #                      known from before (the pair's earlier look, a lab) wins over it


Discovered = dict[str, Found]  # "ids.disk", "ports.nbd", "addr.secondary" → Found


def plays(vm: Snapshot) -> str | None:
    """The role a VM plays now, by what it says: COLO's mode, or a fresh secondary waiting for its
    migration, or a VM running alone after a failover (it takes the next secondary); None if unclear."""
    if vm.colo_mode in ("primary", "secondary"):
        return vm.colo_mode
    if vm.runstate == "inmigrate":
        return "secondary"
    if vm.colo_last_mode != "none" or vm.objects_of("colo-compare") or vm.filters("filter-mirror"):
        return "primary"
    return None


def swapped(first: Snapshot | None, second: Snapshot | None) -> bool:
    """Whether the VMs given as (primary, secondary) play the other way round; with one VM unknown
    (dead, hung), the other decides alone."""
    a = plays(first) if first is not None else None
    b = plays(second) if second is not None else None
    if a == b:  # both unknown, or both claim one role (split brain): the order given stands
        return False
    return a == "secondary" or b == "primary"


def _port(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() and host else None


def _add(found: Discovered, key: str, value: Any, where: str, guess: bool = False) -> None:
    if value not in (None, "") and key not in found:
        found[key] = Found(value, where, guess)


def _primary(vm: Snapshot, found: Discovered) -> None:
    me = f"primary {vm.name}"
    _net_filters(vm, found, me)
    _compare(vm, found, me)
    _loops(vm, found, me)
    _quorum(vm, found, me)
    _listeners(vm, found, me)
    _chardev_ports(vm, found, me)


def _net_filters(vm: Snapshot, found: Discovered, me: str) -> None:
    """The guest's netdev and NIC, and the filters on it: the mirror, the redirectors, a rewriter."""
    mirrors = vm.filters("filter-mirror")
    redirectors = vm.filters("filter-redirector")
    netdev = mirrors[0][0] if mirrors else (vm.netdevs[0] if len(vm.netdevs) == 1 else None)
    if netdev is not None:
        _add(found, "ids.netdev", netdev.id, f"{me}: the guest's netdev" + (" (has filter-mirror)" if mirrors else ""))
        if netdev.nic:
            _add(found, "ids.nic", netdev.nic.split(" ")[0], f"{me}: the NIC on {netdev.id}")
    for n, f in mirrors:
        _add(found, "ids.filter_mirror", f.id, f"{me}: filter-mirror on {n.id}")
        _add(found, "ids.mirror_chardev", f.outdev, f"{me}: filter-mirror {f.id}'s outdev")
    for n, f in redirectors:
        if f.indev:
            _add(found, "ids.filter_redirect_in", f.id, f"{me}: filter-redirector on {n.id} reading {f.indev}")
            _add(found, "ids.compare_out_server", f.indev, f"{me}: filter-redirector {f.id}'s indev")
        elif f.outdev:
            _add(found, "ids.filter_redirect_out", f.id, f"{me}: filter-redirector on {n.id} writing {f.outdev}")
            _add(found, "ids.compare_loop_server", f.outdev, f"{me}: filter-redirector {f.id}'s outdev")
    for _, f in vm.filters("filter-rewriter"):
        _add(found, "ids.rewriter", f.id, f"{me}: filter-rewriter (it was a secondary once)")


def _compare(vm: Snapshot, found: Discovered, me: str) -> None:
    """colo-compare and the chardevs (and iothread) it links."""
    for compare in vm.objects_of("colo-compare"):
        props = vm.props(compare)
        _add(found, "ids.compare", compare, f"{me}: colo-compare object")
        for prop, key in (("primary_in", "compare_loop_client"), ("secondary_in", "compare_chardev"),
                          ("outdev", "compare_out_client"), ("iothread", "iothread")):
            value = props.get(prop)  # a link (iothread) reads as its QOM path, /objects/ID
            _add(found, f"ids.{key}", str(value).removeprefix("/objects/") if value else None,
                 f"{me}: colo-compare {compare}'s {prop}")


def _quorum(vm: Snapshot, found: Discovered, me: str) -> None:
    """The guest's quorum drive, and its child that writes to the secondary over NBD: which variant, and
    where it writes (the secondary's address, the NBD port, the export: the secondary's parent node)."""
    for drive in vm.quorums[:1]:
        _add(found, "ids.disk", drive, f"{me}: the guest's quorum drive")
        for edge, node in vm.quorum_children(drive).items():
            # the document's replication node over NBD, or (upstream's way) an nbd node itself; a primary
            # that was a secondary still has its own (secondary-mode) replication child
            if node.driver == "nbd":
                spec = node.options
                _add(found, "variant", "upstream", f"{me}: quorum {drive}'s {edge} is an nbd node")
            elif node.driver == "replication" and _writes_over_nbd(vm, node.name):
                nbd = vm.nodes.get(node.children.get("file", ""))
                spec = node.options.get("file", {}) if isinstance(node.options.get("file"), dict) else {}
                if nbd is not None and nbd.driver == "nbd" and not spec:
                    spec = nbd.options
                _add(found, "variant", "doc", f"{me}: quorum {drive}'s {edge} is a replication node")
            else:
                continue
            _add(found, "ids.replication_node", node.name, f"{me}: quorum {drive}'s {edge} ({node.driver})")
            _nbd_target(found, spec, f"{me}: {node.driver} {node.name}")


def _nbd_target(found: Discovered, spec: dict[str, Any], writer: str) -> None:
    """Where an NBD client's options (``host``/``port``, or a ``server`` object) say it writes."""
    host, port, export = spec.get("host"), spec.get("port"), spec.get("export")
    if isinstance(spec.get("server"), dict):
        host, port = spec["server"].get("host"), spec["server"].get("port")
    where = f"{writer} writes to nbd://{host}:{port}/{export}"
    _add(found, "addr.secondary", host, where)
    _add(found, "ports.nbd", int(port) if port is not None else None, where)
    _add(found, "ids.parent", export, where)


def _chardev_ports(vm: Snapshot, found: Discovered, me: str) -> None:
    """The primary's address and the mirror's and compare's ports, from the chardevs that listen for the
    secondary."""
    for label in (found.get("ids.mirror_chardev"), found.get("ids.compare_chardev")):
        chardev = vm.chardevs.get(str(label.value)) if label else None
        if chardev is not None and chardev.server and (hp := _port(chardev.local)):
            key = "ports.mirror" if label is found.get("ids.mirror_chardev") else "ports.compare"
            _add(found, "addr.primary", hp[0], f"{me}: chardev {chardev.label} listens on {chardev.local}")
            _add(found, key, hp[1], f"{me}: chardev {chardev.label} listens on {chardev.local}")


def _loops(vm: Snapshot, found: Discovered, me: str) -> None:
    """The two local loops (a listening chardev and a client connected to it). With the filters and
    colo-compare gone (after a failover) they are told apart by the ids already found, else by port
    (the document's 9001 loop before its 9005 one; either works, they are symmetric)."""
    servers = {c.local: c for c in vm.chardevs.values() if c.server and c.backend == "tcp"}
    loops: list[tuple[Chardev, Chardev]] = []
    for client in vm.chardevs.values():
        if not client.server and client.backend == "tcp" and client.peer in servers:
            loops.append((servers[client.peer], client))
    loops.sort(key=lambda pair: _port(pair[0].local) or ("", 0))
    known: dict[str, str] = {k: str(found[k].value) for k in ("ids.compare_loop_server", "ids.compare_loop_client",
                                              "ids.compare_out_server", "ids.compare_out_client") if k in found}
    free = [pair for pair in loops if not {pair[0].label, pair[1].label} & set(known.values())]
    for kind, port_key in (("compare_loop", "ports.compare_loop"), ("compare_out", "ports.compare_out")):
        pair = next((p for p in loops if known.get(f"ids.{kind}_server") == p[0].label
                     or known.get(f"ids.{kind}_client") == p[1].label), None)
        guess = pair is None
        if pair is None and free:
            pair = free.pop(0)
        if pair is None:
            continue
        where = f"{me}: local loop {pair[1].label} → {pair[0].label} on {pair[0].local}" + \
            (" (by port: nothing uses it now)" if guess else "")
        _add(found, f"ids.{kind}_server", pair[0].label, where, guess)
        _add(found, f"ids.{kind}_client", pair[1].label, where, guess)
        if hp := _port(pair[0].local):
            _add(found, port_key, hp[1], where, guess)


def _writes_over_nbd(vm: Snapshot, node: str) -> bool:
    return vm.nodes[node].options.get("mode") == "primary" or any(
        vm.nodes[n].driver == "nbd" for n in vm.subtree(node) if n in vm.nodes)


def _listeners(vm: Snapshot, found: Discovered, me: str) -> None:
    """The chardevs a secondary connects to, when no filter names them (after a failover): the listener on
    the port the secondary's chardev connects to, else the document's name, else by port (mirror first)."""
    taken = {str(f.value) for k, f in found.items() if k.startswith("ids.")}
    listeners = sorted((c for c in vm.chardevs.values() if c.server and c.backend == "tcp"
                        and c.label not in taken and not c.label.startswith("compat_monitor")),
                       key=lambda c: _port(c.local) or ("", 0))
    for key, port_key, default in (("ids.mirror_chardev", "ports.mirror", "mirror0"),
                                   ("ids.compare_chardev", "ports.compare", "compare1")):
        if key in found:
            continue
        port = found[port_key].value if port_key in found else None
        chosen = next((c for c in listeners if port is not None and (_port(c.local) or ("", 0))[1] == port), None)
        how, guess = f"listens on the port the secondary connects to ({port})", False
        if chosen is None:
            chosen = next((c for c in listeners if c.label == default), None)
            how, guess = "the document's name, listening", True
        if chosen is None and len(listeners) >= 2 and port is None:
            chosen, how = listeners[0], "the lowest listening port left (mirror before compare, as the document)"
        if chosen is not None:
            listeners.remove(chosen)
            _add(found, key, chosen.label, f"{me}: chardev {chosen.label}: {how}", guess)


def _secondary(vm: Snapshot, found: Discovered) -> None:
    me = f"secondary {vm.name}"
    for n, f in vm.filters("filter-redirector"):
        if f.indev:
            _add(found, "ids.secondary_filter_in", f.id, f"{me}: filter-redirector on {n.id} reading {f.indev}")
            _add(found, "ids.secondary_in", f.indev, f"{me}: filter-redirector {f.id}'s indev")
        elif f.outdev:
            _add(found, "ids.secondary_filter_out", f.id, f"{me}: filter-redirector on {n.id} writing {f.outdev}")
            _add(found, "ids.secondary_out", f.outdev, f"{me}: filter-redirector {f.id}'s outdev")
    for key, port_key in (("ids.secondary_in", "ports.mirror"), ("ids.secondary_out", "ports.compare")):
        chardev = vm.chardevs.get(str(found[key].value)) if key in found else None
        if chardev is not None and not chardev.server and (hp := _port(chardev.peer)):
            where = f"{me}: chardev {chardev.label} connects to {chardev.peer}"
            _add(found, "addr.primary", hp[0], where)
            _add(found, port_key, hp[1], where)
    for drive in vm.quorums[:1]:
        _add(found, "ids.disk", drive, f"{me}: the guest's quorum drive")
        for edge, node in vm.quorum_children(drive).items():
            if node.driver != "replication":
                continue
            backend = next((d for d, n in vm.drives.items() if n == node.name), None)
            _add(found, "ids.secondary_replication", backend, f"{me}: quorum {drive}'s {edge} (replication)")
            below = vm.subtree(node.name)
            parent = sorted(d for d, n in vm.drives.items() if n in below and d not in (drive, backend))
            if parent:
                _add(found, "ids.parent", parent[0], f"{me}: the drive under replication {backend or node.name}")
    if listens := vm.migration_listens:
        where = f"{me}: its incoming migration listens on {listens[0]}:{listens[1]}"
        _add(found, "addr.secondary", listens[0], where)
        _add(found, "ports.migration", listens[1], where)
    if "ids.parent" not in found:  # a fresh secondary: the one drive with a medium besides the quorum
        others = sorted(d for d in vm.drives if d not in vm.quorums and d not in vm.guest_drives)
        if len(others) == 1:
            _add(found, "ids.parent", others[0], f"{me}: its only drive besides the quorum")


def discover(primary: Snapshot | None, secondary: Snapshot | None) -> Discovered:
    """Every value the two VMs (by the role they play) show; either may be None (dead, hung, not asked)."""
    found: Discovered = {}
    if secondary is not None:  # first: its drive names the parent, which the primary knows as an export name
        _secondary(secondary, found)
    if primary is not None:
        _primary(primary, found)
    return found
