"""The alerts' rule table: every rule met by views that trigger it, and the offers read from the scenario files.

The views are real QEMU replies (tests/data, recorded from 7.2 and 10.0 pairs) with the link and health a
watcher reports when a VM dies, hangs or blocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pytest

from colotui.model.alerts import RULES, SITUATIONS, assess, first_rule
from colotui.model.block import BlockJob
from colotui.model.fleet import fleet_row, pair_state
from colotui.model.replies import view_from_replies
from colotui.model.vm import VMView
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.scenario import catalogue, find_scenario, offers

DATA = Path(__file__).parents[1] / "data"


def recorded(name: str, address: str, dump: str) -> VMView:
    return view_from_replies(name, address, json.loads((DATA / f"{dump}.json").read_text()))


def dead(view: VMView) -> VMView:
    """Seen, then its connection dropped (what the watcher reports of a killed VM)."""
    return view.with_(link=LinkState.DISCONNECTED, link_detail="connection lost", health=Health.DOWN,
                      health_detail="connection lost")


def unreached(name: str, address: str) -> VMView:
    """Not connected yet and never asked: it does not answer, and nothing says it is lost."""
    return VMView(name, address, link=LinkState.CONNECTING)


PRIMARY = recorded("p", "127.0.0.1", "introspect-primary-colo")
SECONDARY = recorded("s", "127.0.0.2", "introspect-secondary-colo")
ALONE_WAS_PRIMARY = recorded("p", "127.0.0.1", "introspect-primary-after-pfailover")
ALONE_WAS_SECONDARY = recorded("s", "127.0.0.2", "introspect-secondary-after-sfailover")
COPYING = (BlockJob("resume-mirror", "mirror", "ready"),)  # the disk copy a resume leaves running
COLO_ERROR = (("mode", "primary"), ("reason", "error"))


class Case(NamedTuple):
    primary: VMView
    secondary: VMView
    texts: dict[str, str]  # role → how its alert's text begins
    offer: str | None = None  # with the built-in scenarios' offers
    offer_on: str | None = None
    fence: str | None = None


#: Each rule of `RULES` by name, with views that trigger it.
CASES = {
    "two primaries": Case(ALONE_WAS_PRIMARY, ALONE_WAS_SECONDARY,
                          {"primary": "TWO PRIMARIES —", "secondary": "TWO PRIMARIES —"}),
    "both lost": Case(dead(PRIMARY), dead(SECONDARY),
                      {"primary": "BOTH VMs LOST — p: connection lost", "secondary": "BOTH VMs LOST — s:"}),
    "secondary lost": Case(PRIMARY, dead(SECONDARY),
                           {"secondary": "SECONDARY LOST — connection lost", "primary": "The secondary is gone."},
                           "primary-failover", "primary"),
    "secondary lost, as the primary's COLO_EXIT says": Case(
        PRIMARY.with_(colo_exit=COLO_ERROR), unreached("s", "127.0.0.2"),
        {"secondary": "SECONDARY LOST — the primary reported COLO_EXIT (error)", "primary": "The secondary is gone."},
        "primary-failover", "primary"),
    "primary lost": Case(dead(PRIMARY), SECONDARY,
                         {"primary": "PRIMARY LOST — connection lost", "secondary": "The primary is gone."},
                         "secondary-failover", "secondary"),
    "primary lost, as the secondary's COLO_EXIT says": Case(
        unreached("p", "127.0.0.1"), SECONDARY.with_(colo_exit=COLO_ERROR),
        {"primary": "PRIMARY LOST — the secondary reported COLO_EXIT (error)", "secondary": "The primary is gone."},
        "secondary-failover", "secondary"),
    "primary lost before COLO ran": Case(
        dead(PRIMARY), SECONDARY.with_(status="inmigrate", colo=replace(SECONDARY.colo, mode="none")),
        {"primary": "PRIMARY LOST before COLO ran", "secondary": "PRIMARY LOST before COLO ran"}),
    "new secondary lost, the primary blocked on it": Case(
        ALONE_WAS_PRIMARY.with_(health=Health.MONITOR_BLOCKED, jobs=COPYING), dead(SECONDARY),
        {"secondary": "NEW SECONDARY LOST — connection lost", "primary": "p's main loop is blocked"}, fence="s"),
    "resume unfinished, was primary": Case(
        ALONE_WAS_PRIMARY.with_(jobs=COPYING), dead(SECONDARY),
        {"secondary": "NEW SECONDARY LOST during a resume", "primary": "The new secondary is gone before COLO ran"},
        "primary-resume-abort", "primary"),
    "resume unfinished, was secondary": Case(
        ALONE_WAS_SECONDARY.with_(jobs=COPYING), dead(PRIMARY),
        {"secondary": "NEW SECONDARY LOST during a resume", "primary": "The new secondary is gone before COLO ran"},
        "secondary-resume-abort", "primary"),
}


def test_every_rule_has_a_case() -> None:
    assert [rule.name for rule in RULES] == list(CASES), "one case per rule, in the table's order"


@pytest.mark.parametrize("name", list(CASES))
def test_each_rule_judges_the_views_that_trigger_it(name: str) -> None:
    case = CASES[name]
    rule = first_rule(case.primary, case.secondary)
    assert rule is not None and rule.name == name
    alerts = assess(case.primary, case.secondary, offers())
    assert {role: alert.text[:len(case.texts[role])] for role, alert in alerts.items()} == case.texts
    assert all(alert.severity == "critical" for alert in alerts.values())
    offered = [(a.offer, a.offer_on) for a in alerts.values() if a.offer]
    assert offered == ([(case.offer, case.offer_on)] if case.offer else [])
    assert [a.fence for a in alerts.values() if a.fence] == ([case.fence] if case.fence else [])
    if case.offer:
        assert f"un {case.offer} here" in alerts[case.offer_on].text, "the advice names the procedure offered"
        assert rule.situation is not None and offers()[rule.situation.name] == case.offer


def test_the_first_rule_that_holds_wins_and_without_one_each_side_is_judged_alone() -> None:
    blocked_and_left = CASES["new secondary lost, the primary blocked on it"]
    assert blocked_and_left.primary.jobs, "a resume's leftovers are there too"
    assert first_rule(blocked_and_left.primary, blocked_and_left.secondary).name != "resume unfinished, was primary"
    stalled = PRIMARY.with_(checkpoints_stalled=True)
    assert first_rule(stalled, SECONDARY) is None
    assert {r: (a.text, a.severity) for r, a in assess(stalled, SECONDARY, offers()).items()} == {
        "primary": ("p: checkpoints stalled (the other side may be hung)", "warning")}
    assert first_rule(PRIMARY, SECONDARY) is None and assess(PRIMARY, SECONDARY, offers()) == {}


def test_every_situation_is_claimed_by_one_built_in_procedure_that_runs_where_it_is_offered() -> None:
    offered = offers()
    assert set(offered) == set(SITUATIONS)
    assert {rule.situation.name for rule in RULES if rule.situation} == set(SITUATIONS)
    for situation, name in offered.items():
        scenario = find_scenario(name)
        assert scenario.offered_when == situation
        assert scenario.targets == {SITUATIONS[situation].on}, f"{name} sends to the side it is offered on"


def test_the_offer_follows_the_data_not_the_name() -> None:
    case = CASES["secondary lost"]
    renamed = {**offers(), "secondary-lost": "keep-the-primary"}
    alerts = assess(case.primary, case.secondary, renamed)
    assert (alerts["primary"].offer, alerts["primary"].offer_on) == ("keep-the-primary", "primary")
    assert alerts["primary"].text.endswith("run keep-the-primary here.")
    row = fleet_row("bravo", case.primary, case.secondary, renamed)
    assert row.offer == "keep-the-primary" and row.state == "COLO, secondary lost", "a failover by its situation"


def test_a_situation_no_procedure_claims_is_still_told_and_offers_nothing() -> None:
    endings = {"secondary lost": 'until it does: no procedure is offered: no scenario file says offered_when = '
                                 '"secondary-lost" (colotui run --list).',
               "resume unfinished, was secondary": 'ran again: this VM is not protected, and the resume left disk '
                                                   'copy resume-mirror (ready). No procedure is offered: no scenario '
                                                   'file says offered_when = "resume-unfinished-was-secondary" '
                                                   '(colotui run --list).'}
    for name, ending in endings.items():
        case = CASES[name]
        survivor = assess(case.primary, case.secondary, {})[case.offer_on or ""]
        assert survivor.severity == "critical" and survivor.offer is None and survivor.offer_on is None
        assert survivor.text.endswith(ending), survivor.text
    case = CASES["secondary lost"]
    assert pair_state(case.primary, case.secondary, assess(case.primary, case.secondary, {})) == "COLO, secondary lost"


SECONDARY_LOST_PROCEDURE = '''title = "Mine"
offered_when = "secondary-lost"

[[step]]
id = "one"
target = "primary"
why = "because"
qmp = "x-colo-lost-heartbeat"
'''


def test_a_users_procedure_that_claims_a_situation_is_offered_once_the_built_in_one_is_overridden(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the files: the user's directory replaces the built-in primary-failover with one that claims
    nothing, and a procedure of another name claims its situation; the alert offers that one."""
    user = tmp_path / "config" / "colotui" / "scenarios"
    user.mkdir(parents=True)
    (user / "primary-failover.toml").write_text(SECONDARY_LOST_PROCEDURE.replace('offered_when = "secondary-lost"\n',
                                                                               ""))
    (user / "keep-the-primary.toml").write_text(SECONDARY_LOST_PROCEDURE)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert offers()["secondary-lost"] == "keep-the-primary"
    case = CASES["secondary lost"]
    assert assess(case.primary, case.secondary, offers())["primary"].offer == "keep-the-primary"
    monkeypatch.undo()
    assert offers()["secondary-lost"] == "primary-failover", "another user directory, another reading"


def test_a_second_claim_of_a_situation_is_an_error_of_the_later_file_and_the_first_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "keep-the-primary.toml").write_text(SECONDARY_LOST_PROCEDURE)
    entry = catalogue([tmp_path])["keep-the-primary"]
    assert entry.error == (f"{tmp_path}/keep-the-primary.toml: offered_when = \"secondary-lost\" is claimed by "
                           f"primary-failover ({find_scenario('primary-failover').path}) already: one procedure "
                           "answers a situation")
    assert catalogue([tmp_path])["primary-failover"].error is None
    assert offers([tmp_path])["secondary-lost"] == "primary-failover", "an added file takes no offer away"
    out = subprocess.run([sys.executable, "-m", "colotui", "run", "--list", "--scenarios", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    listed = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert f"ERROR {entry.error}" in listed["keep-the-primary"] and "ERROR" not in listed["primary-failover"]
