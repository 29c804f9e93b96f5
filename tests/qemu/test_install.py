"""colotui as an operator installs it: a wheel built from this checkout, in a fresh venv outside it.

Every command here is the installed ``colotui``, run from a directory that is not the checkout,
so nothing can come from the source tree: the procedures and keymaps must be in the wheel.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from colotui.lab import Lab, QemuInstall

from ..conftest import USER_CACHE, temp_root
from ..support.colo import observe, query
from ..support.terminal import Terminal
from ..unit.test_install import REPO

PROCEDURES = {"startup", "primary-failover", "secondary-failover", "primary-resume", "secondary-resume",
              "primary-resume-abort", "secondary-resume-abort"}


def _env() -> dict[str, str]:
    """The test's environment (its own XDG directories), minus anything that could reach the checkout;
    pip keeps its cache where the user's is, so the dependencies are downloaded once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return env | {"PIP_CACHE_DIR": str(USER_CACHE / "pip"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(argv: list[str | Path], *, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ directory of a fresh venv holding colotui installed from a wheel built here."""
    root = tmp_path_factory.mktemp("install")
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", REPO], cwd=root)
    assert built.returncode == 0, built.stderr
    [wheel] = (root / "dist").glob("colotui-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    assert {f"colotui/_builtin/scenarios/{name}.toml" for name in PROCEDURES} <= inside
    assert {"colotui/_builtin/keymaps/default.toml", "colotui/_builtin/keymaps/vim.toml"} <= inside
    made = _run([sys.executable, "-m", "venv", root / "venv"], cwd=root)
    assert made.returncode == 0, made.stderr
    got = _run([root / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=root)
    assert got.returncode == 0, got.stderr
    yield root / "venv" / "bin"


def test_the_wheel_carries_the_procedures_and_keymaps(installed: Path, tmp_path: Path) -> None:
    where = _run([installed / "python", "-c", "import colotui; print(colotui.__file__)"], cwd=tmp_path)
    assert where.stdout.startswith(str(installed.parent)), where.stdout  # not the checkout's

    listed = _run([installed / "colotui", "run", "--list"], cwd=tmp_path)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()}
    assert rows == dict.fromkeys(PROCEDURES, "built-in"), listed.stdout
    assert "ERROR" not in listed.stdout

    shown = _run([installed / "colotui", "run", "startup", "--show"], cwd=tmp_path)
    assert shown.returncode == 0 and "migrate-set-capabilities" in shown.stdout, shown.stderr

    keys = _run([installed / "colotui", "keys", "--keymap", "vim"], cwd=tmp_path)
    assert keys.returncode == 0, keys.stderr
    assert keys.stdout.splitlines()[0] == f"keymap vim ({installed.parent}/lib/python{sys.version_info[0]}." \
                                          f"{sys.version_info[1]}/site-packages/colotui/_builtin/keymaps/vim.toml)"


@pytest.mark.kvm
def test_the_installed_colotui_brings_a_lab_into_colo_shows_it_and_fails_over(
        installed: Path, qemu: QemuInstall, tmp_path: Path) -> None:
    colotui = installed / "colotui"
    lab_dir = temp_root() / "lab"
    try:
        up = _run([colotui, "lab", "up", "--dir", lab_dir, "--guest", "net"], cwd=tmp_path)  # a helper process too
        assert up.returncode == 0, up.stderr
        startup = _run([colotui, "run", "startup", "--lab", lab_dir, "--yes"], cwd=tmp_path)
        assert startup.returncode == 0, startup.stdout + startup.stderr
        state = Lab(lab_dir).state()
        primary, secondary = state.current("primary"), state.current("secondary")
        assert primary is not None and secondary is not None

        async def colo_modes() -> list[object]:
            async with observe(primary) as p, observe(secondary) as s:
                return [(await query(p, "query-colo-status"))["mode"],  # type: ignore[index]
                        (await query(s, "query-colo-status"))["mode"]]  # type: ignore[index]

        assert asyncio.run(colo_modes()) == ["primary", "secondary"]

        # the console, in a real terminal, with the default keymap (a refused one would say so), and the
        # traffic line: the installed traffic helper counts the guest's ticks and gets answers
        console = Terminal([str(colotui), "connect", "--lab", str(lab_dir)], cwd=tmp_path, env=_env())
        shown = console.wait_for(lambda text: all(part in text for part in (
            "role: primary", "role: secondary", "run state: running (COLO)", "q Quit", "f Failover",
            "net ticks", "answered")), 30)
        console.press("q")
        assert console.wait_exit(10) == 0, console.text[-2000:]
        assert shown, console.text[-2000:]
        assert "keymap not used" not in console.text and "Traceback" not in console.text

        # the secondary dies; the failover runs, and nothing but its own lines reaches the terminal
        assert _run([colotui, "lab", "kill", "secondary", "--dir", lab_dir], cwd=tmp_path).returncode == 0
        failover = _run([colotui, "run", "primary-failover", "--lab", lab_dir, "--yes"], cwd=tmp_path)
        assert failover.returncode == 0, failover.stdout + failover.stderr
        assert failover.stderr.splitlines() == [line for line in failover.stderr.splitlines()
                                                if line.startswith("transcript: ")], failover.stderr
    finally:
        if (lab_dir / "lab.json").exists():
            Lab(lab_dir).down()
