"""scripts/fault-table: the docs' table is the tests' results, row for row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fault-table"


def test_every_case_is_a_row_with_what_colotui_said_and_offered(tmp_path: Path) -> None:
    cases = [
        {"procedure": "primary-resume", "step": 7, "step_id": "end-resync", "victim": "peer",
         "victim_vm": "secondary2", "signal": "KILL", "fired_at": "end-resync", "qemu": "7.2.22",
         "status": "failed", "seconds": 0.4, "said": "HMP reported an error: x — secondary2 is down (cannot connect "
         "to /tmp/colotui-abc/lab/secondary2/qmp.sock)", "alerts": {"primary": "The new secondary is gone"},
         "offer": "primary-resume-abort", "offer_on": "primary", "followed": "passed", "counter_advances": True,
         "disk_counter": 40, "noted_counter": 31},
        {"procedure": "startup", "step": 4, "step_id": "secondary-incoming", "victim": "target",
         "victim_vm": "secondary", "signal": "STOP", "fired_at": "secondary-incoming", "qemu": "7.2.22",
         "status": "failed", "seconds": 3.1, "said": "secondary: no reply within 3 s", "alerts": {},
         "offer": None, "offer_on": None},
    ]
    results = tmp_path / "faults.jsonl"
    results.write_text("".join(json.dumps(c) + "\n" for c in cases))
    inflight = tmp_path / "inflight.jsonl"
    inflight.write_text(json.dumps({"round": 1, "qemu": "7.2.22", "killed": "secondary", "in_flight": True,
                                    "kill_after_stop_ms": 2.5, "failover": "passed", "failover_s": 0.3,
                                    "settled_counter": 5}) + "\n")
    out = tmp_path / "faults.md"
    done = subprocess.run([sys.executable, str(SCRIPT), str(results), "--inflight", str(inflight), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.index("### startup") < text.index("### primary-resume"), "procedures in the order they run"
    assert ("| 7 end-resync | peer secondary2 KILL | failed in 0.4 s | HMP reported an error: x — secondary2 is down "
            "(cannot connect to LAB/secondary2/qmp.sock) | **primary-resume-abort** on the primary | "
            "primary-resume-abort: passed, guest counts on, disk 40 ≥ 31 |") in text
    assert "| 4 secondary-incoming | target secondary STOP | failed in 3.1 s | secondary: no reply within 3 s | " \
           "nothing (no alert) | — |" in text
    assert "| 7.2.22 | 1 | 1 | 1 | 0 / 1 | 0.3 | 2.5 |" in text
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing.jsonl")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("fault-table: ") and "Traceback" not in bad.stderr
