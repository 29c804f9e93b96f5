"""Every reader of a file an operator writes (keymaps, scenarios, config, topology) takes 10^4 damaged
copies of the real ones (a fixed seed, `bad_bytes.mutate`) without a traceback or a hang: each is read, or
refused with one line that names the file, within `BOUND` seconds, and what is read holds what the commands
rely on. The files a real QEMU made (lab.json, a transcript) are fuzzed the same way in
tests/qemu/test_fuzz_readers.py.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from colotui.config import MAX_SECONDS, load_config
from colotui.errors import FileError
from colotui.paths import builtin_dir
from colotui.scenario.loader import catalogue, load_scenario
from colotui.topology import Topology, dump_topology, topology_values
from colotui.ui.keymap import load_keymap

from ..support.bad_bytes import fuzz, inputs

COUNT = 10_000
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_config() -> bytes:
    """The example config.toml of the README's Configuration section."""
    text = README.read_text().split("`~/.config/colotui/config.toml`", 1)[1]
    block = re.search(r"\n\n((?:    .*\n)+)", text)
    assert block is not None
    return "".join(line[4:] + "\n" for line in block[1].splitlines()).encode()


def test_keymaps(tmp_path: Path) -> None:
    originals = [path.read_bytes() for path in sorted(builtin_dir("keymaps").glob("*.toml"))]
    outcome = fuzz(tmp_path / "mine.toml", inputs(21, COUNT, originals), lambda path: load_keymap(str(path)),
                   FileError)
    assert outcome.read > 200 and outcome.refused > 5000, outcome
    assert not outcome.unsaid("not valid TOML:", "not UTF-", "nested deeper", "a key of more than", "unknown action id",
                              "app.quit: keys must be"), outcome.reasons


def test_scenarios(tmp_path: Path) -> None:
    """Each damaged scenario is read by the loader; every hundredth also through the catalogue `run --list`
    prints, where it is listed with its error and every built-in procedure still is."""
    originals = [path.read_bytes() for path in sorted(builtin_dir("scenarios").glob("*.toml"))]
    path = tmp_path / "mine.toml"
    seen = 0

    def read(path: Path) -> None:
        nonlocal seen
        seen += 1
        if seen % 100 == 0:
            listed = catalogue([path.parent])
            assert listed["mine"].error is None or listed["mine"].error.startswith(str(path)), listed["mine"]
            assert {"startup", "primary-failover"} <= set(listed)
        load_scenario(path)

    outcome = fuzz(path, inputs(22, COUNT, originals), read, FileError)
    assert outcome.read > 500 and outcome.refused > 5000, outcome
    assert not outcome.unsaid("not valid TOML:", "not UTF-", "nested deeper", "step", "unknown field"), outcome.reasons


def test_config(tmp_path: Path) -> None:
    def read(path: Path) -> None:
        config = load_config(path)
        for seconds in (config.deadline, config.refresh_interval):
            assert 0 < seconds <= MAX_SECONDS
        limits = config.transcripts
        assert all(v is None or (math.isfinite(v) and v > 0) for v in (limits.max_size, limits.max_age,
                                                                         limits.keep_size, limits.keep_days))
        assert all("\0" not in str(p.lab) for p in config.profiles.values())

    outcome = fuzz(tmp_path / "config.toml", inputs(23, COUNT, [readme_config()]), read, FileError)
    assert outcome.read > 500 and outcome.refused > 5000, outcome
    assert not outcome.unsaid("not valid TOML:", "not UTF-", "deadline must be more than", "unknown setting",
                              "refresh_interval must be more than", "transcripts."), outcome.reasons


def test_topology_files(tmp_path: Path) -> None:
    def read(path: Path) -> None:
        for name, value in topology_values(path).items():
            if name.startswith("ports."):
                assert 0 < value < 65536

    outcome = fuzz(tmp_path / "topology.toml", inputs(24, COUNT, [dump_topology(Topology()).encode()]), read,
                   FileError)
    assert outcome.read > 500 and outcome.refused > 5000, outcome
    assert not outcome.unsaid("not valid TOML:", "ports.", "checkpoint_delay_ms must be"), outcome.reasons
