"""A transcript as a readable runbook: what was run on which VM, when, and what came of it.

The transcript (JSON lines, every message on the wire) is the record; the
runbook is its Markdown reading for people after an incident: each command
that changed something with its reply, and the events that matter. Queries
(the console asks many) and checkpoint STOP/RESUME pairs are left out unless
asked for; the checkpoints are counted. No secret reaches either file: what is read is redacted
again (`colotui.qmp.redact`), so a transcript written before colotui redacted gives a clean runbook.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .qmp.notices import CHECKPOINT_EVENTS
from .qmp.readonly import is_read_only
from .qmp.redact import redact_entry
from .qmp.transcript import read_series


@dataclass
class _Row:
    at: float
    vm: str
    what: str
    result: str = "no reply"
    ms: str = ""


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _command(msg: dict[str, Any]) -> str:
    name = msg.get("execute") or msg.get("exec-oob", "?")
    args = msg.get("arguments")
    if name == "human-monitor-command" and isinstance(args, dict):
        return f"HMP {args.get('command-line', '')}"
    return f"{name} {json.dumps(args, separators=(', ', ': '))}" if args else str(name)


def _result(msg: dict[str, Any]) -> str:
    if "error" in msg:
        error = msg["error"]
        return f"**error** {error.get('class', '?')}: {error.get('desc', '')}"
    value = msg.get("return")
    if isinstance(value, str):
        # HMP answers errors and warnings alike in text; a procedure notes which it judged it (a note row)
        return f"HMP said: {value.strip()}" if value.strip() else "ok"
    return "ok" if value in ({}, None) else f"ok: {json.dumps(value)[:120]}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def runbook(entries: list[dict[str, Any]], *, everything: bool = False, source: str = "") -> str:
    """Markdown for transcript ``entries``; ``everything`` keeps queries and checkpoint events."""
    rows: list[_Row] = []
    pending: dict[tuple[str, str], _Row | None] = {}
    checkpoints: Counter[str] = Counter()
    versions: dict[str, str] = {}
    for e in map(redact_entry, entries):
        vm, msg, at = e.get("vm", "?"), e.get("msg"), float(e.get("t", 0))
        if e.get("dir") == "link":
            rows.append(_Row(at, vm, f"link {msg}", ""))
        elif e.get("dir") == "note":
            rows.append(_Row(at, vm, f"colotui: {_cell(str(msg))}", ""))
        elif e.get("dir") == "send" and isinstance(msg, dict):
            name = msg.get("execute") or msg.get("exec-oob", "")
            if name == "qmp_capabilities" or (not everything and is_read_only(name, msg.get("arguments"))):
                continue
            row = _Row(at, vm, f"`{_cell(_command(msg))}`")
            rows.append(row)
            pending[(vm, str(msg.get("id")))] = row
        elif e.get("dir") == "recv" and isinstance(msg, dict):
            if "QMP" in msg:
                q = msg["QMP"].get("version", {}).get("qemu", {})
                versions[vm] = f"{q.get('major')}.{q.get('minor')}.{q.get('micro')}"
            elif "event" in msg:
                name = msg["event"]
                if name in CHECKPOINT_EVENTS and not everything:
                    checkpoints[vm] += name == "RESUME"
                    continue
                data = " ".join(f"{k}={v}" for k, v in (msg.get("data") or {}).items())
                rows.append(_Row(at, vm, f"event {name} {data}".strip(), ""))
            else:
                sent = pending.pop((vm, str(msg.get("id"))), None)
                if sent is not None:
                    sent.result = _cell(_result(msg))
                    sent.ms = f"{(at - sent.at) * 1000:.0f}"
    rows.sort(key=lambda r: r.at)
    lines = ["# colotui runbook", ""]
    if rows:
        lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(rows[0].at))} → "
                     f"{time.strftime('%H:%M:%S', time.localtime(rows[-1].at))}"
                     + (f", from {source}" if source else ""))
        lines.append("")
    for vm, version in sorted(versions.items()):
        pairs = f", {checkpoints[vm]} STOP/RESUME pairs left out (checkpoints, in COLO)" if checkpoints[vm] else ""
        lines.append(f"- {vm}: QEMU {version}{pairs}")
    lines += ["", "| time | VM | what | result | ms |", "|---|---|---|---|---|"]
    lines += [f"| {_clock(r.at)} | {r.vm} | {r.what} | {r.result} | {r.ms} |" for r in rows]
    return "\n".join(lines) + "\n"


def export(transcript: Path, directory: Path, *, everything: bool = False) -> tuple[Path, Path]:
    """Write the transcript's whole series (every member, as one JSON lines file) and its runbook
    (Markdown) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"colotui-{time.strftime('%Y%m%d-%H%M%S')}"
    jsonl, markdown = directory / f"{stem}.jsonl", directory / f"{stem}.md"
    entries = [redact_entry(entry) for entry in read_series(transcript)]
    with jsonl.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries)
    markdown.write_text(runbook(entries, everything=everything, source=str(transcript)))
    return jsonl, markdown
