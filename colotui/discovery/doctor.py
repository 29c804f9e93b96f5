"""The doctor: a cross-VM audit of a COLO pair's wiring, one verdict per check.

Each `Finding` says ok, warning or error in one line, names the objects and
values it looked at, and points at where the console's tree shows them. What
a check expects depends on the state the pair is in: a fresh pair waits for
startup, a pair in COLO must be wired end to end, a VM running alone after a
failover has no COLO filters left.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..compat import broken, deprecated_colo, needs_return_path
from ..qmp.schema import Schema
from .derive import Discovered, discover, swapped
from .snapshot import BlockNodeInfo, Snapshot

OK, WARNING, ERROR = "ok", "warning", "error"


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warning | error
    check: str  # a short name: "versions", "chardev link", …
    text: str
    role: str = ""  # the VM it is about (primary, secondary), if one
    node: str = ""  # the key of the console's tree node that shows it: "net/lan0", "chardev/mir-out"

    def line(self) -> str:
        where = f" [{self.role}{' ' + self.node if self.node else ''}]" if self.role else ""
        return f"{self.level.upper():<7} {self.check}: {self.text}{where}"


def _loopback(host: str) -> bool | None:
    """True for 127/8 and ::1, False for other addresses, None for a name or a wildcard."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return None if address.is_unspecified else address.is_loopback


