"""When a side of the pair fails: what to tell the operator, and which procedure to offer.

COLO never fails over by itself. When one side dies (its QMP link drops) or
reports ``COLO_EXIT`` with reason ``error``, the survivor needs the matching
procedure: a dead secondary is answered by a failover on the primary, a dead
primary by one on the secondary.

The judgement is a table, `RULES`, in order of priority: the first rule whose
condition holds says every side's alert. A rule that offers a procedure names a
`Situation`; which procedure answers it is the procedures' own data (a scenario
file's ``offered_when``), handed in by the caller as ``offers``, so nothing here
names a procedure that an alert offers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..qmp.health import Health
from ..roles import ROLES, other
from .vm import VMView


@dataclass(frozen=True)
class Situation:
    """What an alert offers a procedure for; a scenario file claims one with ``offered_when = NAME``."""

    name: str
    on: str  # the role the procedure runs on
    failover: bool  # it replaces the other side: the pair has lost that one
    meaning: str  # for whoever writes a scenario file


SECONDARY_LOST = Situation("secondary-lost", "primary", True,
                           "the secondary is lost while in COLO: the primary goes on alone")
PRIMARY_LOST = Situation("primary-lost", "secondary", True,
                         "the primary is lost while in COLO: the secondary takes over")
#: A new secondary lost in the middle of a resume, by what the VM that runs alone was before its failover.
RESUME_UNFINISHED = {mode: Situation(f"resume-unfinished-was-{mode}", "primary", False,
                                     f"a new secondary is lost before COLO ran again, on a VM that was the {mode} "
                                     "before its failover: undo what the resume left")
                     for mode in ROLES}
SITUATIONS = {s.name: s for s in (SECONDARY_LOST, PRIMARY_LOST, *RESUME_UNFINISHED.values())}

#: Situation name → the procedure that answers it (`colotui.scenario.offers` reads it from the scenario files).
Offers = Mapping[str, str]
#: The two views by role.
Views = Mapping[str, VMView]


@dataclass(frozen=True)
class Alert:
    text: str
    severity: str = "critical"
    offer: str | None = None  # a scenario to run …
    offer_on: str | None = None  # … on this side (role)
    fence: str | None = None  # a VM (by name) the operator must kill first: colotui cannot, and it blocks the other
    situation: Situation | None = None  # what the offer answers (set even when no procedure claims it)


@dataclass(frozen=True)
class Offer:
    """A rule's situation and the procedure that claims it (None: no scenario file does)."""

    situation: Situation | None = None
    procedure: str | None = None

    def alert(self, text: str, run: str) -> Alert:
        """The survivor's alert: ``text``, then ``run`` with the procedure's name for ``{}``; or, when no
        procedure claims the situation, that none is offered and why (the operator still learns what happened)."""
        assert self.situation is not None, "only a rule with a situation offers"
        if self.procedure is None:
            none = (f"no procedure is offered: no scenario file says offered_when = \"{self.situation.name}\" "
                    "(colotui run --list).")
            return Alert(text + (none[0].upper() + none[1:] if run[:1].isupper() else none),
                         situation=self.situation)
        return Alert(text + run.format(self.procedure), "critical", self.procedure, self.situation.on,
                     situation=self.situation)


@dataclass(frozen=True)
class Rule:
    """One way a pair can be in trouble: when it holds, and then every side's alert (by role)."""

    name: str
    when: Callable[[Views], bool]
    then: Callable[[Views, Offer], dict[str, Alert]]
    situation: Situation | None = None  # what its alerts offer a procedure for


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


TWO_PRIMARIES = ("TWO PRIMARIES — both VMs run the guest on their own: their disks and networks diverge from "
                 "now on. Keep one. Stop the other's guest now (what it wrote since the split is lost), start "
                 "a fresh secondary against the one you keep, and run primary-resume there.")


def _both_lost(views: Views, _: Offer) -> dict[str, Alert]:
    return {role: Alert(f"BOTH VMs LOST — {view.name}: {_why(view)}. Nothing is left to fail over to. If one is "
                        "only hung and answers again, colotui offers what fits then (a rerun skips the steps done); "
                        "if both are dead, bring back the one that held the guest last from its disk.")
            for role, view in views.items()}


#: For each side that can die: the situation (its survivor runs the failover), and what to tell the survivor
#: before and with the procedure's name.
_ADVICE = {
    SECONDARY_LOST: ("The secondary is gone. COLO does not fail over by itself, and this guest may stay frozen "
                     "until it does: ", "run {} here."),
    PRIMARY_LOST: ("The primary is gone. This secondary holds the guest as of the last checkpoint: ",
                   "run {} here to take over."),
}


def _failover(situation: Situation) -> tuple[Rule, Rule]:
    """The two rules of a failover: the other side is gone, or the survivor's COLO reported an error while
    the other side does not answer. Only on a survivor still in its COLO role, while the pair is in COLO."""
    survivor = situation.on
    lost = other(survivor)
    text, run = _ADVICE[situation]

    def ready(views: Views) -> bool:
        return any(v.in_colo for v in views.values()) and _can_take_over(views[survivor], survivor)

    def alerts(lost_text: str, offer: Offer) -> dict[str, Alert]:
        return {lost: Alert(f"{lost.upper()} LOST — {lost_text}"), survivor: offer.alert(text, run)}

    return (Rule(f"{lost} lost", lambda v: ready(v) and _gone(v[lost], v[survivor]),
                 lambda v, offer: alerts(_why(v[lost]), offer), situation),
            Rule(f"{lost} lost, as the {survivor}'s COLO_EXIT says",
                 lambda v: ready(v) and _colo_error(v[survivor]) and not v[lost].answers,
                 lambda v, offer: alerts(f"the {survivor} reported COLO_EXIT (error)", offer), situation))


