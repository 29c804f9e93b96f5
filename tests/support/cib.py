"""Pacemaker cluster states on CIB files, made by Pacemaker's own tools (cibadmin, crm_simulate, crm_attribute,
crm_resource from Debian's pacemaker-cli-utils), never written by hand: what crm_mon then shows of them is what it
shows of a real cluster in that state.

The cluster: two nodes, node-a and node-b, a fencing device, and COLO as a promotable clone of colod's agent
(`ocf:colo:colo`), its scores set as the agent sets them (`crm_master` is `crm_attribute -n master-colo`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CLONE, PRIMITIVE = "colo-clone", "colo"
STATES = ("in sync", "primary alone", "fenced peer", "lost peer", "maintenance", "cluster maintenance")

_OPTIONS = ('<cluster_property_set id="opts"><nvpair id="o1" name="stonith-enabled" value="true"/>'
            '<nvpair id="o2" name="no-quorum-policy" value="ignore"/></cluster_property_set>')
_CLONE = (f'<clone id="{CLONE}"><meta_attributes id="cm"><nvpair id="cm1" name="promotable" value="true"/>'
          '<nvpair id="cm2" name="promoted-max" value="1"/><nvpair id="cm3" name="notify" value="true"/>'
          '<nvpair id="cm4" name="clone-max" value="2"/></meta_attributes>'
          f'<primitive id="{PRIMITIVE}" class="ocf" provider="colo" type="colo"><instance_attributes id="ci">'
          '<nvpair id="ci1" name="active_hidden_dir" value="/mnt/ramfs"/></instance_attributes></primitive></clone>')


def missing() -> str | None:
    """What is missing to make the states (the tests fail on it: setup --test installs it)."""
    tools = ("cibadmin", "crm_simulate", "crm_attribute", "crm_resource", "crm_mon")
    absent = [t for t in tools if shutil.which(t) is None]
    return f"{', '.join(absent)} not found (Debian: pacemaker-cli-utils)" if absent else None


def _run(cib: Path, *argv: str) -> str:
    out = subprocess.run(argv, env={**os.environ, "CIB_file": str(cib)}, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, f"{' '.join(argv)}: {out.stderr.strip()}"
    return out.stdout


def _simulate(cib: Path, *changes: str, run: bool = True) -> None:
    """crm_simulate on ``cib``: the changes (node up/fail, injected results), and with ``run`` the transition
    the scheduler makes of them, executed; the result saved over ``cib``."""
    scratch = cib.with_suffix(".next.xml")
    _run(cib, "crm_simulate", "--xml-file", str(cib), *changes, *(["--simulate"] if run else []),
         "--save-output", str(scratch))
    scratch.replace(cib)


def _score(cib: Path, node: str, value: int) -> None:
    _run(cib, "crm_attribute", "--node", node, "--name", f"master-{PRIMITIVE}", "--update", str(value),
         "--lifetime", "forever")


def make(directory: Path, state: str) -> Path:
    """A CIB file of the cluster in ``state`` (one of `STATES`): node-a the promoted primary throughout."""
    assert state in STATES, state
    cib = directory / f"cib-{state.replace(' ', '-')}.xml"
    cib.write_text(_run(cib, "cibadmin", "--empty"))
    _run(cib, "cibadmin", "--create", "-o", "crm_config", "--xml-text", _OPTIONS)
    for number, node in ((1, "node-a"), (2, "node-b")):
        _run(cib, "cibadmin", "--create", "-o", "nodes", "--xml-text", f'<node id="{number}" uname="{node}"/>')
    _run(cib, "cibadmin", "--create", "-o", "resources", "--xml-text",
         '<primitive id="fence" class="stonith" type="fence_dummy"/>')
    _run(cib, "cibadmin", "--create", "-o", "resources", "--xml-text", _CLONE)
    _simulate(cib, "--node-up", "node-a", "--node-up", "node-b")
    _score(cib, "node-a", 11)  # the node with the guest's data, as the agent's docs say to begin
    _score(cib, "node-b", 0)
    _simulate(cib)  # node-a promoted
    _score(cib, "node-a", 101)
    _score(cib, "node-b", 100)  # resynced: the agent's monitor says the secondary replicates
    if state == "primary alone":  # the secondary's monitor failed; the cluster stopped it; its data is stale
        _simulate(cib, "--op-inject", f"{PRIMITIVE}_monitor_10000@node-b=1")
        _score(cib, "node-b", 0)
    elif state == "fenced peer":  # node-b left the cluster and was fenced
        _simulate(cib, "--node-fail", "node-b")
    elif state == "lost peer":  # node-b left and is not fenced yet
        _simulate(cib, "--node-fail", "node-b", run=False)
    elif state == "maintenance":
        _run(cib, "crm_resource", "--resource", CLONE, "--meta", "--set-parameter", "maintenance",
             "--parameter-value", "true")
    elif state == "cluster maintenance":
        _run(cib, "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true")
    return cib


def apply(cib: Path, command: str) -> None:
    """Run a command colotui offered (e.g. the one that puts the resource in maintenance) on ``cib``."""
    _run(cib, *command.split())
