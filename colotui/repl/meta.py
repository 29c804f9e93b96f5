"""colotui's own commands in the REPL, written ``:name``; the shell and the console pane share them.

They never reach QEMU: they change where commands go, which events show,
or look things up. The parser checks the name and the number of words;
what the words mean is up to `colotui.repl.runner.Repl`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetaSpec:
    name: str
    usage: str
    summary: str
    max_args: int | None  # None: any number


META: dict[str, MetaSpec] = {spec.name: spec for spec in (
    MetaSpec("target", ":target [primary|secondary|both]", "show or change which VM commands go to", 1),
    MetaSpec("events", ":events [on|off|all|default|NAME…|-NAME…|+NAME…]",
             "show or change which events appear as they arrive (NAME may use * and ?)", None),
    MetaSpec("history", ":history [TEXT]", "earlier inputs containing TEXT (all words), newest last", None),
    MetaSpec("help", ":help [COMMAND]", "this summary, or a command's arguments from the VM's schema", 1),
    MetaSpec("quit", ":quit", "leave (Ctrl-D does too)", 0),
)}

LANGUAGE_HELP = """\
query-status                               a QMP command (qmp-shell's shorthand)
migrate uri=tcp:127.0.0.2:9998             arguments as key=value; values read as JSON
nbd-server-start addr.type=inet addr.data.host=127.0.0.2 addr.data.port=9999
                                           dotted keys build nested objects
migrate-set-capabilities capabilities=[{"capability":"x-colo","state":true}]
transaction( ACTION key=value …            qmp-shell's transaction: one action per line,
  ACTION key=value … )                     ')' ends it
{"execute": "query-status"}                raw JSON
!info network                              HMP, sent through human-monitor-command
Tab completes commands, arguments and values from the VM's schema; Ctrl-R searches history."""
