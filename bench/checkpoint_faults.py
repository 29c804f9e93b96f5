"""A peer lost during a checkpoint: the failover window per case (median and max), from real rounds.

Runs the slow rounds of `tests/qemu/test_checkpoint_faults.py` (each: a fresh net-guest lab in COLO at
x-checkpoint-delay 200 ms, traffic running, the peer SIGSTOPped or SIGKILLed the moment the primary's STOP
arrives, sides alternating, then the failover on the console's sessions) and prints their table, the one
`scripts/fault-table --checkpoint` writes into docs/faults.md. Target (issue 25): every round passes.

    .venv/bin/python bench/checkpoint_faults.py [--rounds 20] [--qemu qemu7 --qemu qemu10 ...]
    .venv/bin/python bench/checkpoint_faults.py --results during.jsonl   # only print the table of earlier rounds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from importlib.machinery import SourceFileLoader
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = SourceFileLoader("fault_table", str(ROOT / "scripts" / "fault-table")).load_module()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="rounds per QEMU and signal (default 20)")
    parser.add_argument("--qemu", action="append", choices=("qemu7", "qemu10", "qemu11"),
                        help="which QEMUs (default all three)")
    parser.add_argument("--results", type=Path, help="print the table of these JSON lines; run nothing")
    args = parser.parse_args()
    results = args.results
    if results is None:
        results = Path(tempfile.mkdtemp(prefix="colotui-bench-")) / "during.jsonl"
        which = " or ".join(args.qemu or ("qemu7", "qemu10", "qemu11"))
        env = {**os.environ, "COLOTUI_CHECKPOINT_RESULTS": str(results), "COLOTUI_CHECKPOINT_ROUNDS": str(args.rounds)}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "slow", "-k", f"rounds and ({which})",
                        "tests/qemu/test_checkpoint_faults.py"], cwd=ROOT, env=env, check=False)
    try:
        rounds = [json.loads(line) for line in results.read_text().splitlines() if line]
    except (OSError, ValueError) as exc:
        print(f"checkpoint_faults: {exc}", file=sys.stderr)
        return 1
    print("\n".join(TABLE.checkpoint_section(rounds)))
    failed = [r for r in rounds if not r.get("ok")]
    for r in failed:
        print(f"failed: {r['qemu']} {r['victim']} {r['signal']}: {'; '.join(r.get('problems', []))}")
    print(f"{len(rounds)} rounds, {len(failed)} failed; results in {results}")
    return 1 if failed or not rounds else 0


if __name__ == "__main__":
    sys.exit(main())
