"""A fleet of COLO pairs as one table: each pair's row, judged from its two views, and the table's order.

An operator protecting several VMs looks first for the pair in trouble: a row
says in one line what the pair's console would show at the top of its panes
(roles, COLO state, checkpoints, links, the alert), and the table puts the
worst alert first. Plain data: the fleet screen only draws it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..qmp.notices import LinkState
from ..roles import other
from .alerts import Alert, Offers, assess
from .vm import VMView

#: How the table may be ordered; the first is the default (worst alert first, then by name).
SORTS = ("alert", "name", "state", "rate")
#: An alert's severity as a rank: lower sorts first; a pair with no alert ranks last.
RANK = {"critical": 0, "warning": 1}
CALM = len(RANK)


@dataclass(frozen=True)
class FleetRow:
    """One pair as the fleet table shows it."""

    name: str
    primary: str  # each side's address
    secondary: str
    roles: str
    state: str
    per_minute: float  # checkpoints
    last_pause_ms: float | None
    pauses_ms: tuple[float, ...]
    links: tuple[LinkState, LinkState]
    alert: str = ""
    severity: str = ""
    offer: str | None = None  # the procedure the pair's console offers (`f`)

    @property
    def rank(self) -> int:
        return RANK.get(self.severity, CALM)

    def matches(self, text: str) -> bool:
        """``text`` (any case) in the name, an address, the roles, the state or the alert."""
        words = (self.name, self.primary, self.secondary, self.roles, self.state, self.alert)
        return text.casefold() in " ".join(words).casefold()


def _role(view: VMView) -> str:
    if view.colo is None:
        return "?"
    if view.colo.mode != "none":
        return view.colo.mode
    return "alone" if _alone(view) else "none"


def _alone(view: VMView) -> bool:
    return view.colo is not None and view.colo.mode == "none" and view.colo.last_mode != "none" and bool(view.running)


def pair_state(primary: VMView, secondary: VMView, alerts: Mapping[str, Alert] | None = None) -> str:
    """The pair's COLO state in a few words; ``alerts`` (`assess`'s) say which side a failover would replace."""
    views = {"primary": primary, "secondary": secondary}
    replaced = {other(a.situation.on) for a in (alerts or {}).values() if a.situation and a.situation.failover}
    alone = [v for v in views.values() if _alone(v) and v.connected]
    if len(alone) == 2:
        return "two primaries"
    if alone:
        return f"running alone ({alone[0].name})"
    if any(v.in_colo for v in views.values()):
        lost = [role for role, v in views.items() if v.lost or role in replaced]
        if lost:
            return f"COLO, {lost[0]} lost"
        return "COLO, checkpoints stalled" if any(v.checkpoints_stalled for v in views.values()) else "COLO running"
    if not any(v.connected for v in views.values()) and not any(v.structure_known for v in views.values()):
        return "connecting"
    return "not in COLO"


def fleet_row(name: str, primary: VMView, secondary: VMView, offers: Offers) -> FleetRow:
    """The row of pair ``name`` from its two views; its alert is the worst of the pair's (what happened, the
    lost side's, before the survivor's advice), with the procedure offered if any (``offers``: `assess`'s)."""
    alerts = assess(primary, secondary, offers)
    worst = sorted(alerts.values(), key=lambda a: (RANK.get(a.severity, CALM), a.offer is not None))
    offer = next((a.offer for a in alerts.values() if a.offer), None)
    counted = primary if primary.checkpoints.count >= secondary.checkpoints.count else secondary
    stats = counted.checkpoints
    return FleetRow(name, primary.address, secondary.address, f"{_role(primary)} / {_role(secondary)}",
                    pair_state(primary, secondary, alerts),
                    stats.per_minute if any(v.in_colo and v.connected for v in (primary, secondary)) else 0.0,
                    stats.last_pause_ms, stats.steady_pauses_ms,
                    (primary.link, secondary.link), worst[0].text if worst else "",
                    worst[0].severity if worst else "", offer)


def ordered(rows: Iterable[FleetRow], sort: str = SORTS[0], text: str = "") -> list[FleetRow]:
    """The rows that match ``text``, in the order ``sort`` (one of `SORTS`) asks; ties by name."""
    keys = {
        "alert": lambda r: (r.rank, r.name),
        "name": lambda r: (r.name,),
        "state": lambda r: (r.state, r.name),
        "rate": lambda r: (-r.per_minute, r.name),
    }
    return sorted((r for r in rows if r.matches(text)), key=keys[sort])
