"""Real files for the bad-file tests, each made once per module by the code that makes them for operators.

A transcript written by the console on a real QEMU (links, the greeting, the
watcher's queries and their replies, events, a failed command, HMP), and the
lab.json of a real ``lab up`` (taken while its QEMUs run, then the lab goes
down). Tests write damaged copies of them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colotui.config import Config
from colotui.lab import Lab, QemuInstall, process
from colotui.pair import Endpoint, Pair
from colotui.qmp import CommandError, Ok, Transcript, UnixAddress

from ..conftest import ACCEL, PlainVM, temp_root
from .apps import console_app


async def _record(vm: PlainVM, path: Path) -> None:
    transcript = Transcript(path)
    pair = Pair(Endpoint("primary", UnixAddress(vm.qmp)), Endpoint("secondary", UnixAddress(Path("/nonexistent/s"))))
    app = console_app(pair, transcript=transcript, history=None, config=Config(refresh_interval=0.5))
    async with app.run_test() as pilot:
        assert app.controller.sessions is not None
        session = app.controller.sessions["primary"]
        assert await session.wait_connected(10)
        await pilot.pause(1.0)
        assert isinstance(await session.execute("cont"), Ok)  # events: RESUME, then STOP
        await pilot.pause(0.5)
        assert isinstance(await session.execute("stop"), Ok)
        assert isinstance(await session.execute("object-del", {"id": "nope"}), CommandError)
        assert isinstance(await session.hmp("info status"), Ok)
        await pilot.pause(0.5)
    transcript.close()


@pytest.fixture(scope="module")
def real_transcript(qemu: QemuInstall) -> Iterator[bytes]:
    """The bytes of a console's transcript of a real QEMU (and of its unreachable secondary)."""
    directory = temp_root(qemu)
    vm = PlainVM(qemu, directory).start()
    try:
        asyncio.run(_record(vm, directory / "t.jsonl"))
        data = (directory / "t.jsonl").read_bytes()
    finally:
        process.stop(vm.pid, vm.marker, grace=2.0)
        shutil.rmtree(directory, ignore_errors=True)
    kinds = {(e["dir"], "event" in e["msg"] if isinstance(e["msg"], dict) else False)
             for e in map(json.loads, data.splitlines())}
    assert {("pair", False), ("link", False), ("send", False), ("recv", False), ("recv", True)} <= kinds, kinds
    yield data


@pytest.fixture(scope="module")
def lab_template(qemu: QemuInstall) -> Iterator[str]:
    """A real lab's lab.json while its QEMUs ran, with its directory spelled ``@LAB@``, and as QEMU sees it
    (in the root of a QEMU from another root) ``@QLAB@`` (`lab_json` puts another in their place)."""
    root = temp_root(qemu)
    lab = Lab(root / "lab")
    try:
        lab.up(install=qemu, accel=ACCEL, guest="none")
        text = (lab.dir / "lab.json").read_text()
    finally:
        if (lab.dir / "lab.json").exists():
            lab.down()
        shutil.rmtree(root, ignore_errors=True)
    assert json.loads(text)["vms"][0]["state"] == "running"
    yield text.replace(str(lab.dir), "@LAB@").replace(qemu.qemu_path(lab.dir), "@QLAB@")


def lab_json(template: str, directory: Path, change: Any = None, install: QemuInstall | None = None) -> dict[str, Any]:
    """The template's data for a lab in ``directory`` (written there as lab.json; with a QEMU from another
    root, ``directory`` is in it), after ``change(data)``."""
    seen = (install or QemuInstall()).qemu_path(directory)
    data = json.loads(template.replace("@LAB@", str(directory)).replace("@QLAB@", seen))
    if change is not None:
        change(data)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "lab.json").write_text(json.dumps(data, indent=2))
    return data
