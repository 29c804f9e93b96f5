"""Messages the console's workers post; widgets react to these, never to QMP."""

from __future__ import annotations

from textual.message import Message

from ..model import VMView
from ..scenario import StepUpdate


class VMChanged(Message):
    """A VM's view changed (link, state, role, structure, log)."""

    def __init__(self, role: str, view: VMView) -> None:
        super().__init__()
        self.role = role
        self.view = view


class StepChanged(Message):
    """The running procedure moved a step to a new state."""

    def __init__(self, update: StepUpdate) -> None:
        super().__init__()
        self.update = update


class ProcedureFinished(Message):
    def __init__(self, status: str) -> None:
        super().__init__()
        self.status = status
