"""Controllers: plain asyncio between the session services and the screens (or the terminal).

They own sessions, watchers, the REPL and the one run path (`procedures`), decide what a change means (a
role taken by another VM, a late word from the VM that had it, when to repaint), and tell their front in
plain events (`events`). Nothing here imports Textual: a screen only shows what it is told.
"""
