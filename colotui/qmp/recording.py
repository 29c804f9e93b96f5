"""A transcript read back: what each VM said and when, which a replay answers from.

The transcript holds every message on the wire with colotui's clock (``t``).
Here it becomes, per VM, the commands with their replies (matched by id within
a connection), the events, and the link changes; and, for the whole file, one
timeline of the moments a replay plays in order (links, events, commands that
change a VM, the pair in use, colotui's notes).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .entries import problem
from .notices import LinkState, Unreached
from .readonly import is_read_only

#: How far apart a replay's question and the live console's may be and still be one question (seconds).
SAME_QUESTION = 0.5


@dataclass(slots=True)
class Exchange:
    """One command and its reply, as recorded (``answered`` None: no reply came; filled in when it does)."""

    sent: float
    command: str
    arguments: dict[str, Any] | None
    answered: float | None = None
    value: Any = None  # the "return"
    error: dict[str, Any] | None = None  # the "error": {"class", "desc"}


@dataclass(frozen=True, slots=True)
class Link:
    """A link change as the session wrote it (``state: detail``, and what a failed attempt found)."""

    t: float
    state: LinkState
    detail: str
    unreached: Unreached | None = None


@dataclass(frozen=True, slots=True)
class Moment:
    """Something a replay plays at ``t``: ``kind`` is link, event, send, pair or note."""

    t: float
    vm: str
    kind: str
    data: Any


@dataclass
class VMRecord:
    """One VM's side of the recording."""

    name: str
    links: list[Link] = field(default_factory=list)
    greetings: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    exchanges: dict[tuple[str, str], list[Exchange]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._link_times: list[float] | None = None
        self._sent: dict[tuple[str, str], list[float]] = {}

    def link_at(self, t: float) -> Link | None:
        """The link as it stood at ``t`` (None: not attached yet)."""
        if self._link_times is None or len(self._link_times) != len(self.links):
            self._link_times = [link.t for link in self.links]
        i = bisect.bisect_right(self._link_times, t)
        return self.links[i - 1] if i else None

    def first_answer(self, command: str, arguments: dict[str, Any] | None) -> float | None:
        """When this VM first answered ``command`` (None: never asked, or never answered)."""
        return min((x.answered for x in self.exchanges.get(_key(command, arguments), []) if x.answered is not None),
                   default=None)

    def greeting_at(self, t: float) -> dict[str, Any] | None:
        i = bisect.bisect_right([g[0] for g in self.greetings], t)
        return self.greetings[i - 1][1] if i else None

    def answer(self, command: str, arguments: dict[str, Any] | None, t: float, *,
               exact: bool = False) -> Exchange | None:
        """What this VM answered to ``command`` asked at ``t``, on the connection that was up then.

        Playing, a replay asks at nearly the moments the live console did, a few milliseconds off: the
        same question asked live within `SAME_QUESTION` after ``t`` is its answer, else the latest asked
        before, else the first asked after (the connection had only just come up). ``exact`` (a look at
        one moment): the latest answer that had come by ``t``, as the live console had it then."""
        link = self.link_at(t)
        if link is None or link.state is not LinkState.CONNECTED:
            return None
        assert self._link_times is not None
        after = bisect.bisect_right(self._link_times, t)
        until = self._link_times[after] if after < len(self._link_times) else float("inf")
        key = _key(command, arguments)
        asked = self.exchanges.get(key, [])
        times = self._sent.get(key)
        if times is None or len(times) != len(asked):
            times = self._sent[key] = [x.sent for x in asked]
        if exact:
            for x in reversed(asked[:bisect.bisect_right(times, t)]):
                if x.sent < link.t:
                    break
                if x.answered is not None and x.answered <= t:
                    return x
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] <= min(t + SAME_QUESTION, until):
            return asked[i]
        if i and times[i - 1] >= link.t:
            return asked[i - 1]
        first = bisect.bisect_left(times, link.t)
        return asked[first] if first < len(times) and times[first] < until else None


