"""A VM dies (SIGKILL) or hangs (SIGSTOP) just before step k of a procedure: the run stops in time with one
line naming it, the record says which steps were done, the console's alert offers what fits now, and
following that offer leaves the survivor's guest counting with its disk intact.

Before a failover the peer is lost one of two ways (the "peer lost" column): killed between checkpoints, or
hung (SIGSTOP) the moment a checkpoint begins at 200 ms checkpoints, until the survivor's main loop is
wedged ("during"). CI runs a representative subset on QEMU 7.2 and 11.1 (`CI_CASES`); ``-m slow`` runs every
step of every procedure, both victims, both signals and, for the failovers, both ways (`all_cases`).
``COLOTUI_FAULT_RESULTS=FILE`` collects the results for ``scripts/fault-table``.
"""

from __future__ import annotations

import os
import signal

import pytest

from colotui.lab import Lab

from ..conftest import ALL_QEMUS, LabFactory
from ..support.colo import counter_advances
from ..support.faults import (
    DEADLINE,
    PROCEDURES,
    CaseResult,
    bring_to,
    faulted_run,
    fence,
    follow_offer,
    lose_peer_mid_checkpoint,
    settled_alerts,
    steps_of,
    watching,
)

pytestmark = [pytest.mark.kvm]
NEWEST_AND_OLDEST = pytest.mark.parametrize("qemu", ["system", "sid"], indirect=True, ids=["qemu7", "qemu11"])

#: (procedure, step, victim, signal, peer lost): the fault of each kind that matters most to an operator.
CI_CASES = [
    ("startup", "secondary-incoming", "target", "KILL", "—"),  # the secondary dies before the migration
    ("startup", "primary-migrate", "peer", "STOP", "—"),  # the secondary hangs as the migration starts
    ("primary-failover", "delete-compare", "target", "KILL", "between"),  # the survivor dies mid-failover
    ("secondary-failover", "delete-filter-in", "target", "STOP", "during"),  # the wedged survivor hangs, cut
    ("primary-resume", "resync", "peer", "KILL", "—"),  # the new secondary dies as the disk copy starts
    ("primary-resume", "add-compare", "peer", "STOP", "—"),  # it hangs with the guest paused, filters half added
    ("primary-resume", "primary-capabilities", "target", "KILL", "—"),  # the survivor dies mid-resume
    ("secondary-resume", "end-resync", "peer", "KILL", "—"),  # the new secondary dies with the guest paused
]


def all_cases() -> list[tuple[str, str, str, str, str]]:
    cases = []
    for procedure in PROCEDURES:
        failover = procedure.endswith("-failover")
        victims = ("target",) if failover else ("target", "peer")  # the peer is lost already
        cases += [(procedure, step, victim, sig, lost) for step in steps_of(procedure) for victim in victims
                  for sig in ("KILL", "STOP") for lost in (("between", "during") if failover else ("—",))]
    return cases


def _ids(cases: list[tuple[str, str, str, str, str]]) -> list[str]:
    return [f"{p}-{s}-{v}-{k}" + (f"-{lost}" if lost != "—" else "") for p, s, v, k, lost in cases]


async def check_case(labs: LabFactory, procedure: str, step: str, victim: str, sig: str,
                     peer_lost: str = "—") -> CaseResult:
    lab = await bring_to(labs, procedure, peer_lost)
    case = CaseResult(procedure, steps_of(procedure).index(step) + 1, step, victim, "", sig, peer_lost=peer_lost)
    try:
        await _check(lab, case)
    finally:
        case.write()
        for vm in lab.state().vms:
            if vm.is_alive():
                os.kill(vm.pid, signal.SIGCONT)
    return case


async def _check(lab: Lab, case: CaseResult) -> None:
    async with watching(lab) as watch:
        if case.peer_lost == "during":
            await lose_peer_mid_checkpoint(lab, case)
        await faulted_run(lab, case, watch)
        alerts = await fence(lab, case, await settled_alerts(watch.views), watch)  # if it asks for it
    steps = steps_of(case.procedure)
    # in time: a dead VM is down at once, a hung one after the command deadline (and the probes that follow)
    assert case.seconds < 6 * DEADLINE + 10, f"{case.procedure} took {case.seconds} s after the fault"
    if case.status != "passed":
        assert case.said and "\n" not in case.said, f"one line: {case.said!r}"
        assert case.victim_vm in case.said or case.status == "refused", \
            f"the reason names {case.victim_vm}: {case.said}"
    # the record: the steps done are the first ones, in order, up to where the run stopped
    assert case.done == steps[:len(case.done)], case.done
    if case.status == "failed":
        assert len(case.done) < len(steps)
    case.alerts = {role: alert.text for role, alert in alerts.items()}
    survivor = next((vm for vm in lab.state().vms if vm.state == "running" and vm.name != case.victim_vm
                     and vm.is_alive() and not vm.is_hung()), None)
    await follow_offer(lab, case, alerts)
    if case.offer is not None:
        assert case.followed == "passed", f"following the offer ({case.offer}) ended {case.followed}"
        assert case.counter_advances, f"after {case.offer}, the guest on {case.offer_on} counts on"
        if case.noted_counter is not None:
            assert case.disk_counter is not None and case.disk_counter >= case.noted_counter, \
                f"the disk holds {case.disk_counter}, below {case.noted_counter} seen before the fault"
    elif survivor is not None and survivor.name in case.noted:
        # nothing offered: then the guest that ran before the fault must still run on its own
        await counter_advances(survivor)


@NEWEST_AND_OLDEST
@pytest.mark.parametrize("procedure, step, victim, sig, peer_lost", CI_CASES, ids=_ids(CI_CASES))
async def test_a_fault_in_the_middle(labs: LabFactory, procedure: str, step: str, victim: str, sig: str,
                                     peer_lost: str) -> None:
    await check_case(labs, procedure, step, victim, sig, peer_lost)


@pytest.mark.slow
@ALL_QEMUS
@pytest.mark.parametrize("procedure, step, victim, sig, peer_lost", all_cases(), ids=_ids(all_cases()))
async def test_the_whole_fault_matrix(labs: LabFactory, procedure: str, step: str, victim: str, sig: str,
                                      peer_lost: str) -> None:
    await check_case(labs, procedure, step, victim, sig, peer_lost)
