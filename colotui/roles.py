"""The two roles of a COLO pair, and the one rule that turns one into the other.

A pair is given as primary and secondary, but the VMs may play the other way
round (after a failover and a resume, the old secondary is the primary); the
code that matches the two namings asks here, so the flip is written once.
"""

from __future__ import annotations

#: The two sides of a COLO pair, in the order colotui shows them.
ROLES = ("primary", "secondary")


def other(role: str) -> str:
    """The role across the pair from ``role``."""
    return ROLES[1] if role == ROLES[0] else ROLES[0]


def flipped(flip: bool) -> dict[str, str]:
    """Each role → the other one when ``flip`` (the VMs play the other way round from how they were given),
    else itself. The mapping is its own inverse: it turns a given role into the one played, and back."""
    return {role: other(role) if flip else role for role in ROLES}
