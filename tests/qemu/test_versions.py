"""The version probe on real replies of both QEMUs, and what the lab makes of each."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from colotui.compat import deprecated_colo, pair_warnings, refusal
from colotui.lab.cmdline import Machine
from colotui.qmp import QemuVersion
from colotui.qmp.probe import VMFacts, probe

from ..conftest import ACCEL, ALL_QEMUS, QEMU10, LabFactory
from ..support.colo import observe


@ALL_QEMUS
async def test_probe_reads_version_and_schema(labs: LabFactory) -> None:
    lab = await asyncio.to_thread(labs.up, guest="none")
    state = lab.state()
    async with observe(state.current("primary")) as session:
        facts = await probe(session)
    assert isinstance(facts, VMFacts)
    assert str(facts.version) == state.qemu["version"] == state.current("primary").qemu_version
    assert refusal(facts) is None, "both QEMUs under test can do COLO"
    assert facts.schema.has_command("block-export-add") and facts.schema.has_command("x-colo-lost-heartbeat")
    assert "unstable" in facts.schema.features("x-colo-lost-heartbeat")
    assert deprecated_colo(facts.schema) == [], "no QEMU under test marks COLO deprecated (yet)"
    argv = " ".join(state.current("secondary").argv)
    if facts.version >= (9, 2, 0):
        assert "reconnect-ms=1000" in argv and "reconnect=1" not in argv
    else:
        assert "reconnect=1" in argv
    assert "romfile=" in argv and "-incoming defer" in argv


@QEMU10
async def test_a_pair_of_different_versions_is_warned_about(labs: LabFactory, qemu) -> None:
    lab10 = await asyncio.to_thread(labs.up, "ten", guest="none")
    async with observe(lab10.state().current("primary")) as session:
        ten = await probe(session)
    recorded = Path(__file__).parents[1] / "data" / "introspect-primary-colo.json"
    seven = json.loads(recorded.read_text())["query-version"]
    assert isinstance(ten, VMFacts) and ten.version[0] == 10
    other = VMFacts(QemuVersion.from_qmp(seven["qemu"]), seven["package"], ten.schema)
    warnings = pair_warnings({"primary": ten, "secondary": other})
    assert warnings and "7.2.22" in warnings[0] and str(ten.version) in warnings[0]
    assert "10.0.0–10.0.6" in refusal(VMFacts(QemuVersion(10, 0, 6), "", ten.schema))
    assert refusal(VMFacts(QemuVersion(10, 0, 7), "", ten.schema)) is None
    assert "10.1.0–10.1.2" in refusal(VMFacts(QemuVersion(10, 1, 2), "", ten.schema))
    assert refusal(VMFacts(QemuVersion(10, 1, 3), "", ten.schema)) is None, "10.1.3 has the fix"
    assert refusal(VMFacts(QemuVersion(10, 2, 0), "", ten.schema)) is None
    assert Machine(qemu, ACCEL).reconnect_option() == "reconnect-ms=1000"
