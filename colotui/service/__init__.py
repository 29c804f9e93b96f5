"""Services above the QMP session: opening a pair's sessions, keeping each VM's view current, and
following a lab whose roles change. They run in the event loop; the console and the commands use them."""
