"""Secrets against real QEMUs: the redaction table is checked against each QEMU's own schema (a QEMU that adds
a member whose name says secret fails here until the table says what it is), and every secret form goes
through `colotui shell` (a real process, piped) to a real QEMU: no record holds it, every record is private.
The redaction of each form is in tests/unit/test_secrets.py.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from colotui.qmp import Session, UnixAddress
from colotui.qmp.recording import Recording
from colotui.qmp.redact import (
    NOT_SECRET,
    REDACTED,
    SECRET_COMMANDS,
    SECRET_IN_COMMAND,
    SECRET_MEMBERS,
    SECRET_PROPERTIES,
    is_secret_member,
)
from colotui.qmp.transcript import read_series
from colotui.repl.history import History
from colotui.runbook import export

from ..conftest import ALL_QEMUS, PlainVM
from ..unit.test_secrets import LINES, secret_free

# -- the table, against each QEMU's schema -------------------------------------------------------

#: A member whose name says it may hold a secret.
SOUNDS_SECRET = re.compile(r"pass|secret|key|token|cred|auth|cookie|psk|priv|cert|user|login|salt|^iv$", re.I)


def _members(schema: dict[str, dict[str, Any]], name: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """Every member name reachable from type ``name`` (members, variants, alternates, array elements)."""
    entry = schema.get(name)
    if entry is None or name in seen:
        return []
    seen |= {name}
    found: list[str] = []
    kind = entry["meta-type"]
    if kind == "object":
        for member in entry.get("members", []):
            found += [member["name"], *_members(schema, member["type"], seen)]
        for variant in entry.get("variants", []):
            found += _members(schema, variant["type"], seen)
    elif kind == "alternate":
        for member in entry["members"]:
            found += _members(schema, member["type"], seen)
    elif kind == "array":
        found += _members(schema, entry["element-type"], seen)
    return found


async def _ask(vm: PlainVM, *commands: tuple[str, dict[str, Any] | None]) -> list[Any]:
    session = Session("vm", UnixAddress(vm.qmp))
    session.start()
    try:
        assert await session.wait_connected(10), session.detail
        replies = [await session.execute(command, arguments) for command, arguments in commands]
    finally:
        await session.close()
    assert all(r.ok for r in replies), replies
    return [r.value for r in replies]  # type: ignore[union-attr]


@ALL_QEMUS
async def test_the_table_says_what_every_secret_sounding_member_of_the_schema_is(plain_vm: PlainVM) -> None:
    raw, hmp_help = await _ask(plain_vm, ("query-qmp-schema", None),
                               ("human-monitor-command", {"command-line": "help"}))
    schema = {entry["name"]: entry for entry in raw}
    unknown: set[str] = set()
    for entry in raw:
        if entry["meta-type"] == "command":
            top = {m["name"] for m in schema[entry["arg-type"]].get("members", [])}
            for member in top:  # a command whose top-level member is a secret is known to be one
                if is_secret_member(member, entry["name"]):
                    assert entry["name"] in SECRET_COMMANDS, entry["name"]
            names = _members(schema, entry["arg-type"]) + _members(schema, entry["ret-type"])
            in_command = SECRET_IN_COMMAND.get(entry["name"], frozenset())
        elif entry["meta-type"] == "event":
            names, in_command = _members(schema, entry["arg-type"]), frozenset()
        else:
            continue
        unknown |= {n for n in names if SOUNDS_SECRET.search(n) and n not in SECRET_MEMBERS
                    and n not in NOT_SECRET and n not in in_command}
    assert not unknown, f"members whose name says secret, unknown to colotui.qmp.redact: {sorted(unknown)}"
    for name in ("password",):  # what the issue names is in every schema, and redacted
        assert name in SECRET_MEMBERS
    # object-add's variants: only the secret objects have a `data` member (it is redacted there alone)
    object_add = schema[schema["object-add"]["arg-type"]]
    with_data = {v["case"] for v in object_add.get("variants", []) if "data" in _members(schema, v["type"])}
    assert "secret" in with_data and with_data <= set(SECRET_PROPERTIES), with_data
    # HMP: each command whose help speaks of a password or a secret is one the rules know
    speaking = {line.split()[0] for line in hmp_help.splitlines() if re.search(r"passw|secret", line, re.I)}
    assert speaking <= {"set_password", "expire_password", "block_passwd"}, speaking
    assert "set_password" in speaking


# -- through a real `colotui shell`, to a real QEMU ----------------------------------------------


def _shell(vm: PlainVM, state: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``colotui shell`` piped, started with a umask that would leave its files readable by all (022)."""
    env = {**os.environ, "XDG_STATE_HOME": str(state.parent)}
    return subprocess.run([sys.executable, "-m", "colotui", "shell", str(vm.qmp), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env, preexec_fn=lambda: os.umask(0o022))


def _everything(state: Path) -> dict[Path, str]:
    """Every file under ``state`` as text (gzip members unpacked)."""
    files = {}
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        files[path] = data.decode("utf-8", errors="replace")
    return files


@ALL_QEMUS
def test_no_record_of_a_shell_holds_a_secret_and_all_are_private(plain_vm: PlainVM, tmp_path: Path) -> None:
    state = tmp_path / "colotui"
    (state / "transcripts").mkdir(parents=True)
    for directory in (state, state / "transcripts"):  # as an older colotui left them
        directory.chmod(0o755)
    stdin = "".join(f"{line}\n" for line, _ in LINES) + f"change-vnc-password password={REDACTED}\nquery-status\n"
    done = _shell(plain_vm, state, stdin)
    assert done.returncode == 1, done.stderr  # most of these fail on a plain VM: the run says so
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(printed) == len(LINES) + 2, done.stdout
    for line, secret in LINES:
        assert secret_free(done.stdout, secret) and secret_free(done.stderr, secret), (line, done.stdout, done.stderr)
    assert printed[-2]["error"]["class"] == "Refused" and REDACTED in printed[-2]["error"]["desc"]
    assert printed[-1]["ok"] and printed[-1]["return"]["status"] == "prelaunch"

    (transcript,) = (state / "transcripts").glob("*.jsonl")
    for path in [state, *state.rglob("*")]:  # private, whatever the umask colotui was started with
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {mode:o}"
    jsonl, markdown = export(transcript, state / "exports")  # what the console's `e` writes
    history = History(state / "history.jsonl")  # what the shell's prompt and the console's pane keep
    for line, _ in [*LINES, (f"change-vnc-password password={REDACTED}", ""), ("query-status", "")]:
        history.append(line, "vm")
    files = _everything(state)
    assert {transcript, state / "history.jsonl", jsonl, markdown} <= set(files)
    for path, text in files.items():
        for line, secret in LINES:
            assert secret_free(text, secret), f"{path} holds the secret of {line!r}"
    history = [json.loads(line)["text"] for line in files[state / "history.jsonl"].splitlines()]
    assert len(history) == len(LINES) + 2 and all(REDACTED in text for text in history[:-1])
    entries = read_series(transcript)
    sends = [e["msg"] for e in entries if e["dir"] == "send"]
    vnc = [m for m in sends if m["execute"] == "change-vnc-password"]
    assert {"execute": "change-vnc-password", "arguments": {"password": REDACTED}} in \
        [{k: v for k, v in m.items() if k != "id"} for m in vnc]
    assert len(vnc) == 3  # password=vnc-…, pass\u0077ord, password=comma-…,more; not the one typed as <redacted>
    hmp = [m["arguments"]["command-line"] for m in sends if m["execute"] == "human-monitor-command"]
    assert "change vnc password <redacted>" in hmp and "set_password vnc <redacted>" in hmp
    assert "object_add secret,id=sec1,data=<redacted>" in hmp
    assert "migrate -d tcp://<redacted>@127.0.0.1:1" in hmp
    assert f"| `change-vnc-password {{\"password\": \"{REDACTED}\"}}` |" in files[markdown]
    errors = [e["msg"]["error"]["desc"] for e in entries if e["dir"] == "recv" and "error" in e["msg"]]
    if plain_vm.qemu.version.major >= 10:  # these QEMUs quote a migration URI back: redacted as it is received
        assert "unknown migration protocol: nbd://<redacted>@127.0.0.1:1" in errors, errors

    # a replay reads the redacted transcript as any other: the recorded answers are there
    recording = Recording.from_entries(entries)
    record = recording.vms["vm"]
    when = max(e["t"] for e in entries if e["dir"] == "send" and e["msg"]["execute"] == "query-status")
    asked = record.answer("query-status", None, when)
    assert asked is not None and asked.value["status"] == "prelaunch"
    keys = [key for key in record.exchanges if key[0] == "change-vnc-password"]
    assert keys and all(REDACTED in key[1] for key in keys)
