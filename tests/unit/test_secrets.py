"""No record holds a secret in clear, and every record is private.

Every secret form an operator can type goes through `colotui shell` (a real process, piped) to a
real QEMU; then no file colotui wrote (transcript, history, export, runbook) and nothing it
printed holds the secret, `<redacted>` stands in its place, and every file and directory it made
is its user's alone. The redaction table is checked against each QEMU's own schema, so a QEMU that
adds a member whose name says secret fails here until the table says what it is.

Here, the redaction of each form; what needs a real QEMU is in tests/qemu/test_secrets.py, the console's
pane in tests/ui/test_secrets.py.
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from colotui import crashlog
from colotui.paths import keep_state_private
from colotui.qmp import Session, Transcript, UnixAddress
from colotui.qmp.redact import (
    REDACTED,
    SECRET_IN_COMMAND,
    SECRET_MEMBERS,
    SECRET_PROPERTIES,
    may_hold_bytes,
    redact_argv,
    redact_message,
    redact_text,
    redact_wire,
)
from colotui.qmp.transcript import read_series
from colotui.repl.history import History
from colotui.repl.parser import ParseError, Request, parse
from colotui.repl.redacted import redact_line, scrub
from colotui.runbook import export, runbook

#: Every secret in these tests carries this mark, so a leak of any of them is found by one search.
#: A web scheme, spelled so that no web address is written out in the repository (tests/qemu/test_install.py).
WEB = "http"
MARK = "Zq7"

#: (a line as typed into the shell, the secret in it). What QEMU makes of each (most fail on a plain VM:
#: no VNC, no such command) does not matter; what is recorded does.
LINES = [
    (f"object-add qom-type=secret id=sec0 data=obj-{MARK}", f"obj-{MARK}"),
    (f"change-vnc-password password=vnc-{MARK}", f"vnc-{MARK}"),
    (f"set_password protocol=vnc password=set-{MARK}", f"set-{MARK}"),
    (f"block_passwd device=ide0 password=blk-{MARK}", f"blk-{MARK}"),  # gone since QEMU 6.0: refused, remembered
    (f"migrate uri=tcp://admin:mig-{MARK}@127.0.0.1:1", f"mig-{MARK}"),
    (f"migrate uri=nbd://admin:echo-{MARK}@127.0.0.1:1", f"echo-{MARK}"),  # 10.0 and 11.1 quote it in their error
    (f"!change vnc password hmpvnc-{MARK}", f"hmpvnc-{MARK}"),
    (f"!change  \t vnc\tpasswd   \"hmp tab-{MARK}\"", f"tab-{MARK}"),
    (f"!set_password vnc hmpset-{MARK}", f"hmpset-{MARK}"),
    (f"!object_add secret,id=sec1,data=hmpobj-{MARK}", f"hmpobj-{MARK}"),
    (f"!block_passwd ide0 hmpblk-{MARK}", f"hmpblk-{MARK}"),
    (f"!migrate -d tcp://admin:pct%40{MARK}@127.0.0.1:1", f"pct%40{MARK}"),
    (f"!drive_add 0 if=none,id=d1,file=nbd://u:nbd-{MARK}@127.0.0.1:1/x,password=drv-{MARK}", f"nbd-{MARK}"),
    ('{"execute": "object-add", "arguments": {"qom-type": "s\\u0065cret", "id": "sec2", '
     f'"data": "esc-{MARK}"}}}}', f"esc-{MARK}"),
    ('{"execute": "change-vnc-password", "arguments": {"pass\\u0077ord": ' f'"key-{MARK}"}}}}', f"key-{MARK}"),
    (f"object-add qom-type=secret id=sec3 props.data=props-{MARK}", f"props-{MARK}"),
    (f'object-add qom-type=secret id=sec4 data="two {MARK}"', f"two {MARK}"),  # a note quotes it back, as JSON
    (f"change-vnc-password password=comma-{MARK},more", f"comma-{MARK}"),
    (f"change-vnc-password bare-{MARK}", f"bare-{MARK}"),
]


def secret_free(text: str, secret: str) -> bool:
    """``secret`` is nowhere in ``text``, not even its tail past a punctuation a rule might have cut at."""
    return secret not in text and MARK not in text


# -- the rules, on their own ---------------------------------------------------------------------


S = f"s3cret-{MARK}"


@pytest.mark.parametrize("message", [
    {"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", "data": S}},
    {"execute": "object-add", "arguments": {"qom-type": "secret_keyring", "id": "s", "data": S}},
    {"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", "props": {"data": S}}},
    {"execute": "change-vnc-password", "arguments": {"password": S}},
    {"execute": "set_password", "arguments": {"protocol": "vnc", "password": S, "connected": "keep"}},
    {"execute": "block_passwd", "arguments": {"device": "ide0", "password": S}},
    {"execute": "migrate", "arguments": {"uri": f"tcp://user:{S}@127.0.0.1:4444"}},
    {"execute": "blockdev-add", "arguments": {"driver": "https", "node-name": "n", "url": f"{WEB}s://u:{S}@h/x",
                                              "cookie": f"session={S}"}},
    {"execute": "qom-set", "arguments": {"path": "/objects/s", "property": "data", "value": S}},
    {"execute": "sev-inject-launch-secret", "arguments": {"packet-header": "h", "secret": S}},
    {"execute": "transaction", "arguments": {"actions": [{"type": "x", "data": {"password": S}}]}},
    {"execute": "human-monitor-command", "arguments": {"command-line": f"change vnc password {S}"}},
    {"execute": "human-monitor-command", "arguments": {"command-line": f"set_password spice {S} -d 0 keep"}},
    {"execute": "human-monitor-command", "arguments": {"command-line": f"object_add secret,id=s,data={S},format=raw"}},
    {"execute": "human-monitor-command", "arguments": {"command-line": f"qom-set /objects/s data {S}"}},
    {"return": f"Could not open 'nbd://u:{S}@127.0.0.1:1/x': Connection refused"},  # QEMU quoting it back
])
def test_each_form_is_redacted_on_the_wire_and_the_rest_is_kept(message: dict[str, Any]) -> None:
    wire = json.dumps(message, separators=(",", ":")).encode()
    out = redact_wire(wire)
    assert secret_free(out.decode(), S) and REDACTED in out.decode(), out
    redacted = json.loads(out)
    assert redacted.keys() == message.keys() and redacted.get("execute") == message.get("execute")
    if "arguments" in message:  # every member is still there, and only the secrets changed
        assert set(redacted["arguments"]) == set(message["arguments"])
        assert json.dumps(message).replace(S, REDACTED).replace(f"u:{REDACTED}", REDACTED) \
            .replace(f"user:{REDACTED}", REDACTED).replace(f"session={REDACTED}", REDACTED) == json.dumps(redacted)
    assert redact_wire(out) == out  # a redacted message stays as it is


def test_a_message_without_a_secret_is_written_as_it_came() -> None:
    for message in ({"execute": "query-status", "id": "__qmp#00001"},
                    {"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s", "file": "/run/key"}},
                    {"execute": "blockdev-add", "arguments": {"driver": "luks", "key-secret": "sec0", "file": "f"}},
                    {"execute": "expire_password", "arguments": {"protocol": "vnc", "time": "now"}},
                    {"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}},
                    {"execute": "x-blockdev-amend", "arguments": {"options": {"driver": "luks", "secret": "sec0"}}}):
        wire = json.dumps(message, separators=(",", ":")).encode()
        assert redact_wire(wire) is wire
        assert redact_message(message) is message


def test_the_cheap_test_sees_every_name_the_table_redacts() -> None:
    """`redact_wire` parses only what the cheap test lets through: it must let through every secret."""
    names = [*SECRET_MEMBERS, *SECRET_IN_COMMAND, *(n for ns in SECRET_IN_COMMAND.values() for n in ns),
             *SECRET_PROPERTIES, "qom-set", "block_passwd", "passwd", "tcp://u:p@h"]
    for name in names:
        for spelling in (name, name.upper(), name.replace("-", "_")):
            assert may_hold_bytes(spelling.encode()), spelling


def test_secrets_anywhere_in_random_messages_never_reach_the_record() -> None:
    """Random nesting, key spellings (case, ``_`` for ``-``) and places: every value that is a secret by
    the table is gone from what the transcript would get, and the cheap test never lets one through."""
    rng = random.Random(23)
    secret_keys = ["password", "PassWord", "PASSWORD", "cookie", "rxcookie", "passphrase"]
    plain_keys = ["id", "node-name", "key-secret", "password-secret", "file", "driver", "data", "uri", "props"]

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return rng.choice([f"v{rng.randrange(99)}", rng.randrange(9), True, None, "tcp:127.0.0.1:1"])
        if roll < 0.45:
            return f"{rng.choice(['nbd', 'https', 'iscsi'])}://u{rng.choice([':', '%'])}{MARK}{rng.randrange(9)}@h/x"
        if roll < 0.55:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        node: dict[str, Any] = {}
        for _ in range(rng.randrange(4)):
            if rng.random() < 0.3:
                node[rng.choice(secret_keys)] = rng.choice([f"k-{MARK}", [f"l-{MARK}"], {"x": f"n-{MARK}"}])
            else:
                node[rng.choice(plain_keys)] = value(depth + 1)
        if rng.random() < 0.2:
            node.update({"qom-type": rng.choice(["secret", "secret_keyring"]), "data": f"d-{MARK}"})
        return node

    for _ in range(3000):
        message = {"execute": rng.choice(["object-add", "blockdev-add", "transaction", "x"]),
                   "arguments": value(0), "id": "__qmp#00001"}
        wire = json.dumps(message, separators=(",", ":")).encode()
        out = redact_wire(wire)
        assert MARK not in out.decode(), (wire, out)
        if redact_message(message) is not message:  # what holds a secret is never passed over unparsed
            assert may_hold_bytes(wire), wire


@pytest.mark.parametrize(("line", "secret"), [
    *LINES,
    ("{'execute': 'set_password', 'arguments': {'protocol': 'vnc', 'password': 'quote-Zq7'}}", "quote-Zq7"),
    ('{"execute": "change-vnc-p\\u0061ssword", "arguments": {"p\\u0061ssword": "esc2-Zq7"}}', "esc2-Zq7"),
    ('{"execute":"set_password","arguments":{"password":unquoted-Zq7}}', "unquoted-Zq7"),
    ("change-vnc-password password='two words Zq7'", "words Zq7"),
    ("change-vnc-password password={\"a\": \"json Zq7\"}", "json Zq7"),
    ("transaction(\n  block-dirty-bitmap-add node=n name=b password=txn-Zq7\n)", "txn-Zq7"),
    ("!qom-set -j /objects/s data \"qom-Zq7\"", "qom-Zq7"),
    ("!change vnc password \"unclosed Zq7", "unclosed Zq7"),
    ("object-add id=s data=order-Zq7 qom-type=secret", "order-Zq7"),
    ("!netdev_add l2tpv3,id=n,src=1.2.3.4,dst=1.2.3.5,txcookie=cookie-Zq7", "cookie-Zq7"),
])
def test_a_typed_line_is_kept_without_its_secret_and_still_reads(line: str, secret: str) -> None:
    """What the history keeps and the echo shows: each secret form, as an attacker would spell it."""
    kept = redact_line(line)
    assert secret_free(kept, secret) and REDACTED in kept, kept
    assert redact_line(kept) == kept
    before, after = parse(line), parse(kept)
    if isinstance(before, Request):  # the same command, with the same members
        assert isinstance(after, Request) and after.command == before.command, kept
        assert set(after.arguments or {}) == set(before.arguments or {})


def test_a_line_without_a_secret_is_kept_as_typed() -> None:
    for line in ("query-status", "migrate uri=tcp:127.0.0.2:9998", "!info block", "!expire_password vnc now",
                 "object-add qom-type=secret id=s file=/run/key format=raw", ":history password",
                 'blockdev-add driver=luks node-name=n key-secret=sec0 file=f'):
        assert redact_line(line) == line


def test_what_is_said_about_a_line_loses_its_secrets_too() -> None:
    assert scrub(f"expected key=value, got 'bare-{MARK}'", f"change-vnc-password bare-{MARK}") == \
        f"expected key=value, got '{REDACTED}'"
    assert scrub(f"send HMP 'set_password vnc s-{MARK}' to primary?", f"!set_password vnc s-{MARK}") == \
        f"send HMP 'set_password vnc {REDACTED}' to primary?"


def test_text_and_a_command_line_lose_their_secrets() -> None:
    text = (f"HMP object_add secret,id=s,data=a-{MARK} said \"\"; ValueError: {{'password': 'b-{MARK}'}} "
            f"from nbd://c-{MARK}@host/x and iscsi://user%d-{MARK}@host/iqn/0; open {WEB}://127.0.0.1:8566/?token=t-{MARK}")
    assert secret_free(redact_text(text), MARK)
    argv = ["colotui", "run", "startup", "--set", f"password=e-{MARK}", f"--set=vnc.password=f-{MARK}",
            f"--primary=nbd://u:g-{MARK}@127.0.0.1:1", f"--vnc-password=h-{MARK}", "--set", "ports.nbd=9999"]
    redacted = redact_argv(argv)
    assert secret_free(" ".join(redacted), MARK)
    assert redacted[:4] == argv[:4] and redacted[-2:] == ["--set", "ports.nbd=9999"]


def test_a_runbook_of_an_old_transcript_with_secrets_in_clear_is_clean(tmp_path: Path) -> None:
    """Written as colotui wrote before it redacted: the runbook and the export redact what they read."""
    old = tmp_path / "old.jsonl"
    lines = [
        {"t": 1.0, "vm": "vm", "dir": "send", "msg": {"execute": "change-vnc-password", "id": "1",
                                                      "arguments": {"password": f"a-{MARK}"}}},
        {"t": 1.1, "vm": "vm", "dir": "recv", "msg": {"id": "1", "error": {"class": "GenericError",
                                                                         "desc": "Could not set password"}}},
        {"t": 2.0, "vm": "vm", "dir": "send", "msg": {"execute": "human-monitor-command", "id": "2",
                                                      "arguments": {"command-line": f"set_password vnc b-{MARK}"}}},
        {"t": 2.1, "vm": "vm", "dir": "recv", "msg": {"id": "2", "return": ""}},
        {"t": 3.0, "vm": "vm", "dir": "note", "msg": f"HMP object_add secret,id=s,data=c-{MARK} said \"x\""},
        {"t": 4.0, "vm": "vm", "dir": "garbage", "msg": f'{{"password": "d-{MARK}"'},
    ]
    old.write_text("".join(json.dumps(line) + "\n" for line in lines))
    jsonl, markdown = export(old, tmp_path / "exports", everything=True)
    for path in (jsonl, markdown):
        assert secret_free(path.read_text(), MARK) and REDACTED in path.read_text(), path.read_text()
    book = runbook(read_series(old))
    assert "`change-vnc-password {\"password\": \"<redacted>\"}` | **error** GenericError" in book
    assert "`HMP set_password vnc <redacted>` | ok" in book


def test_a_history_an_older_colotui_wrote_in_clear_is_rewritten_without_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    old = [{"t": 1.0, "target": "primary", "text": "query-status"},
           {"t": 2.0, "target": "primary", "text": f"change-vnc-password password=h-{MARK}"},
           {"t": 3.0, "target": "both", "text": f"!set_password vnc i-{MARK}"}]
    path.write_text("".join(json.dumps(entry) + "\n" for entry in old))
    entries = History(path).entries()
    assert [e.text for e in entries] == ["query-status", f"change-vnc-password password={REDACTED}",
                                         f"!set_password vnc {REDACTED}"]
    assert secret_free(path.read_text(), MARK) and len(path.read_text().splitlines()) == 3
    assert [e.target for e in History(path).entries()] == ["primary", "primary", "both"]


async def test_a_note_about_an_hmp_line_loses_its_secret(tmp_path: Path) -> None:
    """The engine notes how it judged an HMP answer, quoting the line (`Session.note`)."""
    transcript = Transcript(tmp_path / "t.jsonl")
    session = Session("vm", UnixAddress(tmp_path / "none.sock"), transcript=transcript)
    session.note(f"HMP set_password vnc n-{MARK} said \"x\": a warning")
    transcript.close()
    text = (tmp_path / "t.jsonl").read_text()
    assert secret_free(text, MARK) and "HMP set_password vnc <redacted> said" in text


# -- crash.log and the state directory -----------------------------------------------------------


def test_crash_log_is_private_redacted_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "state" / "crash.log"
    log.parent.mkdir()
    log.write_text("an older colotui's entry\n")
    log.chmod(0o644)
    traceback = f"Traceback (most recent call last):\nValueError: bad line {{\"password\": \"t-{MARK}\"}}\n"
    argv = ["colotui", "run", "x", "--set", f"password=a-{MARK}", f"--primary=tcp://u:u-{MARK}@h:1"]
    assert crashlog.record(traceback, argv, log) == log
    text = log.read_text()
    assert secret_free(text, MARK) and text.count(REDACTED) == 3 and "ValueError: bad line" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    monkeypatch.setattr(crashlog, "MAX_SIZE", 4096)
    for _ in range(60):  # ~ 200 bytes each: past the limit more than twice
        crashlog.record(traceback, argv, log)
    files = sorted(p.name for p in log.parent.iterdir())
    assert files == ["crash.log", "crash.log.1"]
    assert all(p.stat().st_size <= 4096 and stat.S_IMODE(p.stat().st_mode) == 0o600 for p in log.parent.iterdir())
    assert "an older colotui's entry" not in log.read_text() + (log.parent / "crash.log.1").read_text()


def test_an_internal_error_leaves_one_line_and_a_crash_log_without_the_secret(tmp_path: Path) -> None:
    """A real `colotui` process whose command fails with a bug (a test's stand-in for one: there is no
    bug on demand), its argument and its error holding secrets."""
    program = ("import sys; import colotui.commands.shell as shell\n"
               "def bug(args): raise RuntimeError('line {\"password\": \"e-' + 'Zq7' + '\"}')\n"
               "shell.cmd_shell = bug\n"
               "from colotui.cli import main; sys.exit(main())\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", program, "shell", f"nbd://u:a-{MARK}@127.0.0.1:1"],
                          capture_output=True, text=True, timeout=60, env=env, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 70 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("colotui: internal error: RuntimeError(") and secret_free(done.stderr, MARK)
    log = tmp_path / "colotui" / "crash.log"
    assert secret_free(log.read_text(), MARK) and "RuntimeError" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_colotui_tightens_its_own_directories_and_no_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    state = tmp_path / "colotui"
    for directory in (state / "transcripts", state / "lab" / "vm", state / "mine"):
        directory.mkdir(parents=True)
        directory.chmod(0o755)
    state.chmod(0o755)
    before = stat.S_IMODE(tmp_path.stat().st_mode)
    keep_state_private()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (state, state / "transcripts", state / "lab",
                                                               state / "lab" / "vm", state / "mine")}
    assert modes == {"colotui": 0o700, "transcripts": 0o700, "lab": 0o700, "vm": 0o755, "mine": 0o755}
    assert stat.S_IMODE(tmp_path.stat().st_mode) == before  # the XDG directory itself is not colotui's


def test_a_parse_error_of_a_password_line_hides_the_words() -> None:
    parsed = parse(f"change-vnc-password bare-{MARK}")
    assert isinstance(parsed, ParseError)
    assert redact_line(f"change-vnc-password bare-{MARK}") == f"change-vnc-password {REDACTED}"


SECRET_STEP = """\
title = "set a secret"
description = "an operator's own procedure that adds a secret object"

