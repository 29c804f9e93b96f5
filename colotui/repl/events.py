"""Events from every VM as they arrive, filtered the way the operator asked with ``:events``.

COLO sends STOP and RESUME at every checkpoint on both sides, and
MIGRATION_PASS on the primary, for as long as it runs: by default those are
counted, not shown, and everything else appears at once, while the operator
types. Link changes always show.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..qmp import CHECKPOINT_EVENTS, Event, LinkChanged, Notice, Session, Subscription

_PATTERN = re.compile(r"[A-Z0-9_*?\[\]]+\Z")


class FilterError(ValueError):
    """A word of ``:events`` that is not understood; ``index`` says which."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class EventFilter:
    """Which events to show: names or patterns (``BLOCK_JOB_*``) to show only, or to hide."""

    def __init__(self) -> None:
        self.enabled = True
        self.only: tuple[str, ...] = ()  # when set, only these are shown
        self.hidden: tuple[str, ...] = CHECKPOINT_EVENTS
        self.suppressed: Counter[str] = Counter()  # events not shown, by name

    def accepts(self, notice: Notice) -> bool:
        """Whether to show ``notice`` (link changes always); counts the events it holds back."""
        if isinstance(notice, LinkChanged):
            return True
        if not isinstance(notice, Event):
            return False  # CommandSent: the REPL shows its own commands already
        name = notice.name
        shown = self.enabled and (not self.only or _matches(name, self.only)) and not _matches(name, self.hidden)
        if not shown:
            self.suppressed[name] += 1
        return shown

    def change(self, words: Sequence[str]) -> str:
        """Apply ``:events`` words (on, off, all, default, NAME, -NAME, +NAME); returns the new `describe`."""
        only = list(self.only) if not any(_bare(w) for w in words) else []
        enabled, hidden = self.enabled, list(self.hidden)
        for index, word in enumerate(words):
            lower = word.lower()
            if lower in ("on", "off"):
                enabled = lower == "on"
                continue
            if lower in ("all", "default"):
                enabled, only, hidden = True, [], [] if lower == "all" else list(CHECKPOINT_EVENTS)
                continue
            sign, name = (word[0], word[1:]) if word[:1] in "+-" else ("", word)
            name = name.upper()
            if not _PATTERN.match(name):
                raise FilterError(f"{word!r} is not an event name or pattern (e.g. STOP, BLOCK_JOB_*)", index)
            if sign == "-":
                hidden.append(name)
                only = [p for p in only if p != name]
            else:
                hidden = [p for p in hidden if not fnmatchcase(p, name)]
                if sign == "" or only:
                    only.append(name)
                enabled = True
        self.enabled, self.only, self.hidden = enabled, tuple(dict.fromkeys(only)), tuple(dict.fromkeys(hidden))
        return self.describe()

    def describe(self) -> str:
        if not self.enabled:
            text = "events: off (link changes still show)"
        elif self.only:
            text = f"events: only {', '.join(self.only)}"
        else:
            text = "events: all"
        if self.enabled and self.hidden:
            text += f", except {', '.join(self.hidden)}"
        held = sum(self.suppressed.values())
        if held:
            top = ", ".join(f"{name} {count}" for name, count in self.suppressed.most_common(4))
            text += f"; not shown so far: {held} ({top})"
        return text


def _bare(word: str) -> bool:
    return word[:1] not in "+-" and word.lower() not in ("on", "off", "all", "default")


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class FeedItem:
    target: str  # the name the REPL knows the VM by (primary, secondary, vm)
    notice: Notice


class EventFeed:
    """Notices from several sessions merged in arrival order, through the filter.

    Every session feeds one bounded queue (it drops its oldest when the reader
    falls behind); ``await get()`` returns the next notice the filter accepts,
    with the name the REPL knows its VM by. Create it before sending commands, so
    their events are not missed.
    """

    def __init__(self, sessions: Mapping[str, Session], event_filter: EventFilter | None = None,
                 maxlen: int = 1024) -> None:
        self.filter = event_filter if event_filter is not None else EventFilter()
        self._targets = {session.name: target for target, session in sessions.items()}
        self._sub = Subscription(maxlen)
        for session in sessions.values():
            session.feed(self._sub)

    async def get(self) -> FeedItem:
        """The next accepted notice; raises `StopAsyncIteration` once the feed is closed."""
        while True:
            notice = await self._sub.get()
            if self.filter.accepts(notice):
                return FeedItem(self._targets.get(notice.vm, notice.vm), notice)

    def close(self) -> None:
        self._sub.close()

    def __aiter__(self) -> EventFeed:
        return self

    async def __anext__(self) -> FeedItem:
        return await self.get()
