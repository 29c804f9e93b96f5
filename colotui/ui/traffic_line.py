"""One line under the panes, for a lab with the net guest: the packets that got out through colo-compare.

``net  ticks 1234 · 9.1/s │ to primary 500/502 answered · 2 lost · rtt 2.0 ms ▁▁▂█▁ · longest gap 412 ms``

Beside the panes' checkpoint strips it shows "miscompare → checkpoint" as it happens: while the guest's packets
differ, every one waits for a checkpoint, and the round trip jumps from milliseconds to a checkpoint's pause.
"""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.widget import Widget

from ..model.traffic import TrafficStats
from .vm_pane import sparkline

#: A report older than this means the lab's traffic helper stopped writing.
STALE_AFTER = 5.0


class TrafficLine(Widget):
    DEFAULT_CSS = "TrafficLine { height: 1; display: none; padding: 0 1; } TrafficLine.shown { display: block; }"

    def __init__(self) -> None:
        super().__init__()
        self.stats: TrafficStats | None = None
        self.rtts: deque[float] = deque(maxlen=120)

    def on_mount(self) -> None:
        self.set_interval(STALE_AFTER / 2, self.refresh)

    def show(self, stats: TrafficStats) -> None:
        self.stats = stats
        if stats.rtt_ms is not None:
            self.rtts.append(stats.rtt_ms)
        self.add_class("shown")
        self.refresh()

    def render(self) -> Text:
        stats = self.stats
        if stats is None:
            return Text()
        text = Text.assemble(("net ", "bold"), "ticks ", (str(stats.ticks), "bold"), f" · {stats.tick_rate:.1f}/s")
        if stats.ticks_repeated:
            text.append(f" · {stats.ticks_repeated} repeated", "bold red")
        if stats.ticks_late:
            text.append(f" · {stats.ticks_late} late (by ≤{stats.late_by})", "yellow")
        text.append(f" │ to {stats.target or '—'} {stats.replies}/{stats.requests} answered")
        if stats.lost:
            text.append(f" · {stats.lost} lost", "yellow")
        rtt = f"{stats.rtt_ms:.1f} ms" if stats.rtt_ms is not None else "—"
        text.append(f" · rtt {rtt} ")
        tail = f" · longest gap {stats.longest_gap_ms:.0f} ms"
        room = self.size.width - 2 - len(text) - len(tail)
        if room >= 6:
            text.append(sparkline(self.rtts, room // 2), "cyan")
        text.append(tail)
        silent = time.time() - stats.updated
        if silent > STALE_AFTER:
            text = Text.assemble((f"traffic helper silent for {silent:.0f} s · ", "bold yellow"), text)
        return text
