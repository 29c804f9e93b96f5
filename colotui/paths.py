"""Where colotui keeps its files, following the XDG base directory spec."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if value.startswith("/") else Path.home() / fallback


def state_dir() -> Path:
    """History, transcripts, the default lab, crash logs."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "colotui"


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "colotui"


def default_lab_dir() -> Path:
    return state_dir() / "lab"
