"""Every action of the console, by the place where its keys work: the table keymaps map keys onto.

An action's id is ``scope.name``; the scope says where its keys work (anywhere
in the console, in the procedure panel, in a VM's tree…). Its keys are not
here: `keymaps/default.toml` is the one place they are written, and a keymap
file changes them by id. Widgets build their bindings from this table
(`colotui.ui.keymap.bindings`), so nothing needs to import a widget to know
what can be bound.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    id: str
    action: str  # what Textual runs
    description: str
    show: bool = True  # in the footer

    @property
    def scope(self) -> str:
        return self.id.split(".", 1)[0]


#: Each scope, as people call the place where its keys work (in the order the keys screen lists them).
SCOPES = {"app": "Anywhere", "fleet": "Fleet table", "procedure": "Procedure panel", "picker": "Procedure picker",
          "tree": "A VM's tree", "repl": "QMP console", "confirm": "Confirmation", "help": "Keys screen",
          "doctor": "Doctor's findings", "replay": "Replay"}

ACTIONS: tuple[Action, ...] = (
    Action("app.quit", "app.quit", "Quit"),
    Action("app.help", "help", "Keys"),
    Action("app.refresh", "refresh", "Refresh"),
    Action("app.procedures", "pick_procedure", "Procedures"),
    Action("app.failover", "offered_procedure", "Failover"),
    Action("app.close_procedure", "close_procedure", "Close procedure / back to the fleet", show=False),
    Action("app.focus_primary", "focus_pane('primary')", "Primary pane", show=False),
    Action("app.focus_secondary", "focus_pane('secondary')", "Secondary pane", show=False),
    Action("app.export", "export", "Export runbook", show=False),
    Action("app.doctor", "doctor", "Doctor"),
    Action("app.mouse", "toggle_mouse", "Mouse on/off (off: the terminal selects text)", show=False),
    Action("app.repl", "open_repl", "QMP console"),
    Action("fleet.open", "open_pair", "Open the pair's console"),
    Action("fleet.filter", "filter", "Filter"),
    Action("fleet.sort", "cycle_sort", "Sort"),
    Action("fleet.clear", "clear_filter", "Clear filter", show=False),
    Action("fleet.down", "cursor(1)", "Down", show=False),
    Action("fleet.up", "cursor(-1)", "Up", show=False),
    Action("fleet.first", "cursor_to(0)", "First pair", show=False),
    Action("fleet.last", "cursor_to(-1)", "Last pair", show=False),
    Action("procedure.run", "decide('run')", "Run step"),
    Action("procedure.skip", "decide('skip')", "Skip"),
    Action("procedure.retry", "decide('retry')", "Retry"),
    Action("procedure.abort", "decide('abort')", "Abort"),
    Action("picker.close", "dismiss_none", "Close"),
    Action("tree.down", "cursor_down", "Down", show=False),
    Action("tree.up", "cursor_up", "Up", show=False),
    Action("tree.toggle", "toggle_node", "Fold"),
    Action("help.close", "dismiss", "Close"),
    Action("doctor.close", "dismiss_none", "Close"),
    Action("repl.complete", "complete", "Complete"),
    Action("repl.older", "history(-1)", "Older", show=False),
    Action("repl.newer", "history(1)", "Newer", show=False),
    Action("repl.search", "search", "Search history"),
    Action("repl.target", "cycle_target", "Target"),
    Action("repl.close", "close", "Close"),
    Action("confirm.yes", "answer(True)", "Send"),
    Action("confirm.no", "answer(False)", "Don't send"),
    Action("replay.play", "play_pause", "Play/pause"),
    Action("replay.next", "next_event", "Next event"),
    Action("replay.seek", "seek", "Go to"),
    Action("replay.faster", "speed(1)", "Faster"),
    Action("replay.slower", "speed(-1)", "Slower"),
    Action("replay.forward", "jump(10)", "+10 s", show=False),
    Action("replay.back", "jump(-10)", "-10 s", show=False),
)

BY_ID = {action.id: action for action in ACTIONS}
