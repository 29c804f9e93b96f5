"""Where colotui keeps its files (the XDG base directory spec), and where its built-in data is."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

from .errors import UserError


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


def builtin_dir(kind: Literal["scenarios", "keymaps"]) -> Path:
    """The built-in procedures or keymaps.

    An installed wheel carries them inside the package (``colotui/_builtin/``, see
    pyproject.toml); a source checkout has them at its top level, where they are kept.
    """
    packaged = resources.files(__package__) / "_builtin" / kind
    if packaged.is_dir():
        return Path(str(packaged))  # wheels install as files: the traversable is a directory on disk
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / kind).is_dir():
        return checkout / kind
    raise UserError(f"colotui's built-in {kind} are missing from its installation ({packaged}); reinstall it")