def _lost_before_colo(views: Views, _: Offer) -> dict[str, Alert]:
    kept, fresh = views["primary"], views["secondary"]
    text = (f"PRIMARY LOST before COLO ran — {_why(kept)}. The secondary {fresh.name} never held the guest "
            "(it still waits for its migration): nothing to fail over to. Bring the primary back from its disk.")
    return {"primary": Alert(text), "secondary": Alert(text)}


def _blocked_by_new_secondary(views: Views) -> bool:
    kept, fresh = views["primary"], views["secondary"]
    return fresh.lost and kept.health is Health.MONITOR_BLOCKED and kept.colo is not None and kept.colo.mode == "none"


def _fence_new_secondary(views: Views, _: Offer) -> dict[str, Alert]:
    kept, fresh = views["primary"], views["secondary"]
    return {"secondary": Alert(f"NEW SECONDARY LOST — {_why(fresh)}"),
            "primary": Alert(f"{kept.name}'s main loop is blocked, most likely on the lost {fresh.name} (a disk "
                             f"copy or NBD connection to it): kill {fresh.name}, which holds nothing of the guest "
                             "yet; then colotui offers what fits (an abort of the resume)", fence=fresh.name)}


def _was(view: VMView) -> str:
    """What a VM running alone was before its failover: a secondary if it says so, else (whatever else its
    reply says) the primary."""
    return "secondary" if view.colo is not None and view.colo.last_mode == "secondary" else "primary"


def _resume_unfinished(mode: str) -> Rule:
    """A new secondary lost while the resume has left things on the VM that runs alone (which was ``mode``)."""

    def when(views: Views) -> bool:
        kept = views["primary"]
        return views["secondary"].lost and _was(kept) == mode and bool(_resume_leftovers(kept))

    def then(views: Views, offer: Offer) -> dict[str, Alert]:
        leftovers = ", ".join(_resume_leftovers(views["primary"]))
        return {"secondary": Alert(f"NEW SECONDARY LOST during a resume — {_why(views['secondary'])}"),
                "primary": offer.alert("The new secondary is gone before COLO ran again: this VM is not protected, "
                                       f"and the resume left {leftovers}. ", "Run {} here to undo it and run alone.")}

    return Rule(f"resume unfinished, was {mode}", when, then, RESUME_UNFINISHED[mode])


#: What can be wrong with a pair, loudest first: the first rule that holds says every side's alert.
#: A failover is offered only on a side still in its COLO role, and only while the other side is lost
#: (down, or answering neither in band nor out of band): never while the other side answers, so colotui
#: never helps make two primaries. If it sees two anyway, that is the loudest alert it has.
RULES: tuple[Rule, ...] = (
    Rule("two primaries", lambda v: all(_alone(view) for view in v.values()),
         lambda v, _: {role: Alert(TWO_PRIMARIES) for role in v}),
    Rule("both lost", lambda v: all(view.health is not None and view.health.lost for view in v.values()),
         _both_lost),  # even one never seen
    *_failover(SECONDARY_LOST),
    *_failover(PRIMARY_LOST),
    Rule("primary lost before COLO ran",
         lambda v: v["primary"].lost and v["secondary"].answers and v["secondary"].status == "inmigrate",
         _lost_before_colo),
    Rule("new secondary lost, the primary blocked on it", _blocked_by_new_secondary, _fence_new_secondary),
    *(_resume_unfinished(mode) for mode in ROLES),
)


def first_rule(primary: VMView, secondary: VMView) -> Rule | None:
    """The rule of `RULES` that judges the pair now (None: no rule holds; each side is judged alone)."""
    views = {"primary": primary, "secondary": secondary}
    return next((rule for rule in RULES if rule.when(views)), None)


def _warnings(views: Views) -> dict[str, Alert]:
    """With no rule holding: each side that is not well on its own."""
    alerts = {}
    for role, view in views.items():
        if view.structure_known and view.health is not None and view.health is not Health.ANSWERS:
            alerts[role] = Alert(f"{view.name} is {view.health.value}: {view.health_detail}", "warning")
        elif view.checkpoints_stalled:
            alerts[role] = Alert(f"{view.name}: checkpoints stalled (the other side may be hung)", "warning")
    return alerts


def assess(primary: VMView, secondary: VMView, offers: Offers) -> dict[str, Alert]:
    """Alerts by role ("primary", "secondary"); a side with nothing wrong has none. ``offers`` says which
    procedure answers each situation (`colotui.scenario.offers`)."""
    views = {"primary": primary, "secondary": secondary}
    rule = first_rule(primary, secondary)
    if rule is None:
        return _warnings(views)
    situation = rule.situation
    return rule.then(views, Offer(situation, offers.get(situation.name) if situation else None))
