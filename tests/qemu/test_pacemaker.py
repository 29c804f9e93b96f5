"""A pair that is a Pacemaker resource (the cluster made by Pacemaker's own tools on a CIB file, tests/support/cib.py)
and real VMs (the hand-made pair): a manual procedure is refused while the cluster manages the pair, with the
command that puts it in maintenance; run as told, the same procedure goes through."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from colotui.model.pacemaker import maintenance_on
from colotui.qmp.transcript import read_series

from ..support import cib
from ..support.handmade import HandPair, hand_pair  # noqa: F401

pytestmark = [pytest.mark.kvm, pytest.mark.parametrize("qemu", ["system"], indirect=True, ids=["qemu7"])]


def test_a_managed_pair_is_refused_until_it_is_in_maintenance(hand_pair: HandPair, tmp_path) -> None:  # noqa: F811
    assert cib.missing() is None, cib.missing()
    cluster = cib.make(tmp_path, "in sync")
    pair = hand_pair.start()
    p, s = pair.primary, pair.secondary
    transcript = tmp_path / "t.jsonl"
    argv = [sys.executable, "-m", "colotui", "run", "startup", "--primary", p.qmp, "--secondary", s.qmp,
            "--primary-yank", p.yank, "--secondary-yank", s.yank, "--pacemaker", cib.PRIMITIVE,
            "--set", f"ports.migration={pair.ports.migration}", "--set", f"ports.nbd={pair.ports.nbd}", "--yes",
            "--transcript", str(transcript)]
    env = {**os.environ, "CIB_file": str(cluster)}

    doctor = subprocess.run([sys.executable, "-m", "colotui", "doctor", p.qmp, s.qmp, "--pacemaker", cib.PRIMITIVE],
                            capture_output=True, text=True, timeout=120, env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.splitlines()[-4:] == [
        "WARNING pacemaker: colo-clone (ocf:colo:colo) managed: Pacemaker fails it over itself; manual procedures "
        "are refused",
        "OK      pacemaker: node-a: online; Promoted; score 101 promoted primary",
        "OK      pacemaker: node-b: online; Unpromoted; score 100 secondary in sync",
        doctor.stdout.splitlines()[-1]]

    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    said = out.stdout + out.stderr
    assert "Pacemaker manages colo-clone (promoted on node-a)" in said and maintenance_on(cib.CLONE) in said
    assert "Traceback" not in said and len([line for line in said.splitlines() if "Pacemaker" in line]) == 1
    sent = [r["msg"]["execute"] for r in read_series(transcript) if r["dir"] == "send" and "execute" in r["msg"]]
    assert not [c for c in sent if not c.startswith(("query-", "qmp_capabilities"))], sent

    cib.apply(cluster, maintenance_on(cib.CLONE))  # as the operator was told
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Pacemaker" not in out.stdout
