"""Replies not of QEMU's shape are taken as no reply: by the console's model, the doctor's snapshot and
discovery, and the events, never an exception (a damaged recording in a replay, a peer that is not QEMU).

The fuzz starts from real replies (the introspection dumps of real COLO pairs in tests/data) and puts a
value of another type at one to three random places; a fake QMP peer then answers every question of a
live console in such shapes, which QEMU itself never does.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from colotui.control.console import ConsoleController
from colotui.control.events import ControllerTrouble
from colotui.discovery.derive import discover, plays
from colotui.discovery.doctor import audit
from colotui.discovery.snapshot import Snapshot
from colotui.model.alerts import assess
from colotui.model.replies import view_from_replies
from colotui.pair import Endpoint, Pair
from colotui.qmp import LinkState, UnixAddress
from colotui.qmp.notices import Event
from colotui.scenario import offers

from ..support.fake_peer import GREETING, fake_peer, read_message

DATA = Path(__file__).parents[1] / "data"
PAIRS = [("introspect-primary-colo.json", "introspect-secondary-colo.json"),
         ("introspect-newprimary-resumed.json", "introspect-newsecondary-resumed.json"),
         ("introspect-primary-after-pfailover.json", "introspect-secondary-after-sfailover.json")]
#: Values of every JSON type, put where QEMU puts another.
WRONG: list[Any] = [None, 0, -1, 1.5, 10**30, "", "x", "a:b", [], {}, [1], [None], {"a": 1}, True, [[]], [{}],
                    {"": None}]
#: Mutated inputs per test (a pair's replies cost a few milliseconds each: the model, the snapshot, the doctor).
ROUNDS = 10_000
PAIR_ROUNDS = 4_000


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*path, key))


def _put(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(json.loads((DATA / a).read_text()), json.loads((DATA / b).read_text())) for a, b in PAIRS]


def test_misshapen_replies_cost_only_their_own_fields() -> None:
    primary, secondary = _pairs()[0]
    whole = view_from_replies("p", "127.0.0.1", primary)
    assert whole.chardevs and whole.drives and whole.netdevs and whole.colo is not None
    primary["query-chardev"] = [1]
    primary["query-colo-status"] = ["primary"]
    view = view_from_replies("p", "127.0.0.1", primary)
    assert view.chardevs == () and view.colo is None, "taken as no reply"
    assert view.drives == whole.drives and view.netdevs == whole.netdevs, "the other replies still count"
    snapshot = Snapshot("p", primary)
    assert snapshot.chardevs == {} and snapshot.nodes, "the snapshot likewise"
    assert audit(snapshot, Snapshot("s", secondary)), "and the doctor still judges the pair"


def test_replies_of_any_shape_never_raise() -> None:
    rng = random.Random(23)
    pairs = _pairs()
    texts = [(json.dumps(a), json.dumps(b)) for a, b in pairs]  # a fresh copy each round: json is C, deepcopy not
    places = [([list(_paths(a))[1:], list(_paths(b))[1:]]) for a, b in pairs]
    for _ in range(PAIR_ROUNDS):
        which = rng.randrange(len(pairs))
        vms = tuple(json.loads(text) for text in texts[which])
        for _ in range(rng.randint(1, 3)):
            side = rng.randrange(2)
            path = rng.choice(places[which][side])
            try:
                _put(vms[side], path, json.loads(json.dumps(rng.choice(WRONG))))
            except (KeyError, IndexError, TypeError):  # a place an earlier change of this round took away
                continue
        a, b = vms
        assess(view_from_replies("p", "127.0.0.1", a), view_from_replies("s", "127.0.0.2", b), offers())
        first, second = Snapshot("p", a), Snapshot("s", b)
        plays(first), plays(second)
        discover(first, second)
        audit(first, second)


def test_events_of_any_shape_never_raise() -> None:
    rng = random.Random(7)
    real = {"event": "COLO_EXIT", "data": {"mode": "primary", "reason": "error"},
            "timestamp": {"seconds": 1764750000, "microseconds": 5}}
    places = list(_paths(real))[1:]
    for _ in range(ROUNDS):
        msg = copy.deepcopy(real)
        for path in rng.sample(places, rng.randint(1, 2)):
            try:
                _put(msg, path, copy.deepcopy(rng.choice(WRONG)))
            except (KeyError, IndexError, TypeError):
                continue
        event = Event.from_message("p", msg)
        assert isinstance(event.data, dict) and isinstance(event.timestamp, float)


async def _misshapen_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A QMP peer whose every answer and event is of a shape QEMU never gives."""
    buffer = bytearray()
    writer.write(json.dumps(GREETING).encode() + b"\r\n")
    answers = itertools.cycle(WRONG)
    while True:
        msg = await read_message(reader, buffer)
        value = {} if msg.get("execute") == "qmp_capabilities" else next(answers)
        writer.write(json.dumps({"return": value, "id": msg.get("id")}).encode() + b"\r\n")
        writer.write(json.dumps({"event": "STOP", "data": next(answers), "timestamp": next(answers)}).encode()
                     + b"\r\n")
        await writer.drain()


async def test_a_console_on_peers_that_answer_in_other_shapes_keeps_running(short_tmp: Path) -> None:
    servers = [await fake_peer(short_tmp / f"{n}.sock", _misshapen_peer) for n in ("p", "s")]
    pair = Pair(Endpoint("p", UnixAddress(short_tmp / "p.sock"), "127.0.0.1"),
                Endpoint("s", UnixAddress(short_tmp / "s.sock"), "127.0.0.2"))
    controller = ConsoleController(pair)
    posted: list[object] = []
    controller.start(posted.append)
    try:
        await asyncio.sleep(0.5)
        controller.refresh()  # every question again, now: more answers of other shapes
        await asyncio.sleep(2.5)
        assert [m for m in posted if isinstance(m, ControllerTrouble)] == []
        assert all(w.view.link is LinkState.CONNECTED for w in controller.watchers.values())
        assert all(w.calls > 10 for w in controller.watchers.values()), "the watchers kept asking"
    finally:
        await controller.close()
        for server in servers:
            server.close()
