"""What counts as changing a VM, what is asked before it is sent, and which events show."""

from __future__ import annotations

import pytest

from colotui.qmp import Event, LinkChanged, LinkState
from colotui.repl.events import EventFilter, FilterError
from colotui.repl.parser import Request, parse
from colotui.repl.safety import Confirm, Policy, changes_state, judge


@pytest.mark.parametrize("text, changes", [
    ("query-status", False), ("x-query-roms", False), ("x-debug-query-block-graph", False),
    ("qom-get path=/ property=type", False), ("qom-list path=/objects", False), ("!info network", False),
    ("!help", False), ("human-monitor-command command-line=info", False),
    ("stop", True), ("migrate uri=x", True), ("object-del id=m0", True), ("!drive_del replication0", True),
    ("x-colo-lost-heartbeat", True), ("transaction( abort )", True), ("some-future-command", True),
    ("human-monitor-command command-line=", True),
])
def test_only_known_readers_count_as_not_changing_state(text: str, changes: bool) -> None:
    request = parse(text)
    assert isinstance(request, Request)
    assert changes_state(request) is changes


def test_read_only_refuses_and_colo_asks() -> None:
    stop, status = parse("stop"), parse("query-status")
    assert isinstance(stop, Request) and isinstance(status, Request)
    both_colo = {"primary": True, "secondary": True}
    assert judge(status, Policy(read_only=True), both_colo).send
    refused = judge(stop, Policy(read_only=True), both_colo)
    assert refused.refusal == "read-only: stop may change the VM; nothing was sent"
    asked = judge(stop, Policy(), {"primary": True, "secondary": False})
    assert asked.question == "primary is in COLO: send stop to primary, secondary?"
    assert judge(stop, Policy(), {"primary": False}).send
    assert judge(stop, Policy(confirm=Confirm.ALWAYS), {"primary": False}).question == \
        "it changes state: send stop to primary?"
    assert judge(stop, Policy(confirm=Confirm.NEVER), both_colo).send
    hmp = parse("!drive_del replication0")
    assert isinstance(hmp, Request)
    assert "HMP 'drive_del replication0'" in (judge(hmp, Policy(), {"primary": True}).question or "")


def event(name: str) -> Event:
    return Event("primary", name, {}, 0.0)


def test_the_event_filter_hides_checkpoint_noise_by_default_and_counts_it() -> None:
    f = EventFilter()
    assert f.accepts(event("MIGRATION")) and not f.accepts(event("STOP")) and not f.accepts(event("RESUME"))
    assert f.accepts(LinkChanged("primary", LinkState.DISCONNECTED, "lost"))
    assert "not shown so far: 2" in f.describe()
    f.change(["BLOCK_JOB_*", "COLO_EXIT"])
    assert f.accepts(event("BLOCK_JOB_READY")) and f.accepts(event("COLO_EXIT"))
    assert not f.accepts(event("MIGRATION"))
    f.change(["+MIGRATION", "-BLOCK_JOB_READY"])
    assert f.accepts(event("MIGRATION")) and not f.accepts(event("BLOCK_JOB_READY"))
    assert f.change(["all"]).startswith("events: all;") and f.accepts(event("STOP"))
    f.change(["off"])
    assert not f.accepts(event("MIGRATION")) and f.accepts(LinkChanged("primary", LinkState.CONNECTED))
    f.change(["default"])
    assert f.accepts(event("MIGRATION")) and not f.accepts(event("RESUME"))
    f.change(["+stop"])
    assert f.accepts(event("STOP")) and not f.accepts(event("RESUME"))
    with pytest.raises(FilterError) as bad:
        f.change(["on", "no such"])
    assert bad.value.index == 1 and f.accepts(event("STOP")), "a rejected change changes nothing"


def test_the_shell_offers_every_confirm_policy() -> None:
    """`colotui shell --confirm` lists them without loading the language; the list must stay true."""
    from colotui.commands.shell import CONFIRM_CHOICES
    from colotui.repl.safety import Confirm

    assert tuple(c.value for c in Confirm) == CONFIRM_CHOICES
