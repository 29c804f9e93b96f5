"""A Pacemaker cluster's view of its COLO pairs, read from `crm_mon --output-as=xml` (never its text): plain data.

A COLO pair under Pacemaker is a promotable clone of colod's `colo` resource agent. The agent keeps each node's
promotion score (`master-<resource>`) telling how good that node's copy of the guest is; the cluster promotes the
best. colotui shows the scores spelled out and refuses a manual procedure while the cluster manages the
resource: two managers failing one pair over is how split brain happens.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

#: What colod's `colo` agent means by each promotion score it sets.
SCORES: dict[int, str] = {
    101: "promoted primary",
    100: "secondary in sync",
    11: "primary without replication",
    10: "secondary kept after a peer failure",
    0: "inconsistent (resync not finished)",
}

#: The resource agent type of colod's COLO agent (any provider).
COLO_AGENT = "colo"


class StatusError(ValueError):
    """crm_mon's output says no cluster was read (no CIB, not connected), or is not crm_mon's XML."""


@dataclass(frozen=True)
class Node:
    name: str
    online: bool
    standby: bool = False
    maintenance: bool = False
    unclean: bool = False  # lost and not yet fenced
    expected_up: bool = True

    def state(self) -> str:
        if self.unclean:
            return "UNCLEAN (lost, not fenced yet)"
        words = ["online" if self.online else "offline" + ("" if self.expected_up else " (fenced or stopped)")]
        words += ["standby"] * self.standby + ["maintenance"] * self.maintenance
        return ", ".join(words)


@dataclass(frozen=True)
class Instance:
    """One clone instance: its role (Promoted, Unpromoted, Stopped…) and the node it runs on (none when stopped)."""

    role: str
    node: str | None
    failed: bool = False


@dataclass(frozen=True)
class Failure:
    operation: str  # e.g. colo_monitor_10000
    node: str
    status: str  # crm_mon's exitstatus (error, not running…)
    reason: str = ""
    when: str = ""

    def line(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.operation} on {self.node} {self.status}{reason}" + (f" at {self.when}" if self.when else "")


@dataclass(frozen=True)
class Fencing:
    action: str
    target: str
    status: str
    when: str = ""

    def line(self) -> str:
        return f"{self.action} of {self.target} {self.status}" + (f" at {self.when}" if self.when else "")


@dataclass(frozen=True)
class Resource:
    """A COLO resource: the clone's id, its primitive's id, its agent, whether the cluster manages it."""

    id: str
    primitive: str
    agent: str
    managed: bool
    instances: tuple[Instance, ...]

    def names(self) -> set[str]:
        return {self.id, self.primitive}

    def role_on(self, node: str) -> str:
        return next((i.role for i in self.instances if i.node == node), "Stopped")


@dataclass(frozen=True)
class ClusterView:
    nodes: tuple[Node, ...]
    resources: tuple[Resource, ...]  # the COLO ones (and any asked for by name)
    scores: dict[str, dict[str, int]] = field(default_factory=dict)  # node → attribute → value
    failures: tuple[Failure, ...] = ()
    fencing: tuple[Fencing, ...] = ()
    maintenance_mode: bool = False  # the whole cluster's
    stonith_enabled: bool = True

    def resource(self, name: str) -> Resource | None:
        return next((r for r in self.resources if name in r.names()), None)

    def score(self, resource: Resource, node: str) -> int | None:
        attributes = self.scores.get(node, {})
        for name in (f"master-{resource.primitive}", f"master-{resource.id}"):
            if name in attributes:
                return attributes[name]
        return None


@dataclass(frozen=True)
class ClusterState:
    """What the console and the doctor show of a pair's resource: one line, the full lines, and why a manual
    procedure would be refused now (None: it would not)."""

    line: str
    lines: tuple[str, ...]
    refusal: str | None
    read: bool = True  # False: the cluster could not be read (the line says why)


def spelled(score: int | None) -> str:
    """A promotion score with what colod's agent means by it."""
    if score is None:
        return "unset"
    return f"{score} {SCORES.get(score, 'not a score colod sets')}"


