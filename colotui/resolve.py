"""Which VMs a command works on: one rule for every command.

A pair comes from exactly one of a lab (``--lab DIR``: everything from its
lab.json), a profile of the config file (a lab, or two addresses and a
topology), or two QMP addresses (and, for procedures, a topology file).
`colotui shell` also takes a single address. `resolve_pair` and
`resolve_targets` are the only places that decide it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import Config, Profile
from .errors import UserError
from .lab import pair_from_lab
from .pair import Endpoint, Pair, pair_from_addresses, with_cluster
from .qmp import AddressError, parse_address


def _pair_from_profile(profile: Profile) -> Pair:
    if profile.lab is not None:
        pair = pair_from_lab(profile.lab)
    elif profile.primary is None or profile.secondary is None:
        raise UserError(f"profile {profile.name!r} needs a lab, or a primary and a secondary address")
    else:
        pair = pair_from_addresses(profile.primary, profile.secondary, profile.topology,
                                   primary_yank=profile.primary_yank, secondary_yank=profile.secondary_yank)
    if profile.variant is None:
        return pair
    return replace(pair, given={**pair.given, "variant": profile.variant},
                   given_from=" and ".join(filter(None, (pair.given_from, f"profile {profile.name}"))))


def _with(pair: Pair, settings: Mapping[str, Any] | None) -> Pair:
    """``--set`` values on a lab's or a profile's pair."""
    if not settings:
        return pair
    flag = "--variant" if set(settings) == {"variant"} else "--set"
    return replace(pair, given={**pair.given, **settings},
                   given_from=" and ".join(filter(None, (pair.given_from, flag))))


def resolve_pair(config: Config, *, lab: str | Path | None = None, profile: str | None = None,
                 addresses: Sequence[str | None] = (), topology: str | Path | None = None,
                 yank: Sequence[str | None] = (None, None), settings: Mapping[str, Any] | None = None,
                 pacemaker: str | None = None) -> Pair:
    """The pair named by exactly one of ``lab``, ``profile`` (of ``config``) or two ``addresses``;
    ``topology`` and ``yank`` (each VM's second QMP address, for out-of-band commands) go with addresses;
    ``pacemaker`` names the Pacemaker resource the pair is (else the profile's, else its sockets')."""
    return with_cluster(_resolve(config, lab, profile, addresses, topology, yank, settings),
                        pacemaker if pacemaker is not None or not profile else config.profile(profile).pacemaker)


def _resolve(config: Config, lab: str | Path | None, profile: str | None, addresses: Sequence[str | None],
             topology: str | Path | None, yank: Sequence[str | None], settings: Mapping[str, Any] | None) -> Pair:
    given = [g for g in addresses if g is not None]
    if any(yank) and (lab is not None or profile):
        raise UserError("--primary-yank and --secondary-yank go with addresses (a lab or a profile has its own)")
    if sum(map(bool, (lab is not None, profile, given))) > 1:
        raise UserError("give one of --lab DIR, --profile NAME or the two QMP addresses")
    if profile:
        return _with(_pair_from_profile(config.profile(profile)), settings)
    if lab is not None:
        return _with(pair_from_lab(Path(lab)), settings)
    if len(given) != 2:
        raise UserError("give --lab DIR, --profile NAME, or the primary's and the secondary's QMP addresses "
                        "(a socket path, host:port, or a libvirt domain: qemu:///system?domain=NAME)")
    return pair_from_addresses(given[0], given[1], Path(topology) if topology is not None else None,
                               primary_yank=yank[0], secondary_yank=yank[1], settings=settings)


def resolve_targets(config: Config, *, lab: str | Path | None = None, profile: str | None = None,
                    addresses: Sequence[str] = ()) -> dict[str, Endpoint]:
    """The VMs by target name: ``primary`` and ``secondary`` for a pair; ``vm`` for a single address."""
    if lab is None and not profile:
        if len(addresses) == 1:
            try:
                return {"vm": Endpoint("vm", parse_address(addresses[0]))}
            except AddressError as exc:
                raise UserError(str(exc)) from None
        if len(addresses) != 2:
            raise UserError("give --lab DIR, --profile NAME, or one or two QMP addresses (a socket path, "
                            "host:port, or a libvirt domain: qemu:///system?domain=NAME)")
    return resolve_pair(config, lab=lab, profile=profile, addresses=addresses).by_role()
