"""Bad files against what a real QEMU made. lab.json is not trusted: a name, a path, a PID's marker, QEMU's
command or root that is not the lab's own refuses the file before anything is removed or signalled (`lab up`
removed a directory outside the lab through a VM named ``../victim``; `lab down` signalled an unrelated
process through an empty marker). A damaged real transcript is replayed without its damage. The files an
operator writes are in tests/unit/test_bad_files.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from colotui.errors import FileError
from colotui.lab import QemuInstall, process
from colotui.lab.state import LabState
from colotui.service.player import open_recording

from ..conftest import QEMU10, temp_root
from ..support.recorded import lab_json, lab_template, real_transcript  # noqa: F401 (fixtures)
from ..unit.test_bad_files import run_cli


def damaged(transcript: bytes, damage: tuple[str, ...]) -> tuple[bytes, int]:
    """The real transcript with its middle line replaced by the issue's damage (a 100,000-deep line, ``"t":
    NaN``, a byte that is not UTF-8), each on a line of its own; and the number of the first of them."""
    lines = transcript.splitlines(keepends=True)
    middle = len(lines) // 2
    bad = {"deep": b'{"t":1,"msg":' + b"[" * 100_000 + b"}\n",
           "nan": lines[middle].replace(b'"t":1', b'"t":NaN,"was":1', 1),
           "not utf-8": lines[middle][:-2] + b"\xff" + lines[middle][-2:]}
    return b"".join([*lines[:middle], *(bad[kind] for kind in damage), *lines[middle + 1:]]), middle + 1


@pytest.mark.parametrize("damage", [("deep",), ("nan",), ("not utf-8",), ("deep", "nan", "not utf-8")])
def test_a_damaged_real_transcript_is_replayed_without_its_damage(tmp_path: Path, real_transcript: bytes,  # noqa: F811
                                                                  damage: tuple[str, ...]) -> None:
    """A deep line was exit 70, ``"t": NaN`` a Textual traceback, a byte that is not UTF-8 dropped it all."""
    data, first = damaged(real_transcript, damage)
    (tmp_path / "t.jsonl").write_bytes(data)
    recording = open_recording(tmp_path / "t.jsonl")
    notes = [m.data for m in recording.timeline if m.kind == "note" and m.vm == "transcript"]
    assert [int(re.findall(r"line (\d+)", n)[0]) for n in notes] == [first + i for i in range(len(damage))], notes
    assert len(recording.vms["primary"].links) >= 2 and recording.vms["secondary"].links, "the rest is read"


# -- lab.json ------------------------------------------------------------------------------------------


def test_the_real_lab_json_loads(tmp_path: Path, lab_template: str) -> None:  # noqa: F811
    lab_json(lab_template, tmp_path / "lab")
    state = LabState.load(tmp_path / "lab")
    assert [vm.name for vm in state.vms] == ["primary", "secondary"]
    assert state.vms[0].marker == f"unix:{tmp_path / 'lab' / 'primary' / 'qmp.sock'},server=on,wait=off"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to lab.json's data: ``vms.0.name`` set to ``value``."""
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[int(key)] if key.isdigit() else data[key]  # type: ignore[index]
        data[int(last) if last.isdigit() else last] = value  # type: ignore[index]
    return change


def _qmp_argument(value: str | None) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        argv = data["vms"][0]["argv"]
        at = argv.index("-qmp")
        if value is None:
            del argv[at:at + 2]
        else:
            argv[at + 1] = value
    return change


ATTACKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "name ../": (_set("vms.1.name", "../victim"), 'vms[1].name is "../victim", not a VM\'s name'),
    "name absolute": (_set("vms.1.name", "/etc"), 'vms[1].name is "/etc", not a VM\'s name'),
    "name ..": (_set("vms.0.name", ".."), "vms[0].name is \"..\""),
    "name twice": (_set("vms.1.name", "primary"), "vms name one VM twice"),
    "qmp outside": (_set("vms.0.qmp", "/run/prod/vm.sock"), 'vms[0].qmp is "/run/prod/vm.sock", not a path inside'),
    "qmp through ..": (_set("vms.0.qmp", "@LAB@/../../run/prod.sock"), "vms[0].qmp is"),
    "log outside": (_set("vms.0.log", "/etc/shadow"), "vms[0].log is \"/etc/shadow\""),
    "image outside": (_set("vms.0.images.disk", "/dev/sda"), "vms[0].images.disk is \"/dev/sda\""),
    "empty marker": (_qmp_argument(""), "vms[0].argv gives QEMU no -qmp unix:"),
    "no marker": (_qmp_argument(None), "vms[0].argv gives QEMU no -qmp unix:"),
    "another's marker": (_qmp_argument("unix:/run/prod/vm.sock,server=on,wait=off"), "vms[0].argv gives QEMU no"),
    "pid 0": (_set("vms.0.pid", 0), "vms[0].pid is 0, not in 2..4194304"),
    "pid -1": (_set("vms.0.pid", -1), "vms[0].pid is -1"),
    "pid text": (_set("vms.0.pid", "1"), 'vms[0].pid is "1", not a whole number'),
    "pid true": (_set("vms.0.pid", True), "vms[0].pid is true, not a whole number"),
    "dir elsewhere": (_set("dir", "/etc"), 'dir is "/etc", not the directory it is in'),
    "prefix": (_set("qemu.prefix", ["sh", "-c", "touch /tmp/owned"]), 'qemu.prefix is ["sh", "-c", '),
    "root /": (lambda d: (_set("qemu.root", "/")(d), _set("qemu.prefix", ["chroot", "/"])(d)),
               'qemu.root is "/", not a Debian root'),
    "system": (_set("qemu.system", "sh"), 'qemu.system is "sh", not a QEMU system emulator'),
    "address options": (_set("vms.0.address", "127.0.0.1,path=/x"), "vms[0].address is \"127.0.0.1,path=/x\""),
    "address not loopback": (_set("vms.0.address", "10.0.0.1"), 'vms[0].address is "10.0.0.1", not an IPv4 loopback'),
    "port text": (_set("ports.mirror", "9003,server=on"), "ports.mirror is \"9003,server=on\", not a whole number"),
    "port range": (_set("ports.nbd", 70000), "ports.nbd is 70000, not in 1..65535"),
    "id options": (_set("ids.disk", "d,file.filename=/etc/passwd"), 'ids.disk is "d,file.filename=/etc/passwd", '
                                                                    "not a QEMU id"),
    "accel": (_set("accel", "kvm -x"), 'accel is "kvm -x", not one of kvm, tcg'),
    "memory": (_set("memory_mb", 10**30), "memory_mb is 1000000000000000000000000000000, not in 1..1048576"),
    "state": (_set("vms.0.state", {"running": True}), "vms[0].state is {\"running\": true}, not a string"),
    "helper of another lab": (_set("helper", {"pid": 1234, "argv": [sys.executable, "-m", "colotui.lab.traffic",
                                                                    "/tmp/other", "1"], "log": "@LAB@/t.log"}),
                              "helper.argv is"),
    "unknown field": (_set("vms.0.evil", 1), "vms[0].evil is not a field of a VM"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_lab_json_that_is_not_the_labs_own_is_refused(tmp_path: Path, lab_template: str,  # noqa: F811
                                                        attack: str) -> None:
    change, words = ATTACKS[attack]
    directory = tmp_path / "lab"
    directory.mkdir()
    data = json.loads(lab_template)
    change(data)  # in terms of @LAB@, the directory
    (directory / "lab.json").write_text(json.dumps(data).replace("@LAB@", str(directory)))
    with pytest.raises(FileError) as err:
        LabState.load(directory)
    text = str(err.value)
    assert text.startswith(f"{directory / 'lab.json'}: {words}"), text
    assert text.endswith(": refused, nothing in the lab was touched") and "\n" not in text


@QEMU10
def test_a_lab_of_a_qemu_from_another_root_is_checked_as_qemu_sees_it(qemu: QemuInstall,
                                                                        lab_template: str) -> None:  # noqa: F811
    """With ``--qemu-root``, QEMU is given the lab's paths inside its root: its marker is the socket's path
    there, the lab is inside the root, and the root is where that QEMU is."""
    directory = temp_root(qemu) / "lab"
    lab_json(lab_template, directory, install=qemu)
    state = LabState.load(directory)
    assert state.install().root == qemu.root and state.install().prefix == ("chroot", str(qemu.root))
    assert state.vms[0].marker.startswith(f"unix:{qemu.qemu_path(directory / 'primary' / 'qmp.sock')},")
    assert not state.vms[0].marker.startswith(f"unix:{directory}"), "the host's path is not what QEMU was given"
    host_marker = _qmp_argument(f"unix:{directory / 'primary' / 'qmp.sock'},server=on,wait=off")
    elsewhere = directory.parent / "elsewhere"
    elsewhere.mkdir()
    for change, words in ((host_marker, "vms[0].argv gives QEMU no -qmp unix:/tmp/"),
                          (lambda data: (_set("qemu.root", str(elsewhere))(data),
                                         _set("qemu.prefix", ["chroot", str(elsewhere)])(data)), "qemu.root is")):
        lab_json(lab_template, directory, change, install=qemu)
        with pytest.raises(FileError, match=re.escape(words)):
            LabState.load(directory)


def test_lab_up_removes_nothing_outside_the_lab(tmp_path: Path, lab_template: str) -> None:  # noqa: F811
    """A VM named ``../victim`` in lab.json made `lab up` (reusing the directory) remove ``victim`` beside it."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    directory = tmp_path / "lab"
    lab_json(lab_template, directory, lambda data: (_set("vms.1.name", "../victim")(data),
                                                   _set("vms.1.state", "exited")(data)))
    out = run_cli("lab", "up", "--dir", str(directory), "--accel", "tcg", "--no-guest")
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"colotui: {directory / 'lab.json'}: vms[1].name is \"../victim\"")
    assert (victim / "precious").read_text() == "keep me"
    assert sorted(p.name for p in directory.iterdir()) == ["lab.json"], "nothing started, nothing removed"


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not the lab's (a `sleep`), killed by its PID at the end."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_lab_down_signals_no_process_that_is_not_the_labs(tmp_path: Path, lab_template: str,  # noqa: F811
                                                          stranger: subprocess.Popen[bytes]) -> None:
    """An empty ``-qmp`` marker matched every command line: `lab down` killed whatever ran under the PID."""
    directory = tmp_path / "lab"
    lab_json(lab_template, directory, lambda data: (_set("vms.0.pid", stranger.pid)(data), _qmp_argument("")(data)))
    out = run_cli("lab", "down", "--dir", str(directory))
    assert out.returncode == 1 and "vms[0].argv gives QEMU no -qmp" in out.stderr and out.stderr.count("\n") == 1
    assert stranger.poll() is None, "the stranger still runs"
    lab_json(lab_template, directory, _set("vms.0.pid", stranger.pid))  # the lab's own marker: not the stranger's
    out = run_cli("lab", "down", "--dir", str(directory))
    assert (out.returncode, out.stdout) == (0, "stopped nothing: no QEMU was running\n"), out.stderr
    assert stranger.poll() is None
    assert not process.alive(stranger.pid, "") and not process.alive(0, "sleep") and not process.alive(-1, "sleep")
    assert process.alive(stranger.pid, "sleep"), "the marker check itself still finds a process by its own"