class _Audit:
    def __init__(self, p: Snapshot | None, s: Snapshot | None) -> None:
        self.p, self.s = p, s
        self.found: Discovered = discover(p, s)
        self.findings: list[Finding] = []

    def add(self, level: str, check: str, text: str, role: str = "", node: str = "") -> None:
        self.findings.append(Finding(level, check, text, role, node))

    def id(self, key: str) -> str | None:
        found = self.found.get(key)
        return str(found.value) if found else None

    # -- the checks ------------------------------------------------------------------------------

    def versions(self) -> None:
        known = {role: vm.version for role, vm in (("primary", self.p), ("secondary", self.s)) if vm and vm.version}
        for role, version in known.items():
            if reason := broken(version):
                self.add(ERROR, "QEMU version", reason, role)
        if len(known) == 2:
            if known["primary"] != known["secondary"]:
                self.add(ERROR, "QEMU version", f"the primary runs {known['primary']}, the secondary "
                         f"{known['secondary']}: COLO needs the same version on both sides")
            elif not any(broken(v) for v in known.values()):
                self.add(OK, "QEMU version", f"{known['primary']} on both sides")

    def capabilities(self, role: str, vm: Snapshot) -> None:
        caps = vm.capabilities
        if "x-colo" not in caps:
            self.add(ERROR, "x-colo", "this QEMU has no x-colo capability (built without replication)", role)
            return
        if vm.version is not None and caps.get("x-colo") and caps.get("return-path") \
                and not needs_return_path(vm.version) and vm.colo_mode == "none":
            self.add(ERROR, "return-path", f"x-colo and return-path are both on: QEMU {vm.version} never enters "
                     "COLO with return-path (only 11.0 and later want it); turn return-path off", role, "colo/caps")
        if vm.colo_mode == "secondary":
            return  # x-colo matters on a secondary before the migration only
        if vm.colo_mode == "primary":
            self.add(OK if caps["x-colo"] else ERROR, "x-colo", f"x-colo is {'on' if caps['x-colo'] else 'off'} "
                     "in COLO", role, "colo/caps")
            if not caps.get("events"):
                self.add(WARNING, "events", "the events capability is off: no MIGRATION events, checkpoints go "
                         "unseen", role, "colo/caps")
        elif role == "secondary" and vm.runstate == "inmigrate":
            listens = vm.migration_listens
            if listens and not caps["x-colo"]:
                self.add(ERROR, "x-colo", f"the secondary already listens for the migration on {listens[0]}:"
                         f"{listens[1]} with x-colo off: QEMU 10 exits when the COLO stream comes; set x-colo "
                         "first (start it with -incoming defer: startup sets x-colo, then migrate-incoming)",
                         role, "colo/caps")
            else:
                self.add(OK, "x-colo", f"x-colo is {'on' if caps['x-colo'] else 'off'}"
                         f"{'' if caps['x-colo'] else ' (startup turns it on before the migration)'}", role)

    def incoming(self, vm: Snapshot) -> None:
        if vm.runstate != "inmigrate":
            return
        if vm.migration_listens is None:
            self.add(OK, "incoming", "the secondary waits with -incoming defer (startup sends migrate-incoming)",
                     "secondary", "colo/migration")
        elif vm.colo_mode == "none" and not vm.capabilities.get("x-colo"):
            pass  # said by the x-colo check
        else:
            host, port = vm.migration_listens
            self.add(WARNING, "incoming", f"the secondary listens for the migration on {host}:{port} already "
                     "(-incoming tcp:… or migrate-incoming sent): colotui's startup and resume expect -incoming "
                     "defer and stop at migrate-incoming", "secondary", "colo/migration")

    def primary_filters(self, vm: Snapshot) -> None:
        alone = vm.colo_mode == "none" and vm.colo_last_mode != "none"
        wanted = (("filter-mirror", "tx", "outdev", "copies the guest's tx to the secondary"),
                  ("filter-redirector", "rx", "indev", "feeds colo-compare's output to the guest"),
                  ("filter-redirector", "rx", "outdev", "sends the guest's rx to colo-compare"))
        netdev = self.id("ids.netdev") or "?"
        chain = [f for n, f in vm.filters() if n.id == netdev]
        missing = []
        for kind, queue, end, does in wanted:
            if not any(f.type == kind and f.queue == queue and getattr(f, end) for f in chain):
                missing.append(f"{kind} queue={queue} with {end} ({does})")
        if alone:
            level = OK if len(missing) == len(wanted) else WARNING
            self.add(level, "filters", "running alone after a failover: " + ("no COLO filters, as expected"
                     if level == OK else "some COLO filters are left: " + ", ".join(f.id for f in chain)),
                     "primary", f"net/{netdev}")
            return
        for text in missing:
            self.add(ERROR, "filters", f"no {text} on {netdev}", "primary", f"net/{netdev}")
        rewriter = next((i for i, f in enumerate(chain) if f.type == "filter-rewriter"), None)
        if rewriter is not None and any(i > rewriter for i, f in enumerate(chain) if f.type != "filter-rewriter"):
            self.add(ERROR, "filter order", f"on {netdev} a COLO filter comes after the rewriter "
                     f"{chain[rewriter].id}: insert them before it (insert=before, position=id=…)", "primary",
                     f"net/{netdev}")
        elif not missing:
            self.add(OK, "filters", f"{netdev}: " + " → ".join(f"{f.id} ({f.type.removeprefix('filter-')})"
                                                             for f in chain), "primary", f"net/{netdev}")

    def secondary_filters(self, vm: Snapshot) -> None:
        if vm.colo_mode == "none" and vm.colo_last_mode != "none":
            return  # it runs alone (or as a primary): the primary checks apply to it
        nets = [n for n in vm.netdevs if n.filters] or list(vm.netdevs)
        netdev = nets[0].id if nets else "?"
        chain = [f for n, f in vm.filters() if n.id == netdev]
        wanted = (("filter-redirector", "tx", "indev", "the primary's mirrored tx into the guest"),
                  ("filter-redirector", "rx", "outdev", "the guest's rx to the primary's colo-compare"),
                  ("filter-rewriter", "all", "", "TCP sequence numbers"))
        missing = [f"{kind} queue={queue}{' with ' + end if end else ''} ({does})" for kind, queue, end, does in wanted
                   if not any(f.type == kind and f.queue == queue and (not end or getattr(f, end)) for f in chain)]
        for text in missing:
            self.add(ERROR, "filters", f"no {text} on {netdev}", "secondary", f"net/{netdev}")
        order = [f.type for f in chain]
        if "filter-rewriter" in order and "filter-redirector" in order[order.index("filter-rewriter"):]:
            self.add(ERROR, "filter order", f"on {netdev} a redirector comes after the rewriter: the document "
                     "adds the rewriter last", "secondary", f"net/{netdev}")
        elif not missing:
            self.add(OK, "filters", f"{netdev}: " + " → ".join(f"{f.id} ({f.type.removeprefix('filter-')})"
                                                             for f in chain), "secondary", f"net/{netdev}")

    def link(self, what: str, listener_key: str, client_key: str) -> None:
        """A primary chardev the secondary connects to, and the secondary's chardev that connects."""
        assert self.p is not None and self.s is not None
        listener_id, client_id = self.id(listener_key), self.id(client_key)
        listener = self.p.chardevs.get(listener_id or "")
        client = self.s.chardevs.get(client_id or "")
        if listener is None or client is None:
            missing = [f"the primary's {what} listener" if listener is None else "",
                       f"the secondary's {what} chardev" if client is None else ""]
            self.add(ERROR, f"{what} link", "cannot check: no " + " and no ".join(m for m in missing if m))
            return
        if client.peer != listener.local and not _same_port(client.peer, listener.local):
            self.add(ERROR, f"{what} link", f"the secondary's {client.label} connects to {client.peer}, but the "
                     f"primary's {listener.label} listens on {listener.local}", "secondary",
                     f"chardev/{client.label}")
        elif not client.connected:
            self.add(ERROR, f"{what} link", f"the secondary's {client.label} is not connected to {client.peer} "
                     f"(the primary's {listener.label})", "secondary", f"chardev/{client.label}")
        else:
            self.add(OK, f"{what} link", f"the secondary's {client.label} → the primary's {listener.label} on "
                     f"{listener.local}, connected", "secondary", f"chardev/{client.label}")

    def compare(self, vm: Snapshot) -> None:
        compares = vm.objects_of("colo-compare")
        if not compares:
            if vm.colo_mode == "primary" or (vm.colo_mode == "none" and vm.colo_last_mode == "none"):
                self.add(ERROR, "colo-compare", "the primary has no colo-compare object", "primary", "network")
            return
        compare = compares[0]
        props = {k: str(v).removeprefix("/objects/") for k, v in vm.props(compare).items()}
        problems = []
        for prop in ("primary_in", "secondary_in", "outdev"):
            if props.get(prop) not in vm.chardevs:
                problems.append(f"its {prop} {props.get(prop) or '(none)'} is not a chardev")
        if props.get("iothread") and props["iothread"] not in vm.iothreads:
            problems.append(f"its iothread {props['iothread']} does not exist")
        loops = {"primary_in": self.id("ids.compare_loop_server"), "outdev": self.id("ids.compare_out_server")}
        for prop, server_id in loops.items():
            client = vm.chardevs.get(props.get(prop, ""))
            server = vm.chardevs.get(server_id or "")
            if client is not None and server is not None and not (client.connected and client.peer == server.local):
                problems.append(f"its {prop} {client.label} is not connected to {server.label} ({server.local})")
        if props.get("secondary_in") and props.get("secondary_in") != self.id("ids.mirror_chardev") \
                and props["secondary_in"] in vm.chardevs and not vm.chardevs[props["secondary_in"]].server:
            problems.append(f"its secondary_in {props['secondary_in']} does not listen for the secondary")
        if problems:
            for text in problems:
                self.add(ERROR, "colo-compare", f"{compare}: {text}", "primary", f"compare/{compare}")
        else:
            self.add(OK, "colo-compare", f"{compare}: primary_in {props.get('primary_in')}, secondary_in "
                     f"{props.get('secondary_in')}, outdev {props.get('outdev')}, iothread {props.get('iothread')}",
                     "primary", f"compare/{compare}")

    def quorum(self, role: str, vm: Snapshot) -> None:
        if not vm.quorums:
            self.add(ERROR, "quorum", "no drive whose root is a quorum node", role, "block")
            return
        drive = vm.quorums[0]
        root = vm.nodes[vm.drives[drive]]
        threshold = str(root.options.get("vote-threshold", "?"))
        children = vm.quorum_children(drive)
        listed = ", ".join(f"{edge}={n.name} ({n.driver})" for edge, n in children.items())
        if threshold != "1":
            self.add(ERROR, "quorum", f"{drive} has vote-threshold={threshold}: COLO needs 1", role, f"drive/{drive}")
        replication = [n for n in children.values() if n.driver == "replication"]
        to_secondary = [n for n in children.values() if n.driver == "nbd"] + replication  # upstream's, the doc's
        if role == "secondary" and (vm.colo_mode != "none" or vm.runstate == "inmigrate"):
            self._secondary_replication(vm, drive, replication)
        elif role == "primary" and vm.colo_mode == "primary" and not to_secondary:
            self.add(ERROR, "quorum", f"{drive} in COLO with no child writing to the secondary (a replication or "
                     f"nbd node; {listed})", role, f"drive/{drive}")
        elif threshold == "1":
            self.add(OK, "quorum", f"{drive}: vote-threshold=1, {listed}", role, f"drive/{drive}")

    def _secondary_replication(self, vm: Snapshot, drive: str, replication: list[BlockNodeInfo]) -> None:
        if not replication:
            self.add(ERROR, "replication", f"the secondary's quorum {drive} has no replication child", "secondary",
                     f"drive/{drive}")
            return
        node = replication[0]
        mode, top = node.options.get("mode"), node.options.get("top-id")
        if mode not in (None, "secondary"):
            self.add(ERROR, "replication", f"{node.name} has mode={mode}; the secondary's must be secondary",
                     "secondary", f"drive/{drive}")
        elif top is not None and top != drive:
            self.add(ERROR, "replication", f"{node.name} has top-id={top}, but the quorum is {drive}: the "
                     "secondary leaves COLO at the first checkpoint (the 2019 text's top-id=childs0 trap)",
                     "secondary", f"drive/{drive}")
        else:
            self.add(OK, "replication", f"{node.name}: mode=secondary, top-id={top or '(not shown)'}", "secondary",
                     f"drive/{drive}")

    def nbd(self) -> None:
        assert self.p is not None and self.s is not None
        if "ids.replication_node" not in self.found:
            return
        export = self.id("ids.parent")
        host, port = self.id("addr.secondary"), self.found.get("ports.nbd")
        node = self.s.exports.get(export or "")
        if node is None:
            self.add(ERROR, "nbd export", f"the primary's replication writes to nbd://{host}:{port and port.value}/"
                     f"{export}, but the secondary exports {', '.join(self.s.exports) or 'nothing'}", "secondary",
                     "block")
            return
        info = self.s.nodes.get(node)
        writable = info is not None and "" in info.writers  # an unnamed block backend: the export's
        self.add(OK if writable else ERROR, "nbd export", f"{export} on node {node}: "
                 + ("writable" if writable else "not writable (the primary's writes would fail)"), "secondary",
                 f"export/{export}")

    def checkpoint_delay(self, vm: Snapshot) -> None:
        delay = vm.checkpoint_delay
        if delay is None or vm.colo_mode != "primary":
            return
        level = WARNING if delay >= 20000 else OK
        self.add(level, "x-checkpoint-delay", f"{delay} ms" + (" (QEMU's default: was it set?)" if level == WARNING
                                                                else ""), "primary", "colo/delay")

    def exposure(self, role: str, vm: Snapshot) -> None:
        for chardev in vm.chardevs.values():
            if not chardev.server or chardev.backend != "tcp":
                continue
            host = chardev.local.rpartition(":")[0]
            local = _loopback(host)
            monitor = chardev.label.startswith("compat_monitor")
            node = f"chardev/{chardev.label}"
            if local is None:
                self.add(WARNING, "exposure", f"{'QMP monitor' if monitor else 'chardev'} {chardev.label} listens "
                         f"on every address ({chardev.local}): anyone who reaches the host can "
                         f"{'drive QEMU' if monitor else 'read raw guest packets'}", role, node)
            elif local is False:
                self.add(WARNING, "exposure", f"{'QMP monitor' if monitor else 'chardev'} {chardev.label} listens "
                         f"on {chardev.local}, not a loopback address", role, node)

    def run(self) -> list[Finding]:
        self.versions()
        for role, vm in (("primary", self.p), ("secondary", self.s)):
            if vm is None:
                self.add(ERROR, "reachable", f"the {role} does not answer QMP: nothing of it could be checked", role)
                continue
            self.capabilities(role, vm)
            self.quorum(role, vm)
            self.exposure(role, vm)
        if self.p is not None:
            self.primary_filters(self.p)
            self.compare(self.p)
            self.checkpoint_delay(self.p)
        if self.s is not None:
            self.incoming(self.s)
            self.secondary_filters(self.s)
        if self.p is not None and self.s is not None and self.s.colo_last_mode == "none":
            self.link("mirror", "ids.mirror_chardev", "ids.secondary_in")
            self.link("compare", "ids.compare_chardev", "ids.secondary_out")
            self.nbd()
        return self.findings


def _same_port(a: str, b: str) -> bool:
    """``127.0.0.1:9003`` and ``localhost:9003``-like spellings of one listener: same port, and the client's
    host is the listener's or a name."""
    (ha, _, pa), (hb, _, pb) = a.rpartition(":"), b.rpartition(":")
    return pa == pb and (ha == hb or _loopback(ha) is None)


def audit(primary: Snapshot | None, secondary: Snapshot | None) -> list[Finding]:
    """Every finding about the pair, in the order a person reads a wiring diagram."""
    return _Audit(primary, secondary).run()


def roles_of(first: Snapshot | None, second: Snapshot | None) -> tuple[Snapshot | None, Snapshot | None]:
    """(primary, secondary) as the VMs play them."""
    return (second, first) if swapped(first, second) else (first, second)


def deprecations(schemas: dict[str, Schema]) -> list[Finding]:
    """A warning for each VM (by the role it plays) whose schema marks COLO's parts deprecated: the snapshot
    does not hold the schema, so the caller probes it."""
    return [Finding(WARNING, "deprecated", f"this QEMU marks COLO deprecated ({', '.join(found)}): it may be "
                    "removed in a later version", role)
            for role, schema in schemas.items() if (found := deprecated_colo(schema))]
