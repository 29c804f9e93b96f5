"""Messages the console's workers post; widgets react to these, never to QMP."""

from __future__ import annotations

from textual.message import Message

from ..model import VMView


class VMChanged(Message):
    """A VM's view changed (link, version, run state or role)."""

    def __init__(self, view: VMView) -> None:
        super().__init__()
        self.view = view
