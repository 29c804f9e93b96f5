"""Reading a Pacemaker cluster: crm_mon's and crm_resource's XML, each run as a subprocess with a deadline.

Like Pacemaker's own tools, they read the live cluster, or a CIB file when ``CIB_file`` is set in the
environment (how the tests, and an operator rehearsing on a saved CIB, use them).
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET

from ..model.pacemaker import ClusterState, ClusterView, StatusError, describe, parse_status, refusal, summary

CRM_MON = ("crm_mon", "--output-as=xml", "--inactive", "--show-node-attributes", "--failcounts",
           "--fence-history=2")


class ClusterUnavailable(Exception):
    """The cluster could not be read: one line saying why."""


async def _tool(argv: tuple[str, ...], timeout: float) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
    except FileNotFoundError:
        raise ClusterUnavailable(f"{argv[0]} not found: colotui reads Pacemaker with its command-line tools "
                                 f"(Debian: pacemaker-cli-utils)") from None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise ClusterUnavailable(f"{argv[0]} gave no answer in {timeout:g} s") from None
    return out.decode(errors="replace")


async def read_cluster(wanted: frozenset[str] = frozenset(), timeout: float = 5.0) -> ClusterView:
    """The cluster as crm_mon shows it now (the COLO resources, and any named in ``wanted``)."""
    try:
        return parse_status(await _tool(CRM_MON, timeout), wanted)
    except StatusError as exc:
        raise ClusterUnavailable(f"crm_mon read no cluster: {exc}") from None


async def in_maintenance(resource: str, timeout: float = 5.0) -> bool:
    """Whether ``resource``'s own maintenance meta-attribute is set (crm_mon only says it is not managed)."""
    text = await _tool(("crm_resource", "--resource", resource, "--meta", "--get-parameter", "maintenance",
                        "--output-as=xml"), timeout)
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return False
    return any(item.get("name") == "maintenance" and (item.text or "").strip().lower() in ("true", "on", "yes", "1")
               for item in root.iterfind("list/item"))


async def manual_refusal(resource: str, timeout: float = 5.0) -> str | None:
    """Why a manual procedure may not run on the pair that is Pacemaker resource ``resource`` (None: it may).
    A cluster that cannot be read refuses too: colotui cannot tell that Pacemaker will not act."""
    try:
        view = await read_cluster(frozenset({resource}), timeout)
    except ClusterUnavailable as exc:
        return (f"the pair is Pacemaker resource {resource!r} and {exc}; if no cluster runs on either node, "
                f"give --pacemaker none; nothing was sent")
    return refusal(view, resource)


async def look(resource: str, timeout: float = 5.0) -> ClusterState:
    """The cluster's view of ``resource`` now; a cluster that cannot be read is said, in one line."""
    try:
        view = await read_cluster(frozenset({resource}), timeout)
        maintenance = await in_maintenance(resource, timeout)
    except ClusterUnavailable as exc:
        return ClusterState(f"{resource}: {exc}", (f"Pacemaker: {resource}: {exc}",), str(exc), read=False)
    return ClusterState(summary(view, resource, maintenance), tuple(describe(view, resource, maintenance)),
                        refusal(view, resource))
