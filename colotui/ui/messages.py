"""Messages the controller and the procedure worker post to the main screen (in a fleet: through the fleet's
screen); widgets react to these, never to QMP. They are for the screen alone: none bubbles up to the app."""

from __future__ import annotations

from textual.message import Message

from ..model import VMView
from ..model.traffic import TrafficStats
from ..pair import Pair
from ..scenario import StepUpdate


class VMChanged(Message):
    """A VM's view changed (link, state, role, structure, log)."""

    bubble = False

    def __init__(self, role: str, view: VMView) -> None:
        super().__init__()
        self.role = role
        self.view = view


class StepChanged(Message):
    """The running procedure moved a step to a new state."""

    bubble = False

    def __init__(self, update: StepUpdate) -> None:
        super().__init__()
        self.update = update


class ProcedureFinished(Message):
    """The running procedure ended: passed, failed, aborted, skipped steps, or refused."""

    bubble = False

    def __init__(self, status: str) -> None:
        super().__init__()
        self.status = status


class PairChanged(Message):
    """Other VMs play the pair's roles now (a lab's respawned secondary)."""

    bubble = False

    def __init__(self, pair: Pair) -> None:
        super().__init__()
        self.pair = pair


class TrafficChanged(Message):
    """A new report of the lab's guest traffic (the net guest's ticks and the host client's requests)."""

    bubble = False

    def __init__(self, stats: TrafficStats) -> None:
        super().__init__()
        self.stats = stats


class ControllerTrouble(Message):
    """Something behind the screen stopped (a watcher, the lab follower): said, never a traceback."""

    bubble = False

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class FromPair(Message):
    """One of the controller's messages above, about pair ``name`` of a fleet, for the fleet's screen."""

    bubble = False

    def __init__(self, name: str, message: Message) -> None:
        super().__init__()
        self.name = name
        self.message = message