@dataclass
class Recording:
    """Every VM's record and the timeline of a transcript (entries oldest first)."""

    vms: dict[str, VMRecord]
    timeline: list[Moment]
    start: float
    end: float

    @classmethod
    def from_entries(cls, entries: Iterable[dict[str, Any]]) -> Recording:
        """The recording in ``entries`` (a transcript's, oldest first). An entry that is not one (no time, an
        event without a name…: `entries.problem`; a transcript's reader leaves those out already) is left out
        here too, and a note at the start says how many: a replay never trips over one."""
        vms: dict[str, VMRecord] = {}
        timeline: list[Moment] = []
        pending: dict[str, dict[Any, Exchange]] = {}  # per VM, commands awaiting their reply by id
        times: list[float] = []
        left_out = 0
        for entry in entries:
            if problem(entry) is not None:
                left_out += 1
                continue
            t, vm, direction, msg = float(entry["t"]), entry["vm"], entry["dir"], entry.get("msg")
            times.append(t)
            if direction == "pair" and isinstance(msg, dict):
                timeline.append(Moment(t, vm, "pair", msg))
                continue
            if direction == "note":  # colotui's remark, or the reader's (a member of a series missing)
                timeline.append(Moment(t, vm, "note", str(msg)))
                continue
            record = vms.setdefault(vm, VMRecord(vm))
            waiting = pending.setdefault(vm, {})
            if direction == "link" and isinstance(msg, str):
                state, _, detail = msg.partition(": ")
                try:
                    link = Link(t, LinkState(state), detail,
                                Unreached(entry["unreached"]) if "unreached" in entry else None)
                except ValueError:
                    continue
                record.links.append(link)
                if link.state is not LinkState.CONNECTED:
                    waiting.clear()  # unanswered: the connection they went out on is gone
                timeline.append(Moment(t, vm, "link", link))
            elif direction == "send" and isinstance(msg, dict):
                command = msg.get("execute") or msg.get("exec-oob") or ""
                arguments = msg.get("arguments")
                exchange = Exchange(t, command, arguments if isinstance(arguments, dict) else None)
                waiting[_id(msg.get("id"))] = exchange
                record.exchanges.setdefault(_key(exchange.command, exchange.arguments), []).append(exchange)
                if not is_read_only(command, exchange.arguments) and not _plumbing(command, exchange.arguments):
                    timeline.append(Moment(t, vm, "send", exchange))
            elif direction == "recv" and isinstance(msg, dict):
                if "QMP" in msg:
                    record.greetings.append((t, msg))
                elif "event" in msg:
                    timeline.append(Moment(t, vm, "event", msg))
                elif "id" in msg and _id(msg["id"]) in waiting:
                    exchange = waiting.pop(_id(msg["id"]))
                    exchange.answered, exchange.value = t, msg.get("return")
                    exchange.error = msg["error"] if isinstance(msg.get("error"), dict) else None
        if not times:
            raise ValueError("the transcript holds no messages")
        if left_out:
            timeline.append(Moment(min(times), "transcript", "note",
                                   f"{left_out} entries of the transcript are not what colotui writes: left out"))
        timeline.sort(key=lambda moment: moment.t)
        return cls(vms, timeline, min(times), max(times))

    def pairs(self) -> list[Moment]:
        """The pair in use, each time the console (re)attached."""
        return [m for m in self.timeline if m.kind == "pair"]


def _id(value: Any) -> Any:
    """A command's id as a key (QMP's ids are any JSON: a list or an object is not hashable)."""
    return value if value is None or isinstance(value, (str, int, float)) else json.dumps(value, sort_keys=True)


def _plumbing(command: str, arguments: dict[str, Any] | None) -> bool:
    """What the session itself sends, not the operator or a procedure: the handshake, the liveness probe
    (a yank of nothing)."""
    return command == "qmp_capabilities" or (command == "yank" and not (arguments or {}).get("instances"))


def _key(command: str, arguments: dict[str, Any] | None) -> tuple[str, str]:
    return command, json.dumps(arguments or {}, sort_keys=True)

