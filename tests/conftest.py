"""Fixtures that start real QEMUs, and always stop them by PID.

QEMU missing is a failure, never a skip: CI installs it, and a suite that
silently skips its real tests proves nothing. Only COLO checkpoints need KVM
(QEMU 7.2 deadlocks at the first one under TCG); tests that need them carry
the ``kvm`` marker and skip loudly without it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from colotui.lab import Lab, QemuInstall, kvm_problem, process
from colotui.lab.guest import write_raw_disk

KVM_PROBLEM = kvm_problem()
ACCEL = "tcg" if KVM_PROBLEM else "kvm"


def _user_dir(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if value.startswith("/") else Path.home() / fallback


#: The user's own cache, read before the tests get their own XDG directories: the prepared QEMU
#: roots live there (it costs 25 s and 320 MB to make), and pip's cache (for the wheel install test).
USER_CACHE = _user_dir("XDG_CACHE_HOME", ".cache")
_XDG_BASE = Path(tempfile.mkdtemp(prefix="colotui-xdg-"))


def pytest_configure(config: pytest.Config) -> None:
    """Tests never read the operator's config, keymaps or scenarios, nor write history, transcripts
    or labs under their home: every XDG directory colotui uses points into a temporary one."""
    for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        (_XDG_BASE / variable.lower()).mkdir(exist_ok=True)
        os.environ[variable] = str(_XDG_BASE / variable.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_XDG_BASE, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        version = str(QemuInstall().version)
    except Exception as exc:  # reported again, as a failure, by the fixtures
        version = f"unavailable ({exc})"
    kvm = "usable" if KVM_PROBLEM is None else f"NOT usable ({KVM_PROBLEM}): COLO tests will skip"
    return [f"QEMU: {version}", f"KVM: {kvm}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KVM_PROBLEM is None:
        return
    skip = pytest.mark.skip(reason=f"COLO checkpoints need KVM, and {KVM_PROBLEM}")
    for item in items:
        if "kvm" in item.keywords:
            item.add_marker(skip)


#: The Debian suites whose QEMU the tests run beside the system's (Debian 12: 7.2), and the ids they go by.
SUITES = {"trixie": "qemu10", "sid": "qemu11"}


def suite_root(suite: str) -> Path:
    """Where ``scripts/prepare-qemu SUITE`` keeps (or makes) the Debian root with that suite's QEMU
    (``$COLOTUI_QEMU_ROOT_<SUITE>`` overrides it)."""
    override = os.environ.get(f"COLOTUI_QEMU_ROOT_{suite.upper()}")
    return Path(override) if override else USER_CACHE / "colotui" / suite


def _prepare(suite: str) -> QemuInstall:
    script = Path(__file__).resolve().parents[1] / "scripts" / "prepare-qemu"
    out = subprocess.run([str(script), suite, str(suite_root(suite))], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        pytest.fail(f"could not prepare the QEMU of Debian {suite} (scripts/prepare-qemu {suite}): "
                    f"{' / '.join(tail)}", pytrace=False)
    root = Path(out.stdout.strip().splitlines()[-1])
    return QemuInstall(prefix=("chroot", str(root)), root=root)


@pytest.fixture(scope="session")
def qemu(request: pytest.FixtureRequest) -> QemuInstall:
    """The system QEMU (Debian 12: 7.2), or with ``indirect`` param a Debian suite (trixie: 10.0, sid: the
    newest Debian ships) the QEMU of that suite's root."""
    which = getattr(request, "param", "system")
    install = QemuInstall() if which == "system" else _prepare(which)
    try:
        install.check()
        version = str(install.version)
    except Exception as exc:
        pytest.fail(f"these tests need QEMU and it is not usable: {exc}", pytrace=False)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        where = f" (chroot {install.root})" if install.root else ""
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n[QEMU under test: {version}{where}]")
    return install


#: Every QEMU, for tests that must pass on each: ``@ALL_QEMUS`` on a test using the ``qemu`` fixture.
ALL_QEMUS = pytest.mark.parametrize("qemu", ["system", *SUITES], indirect=True, ids=["qemu7", *SUITES.values()])
#: One QEMU from a Debian root, for tests about a version other than the system's.
QEMU10 = pytest.mark.parametrize("qemu", ["trixie"], indirect=True, ids=["qemu10"])

_TEMP_ROOTS: list[tuple[Path, str]] = []  # (host path, the same path as QEMU sees it)


def temp_root(install: QemuInstall | None = None) -> Path:
    """A temporary directory with a short path (unix socket paths are limited to 107 bytes),
    inside the QEMU's root when it runs from one."""
    base = None
    if install is not None and install.root is not None:
        base = install.root / "tmp"
        base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="colotui-", dir=base))
    _TEMP_ROOTS.append((path, install.qemu_path(path) if install is not None else str(path)))
    return path


