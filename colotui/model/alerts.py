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


def assess(primary: VMView, secondary: VMView) -> dict[str, Alert]:
    """Alerts by role ("primary", "secondary"); a side with nothing wrong has none."""
    alerts: dict[str, Alert] = {}
    was_colo = primary.in_colo or secondary.in_colo
    if not was_colo:
        for role, view in (("primary", primary), ("secondary", secondary)):
            if view.structure_known and not view.connected:
                alerts[role] = Alert(f"{view.name} is down: {view.link_detail}", "warning")
        return alerts
    secondary_lost = (not secondary.connected and secondary.structure_known) or _colo_error(primary)
    primary_lost = (not primary.connected and primary.structure_known) or _colo_error(secondary)
    if secondary_lost and primary.connected and primary.colo is not None and primary.colo.mode == "primary":
        why = secondary.link_detail if not secondary.connected else "the primary reported COLO_EXIT (error)"
        alerts["secondary"] = Alert(f"SECONDARY LOST — {why}")
        alerts["primary"] = Alert("The secondary is gone. COLO does not fail over by itself, and this guest may "
                                  "stay frozen until it does: run primary-failover here.", "critical",
                                  "primary-failover", "primary")
    elif primary_lost and secondary.connected and secondary.colo is not None and secondary.colo.mode == "secondary":
        why = primary.link_detail if not primary.connected else "the secondary reported COLO_EXIT (error)"
        alerts["primary"] = Alert(f"PRIMARY LOST — {why}")
        alerts["secondary"] = Alert("The primary is gone. This secondary holds the guest as of the last "
                                    "checkpoint: run secondary-failover here to take over.", "critical",
                                    "secondary-failover", "secondary")
    else:
        for role, view in (("primary", primary), ("secondary", secondary)):
            if not view.connected and view.structure_known:
                alerts[role] = Alert(f"{view.name} is down: {view.link_detail}", "warning")
    return alerts
