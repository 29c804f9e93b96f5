"""The Textual messages of the console's screens: a controller's event as it reaches a screen (`Told`), and
the procedure worker's end. They are for the screen alone: none bubbles up to the app."""

from __future__ import annotations

from textual.message import Message

from ..control.events import Event
from ..control.fleet import FleetEvent
from ..scenario import StepUpdate


class Told(Message):
    """A controller told the screen ``event`` (`colotui.control.events`, or the fleet's)."""

    bubble = False

    def __init__(self, event: Event | FleetEvent) -> None:
        super().__init__()
        self.event = event


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
