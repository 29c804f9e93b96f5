"""The hand-made pair (tests/support/handmade.py) starts as the COLO-FT document says, with its own ids and ports."""

from __future__ import annotations

import asyncio
import time

import pytest

from colotui.qmp import Ok, Session, parse_address

from ..conftest import ALL_QEMUS
from ..support.handmade import HandPair, hand_pair  # noqa: F401

pytestmark = [pytest.mark.kvm, ALL_QEMUS]


async def _value(session: Session, command: str, arguments: dict | None = None) -> object:
    reply = await session.execute(command, arguments)
    assert isinstance(reply, Ok), reply
    return reply.value


async def test_hand_pair_starts_ready_for_colo(hand_pair: HandPair) -> None:  # noqa: F811
    pair = await asyncio.to_thread(hand_pair.start)
    primary, secondary = pair.primary, pair.secondary
    assert (primary.address, secondary.address) == ("127.0.0.1", "127.0.0.2")
    assert primary.qmp.startswith("127.0.0.1:") and secondary.qmp.startswith("127.0.0.2:")

    sessions = {vm.name: Session(vm.name, parse_address(vm.qmp)) for vm in (primary, secondary)}
    for session in sessions.values():
        session.start()
    try:
        for session in sessions.values():
            assert await session.wait_connected(10), session.detail
        p, s = sessions["primary"], sessions["secondary"]
        assert (await _value(p, "query-status"))["status"] == "prelaunch"
        assert (await _value(s, "query-status"))["status"] == "inmigrate"

        # the secondary's two client chardevs reach the primary's mirror and compare listeners
        want = {pair.ids.secondary_in: pair.ports.mirror, pair.ids.secondary_out: pair.ports.compare}
        deadline = time.monotonic() + 10
        while True:
            names = {c["label"]: c["filename"] for c in await _value(s, "query-chardev")}
            if all(names.get(label, "").endswith(f"<-> 127.0.0.1:{port}") for label, port in want.items()):
                break
            assert time.monotonic() < deadline, f"secondary chardevs not connected: {names}"
            await asyncio.sleep(0.1)

        i = pair.ids
        for session, filters in ((p, (i.filter_mirror, i.filter_redirect_in, i.filter_redirect_out)),
                                 (s, (i.secondary_filter_in, i.secondary_filter_out, i.rewriter))):
            network = await _value(session, "human-monitor-command", {"command-line": "info network"})
            assert f"{i.netdev}: index=0,type=user" in network
            for name in filters:
                assert f"- {name}: type=filter-" in network, network
            assert "- m0:" not in network and "hn0:" not in network  # not the document's ids
    finally:
        for session in sessions.values():
            await session.close()