def parse_status(text: str, wanted: frozenset[str] = frozenset()) -> ClusterView:
    """crm_mon's XML: the nodes, the COLO resources (agent type `colo`, or a clone or primitive named in
    ``wanted``), the node attributes, failed actions and fencing history."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise StatusError(f"crm_mon's output is not XML ({exc})") from None
    if root.tag != "pacemaker-result":
        raise StatusError("crm_mon's output is not a pacemaker-result")
    summary = root.find("summary")
    if summary is None:
        errors = [e.text or "" for e in root.iterfind("status/errors/error")]
        status = root.find("status")
        raise StatusError("; ".join(errors) or (status.get("message", "no cluster") if status is not None
                                                 else "no cluster status"))
    options = summary.find("cluster_options")
    return ClusterView(
        nodes=tuple(_node(n) for n in root.iterfind("nodes/node")),
        resources=tuple(_resources(root.find("resources"), wanted)),
        scores=_attributes(root),
        failures=tuple(Failure(f.get("op_key", "?"), f.get("node", "?"), f.get("exitstatus", "?"),
                               f.get("exitreason", ""), f.get("last-rc-change", ""))
                       for f in root.iterfind("failures/failure")),
        fencing=tuple(Fencing(f.get("action", "?"), f.get("target", "?"), f.get("status", "?"),
                              f.get("completed", "") or f.get("last-pending", ""))
                      for f in root.iterfind("fence_history/fence_event")),
        maintenance_mode=_true(options, "maintenance-mode"),
        stonith_enabled=_true(options, "stonith-enabled", "true"))


def _true(element: ET.Element | None, name: str, default: str = "false") -> bool:
    return element is not None and element.get(name, default) == "true"


def _node(n: ET.Element) -> Node:
    return Node(n.get("name", "?"), _true(n, "online"), _true(n, "standby"), _true(n, "maintenance"),
                _true(n, "unclean"), _true(n, "expected_up", "true"))


def _resources(resources: ET.Element | None, wanted: frozenset[str]) -> list[Resource]:
    if resources is None:
        return []
    found = []
    for clone in resources.iter("clone"):
        members = clone.findall("resource")
        if not members:
            continue
        agent = members[0].get("resource_agent", "")
        primitive = members[0].get("id", "")
        if agent.rsplit(":", 1)[-1] != COLO_AGENT and not ({clone.get("id", ""), primitive} & wanted):
            continue
        instances = tuple(Instance(m.get("role", "?"), _on(m), _true(m, "failed")) for m in members)
        managed = _true(clone, "managed", "true") and all(_true(m, "managed", "true") for m in members)
        found.append(Resource(clone.get("id", ""), primitive, agent, managed, instances))
    return found


def _on(instance: ET.Element) -> str | None:
    node = instance.find("node")
    return node.get("name") if node is not None else None


def _attributes(root: ET.Element) -> dict[str, dict[str, int]]:
    scores: dict[str, dict[str, int]] = {}
    for node in root.iterfind("node_attributes/node"):
        for attribute in node.iterfind("attribute"):
            try:
                value = int(attribute.get("value", ""))
            except ValueError:
                continue
            scores.setdefault(node.get("name", "?"), {})[attribute.get("name", "")] = value
    return scores


def maintenance_on(resource: str) -> str:
    """The command that takes ``resource`` out of the cluster's hands (it stops monitoring and acting on it)."""
    return f"crm_resource --resource {resource} --meta --set-parameter maintenance --parameter-value true"


def maintenance_off(resource: str) -> str:
    """The command that gives ``resource`` back to the cluster (which then probes what the VMs are now)."""
    return f"crm_resource --resource {resource} --meta --delete-parameter maintenance"


