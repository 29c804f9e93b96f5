"""Evaluating a step's conditions against a live VM.

Each check asks QEMU one read-only question (checks of one step share the
answers, through one `Asker` per VM) and says, in words, what it found,
so a failed precondition reads like "secondary QMP link is down: found up
(connected)" rather than a bare False.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..qmp import Session
from ..qmp.health import probe
from ..qmp.schema import Schema
from .live import Asker, LiveError
from .model import Check


@dataclass(frozen=True)
class CheckResult:
    check: Check
    ok: bool
    found: str

    @property
    def text(self) -> str:
        return f"{self.check.describe()}: {'yes' if self.ok else 'no'} (found {self.found})"


def _one_of(expected: Any) -> list[str]:
    return [expected] if isinstance(expected, str) else list(expected)


async def _found(check: Check, ask: Asker, schema: Schema | None) -> tuple[bool, str]:
    kind, want = check.kind, check.expected
    if kind == "colo_mode":
        mode = (await ask.query("query-colo-status"))["mode"]
        return mode in _one_of(want), mode
    if kind == "last_colo_mode":
        mode = (await ask.query("query-colo-status"))["last-mode"]
        return mode in _one_of(want), mode
    if kind == "migration":
        status = (await ask.query("query-migrate")).get("status", "none")
        return status in _one_of(want), status
    if kind == "runstate":
        status = (await ask.query("query-status"))["status"]
        return status in _one_of(want), status
    if kind == "capability":
        caps = {c["capability"]: c["state"] for c in await ask.query("query-migrate-capabilities")}
        if want not in caps:
            return False, "no such capability"
        return caps[want] == check.state, "on" if caps[want] else "off"
    if kind == "block_job":
        jobs = {j["device"]: j for j in await ask.query("query-block-jobs")}
        job = jobs.get(want)
        if check.status is not None:
            status = job["status"] if job else "no such job"
            return status == check.status, status
        return (job is not None) == check.present, "present" if job else "absent"
    if kind == "quorum_child":
        children = await _quorum_children(ask)
        attached = want in children.values()
        return attached == check.present, (f"attached as {next(k for k, v in children.items() if v == want)}"
                                           if attached else f"children {', '.join(children.values()) or 'none'}")
    if kind == "incoming":
        status = (await ask.query("query-status"))["status"]
        migrate = await ask.query("query-migrate")
        listens = [f"{a.get('host')}:{a.get('port')}" for a in migrate.get("socket-address", [])]
        if status != "inmigrate":
            found = f"not waiting for a migration (run state {status})"
        elif listens or migrate.get("status", "none") != "none":
            found = (f"listening on {', '.join(listens) or '?'} already (started with -incoming tcp:…, or "
                     "migrate-incoming was sent)")
        else:
            found = "deferred (-incoming defer)"
        return found.startswith(want), found
    if kind == "command":
        if schema is None:
            raise LiveError("the QMP schema is not known yet")
        has = schema.has_command(want)
        return has == check.present, "offered" if has else "not offered"
    if kind == "object":
        names = {o["name"] for o in await ask.query("qom-list", {"path": "/objects"})}
    elif kind == "export":
        names = {e["id"] for e in await ask.query("query-block-exports")}
    elif kind == "chardev":
        names = {c["label"] for c in await ask.query("query-chardev")}
    elif kind == "block_node":
        names = {n["node-name"] for n in await ask.query("query-named-block-nodes", {"flat": True})}
    else:
        raise AssertionError(f"unknown check kind {kind}")
    return (want in names) == check.present, "present" if want in names else "absent"


async def _quorum_children(ask: Asker) -> dict[str, str]:
    """``children.N`` → node name under the quorum drive ``ids.disk``."""
    graph = await ask.query("x-debug-query-block-graph")
    names = {n["id"]: n["name"] for n in graph["nodes"]}
    backend = next((n["id"] for n in graph["nodes"] if n["name"] == ask.topology.ids.disk
                    and n["type"] == "block-backend"), None)
    root = next((e["child"] for e in graph["edges"] if e["parent"] == backend), None)
    return {e["name"]: names.get(e["child"], "") for e in graph["edges"]
            if e["parent"] == root and e["name"].startswith("children.")}


async def _size(ask: Asker, drive: str) -> int | None:
    for device in await ask.query("query-block"):
        if device.get("device") == drive and "inserted" in device:
            return int(device["inserted"]["image"]["virtual-size"])
    return None


async def _compare_with_peer(check: Check, ask: Asker, peer: Asker | None) -> tuple[bool, str]:
    if peer is None or not peer.session.connected:
        return False, "the other side is not connected"
    if check.kind == "same_version":
        versions = [(await a.query("query-version"))["qemu"] for a in (ask, peer)]
        text = [f"{v['major']}.{v['minor']}.{v['micro']}" for v in versions]
        return text[0] == text[1], f"{text[0]} here, {text[1]} on {peer.session.name}"
    here, there = check.expected
    sizes = await _size(ask, here), await _size(peer, there)
    if None in sizes:
        missing = here if sizes[0] is None else f"{there} on {peer.session.name}"
        return False, f"no drive {missing} with a medium"
    return sizes[0] == sizes[1], f"{sizes[0]} bytes here, {sizes[1]} on {peer.session.name}"


async def evaluate(check: Check, ask: Asker, schema: Schema | None = None, oob: Session | None = None,
                   peer: Asker | None = None) -> CheckResult:
    """``check`` (already rendered) against the VM ``ask`` asks (``oob``: its out-of-band session, if any;
    ``peer``: the other side, for checks that compare the two)."""
    session = ask.session
    if check.kind == "answers":
        verdict = await probe(session, oob)
        # a VM that answers only out of band (its main loop blocked) is alive: it answers
        answers = not verdict.health.lost
        return CheckResult(check, answers == check.expected, f"{verdict.health.value}: {verdict.detail}")
    if check.kind == "link":
        up = session.connected
        found = "up (connected)" if up else f"down ({session.detail})"
        return CheckResult(check, up == (check.expected == "up"), found)
    if not session.connected:
        return CheckResult(check, False, f"nothing: {session.name} is not connected ({session.detail})")
    try:
        if check.kind in ("same_version", "same_size"):
            ok, found = await _compare_with_peer(check, ask, peer)
        else:
            ok, found = await _found(check, ask, schema)
    except LiveError as exc:
        return CheckResult(check, False, str(exc))
    return CheckResult(check, ok, found)
