"""`colotui shell` against a real lab: through a pipe (as scripts use it) and at a prompt.

One lab for the module: first the tests that only read or are refused, then
the lab is brought into COLO for those about confirmation and live events.
What reached QEMU is judged from the transcript, not from what the shell says.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput

from colotui.lab import Lab, QemuInstall, pair_from_lab
from colotui.qmp import Session, Transcript
from colotui.qmp.transcript import read_series
from colotui.repl.history import History
from colotui.repl.prompt import interact
from colotui.repl.runner import Repl

from ..conftest import LabFactory, temp_root
from ..support.colo import run


@pytest.fixture(scope="module")
def shell_lab(qemu: QemuInstall) -> Iterator[Lab]:
    root = temp_root()
    factory = LabFactory(qemu, root)
    try:
        yield factory.up()
    finally:
        factory.teardown()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def colo_lab(shell_lab: Lab) -> Lab:
    """The module's lab, brought into COLO by the startup procedure (after the tests that need it not to be)."""
    asyncio.run(run(shell_lab, "startup"))
    return shell_lab


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def type_and_wait(keys: PipeInput, text: str, screen: io.StringIO, expect: str) -> None:
    """Type ``text`` at the prompt and wait until the screen shows ``expect`` after it."""
    start = len(screen.getvalue())
    keys.send_text(text)
    await until(lambda: expect in screen.getvalue()[start:])


