"""The QMP REPL: one command language for ``colotui shell`` and the console's REPL pane.

    parser     text → Request | MetaCommand | ParseError (with line and column) | Incomplete
    completer  completions and the argument hint, from the VM's query-qmp-schema
    runner     Repl: parse for each target, judge (safety), send, and return an Outcome
    events     EventFeed and EventFilter: events as they arrive, filtered with :events
    history    the history file the shell and the pane share
    render     outcomes, events and hints as rich renderables, or JSON records for pipes
    shell      ``colotui shell`` (prompt: the terminal; pipe: scripts)

Nothing is imported here, so that registering ``colotui shell`` stays cheap.
"""
