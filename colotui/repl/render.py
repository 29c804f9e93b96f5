"""Outcomes, events and hints as rich renderables (for people) or JSON records (for pipes).

Replies are pretty-printed and highlighted, with how long each took; with two
targets they stand side by side. A QMP error shows its class and description;
a parse error shows the input with a caret under the column. Used by the shell
and meant for the console pane's widgets too (Textual renders rich objects). Nothing
shown holds a secret: the input is shown redacted, and so is what QEMU answered.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from ..qmp import CommandError, DeadlineExceeded, Disconnected, Event, LinkChanged, LinkState, Ok, Reply
from ..qmp.redact import redact_text, redact_value
from .completer import Hint
from .events import FeedItem
from .outcome import Info, Outcome, Pending, Quit, Refused, Rejected, Sent, TargetReply
from .redacted import redact_line, scrub

_TARGET_WIDTH = len("secondary")
_LINK_STYLE = {LinkState.CONNECTED: "green", LinkState.CONNECTING: "yellow", LinkState.DISCONNECTED: "bold red",
               LinkState.IDLE: "dim"}


def outcome_renderable(outcome: Outcome) -> RenderableType | None:
    """How an outcome shows on screen (None: nothing to show)."""
    if isinstance(outcome, Sent):
        return sent_renderable(outcome)
    if isinstance(outcome, Rejected):
        return rejected_renderable(outcome)
    if isinstance(outcome, Refused):
        return Text(scrub(outcome.reason, outcome.text), "bold yellow")
    if isinstance(outcome, Info):
        return Group(Text(outcome.title, "bold"), *(Text(line) for line in outcome.lines))
    if isinstance(outcome, Pending):
        return Text(outcome.message, "dim")
    assert isinstance(outcome, Quit)
    return None


def sent_renderable(sent: Sent) -> RenderableType:
    notes = list(dict.fromkeys(scrub(note, sent.text) for r in sent.replies for note in r.request.notes))
    parts: list[RenderableType] = [Text(f"note: {note}", "dim") for note in notes]
    if len(sent.replies) == 1:
        only = sent.replies[0]
        parts += [reply_title(only), reply_body(only)]
        return Group(*parts)
    table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False)
    for r in sent.replies:
        table.add_column(reply_title(r), ratio=1, overflow="fold")
    table.add_row(*(reply_body(r) for r in sent.replies))
    return Group(*parts, table)


def reply_title(r: TargetReply) -> Text:
    """``primary ✓ 0.84 ms``; the VM's own name too when it differs from the target's."""
    title = Text(r.target, "bold")
    if r.vm != r.target:
        title.append(f" ({r.vm})", "dim")
    title.append(" ✓" if r.reply.ok else " ✗", "green" if r.reply.ok else "bold red")
    title.append(f" {elapsed_text(r.reply.elapsed)}", "dim")
    return title


def reply_body(r: TargetReply) -> RenderableType:
    reply = r.reply
    if isinstance(reply, Ok):
        if r.request.hmp is not None and isinstance(reply.value, str):
            output = redact_text(reply.value.replace("\r\n", "\n").rstrip("\n"))
            return Text(output) if output else Text("(no output)", "dim")
        return JSON.from_data(redact_value(reply.value), indent=2)
    if isinstance(reply, CommandError):
        text = Text(reply.error_class, "bold red")
        text.append(f": {redact_text(reply.desc)}")
        return text
    return Text(reply.message, "yellow" if isinstance(reply, DeadlineExceeded) else "red")


def rejected_renderable(rejected: Rejected) -> RenderableType:
    error = rejected.error
    lines = rejected.text.split("\n")
    line = lines[error.line - 1] if 0 < error.line <= len(lines) else ""
    column = len(scrub(line[:error.column - 1], rejected.text)) + 1  # where it is once secrets are hidden
    caret = Text(" " * (column - 1) + "^", "bold red")
    where = f" (for {rejected.target})" if rejected.target else ""
    message = Text(f"{scrub(str(error), rejected.text)}{where}", "red")
    line = scrub(line, rejected.text)
    return Group(Text(line, "dim"), caret, message)


def elapsed_text(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms"


def event_text(item: FeedItem) -> Text:
    """``12:00:01.234 primary  MIGRATION {"status": "colo"}``; a link change in its state's colour."""
    notice = item.notice
    if isinstance(notice, LinkChanged):
        text = Text(f"{time.strftime('%H:%M:%S')}     {item.target:<{_TARGET_WIDTH}} link ", "dim")
        text.append(notice.state.value, _LINK_STYLE[notice.state])
        if notice.detail:
            text.append(f": {notice.detail}", "dim")
        return text
    assert isinstance(notice, Event)
    stamp = time.strftime("%H:%M:%S", time.localtime(notice.timestamp)) + f".{int(notice.timestamp % 1 * 1000):03d}"
    text = Text(f"{stamp} {item.target:<{_TARGET_WIDTH}} ", "dim")
    text.append(notice.name, "bold magenta")
    if notice.data:
        text.append(" " + json.dumps(notice.data, separators=(", ", ": ")), "magenta")
    return text