[[step]]
id = "add-secret"
target = "primary"
title = "add the secret"
why = "the disk's key"
qmp = "object-add"
arguments = { qom-type = "secret", id = "sec0", data = "hunter2-scenario" }

[[step]]
id = "vnc"
target = "primary"
title = "a vnc password"
why = "the console's"
hmp = "change vnc password hunter2-hmp"
"""


def test_a_procedure_shown_or_run_prints_no_secret(tmp_path: Path) -> None:
    """`colotui run FILE --show`, and what a run prints (for people and as JSON lines): a run's output is
    kept in CI logs and tickets."""
    import io

    from colotui.control.terminal import Printer
    from colotui.scenario import find_scenario
    from colotui.scenario.engine import StepState, StepUpdate
    from colotui.scenario.render import Request as StepRequest

    path = tmp_path / "secret.toml"
    path.write_text(SECRET_STEP)
    shown = subprocess.run([sys.executable, "-m", "colotui", "run", str(path), "--show"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" not in shown.stdout and shown.stdout.count("<redacted>") == 2, shown.stdout
    scenario = find_scenario(str(path))
    for json_lines in (False, True):
        out = io.StringIO()
        printer = Printer(out, json_lines)
        for step in scenario.steps:
            request = StepRequest(step.command.qmp or "human-monitor-command", dict(step.command.arguments or {})
                                  if step.command.qmp else {"command-line": step.command.hmp}, step.command.hmp,
                                  role="primary", vm="primary")
            for state in (StepState.CONFIRM, StepState.FAILED):
                printer.update(StepUpdate(scenario.name, step, state, 2, "primary", request,
                                          message=f"QEMU said: no ({step.command.hmp or ''})"))
        assert "hunter2" not in out.getvalue() and "<redacted>" in out.getvalue(), out.getvalue()
