"""When a side of the pair fails: what to tell the operator, and which procedure to offer.

COLO never fails over by itself. When one side dies (its QMP link drops) or
reports ``COLO_EXIT`` with reason ``error``, the survivor needs the matching
procedure: a dead secondary is answered by primary-failover on the primary, a
dead primary by secondary-failover on the secondary.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vm import VMView


@dataclass(frozen=True)
class Alert:
    text: str
    severity: str = "critical"
    offer: str | None = None  # a scenario to run …
    offer_on: str | None = None  # … on this side (role)


def _colo_error(view: VMView) -> bool:
    return view.colo_exit is not None and dict(view.colo_exit).get("reason") == "error"


#: For each side that can die: the survivor, the procedure it needs, and what to tell its operator.
_FAILOVERS = (
    ("secondary", "primary", "primary-failover",
     "The secondary is gone. COLO does not fail over by itself, and this guest may stay frozen until it does: "
     "run primary-failover here."),
    ("primary", "secondary", "secondary-failover",
     "The primary is gone. This secondary holds the guest as of the last checkpoint: run secondary-failover "
     "here to take over."),
)


def _down(view: VMView) -> bool:
    """Known once, unreachable now (a VM never reached is not "down", just not there yet)."""
    return view.structure_known and not view.connected


def assess(primary: VMView, secondary: VMView) -> dict[str, Alert]:
    """Alerts by role ("primary", "secondary"); a side with nothing wrong has none."""
    views = {"primary": primary, "secondary": secondary}
    if primary.in_colo or secondary.in_colo:
        for lost, survivor, offer, advice in _FAILOVERS:
            dead, alive = views[lost], views[survivor]
            in_role = alive.connected and alive.colo is not None and alive.colo.mode == survivor
            if in_role and (_down(dead) or _colo_error(alive)):
                why = dead.link_detail if not dead.connected else f"the {survivor} reported COLO_EXIT (error)"
                return {lost: Alert(f"{lost.upper()} LOST — {why}"),
                        survivor: Alert(advice, "critical", offer, survivor)}
    return {role: Alert(f"{view.name} is down: {view.link_detail}", "warning")
            for role, view in views.items() if _down(view)}
