"""Which commands change a VM, and what the operator must say before one reaches a VM in COLO.

A command on the read-only allowlist (`colotui.qmp.readonly`) only reads; everything
else (including commands colotui does not know) is taken to change state. ``--read-only`` refuses every state-changing
command, and so does a pair Pacemaker manages; by default one sent to a VM that is in COLO is confirmed first,
because a stray ``stop`` or ``object-del`` there breaks replication.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..qmp.readonly import is_read_only, refusal
from .parser import Request


class Confirm(enum.Enum):
    """When a state-changing command is confirmed before it is sent."""

    COLO = "colo"  # when a target VM is in COLO (the default)
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True)
class Policy:
    read_only: bool = False
    confirm: Confirm = Confirm.COLO
    managed: str | None = None  # why not: a cluster manager (Pacemaker) manages the pair


@dataclass(frozen=True)
class Verdict:
    """``send``; or a ``question`` to ask first; or a ``refusal`` (then nothing is sent)."""

    question: str | None = None
    refusal: str | None = None

    @property
    def send(self) -> bool:
        return self.question is None and self.refusal is None


def changes_state(request: Request) -> bool:
    """Whether ``request`` may change a VM (True unless it is known to only read)."""
    return not is_read_only(request.command, request.arguments)


def judge(request: Request, policy: Policy, in_colo: dict[str, bool]) -> Verdict:
    """What to do with ``request`` for targets ``in_colo`` (target name → whether that VM is in COLO)."""
    if not changes_state(request):
        return Verdict()
    if policy.read_only:
        return Verdict(refusal=refusal(request.command, request.arguments))
    if policy.managed:
        return Verdict(refusal=f"{request.hmp or request.command} changes a VM: {policy.managed}")
    what = f"HMP {request.hmp!r}" if request.hmp else request.command
    colo = [name for name, yes in in_colo.items() if yes]
    if policy.confirm is Confirm.ALWAYS or (policy.confirm is Confirm.COLO and colo):
        where = f"{' and '.join(colo)} {'is' if len(colo) == 1 else 'are'} in COLO" if colo \
            else "it changes state"
        return Verdict(question=f"{where}: send {what} to {', '.join(in_colo)}?")
    return Verdict()
