"""The REPL engine on a real QEMU: what is sent, what is refused, asked or answered by colotui itself,
and how outcomes look (rich for people, JSON for pipes)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from colotui.lab import process
from colotui.qmp import Session, Transcript, UnixAddress
from colotui.repl.history import History
from colotui.repl.outcome import Info, Quit, Refused, Rejected, Sent
from colotui.repl.render import json_records, outcome_renderable
from colotui.repl.runner import Confirmer, Repl
from colotui.repl.safety import Confirm, Policy

from ..conftest import PlainVM, temp_root


def shown(outcome: object, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width)
    console.print(outcome_renderable(outcome))  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined]


def sent_commands(path: Path) -> list[str]:
    return [json.loads(line)["msg"]["execute"] for line in path.read_text().splitlines()
            if json.loads(line)["dir"] == "send"]


async def test_the_repl_sends_refuses_asks_and_answers(plain_vm: PlainVM, tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    session = Session("vm", UnixAddress(plain_vm.qmp), transcript=transcript)
    history = History(tmp_path / "h.jsonl")
    history.append("migrate uri=tcp:127.0.0.2:9998", "vm")
    repl = Repl({"vm": session}, policy=Policy(confirm=Confirm.ALWAYS), history=history)
    session.start()
    try:
        assert await session.wait_connected(10)
        questions: list[str] = []

        def answer(no: bool) -> Confirmer:
            async def ask(question: str) -> bool:
                questions.append(question)
                return not no
            return ask

        status = await repl.submit("query-status", answer(no=True))
        assert isinstance(status, Sent) and status.ok and status.replies[0].reply.value["status"] == "prelaunch"
        assert questions == [], "a query is never asked about"
        assert "vm ✓" in shown(status) and '"status": "prelaunch"' in shown(status)
        assert json_records(status)[0]["return"]["status"] == "prelaunch"

        declined = await repl.submit("stop", answer(no=True))
        assert isinstance(declined, Refused) and declined.reason == "not confirmed; nothing was sent"
        assert questions == ["it changes state: send stop to vm?"]
        unasked = await repl.submit("stop")
        assert isinstance(unasked, Refused) and "there is no one to ask" in unasked.reason
        accepted = await repl.submit("stop", answer(no=False))
        assert isinstance(accepted, Sent) and accepted.ok

        failed = await repl.submit("object-del id=no-such-object", answer(no=False))
        assert isinstance(failed, Sent) and not failed.ok
        assert "GenericError: object 'no-such-object' not found" in shown(failed).replace("\n", " ")
        assert json_records(failed)[0]["error"]["class"] == "GenericError"

        bad = await repl.submit("migrate uri=x blk=maybe")
        assert isinstance(bad, Rejected) and bad.error.kind == "type"
        assert shown(bad).splitlines()[:2] == ["migrate uri=x blk=maybe", " " * 18 + "^"]
        assert json_records(bad)[0]["error"]["column"] == 19

        assert isinstance(await repl.submit(":target both"), Rejected), "one VM: no 'both'"
        assert isinstance(await repl.submit(":target vm"), Info)
        events = await repl.submit(":events -MIGRATION*")
        assert isinstance(events, Info) and "except STOP, RESUME, MIGRATION_PASS, MIGRATION*" in events.title
        found = await repl.submit(":history tcp")
        assert isinstance(found, Info) and found.lines == ("vm         migrate uri=tcp:127.0.0.2:9998",)
        helped = await repl.submit(":help migrate")
        assert isinstance(helped, Info) and helped.lines[0].split() == ["uri", "str"]
        assert "only reads" in (await repl.submit(":help query-status")).title  # type: ignore[union-attr]
        assert isinstance(await repl.submit(":quit"), Quit)
    finally:
        await session.close()
        transcript.close()
    assert sent_commands(tmp_path / "t.jsonl").count("stop") == 1
    assert "migrate" not in sent_commands(tmp_path / "t.jsonl")


async def test_replies_from_two_vms_stand_side_by_side(plain_vm: PlainVM) -> None:
    first = Session("vm", UnixAddress(plain_vm.qmp))
    other = PlainVM(plain_vm.qemu, temp_root()).start()
    second = Session("other", UnixAddress(other.qmp))
    repl = Repl({"primary": first, "secondary": second}, target="both")
    for s in (first, second):
        s.start()
    try:
        assert await first.wait_connected(10) and await second.wait_connected(10)
        assert repl.target_label == "both"
        outcome = await repl.submit("!info status")
        assert isinstance(outcome, Sent) and [r.target for r in outcome.replies] == ["primary", "secondary"]
        lines = shown(outcome).splitlines()
        assert "primary (vm) ✓" in lines[0] and "secondary (other) ✓" in lines[0]
        assert lines[2].count("VM status: paused (prelaunch)") == 2
    finally:
        for s in (first, second):
            await s.close()
        process.stop(other.pid, str(other.qmp), grace=2.0)