def hint_text(h: Hint) -> Text:
    """``migrate  uri: str  [blk: bool]  …``: optional arguments in brackets, the current one highlighted."""
    text = Text(h.command, "bold")
    if h.usage is not None:
        text.append(f"  {h.usage.removeprefix(h.command).strip()}")
        return text
    for flag, on in (("deprecated", h.deprecated), ("unstable", h.unstable)):
        if on:
            text.append(f" ({flag})", "red" if flag == "deprecated" else "yellow")
    if h.scope:
        text.append(f"  {h.scope}.", "cyan")
    if not h.arguments:
        text.append("  (no arguments)", "dim")
    for a in h.arguments:
        label = f"{a.name}: {a.type}"
        style = "reverse" if a.name == h.current else ("dim" if a.given else "")
        if a.deprecated:
            style += " strike red"
        elif a.unstable:
            style += " yellow"
        text.append("  ")
        text.append(f"[{label}]" if a.optional else label, style.strip())
    return text


def json_records(outcome: Outcome) -> list[dict[str, Any]]:
    """One JSON object per reply (or one for the outcome), for scripts reading a pipe."""
    if isinstance(outcome, Sent):
        return [_reply_record(outcome.text, r) for r in outcome.replies]
    if isinstance(outcome, Rejected):
        e = outcome.error
        record: dict[str, Any] = {"input": redact_line(outcome.text), "ok": False,
                                  "error": {"class": "ParseError", "kind": e.kind,
                                            "desc": scrub(e.message, outcome.text),
                                            "line": e.line, "column": e.column}}
        if outcome.target:
            record["vm"] = outcome.target
        return [record]
    if isinstance(outcome, Refused):
        return [{"input": redact_line(outcome.text), "ok": False,
                 "error": {"class": "Refused", "desc": scrub(outcome.reason, outcome.text)}}]
    if isinstance(outcome, Info):
        return [{"input": redact_line(outcome.text), "ok": True, "info": outcome.title, "lines": list(outcome.lines)}]
    return []


def _reply_record(text: str, r: TargetReply) -> dict[str, Any]:
    record: dict[str, Any] = {"input": redact_line(text), "vm": r.target, "command": r.request.command,
                              "ok": r.reply.ok, "ms": round(r.reply.elapsed * 1000, 3)}
    if r.request.notes:
        record["notes"] = [scrub(note, text) for note in r.request.notes]
    reply: Reply = r.reply
    if isinstance(reply, Ok):
        record["return"] = redact_value(reply.value)
    elif isinstance(reply, CommandError):
        record["error"] = {"class": reply.error_class, "desc": redact_text(reply.desc)}
    else:
        assert isinstance(reply, (DeadlineExceeded, Disconnected))
        record["error"] = {"class": type(reply).__name__, "desc": reply.message}
    return record
