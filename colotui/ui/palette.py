"""The palette's procedures (ctrl+p, "Run procedure: NAME"): a name typed in full runs exactly that procedure, and a
procedure that undoes more (a failover, an abort) never ranks above one that undoes less and matches too, so
that `primary-resume` and enter never runs `primary-resume-abort`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..scenario.loader import Entry, catalogue

#: The score of a name typed in full: above any fuzzy match.
EXACT = 1e9
PREFIX = "Run procedure: "


def label(entry: Entry) -> str:
    return f"{PREFIX}{entry.name}"


def ranked(query: str, entries: Iterable[Entry], match: Callable[[str], float]) -> list[tuple[float, Entry]]:
    """The procedures that match ``query`` with their scores, best first: a name typed in full (with or without
    the label's prefix) scores `EXACT`; the others their fuzzy ``match``, each capped below every matching
    procedure of less risk."""
    wanted = query.strip().casefold().removeprefix(PREFIX.casefold()).strip()
    hits = []
    for entry in entries:
        if entry.error is not None:
            continue
        score = EXACT if wanted == entry.name.casefold() else match(label(entry))
        if score > 0:
            hits.append((score, entry))
    capped, ceiling = [], math.inf
    for risk in sorted({entry.risk for _, entry in hits}):
        level = [(score if score == EXACT else min(score, ceiling * 0.99), entry)
                 for score, entry in hits if entry.risk == risk]
        capped += level
        ceiling = min(ceiling, *(score for score, _ in level))
    return sorted(capped, key=lambda hit: (-hit[0], hit[1].risk, hit[1].name))


class ProcedureCommands(Provider):
    """Every procedure of the search path, for the pair's console the palette was opened on."""

    def _start(self) -> Callable[[str], object] | None:
        main = getattr(self.app, "console_screen", lambda screen: None)(self.screen)
        return main.start_procedure if main is not None else None

    async def discover(self) -> Hits:
        start = self._start()
        if start is None:
            return
        for entry in sorted(catalogue().values(), key=lambda e: (e.risk, e.name)):
            if entry.error is None:
                yield DiscoveryHit(label(entry), partial(start, entry.name), help=f"{entry.title} ({entry.origin})")

    async def search(self, query: str) -> Hits:
        start = self._start()
        if start is None:
            return
        matcher = self.matcher(query)
        for score, entry in ranked(query, catalogue().values(), matcher.match):
            # a hair under an equal score of another provider's (an action's): ties would rank by which
            # provider answered first, and the list would change from one search to the next
            yield Hit(score * (1 - 1e-9), matcher.highlight(label(entry)), partial(start, entry.name),
                      text=label(entry), help=f"{entry.title} ({entry.origin})")
