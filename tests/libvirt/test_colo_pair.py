"""A COLO pair under libvirt: the hand-made pair's command lines (tests/support/handmade.py) run by a real
libvirtd as two transient domains, and colotui reaching both through libvirt, yanking through their extra
-qmp sockets: startup, the secondary killed, primary-failover, a new secondary (a third domain),
primary-resume, COLO again; then the primary hung (SIGSTOP: libvirt's own monitor to it stalls too),
secondary-failover on the survivor, a new secondary and secondary-resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from ..conftest import temp_root
from ..support.libvirt_pair import LibvirtPair
from ..support.libvirtd import Libvirtd

pytestmark = [pytest.mark.libvirt, pytest.mark.kvm]


def colotui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "colotui", *args], capture_output=True, text=True, timeout=180,
                          input=stdin)


def run(pair: LibvirtPair, name: str, *extra: str) -> list[dict]:
    p, s = pair.current("primary"), pair.current("secondary")
    out = colotui("run", name, "--primary", pair.address(p), "--secondary", pair.address(s),
                  "--primary-yank", p.yank, "--secondary-yank", s.yank, "--yes", "--json", *extra)
    assert out.returncode == 0 and not out.stderr, f"{name}: {out.stdout}\n{out.stderr}"  # libvirt prints nothing
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def colo_mode(pair: LibvirtPair, role: str) -> str:
    out = colotui("shell", pair.address(pair.current(role)), stdin="query-colo-status\n")
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout.splitlines()[-1])["return"]["mode"])


def test_a_colo_pair_under_libvirt_starts_fails_over_and_resumes(daemon: Libvirtd) -> None:
    directory = temp_root()
    pair = LibvirtPair(daemon, directory)
    try:
        pair.start()
        pair.settled()
        ports = pair.ports
        given = ("--set", f"ports.migration={ports.migration}", "--set", f"ports.nbd={ports.nbd}",
                 "--set", "addr.secondary=127.0.0.2")
        run(pair, "startup", *given)
        assert (colo_mode(pair, "primary"), colo_mode(pair, "secondary")) == ("primary", "secondary")

        pair.kill("secondary")
        run(pair, "primary-failover")
        assert colo_mode(pair, "primary") == "none"
        pair.start_new_secondary()
        pair.settled()
        run(pair, "primary-resume", "--set", f"addr.secondary={pair.current('secondary').address}")
        assert (colo_mode(pair, "primary"), colo_mode(pair, "secondary")) == ("primary", "secondary")

        pair.stop("primary")  # a hung host: its sockets stay open, it says nothing, libvirt waits on it
        lines = run(pair, "secondary-failover")
        assert lines[-1]["state"] == "ok", lines
        pair.kill("primary")  # the operator fences the hung one
        pair.start_new_secondary()
        pair.settled()
        assert colo_mode(pair, "primary") == "none"  # the survivor runs alone, as the primary
        run(pair, "secondary-resume", "--set", f"addr.secondary={pair.current('secondary').address}")
        assert (colo_mode(pair, "primary"), colo_mode(pair, "secondary")) == ("primary", "secondary")
    finally:
        pair.close()
        shutil.rmtree(directory, ignore_errors=True)
