"""What a controller tells its front: plain data, one class per kind of news (the screens wrap them in one
Textual message, `ui.messages.Told`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..model import VMView
from ..model.pacemaker import ClusterState
from ..model.traffic import TrafficStats
from ..pair import Pair
from ..qmp.recording import Moment


@dataclass(frozen=True)
class VMChanged:
    """A VM's view changed (link, state, role, structure, log); only ever about the VM that plays ``role`` now."""

    role: str
    view: VMView


@dataclass(frozen=True)
class PairChanged:
    """Other VMs play ``roles`` now (a lab's respawned secondary): the controller has attached them already,
    and ``views`` holds each role's view as it starts (blank for a VM not yet heard from)."""

    pair: Pair
    roles: tuple[str, ...]
    views: Mapping[str, VMView]


@dataclass(frozen=True)
class TrafficChanged:
    """A new report of the lab's guest traffic (the net guest's ticks and the host client's requests)."""

    stats: TrafficStats


@dataclass(frozen=True)
class ClusterChanged:
    """What the Pacemaker cluster shows now of the pair's resource (read every refresh interval)."""

    state: ClusterState


@dataclass(frozen=True)
class ControllerTrouble:
    """Something behind the screen stopped (a watcher, the lab follower): said, never a traceback."""

    text: str


@dataclass(frozen=True)
class Recorded:
    """A replay reached a command that was sent, or colotui's note; None: the log starts again (a seek back)."""

    moment: Moment | None


Event = VMChanged | PairChanged | TrafficChanged | ClusterChanged | ControllerTrouble | Recorded
#: How a controller reaches its front (a screen's post, a fleet's routing).
Tell = Callable[[Event], object]
