"""One line under the panes, for a pair that is a Pacemaker resource: what the cluster shows of it.

``pacemaker  colo-clone managed · node-a Promoted, score 101 promoted primary · node-b Unpromoted, score 100 …``

While the cluster manages the pair, the line says so in bold: a procedure started here is refused.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..model.pacemaker import ClusterState


class ClusterLine(Widget):
    DEFAULT_CSS = "ClusterLine { height: auto; max-height: 2; display: none; padding: 0 1; } " \
                  "ClusterLine.shown { display: block; }"

    def __init__(self) -> None:
        super().__init__()
        self.state: ClusterState | None = None

    def show(self, state: ClusterState) -> None:
        self.state = state
        self.add_class("shown")
        self.refresh(layout=True)

    def render(self) -> Text:
        if self.state is None:
            return Text()
        style = "bold yellow" if self.state.refusal else ""
        return Text.assemble(("pacemaker ", "bold"), (self.state.line, style))
