"""No tracked file holds a web address: mirrors and indexes come from the machine's own apt and pip
configuration. colotui installed from a wheel is in tests/qemu/test_install.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_no_file_names_a_package_host() -> None:
    """Mirrors and indexes come from the machine's own apt and pip configuration, never from the repo:
    no tracked file holds a web address (the snapshots and the README's pictures are Textual's output, with
    its font links)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    found = []
    for name in tracked.decode().split("\0"):
        textual_svg = name.startswith("tests/ui/__snapshots__/") or (name.startswith("docs/") and name.endswith(".svg"))
        if not name or textual_svg or not (REPO / name).is_file():
            continue
        text = (REPO / name).read_bytes().decode(errors="replace")
        found += [f"{name}: {url}" for url in re.findall(r"\b(?:https?|ftp|rsync)://[^\s\"'`)>]+", text)]
    assert found == []
