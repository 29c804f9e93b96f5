"""The console's model from real QEMU replies (recorded from 7.2 and 10.0 pairs in tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

from colotui.model.alerts import assess
from colotui.model.checkpoints import CheckpointCounter
from colotui.model.fleet import pair_state
from colotui.model.network import parse_chardev, parse_info_network
from colotui.model.replies import view_from_replies
from colotui.model.vm import VMView
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.scenario import offers
from colotui.ui.vm_tree import _walk, sections

DATA = Path(__file__).parents[1] / "data"


def dump(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def samples10(key: str) -> dict:
    return json.loads((DATA / "qmp-samples-10.0.13.json").read_text())[key]


def test_filters_in_chain_order_including_inserted_before_the_rewriter() -> None:
    (netdev,) = parse_info_network(dump("introspect-newprimary-resumed")["hmp info network"])
    assert netdev.id == "hn0" and netdev.nic == "e0 (rtl8139)"
    assert [f.id for f in netdev.filters] == ["m0", "redire0", "redire1", "rew0"]
    m0 = netdev.filters[0]
    assert (m0.type, m0.queue, m0.outdev, m0.insert, m0.position) == ("filter-mirror", "tx", "mirror0", "before",
                                                                       "id=rew0")
    assert parse_info_network(dump("introspect-primary-after-pfailover")["hmp info network"])[0].filters == ()


def test_chardevs_say_who_listens_and_who_is_connected() -> None:
    primary = {c.label: c for c in map(parse_chardev, dump("introspect-primary-colo")["query-chardev"])}
    assert primary["mirror0"].server and primary["mirror0"].connected
    assert primary["mirror0"].describe().startswith("listens 127.0.0.1:9003 ← 127.0.0.1:")
    assert not primary["compare0-0"].server and primary["compare0-0"].describe() == "→ 127.0.0.1:9001"
    after = {c.label: c for c in map(parse_chardev, dump("introspect-secondary-after-sfailover")["query-chardev"])}
    assert after["mirror0"].describe() == "listens 127.0.0.2:9003, no peer"
    waiting = parse_chardev({"label": "red0", "filename": "disconnected:tcp:127.0.0.1:9003", "frontend-open": True})
    assert waiting.describe() == "→ 127.0.0.1:9003 NOT CONNECTED"
    exposed = parse_chardev({"label": "mirror0", "filename": "disconnected:tcp:0.0.0.0:9003,server=on"})
    assert exposed.exposed and not primary["mirror0"].exposed


def test_views_from_qemu_7_2_and_10_0_replies() -> None:
    for replies, role in ((dump("introspect-primary-colo"), "primary"), (samples10("colo-running/primary"), "primary"),
                          (dump("introspect-secondary-colo"), "secondary"),
                          (samples10("colo-running/secondary"), "secondary")):
        view = view_from_replies(role, "127.0.0.1", replies)
        assert view.colo is not None and view.colo.mode == role and view.role == role
        assert view.migration == "colo"
    resumed = view_from_replies("s", "127.0.0.2", samples10("resumed-after-sfail/new-primary(old secondary)"))
    assert resumed.role == "primary (was secondary)"
    alone = view_from_replies("p", "127.0.0.1", dump("introspect-primary-after-pfailover"))
    assert alone.role == "running alone (was primary; failover: request)"


def test_secondary_block_graph_and_the_internal_job() -> None:
    view = view_from_replies("secondary", "127.0.0.2", dump("introspect-secondary-colo"))
    assert [d.device for d in view.drives] == ["colo-disk0"], "childs0 and parent0 are shown inside colo-disk0"
    replication = view.drives[0].root.children[0]
    assert (replication.edge, replication.driver, replication.drive) == ("children.0", "replication", "childs0")
    assert {c.edge for c in replication.children} == {"file", "hidden disk", "secondary disk"}
    assert [j.internal for j in view.jobs] == [True]
    text = "\n".join(item.label.plain for item in _walk(sections(view)))
    assert "active disk: qcow2" in text and "not listed by query-block-jobs" in text
    assert "export parent0" in text


def test_checkpoints_fold_into_a_counter_with_pauses() -> None:
    counter = CheckpointCounter()
    assert not counter.resume(1.0), "a RESUME without STOP is no checkpoint"
    for i in range(5):
        counter.stop(10.0 + i)
        assert counter.resume(10.086 + i)
    stats = counter.stats(15.0)
    assert stats.count == 5 and round(stats.last_pause_ms) == 86 and len(stats.pauses_ms) == 5
    assert 55 < stats.per_minute < 80


def test_alerts_offer_the_failover_for_the_survivor() -> None:
    primary = view_from_replies("p", "127.0.0.1", dump("introspect-primary-colo"))
    secondary = view_from_replies("s", "127.0.0.2", dump("introspect-secondary-colo"))
    assert assess(primary, secondary, offers()) == {}
    dead = secondary.with_(link=LinkState.DISCONNECTED, link_detail="connection lost", health=Health.DOWN,
                           health_detail="connection lost")
    alerts = assess(primary, dead, offers())
    assert alerts["primary"].offer == "primary-failover" and "SECONDARY LOST" in alerts["secondary"].text
    refused = primary.with_(link=LinkState.CONNECTING, link_detail="refused", health=Health.DOWN,
                            health_detail="refused")
    alerts = assess(refused, secondary, offers())
    assert alerts["secondary"].offer == "secondary-failover" and alerts["secondary"].offer_on == "secondary"
    hung = secondary.with_(health=Health.NOT_ANSWERING, health_detail="no reply in 1 s, none out of band either")
    alerts = assess(primary, hung, offers())
    assert alerts["primary"].offer == "primary-failover", "a hung peer is as lost as a dead one"
    assert "not answering (hung, or cut off)" in alerts["secondary"].text
    blocked = primary.with_(health=Health.MONITOR_BLOCKED, health_detail="its main loop is blocked")
    assert assess(blocked, hung, offers())["primary"].offer == "primary-failover", \
        "the failover's yank frees a blocked loop"
    alive = assess(primary, secondary.with_(health=Health.MONITOR_BLOCKED, health_detail="its main loop is blocked"),
                   offers())
    assert all(a.offer is None for a in alive.values()), "a peer that answers out of band is not lost"
    exited = primary.with_(colo_exit=(("mode", "primary"), ("reason", "error")))
    assert assess(exited, hung, offers())["primary"].offer == "primary-failover"
    assert "primary" not in assess(exited, secondary, offers()), "COLO_EXIT while the peer answers in COLO: no failover"
    idle = view_from_replies("p", "127.0.0.1", dump("introspect-primary-after-pfailover"))
    alerts = assess(idle, dead, offers())
    assert set(alerts) == {"secondary"} and alerts["secondary"].severity == "warning"
    assert alerts["secondary"].offer is None, "the primary already runs alone: no failover to offer"


def test_a_peer_dead_before_the_console_came_is_lost_once_the_survivor_says_so() -> None:
    """Attached after the secondary died: it was never seen, nothing listens at its address. The primary's own
    COLO tells the rest: checkpoints stalled, the failover is offered; still flowing, nothing is offered."""
    primary = view_from_replies("p", "127.0.0.1", dump("introspect-primary-colo"))
    never = VMView("s", "127.0.0.2", link=LinkState.CONNECTING, link_detail="connection refused",
                   health=Health.DOWN, health_detail="cannot connect: connection refused (nothing listening)")
    assert all(a.offer is None for a in assess(primary, never, offers()).values()), \
        "a wrong address alone is not a death"
    alerts = assess(primary.with_(checkpoints_stalled=True), never, offers())
    assert alerts["primary"].offer == "primary-failover" and alerts["secondary"].text.startswith("SECONDARY LOST")
    assert pair_state(primary.with_(checkpoints_stalled=True), never, alerts) == "COLO, secondary lost"
    assert pair_state(primary.with_(checkpoints_stalled=True), never) == "COLO, checkpoints stalled"
    hung = never.with_(health=Health.NOT_ANSWERING, health_detail="no greeting")
    assert assess(primary.with_(checkpoints_stalled=True), hung, offers())["primary"].offer is None, \
        "never seen and only silent (a primary greets late): not enough to fail over"


def test_two_primaries_is_the_loudest_alert_and_offers_nothing() -> None:
    alone = view_from_replies("p", "127.0.0.1", dump("introspect-primary-after-pfailover"))
    other = view_from_replies("s", "127.0.0.2", dump("introspect-secondary-after-sfailover"))
    assert alone.colo is not None and alone.colo.mode == "none" and other.colo is not None
    alerts = assess(alone, other, offers())
    assert set(alerts) == {"primary", "secondary"}
    assert all(a.text.startswith("TWO PRIMARIES") and a.severity == "critical" and a.offer is None
               for a in alerts.values())
    assert assess(alone, other.with_(link=LinkState.DISCONNECTED, health=Health.DOWN), offers()).get("primary") is None


def test_a_block_job_shows_progress_rate_and_eta() -> None:
    from colotui.model.block import BlockJob
    from colotui.ui.vm_tree import _job_label

    job = BlockJob("resync", "mirror", "running", offset=16 << 20, length=64 << 20, rate=8 << 20)
    assert job.eta == 6.0
    label = _job_label(job).plain
    assert label.startswith("resync mirror running █████░") and "25%" in label
    assert "8.0 MiB/s" in label and "ETA 6 s" in label
    assert "ETA" not in _job_label(BlockJob("resync", "mirror", "ready", 64 << 20, 64 << 20)).plain


def test_the_role_flip_is_its_own_inverse() -> None:
    from colotui.roles import ROLES, flipped, other

    assert [other(role) for role in ROLES] == ["secondary", "primary"]
    assert flipped(False) == {"primary": "primary", "secondary": "secondary"}
    assert flipped(True) == {"primary": "secondary", "secondary": "primary"}
    assert all(flipped(flip)[flipped(flip)[role]] == role for flip in (False, True) for role in ROLES)


def test_the_migrations_pause_does_not_scale_the_checkpoint_sparkline() -> None:
    from colotui.ui.vm_pane import checkpoint_text

    counter = CheckpointCounter()
    t = 1000.0
    for pause in (2.5, 0.08, 0.09, 0.08, 0.12, 0.08):  # the first: the migration's hand-over, 2.5 s
        counter.stop(t)
        counter.resume(t + pause)
        t += 1.0
    stats = counter.stats(t)
    assert stats.steady_pauses_ms == stats.pauses_ms[1:]
    line = checkpoint_text(stats, 60).plain
    assert "▁▃▁█▁" in line, line  # the 120 ms checkpoint stands out, not flattened under 2500 ms
    for _ in range(60):  # once the first has left the window, every pause counts
        counter.stop(t)
        counter.resume(t + 0.08)
        t += 1.0
    later = counter.stats(t)
    assert later.steady_pauses_ms == later.pauses_ms
