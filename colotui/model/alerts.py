"""When a side of the pair fails: what to tell the operator, and which procedure to offer.

COLO never fails over by itself. When one side dies (its QMP link drops) or
reports ``COLO_EXIT`` with reason ``error``, the survivor needs the matching
procedure: a dead secondary is answered by primary-failover on the primary, a
dead primary by secondary-failover on the secondary.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..qmp.health import Health
from .vm import VMView


@dataclass(frozen=True)
class Alert:
    text: str
    severity: str = "critical"
    offer: str | None = None  # a scenario to run …
    offer_on: str | None = None  # … on this side (role)
    fence: str | None = None  # a VM (by name) the operator must kill first: colotui cannot, and it blocks the other


def _colo_error(view: VMView) -> bool:
    return view.colo_exit is not None and dict(view.colo_exit).get("reason") == "error"


def _alone(view: VMView) -> bool:
    """Answers, and runs the guest on its own after having been in COLO."""
    return view.answers and view.colo is not None and view.colo.mode == "none" and view.colo.last_mode != "none" \
        and bool(view.running)


def _can_take_over(view: VMView, role: str) -> bool:
    """Reachable and still playing ``role`` in COLO (a blocked main loop is freed by the failover's yank)."""
    usable = view.connected and view.health in (None, Health.ANSWERS, Health.MONITOR_BLOCKED)
    return usable and view.colo is not None and view.colo.mode == role


#: For each side that can die: the survivor, the procedure it needs, and what to tell its operator.
_FAILOVERS = (
    ("secondary", "primary", "primary-failover",
     "The secondary is gone. COLO does not fail over by itself, and this guest may stay frozen until it does: "
     "run primary-failover here."),
    ("primary", "secondary", "secondary-failover",
     "The primary is gone. This secondary holds the guest as of the last checkpoint: run secondary-failover "
     "here to take over."),
)

TWO_PRIMARIES = ("TWO PRIMARIES — both VMs run the guest on their own: their disks and networks diverge from "
                 "now on. Keep one. Stop the other's guest now (what it wrote since the split is lost), start "
                 "a fresh secondary against the one you keep, and run primary-resume there.")


def _resume_leftovers(view: VMView) -> list[str]:
    """What a resume that did not finish left on a VM running alone: what primary-resume-abort undoes."""
    if view.colo is None or view.colo.mode != "none" or view.colo.last_mode == "none":
        return []
    found = [f"disk copy {j.id} ({j.status})" for j in view.jobs if not j.internal]
    found += [f"colo-compare {c.id}" for c in view.compares]
    found += [f"filter {f.id}" for n in view.netdevs for f in n.filters if f.type == "filter-mirror"]
    found += [f"quorum child {c.name} ({c.driver})" for d in view.drives if d.root.driver == "quorum"
              for c in d.root.children if c.driver == "nbd" or (c.driver == "replication" and "primary" in c.detail)]
    if view.running is False and view.status in ("paused", "postmigrate", "finish-migrate"):
        found.append(f"the guest is {view.status}")
    return found


def _gone(dead: VMView, alive: VMView) -> bool:
    """Lost, as a failover needs it: known, and now down or not answering; or never reached this session
    (nothing listens at its address: the console came after it died) while the survivor's own COLO says
    its peer is gone (no checkpoint for well over the usual interval, or a COLO_EXIT with an error)."""
    if dead.lost:
        return True
    never_seen_down = not dead.structure_known and dead.health is Health.DOWN
    return never_seen_down and (alive.checkpoints_stalled or _colo_error(alive))


def _why(view: VMView) -> str:
    if view.health is Health.NOT_ANSWERING:
        return f"not answering (hung, or cut off): {view.health_detail}"
    return view.health_detail or view.link_detail


def assess(primary: VMView, secondary: VMView) -> dict[str, Alert]:
    """Alerts by role ("primary", "secondary"); a side with nothing wrong has none.

    A failover is offered only on a side still in its COLO role, and only while the other side is lost
    (down, or answering neither in band nor out of band): never while the other side answers, so
    colotui never helps make two primaries. If it sees two anyway, that is the loudest alert it has.
    """
    views = {"primary": primary, "secondary": secondary}
    if _alone(primary) and _alone(secondary):
        return {role: Alert(TWO_PRIMARIES) for role in views}
    if all(v.health is not None and v.health.lost for v in views.values()):  # even one never seen
        return {role: Alert(f"BOTH VMs LOST — {view.name}: {_why(view)}. Nothing is left to fail over to. If "
                            "one is only hung and answers again, colotui offers what fits then (a rerun skips "
                            "the steps done); if both are dead, bring back the one that held the guest last from "
                            "its disk.") for role, view in views.items()}
    if primary.in_colo or secondary.in_colo:
        for lost, survivor, offer, advice in _FAILOVERS:
            dead, alive = views[lost], views[survivor]
            if not _can_take_over(alive, survivor):
                continue
            if _gone(dead, alive):
                return {lost: Alert(f"{lost.upper()} LOST — {_why(dead)}"),
                        survivor: Alert(advice, "critical", offer, survivor)}
            if _colo_error(alive) and not dead.answers:
                return {lost: Alert(f"{lost.upper()} LOST — the {survivor} reported COLO_EXIT (error)"),
                        survivor: Alert(advice, "critical", offer, survivor)}
    kept, fresh = views["primary"], views["secondary"]
    if kept.lost and fresh.answers and fresh.status == "inmigrate":
        text = (f"PRIMARY LOST before COLO ran — {_why(kept)}. The secondary {fresh.name} never held the guest "
                "(it still waits for its migration): nothing to fail over to. Bring the primary back from its disk.")
        return {"primary": Alert(text), "secondary": Alert(text)}
    if fresh.lost and kept.health is Health.MONITOR_BLOCKED and kept.colo is not None and kept.colo.mode == "none":
        return {"secondary": Alert(f"NEW SECONDARY LOST — {_why(fresh)}"),
                "primary": Alert(f"{kept.name}'s main loop is blocked, most likely on the lost {fresh.name} (a disk "
                                 f"copy or NBD connection to it): kill {fresh.name}, which holds nothing of the "
                                 "guest yet; then colotui offers what fits (an abort of the resume)",
                                 fence=fresh.name)}
    if fresh.lost and (leftovers := _resume_leftovers(kept)):
        abort = f"{kept.colo.last_mode}-resume-abort" if kept.colo else "primary-resume-abort"
        return {"secondary": Alert(f"NEW SECONDARY LOST during a resume — {_why(fresh)}"),
                "primary": Alert(f"The new secondary is gone before COLO ran again: this VM is not protected, and "
                                 f"the resume left {', '.join(leftovers)}. Run {abort} here to undo it and run "
                                 "alone.", "critical", abort, "primary")}
    alerts = {}
    for role, view in views.items():
        if view.structure_known and view.health is not None and view.health is not Health.ANSWERS:
            alerts[role] = Alert(f"{view.name} is {view.health.value}: {view.health_detail}", "warning")
        elif view.checkpoints_stalled:
            alerts[role] = Alert(f"{view.name}: checkpoints stalled (the other side may be hung)", "warning")
    return alerts