def shell(*args: str, stdin: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``colotui shell ARGS`` with ``stdin`` piped in (the shell as a script sees it)."""
    env = {**os.environ, "XDG_STATE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "colotui", "shell", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=env)


def records(done: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def sent(transcript: Path) -> list[tuple[str, str]]:
    """(vm, command) of every message that went to QEMU (all of the series the shell wrote)."""
    return [(line["vm"], line["msg"]["execute"]) for line in read_series(transcript) if line["dir"] == "send"]


def test_a_pipe_runs_commands_on_either_vm_or_both_and_prints_json(shell_lab: Lab, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    stdin = "query-status\n:target secondary\n!info status\n:target both\n{\"execute\": \"query-name\"}\n" \
            "query-colo-status\n"
    done = shell("--lab", str(shell_lab.dir), "--transcript", str(transcript), stdin=stdin, home=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    out = records(done)
    assert [(r["input"], r.get("vm")) for r in out] == [
        ("query-status", "primary"), (":target secondary", None), ("!info status", "secondary"),
        (":target both", None), ('{"execute": "query-name"}', "primary"), ('{"execute": "query-name"}', "secondary"),
        ("query-colo-status", "primary"), ("query-colo-status", "secondary")]
    assert out[0]["ok"] and out[0]["return"]["status"] == "prelaunch" and out[0]["ms"] > 0
    assert out[2]["return"].startswith("VM status: paused (inmigrate)")
    assert out[4]["return"] == {"name": "primary"} and out[5]["return"] == {"name": "secondary"}
    assert out[6]["return"]["mode"] == "none"
    commands = sent(transcript)
    assert ("primary", "query-status") in commands and ("secondary", "human-monitor-command") in commands
    assert ("primary", "human-monitor-command") not in commands


def test_bad_lines_fail_the_run_with_their_place_and_send_nothing(shell_lab: Lab, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    stdin = 'quer-status\nmigrate uri="tcp:1\nquery-status\nmigrate urii=x\nqom-set path=/ property=p value=[1,\n'
    done = shell("--lab", str(shell_lab.dir), "--transcript", str(transcript), stdin=stdin, home=tmp_path)
    assert done.returncode == 1
    errors = [r["error"] for r in records(done) if not r["ok"]]
    assert [(e["kind"], e["column"]) for e in errors] == [("command", 1), ("quote", 13), ("argument", 9),
                                                          ("value", 33)]
    assert [r["return"]["status"] for r in records(done) if r["ok"]] == ["prelaunch"]
    assert done.stderr.splitlines() == [
        "colotui: line 1: this QEMU has no command 'quer-status' (did you mean query-status?) (column 1)",
        'colotui: line 2: unbalanced quote: the " is never closed (column 13)',
        "colotui: line 4: migrate has no argument 'urii' (did you mean 'uri'?) (column 9)",
        "colotui: line 5: 'value' is not JSON: this [ is never closed (column 33)"]
    assert {command for _, command in sent(transcript)} == {"qmp_capabilities", "query-version", "query-qmp-schema",
                                                            "query-status"}


def test_read_only_refuses_what_may_change_a_vm(shell_lab: Lab, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    done = shell("--lab", str(shell_lab.dir), "--target", "both", "--read-only", "--transcript", str(transcript),
                 stdin="stop\n!system_reset\nqom-list path=/objects\n", home=tmp_path)
    assert done.returncode == 1
    out = records(done)
    assert out[0]["error"] == {"class": "Refused", "desc": "read-only: stop may change the VM; nothing was sent"}
    assert "HMP 'system_reset'" in out[1]["error"]["desc"]
    assert [r["vm"] for r in out[2:]] == ["primary", "secondary"] and all(r["ok"] for r in out[2:])
    assert not {"stop", "human-monitor-command"} & {command for _, command in sent(transcript)}


def test_one_address_is_one_vm(shell_lab: Lab, tmp_path: Path) -> None:
    spare = shell_lab.state().current("secondary").qmp_spare  # type: ignore[union-attr]
    done = shell(spare, "--transcript", str(tmp_path / "t.jsonl"), stdin="query-name\n:target both\n", home=tmp_path)
    assert done.returncode == 1
    name, both = records(done)
    assert (name["vm"], name["return"]) == ("vm", {"name": "secondary"})
    assert both["error"]["desc"] == "no target 'both': vm"


def test_the_command_line_says_what_is_wrong_in_one_line(shell_lab: Lab, tmp_path: Path) -> None:
    for args, words in ((["--lab", str(shell_lab.dir), "--target", "tertiary"],
                         "colotui: no target 'tertiary': primary or secondary or both"),
                        ([], "colotui: give --lab DIR, --profile NAME, or one or two QMP addresses"),
                        (["--lab", str(shell_lab.dir), "x.sock"], "colotui: give one of --lab DIR, --profile NAME"),
                        (["--lab", str(tmp_path / "nothing")], "colotui: "),
                        (["a:b:c"], "colotui: 'a:b:c' is neither a unix socket path nor host:port")):
        done = shell(*args, stdin="", home=tmp_path)
        assert done.returncode == 1 and done.stderr.startswith(words) and len(done.stderr.splitlines()) == 1, \
            done.stderr


@pytest.mark.kvm
async def test_in_colo_a_pipe_refuses_what_needs_confirmation(colo_lab: Lab, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    done = await asyncio.to_thread(shell, "--lab", str(colo_lab.dir), "--transcript", str(transcript),
                                   stdin="stop\nquery-status\n", home=tmp_path)
    assert done.returncode == 1
    refused, status = records(done)
    assert refused["error"]["desc"] == ("primary is in COLO: send stop to primary: that needs a confirmation, "
                                        "and there is no one to ask; nothing was sent")
    assert status["ok"] and status["return"]["status"] in ("running", "colo")
    commands = [command for _, command in sent(transcript)]
    assert "query-colo-status" in commands and "stop" not in commands
    harmless = "migrate-set-parameters x-checkpoint-delay=1000\n"
    done = await asyncio.to_thread(shell, "--lab", str(colo_lab.dir), "--confirm", "never", "--transcript",
                                   str(transcript), stdin=harmless, home=tmp_path)
    assert done.returncode == 0 and records(done)[0]["return"] == {}
    config = tmp_path / "config.toml"
    config.write_text(f'[confirm]\nrepl_in_colo = false\n\n[profiles.here]\nlab = "{colo_lab.dir}"\n')
    done = await asyncio.to_thread(shell, "--config", str(config), "--profile", "here", "--transcript",
                                   str(transcript), stdin=harmless, home=tmp_path)
    assert done.returncode == 0 and records(done)[0]["vm"] == "primary"
    assert [c for _, c in sent(transcript)].count("migrate-set-parameters") == 2


@pytest.mark.kvm
async def test_at_the_prompt_events_arrive_while_typing_and_colo_asks_first(colo_lab: Lab, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    pair = pair_from_lab(colo_lab.dir)
    transcript = Transcript(tmp_path / "t.jsonl")
    sessions = {role: Session(ep.name, ep.qmp, transcript=transcript) for role, ep in pair.by_role().items()}
    history = History(tmp_path / "history.jsonl")
    repl = Repl(sessions, history=history)
    screen = io.StringIO()
    for session in sessions.values():
        session.start()
    try:
        assert all(await asyncio.gather(*(s.wait_connected(10) for s in sessions.values())))
        with create_pipe_input() as keys, create_app_session(input=keys, output=PlainTextOutput(screen)):
            shell_task = asyncio.create_task(interact(repl, ["banner"]))
            await type_and_wait(keys, ":events all\r", screen, "primary> :events all")
            await type_and_wait(keys, "query-sta", screen, "query-sta")
            typed_at = screen.getvalue().index("query-sta")  # events show while it sits there, before Enter:
            await until(lambda: any(e in screen.getvalue()[typed_at:] for e in ("STOP", "RESUME", "MIGRATION_PASS")))
            await type_and_wait(keys, "tus\r", screen, "primary> query-status")
            await type_and_wait(keys, ":target both\r", screen, "both>")
            await type_and_wait(keys, "stop\r", screen, "[y/N]")
            await type_and_wait(keys, "n\r", screen, "[y/N] n")
            keys.send_text("\x04")  # Ctrl-D
            assert await asyncio.wait_for(shell_task, 10) == 0
    finally:
        for session in sessions.values():
            await session.close()
        transcript.close()
    replies = capsys.readouterr().out
    assert "events: all" in replies and "not confirmed; nothing was sent" in replies
    assert "primary ✓" in replies and ('"status": "running"' in replies or '"status": "colo"' in replies)
    assert "primary and secondary are in COLO: send stop to primary, secondary? [y/N]" in screen.getvalue()
    commands = [command for _, command in sent(tmp_path / "t.jsonl")]
    assert "query-status" in commands and "stop" not in commands
    assert [(e.text, e.target) for e in history.entries()] == [
        (":events all", ""), ("query-status", "primary"), (":target both", ""), ("stop", "both")]