def refusal(view: ClusterView, name: str) -> str | None:
    """Why nothing may be done by hand to the pair that is resource ``name`` (a procedure, a command that changes
    a VM): None while the cluster leaves it
    alone (cluster-wide maintenance-mode, or the resource in maintenance or unmanaged)."""
    resource = view.resource(name)
    if resource is None:
        known = ", ".join(sorted(r.id for r in view.resources)) or "no COLO resource"
        return f"Pacemaker has no resource {name!r} (crm_mon shows {known}); nothing was sent"
    if view.maintenance_mode or not resource.managed:
        return None
    promoted = [i.node for i in resource.instances if i.role == "Promoted" and i.node]
    where = f" (promoted on {', '.join(promoted)})" if promoted else ""
    return (f"Pacemaker manages {resource.id}{where}: anything done by hand now would race the cluster for the "
            f"same VMs (split brain); put it in maintenance first: {maintenance_on(resource.id)} "
            f"(and give it back after: {maintenance_off(resource.id)}); nothing was sent")


def _manager(view: ClusterView, resource: Resource, maintenance: bool | None) -> str:
    if view.maintenance_mode:
        return "the cluster is in maintenance-mode: Pacemaker does not act"
    if resource.managed:
        return "managed: Pacemaker fails it over itself; manual procedures are refused"
    return ("in maintenance" if maintenance else "unmanaged") + ": Pacemaker does not act on it"


def summary(view: ClusterView, name: str, maintenance: bool | None = None) -> str:
    """The cluster's view of resource ``name`` in one line (the console's, under the panes)."""
    resource = view.resource(name)
    if resource is None:
        return f"no resource {name!r} in the cluster"
    parts = [f"{resource.id} {_manager(view, resource, maintenance).split(':', 1)[0]}"]
    failed = _failures(view, resource)
    parts += [f"{len(failed)} failed action{'s' * (len(failed) > 1)}"] * bool(failed)
    for node in view.nodes:
        state = "" if node.online and not node.unclean else f" ({node.state()})"
        parts.append(f"{node.name}{state} {resource.role_on(node.name)}, "
                     f"score {spelled(view.score(resource, node.name))}")
    return " · ".join(parts)


def _failures(view: ClusterView, resource: Resource) -> list[Failure]:
    return [f for f in view.failures if any(f.operation.startswith(f"{own}_") for own in resource.names())]


def describe(view: ClusterView, name: str, maintenance: bool | None = None) -> list[str]:
    """The cluster's view of resource ``name`` in lines: who manages it, each node with its role and score,
    failed actions and fencing. ``maintenance`` (from crm_resource) tells maintenance from unmanaged."""
    resource = view.resource(name)
    if resource is None:
        return [f"Pacemaker: no resource {name!r}"]
    lines = [f"Pacemaker: {resource.id} ({resource.agent}) {_manager(view, resource, maintenance)}"]
    for node in view.nodes:
        role = resource.role_on(node.name)
        lines.append(f"  {node.name}: {node.state()}; {role}; score {spelled(view.score(resource, node.name))}")
    lines += [f"  failed: {f.line()}" for f in _failures(view, resource)]
    lines += [f"  fencing: {f.line()}" for f in view.fencing]
    if not view.stonith_enabled:
        lines.append("  stonith-enabled=false: a lost node is not fenced (split brain is possible)")
    return lines


def pair_nodes(view: ClusterView, resource: Resource) -> tuple[str, str] | None:
    """The nodes that play a COLO resource's primary and secondary: the promoted one first, then the one the
    other instance runs on (else any other node); None in a cluster of fewer than two nodes."""
    promoted = [i.node for i in resource.instances if i.role == "Promoted" and i.node]
    running = [i.node for i in resource.instances if i.node and i.node not in promoted]
    order = [*promoted, *running, *(n.name for n in view.nodes)]
    unique = list(dict.fromkeys(order))
    return (unique[0], unique[1]) if len(unique) >= 2 else None