def live_pids(*markers: str) -> list[int]:
    """Running (not zombie) processes whose command line contains every one of ``markers``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if all(marker in cmdline for marker in markers) and state not in ("Z", "X"):
            pids.append(int(proc.name))
    return pids


def live_qemus_under(root: Path) -> list[int]:
    """PIDs of running QEMUs whose command line mentions ``root``."""
    return live_pids(str(root), "qemu-system")


@pytest.fixture(scope="session", autouse=True)
def no_qemu_left_behind() -> Iterator[None]:
    """After the run, no QEMU started in a test directory may still run; stray ones are stopped and reported.
    Every test directory goes too (a fixture removes its own at once; this catches the rest)."""
    yield
    strays = {pid: marker for _, marker in _TEMP_ROOTS for pid in live_qemus_under(Path(marker))}
    for pid, marker in strays.items():
        process.stop(pid, marker, grace=2.0)
    for path, _ in _TEMP_ROOTS:
        shutil.rmtree(path, ignore_errors=True)
    assert not strays, f"tests left QEMU processes running: {sorted(strays)}"


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    path = temp_root()
    yield path
    shutil.rmtree(path, ignore_errors=True)


class LabFactory:
    """Starts labs under its own temporary directory; at teardown stops every QEMU they started, by PID."""

    def __init__(self, qemu: QemuInstall, root: Path) -> None:
        self.qemu = qemu
        self.root = root
        self.labs: list[Lab] = []

    def up(self, name: str = "lab", **kwargs: object) -> Lab:
        lab = Lab(self.root / name)
        self.labs.append(lab)
        kwargs.setdefault("accel", ACCEL)
        lab.up(install=self.qemu, **kwargs)  # type: ignore[arg-type]
        return lab

    def teardown(self) -> None:
        for lab in self.labs:
            if not (lab.dir / "lab.json").exists():
                continue
            lab.down()
            state = lab.state()
            for vm in state.vms:
                assert not vm.is_alive(), f"{vm.name} (pid {vm.pid}) survived lab down"
            assert state.helper is None or not state.helper.is_alive(), "the traffic helper survived lab down"


@pytest.fixture
def labs(qemu: QemuInstall) -> Iterator[LabFactory]:
    root = temp_root(qemu)
    factory = LabFactory(qemu, root)
    try:
        yield factory
    finally:
        factory.teardown()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lab(labs: LabFactory) -> Lab:
    """A fresh lab (counter guest) for one test, which may break it."""
    return labs.up()


def nasm(source: str, directory: Path) -> bytes:
    """What ``nasm -f bin`` makes of ``source`` (the guests' listings are checked against it)."""
    binary = shutil.which("nasm")
    if binary is None:
        pytest.fail("nasm is needed to check the guests' listings (apt-get install -y nasm)", pytrace=False)
    (directory / "guest.asm").write_text(source)
    subprocess.run([binary, "-f", "bin", "-o", str(directory / "guest.bin"), str(directory / "guest.asm")], check=True)
    return (directory / "guest.bin").read_bytes()


@dataclass
class PlainVM:
    """A single QEMU (no COLO) with a QMP socket, for the session service's tests."""

    qemu: QemuInstall
    dir: Path
    pid: int = 0
    guest: bool = False

    @property
    def qmp(self) -> Path:
        return self.dir / "qmp.sock"

    @property
    def serial(self) -> Path:
        return self.dir / "serial.log"

    @property
    def disk(self) -> Path:
        return self.dir / "disk.qcow2"

    @property
    def marker(self) -> str:
        return self.qemu.qemu_path(self.qmp)

    def argv(self) -> list[str]:
        q = self.qemu.qemu_path
        args = ["-accel", "tcg", "-m", "32", "-display", "none", "-nodefaults",
                "-qmp", f"unix:{q(self.qmp)},server=on,wait=off", "-serial", f"file:{q(self.serial)}"]
        if self.guest:
            args += ["-drive", f"if=ide,file={q(self.disk)},driver=qcow2"]
        else:
            args += ["-S"]
        return self.qemu.argv(self.qemu.system, *args)

    def start(self) -> PlainVM:
        if self.guest and not self.disk.exists():
            raw = self.dir / "disk.raw"
            write_raw_disk(raw, 1 << 20)
            subprocess.run(self.qemu.argv(self.qemu.img, "convert", "-q", "-f", "raw", "-O", "qcow2",
                                          self.qemu.qemu_path(raw), self.qemu.qemu_path(self.disk)), check=True)
        self.pid = process.spawn(self.argv(), self.dir / "qemu.log")
        deadline = time.monotonic() + 10
        while not self.qmp.exists():
            assert process.alive(self.pid, self.marker), \
                f"QEMU {process.how_it_ended(self.pid)}: {(self.dir / 'qemu.log').read_text()}"
            assert time.monotonic() < deadline, "QEMU made no QMP socket within 10 s"
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        process.stop(self.pid, self.marker, sig=9)
        self.qmp.unlink(missing_ok=True)

    def pause(self) -> None:
        """SIGSTOP: a monitor that stalls, which QEMU cannot be asked to do."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if process.alive(self.pid, self.marker):
            os.kill(self.pid, signal.SIGCONT)


@pytest.fixture
def plain_vm(qemu: QemuInstall) -> Iterator[PlainVM]:
    directory = temp_root(qemu)
    vm = PlainVM(qemu, directory).start()
    yield vm
    vm.resume()
    process.stop(vm.pid, vm.marker, grace=2.0)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def guest_vm(qemu: QemuInstall) -> Iterator[PlainVM]:
    """A single QEMU booting the counter guest."""
    directory = temp_root(qemu)
    vm = PlainVM(qemu, directory, guest=True).start()
    yield vm
    process.stop(vm.pid, vm.marker, grace=2.0)
    shutil.rmtree(directory, ignore_errors=True)
