"""Services above the QMP session: opening a pair's sessions, and keeping each VM's view current.
They run in the event loop; the console and the commands use them."""
