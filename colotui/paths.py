"""Where colotui keeps its files (the XDG base directory spec), and where its built-in data is."""

from __future__ import annotations

import os
import stat
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


#: colotui's own directories in the state directory (its lab's VMs have theirs inside ``lab``).
STATE_SUBDIRS = ("transcripts", "exports", "lab")


def keep_state_private() -> None:
    """The state directory and colotui's own directories in it are for their user alone (0700): they hold
    every transcript, the history and the crash log. Nothing is created here (colotui's umask makes what it
    creates private); one left looser by an older colotui, or by hand, is tightened. A directory that cannot
    be changed (not the user's own) is left as it is: the files colotui writes are 0600 anyway."""
    top = state_dir()
    for directory in (top, *(top / name for name in STATE_SUBDIRS)):
        try:
            mode = directory.lstat().st_mode
            if stat.S_ISDIR(mode) and mode & 0o077:
                os.chmod(directory, stat.S_IMODE(mode) & 0o700)
        except OSError:  # not there, or not ours
            continue


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
