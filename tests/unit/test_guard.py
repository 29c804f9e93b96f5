"""`colotui guard`'s socket, token and protocol, against a real `GuardServer` on a real unix socket, with a fake
QMP peer (offering out-of-band execution, recording what reaches it) where QEMU is not what is tested. The cut
of a really wedged QEMU is in tests/qemu/test_guard.py."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from colotui.cli import main
from colotui.errors import UserError
from colotui.pair import Endpoint, Pair
from colotui.qmp import Transcript, UnixAddress, read_transcript
from colotui.scenario.live import peer_connections_out_of_band
from colotui.service import guard
from colotui.service.guard import GuardServer, ask_guard, guard_socket, guard_status, token_path

from ..support.fake_peer import fake_peer, read_message

OOB_GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": "fake"},
                        "capabilities": ["oob"]}}
#: What query-yank lists on a COLO primary: its peer's chardevs, a local loop, a monitor, the NBD client, migration.
INSTANCES = [{"type": "chardev", "id": "mirror0"}, {"type": "chardev", "id": "compare1"},
             {"type": "chardev", "id": "compare0"}, {"type": "chardev", "id": "compat_monitor1"},
             {"type": "block-node", "node-name": "#block412"}, {"type": "migration"}]
PEER = [INSTANCES[0], INSTANCES[1], INSTANCES[4], INSTANCES[5]]


class FakeVM:
    """A QMP peer that greets with out-of-band execution, answers query-yank and yank, fails anything else
    (so the guard's discovery at start finds nothing), and keeps every message it got."""

    def __init__(self) -> None:
        self.got: list[dict] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        writer.write(json.dumps(OOB_GREETING).encode() + b"\n")
        while True:
            msg = await read_message(reader, buffer)
            self.got.append(msg)
            name = msg.get("execute") or msg.get("exec-oob")
            answer = {"return": INSTANCES if name == "query-yank" else {}} \
                if name in ("qmp_capabilities", "query-yank", "yank") else \
                {"error": {"class": "CommandNotFound", "desc": f"The command {name} has not been found"}}
            writer.write(json.dumps({**answer, "id": msg.get("id")}).encode() + b"\n")
            await writer.drain()

    def sent(self, *names: str) -> list[dict]:
        return [m for m in self.got if (m.get("execute") or m.get("exec-oob")) in names]


@pytest.fixture
def runtime(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_RUNTIME_DIR of the test's own."""
    run = short_tmp / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    return run


def lab_like_pair(where: Path) -> Pair:
    """A pair whose primary's yank monitor is `where`/p-yank.sock and whose secondary's listens nowhere."""
    return Pair(Endpoint("primary", UnixAddress(where / "p.sock"), "127.0.0.1", UnixAddress(where / "p-yank.sock")),
                Endpoint("secondary", UnixAddress(where / "s.sock"), "127.0.0.2", UnixAddress(where / "s-yank.sock")))


@pytest.fixture
async def vm(short_tmp: Path) -> AsyncIterator[FakeVM]:
    peer = FakeVM()
    server = await fake_peer(short_tmp / "p-yank.sock", peer)
    yield peer
    server.close()


async def started(pair: Pair, *, transcript: Transcript | None = None, read_only: bool = False) -> GuardServer:
    server = GuardServer(pair, find_connections=peer_connections_out_of_band, read_only=read_only)
    await server.start(transcript=transcript, connect_timeout=3.0)
    return server


async def raw(path: Path, data: bytes, *, wait: float = 5.0) -> tuple[dict, bytes]:
    """Send ``data`` on a connection of its own; the reply line, and what came after it before the close."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), wait)
    rest = await asyncio.wait_for(reader.read(), wait)
    writer.close()
    return json.loads(line), rest


def token_of(server: GuardServer) -> str:
    return server.token_path.read_text().strip()


# -- a cut, and what it sends -----------------------------------------------------------------------------------

async def test_a_cut_yanks_the_peers_connections_out_of_band_and_is_on_record(short_tmp: Path, runtime: Path,
                                                                             vm: FakeVM) -> None:
    transcript = Transcript(short_tmp / "guard.jsonl")
    server = await started(lab_like_pair(short_tmp), transcript=transcript)
    try:
        reply = await ask_guard(lab_like_pair(short_tmp), "primary")
        token = token_of(server)
    finally:
        await server.close()
        transcript.close()
    assert reply is not None and reply.ok, reply
    assert reply.vm == "primary" and reply.yanked == PEER  # not the local loop, not a monitor
    assert [m.get("exec-oob") for m in vm.sent("query-yank", "yank")] == ["query-yank", "yank"]
    assert vm.sent("yank")[0]["arguments"] == {"instances": PEER}
    wire = [e for e in read_transcript(short_tmp / "guard.jsonl") if e["vm"] == "primary/oob"]
    assert any(e["dir"] == "send" and e["msg"].get("exec-oob") == "yank" for e in wire)
    assert any(e["dir"] == "note" and "cutting primary" in e["msg"] for e in wire)
    assert token not in (short_tmp / "guard.jsonl").read_text()


async def test_a_cut_names_its_vm_by_address_so_a_swapped_pair_cuts_the_right_one(short_tmp: Path, runtime: Path,
                                                                                vm: FakeVM) -> None:
    pair = lab_like_pair(short_tmp)
    swapped = Pair(pair.secondary, pair.primary)  # the same two VMs, given the other way round
    assert guard_socket(swapped) == guard_socket(pair)
    server = await started(swapped)
    try:
        as_secondary = await ask_guard(swapped, "secondary")  # swapped's secondary is the VM at p.sock
        other = await ask_guard(swapped, "primary")
    finally:
        await server.close()
    assert as_secondary is not None and as_secondary.ok and as_secondary.vm == "primary"
    assert vm.sent("yank")[0]["arguments"] == {"instances": [INSTANCES[4], INSTANCES[5]]}, \
        "cut as the secondary: the secondary's chardev ids (red0, red1: none here), the NBD client, the migration"
    assert other is not None and not other.ok and "not usable" in other.error  # s-yank.sock: nothing listens
    assert len(vm.sent("yank")) == 1


async def test_a_cut_is_refused_while_the_peer_answers_out_of_band(short_tmp: Path, runtime: Path, vm: FakeVM) -> None:
    """A VM whose main socket another client holds greets a run no more than a wedged one: the guard cuts it
    loose only when its peer is lost (gone, or silent out of band too), never from a live peer."""
    peer = FakeVM()
    alive = await fake_peer(short_tmp / "s-yank.sock", peer)
    server = await started(lab_like_pair(short_tmp))
    try:
        reply = await ask_guard(lab_like_pair(short_tmp), "primary")
    finally:
        await server.close()
        alive.close()
    assert reply is not None and not reply.ok, reply
    assert "secondary still answers out of band: it is not lost" in reply.error and "nothing was sent" in reply.error
    assert not vm.sent("query-yank", "yank"), "nothing was asked of the primary, nothing yanked"
    assert [m["arguments"] for m in peer.sent("yank")] == [{"instances": []}], "the peer was only asked"


async def test_read_only_refuses_a_cut_and_sends_nothing(short_tmp: Path, runtime: Path, vm: FakeVM) -> None:
    server = await started(lab_like_pair(short_tmp), read_only=True)
    try:
        reply = await ask_guard(lab_like_pair(short_tmp), "primary")
        status = await guard_status(lab_like_pair(short_tmp))
    finally:
        await server.close()
    assert reply is not None and not reply.ok
    assert reply.error.startswith("read-only: ") and reply.error.endswith("nothing was sent")
    assert not vm.sent("query-yank", "yank")
    assert status is not None and status.ok and status.status is not None
    assert status.status["primary"]["connected"] and status.status["primary"]["oob"]
    assert not status.status["secondary"]["connected"]


async def test_a_vm_without_a_yank_address_is_not_held(short_tmp: Path, runtime: Path, vm: FakeVM) -> None:
    pair = lab_like_pair(short_tmp)
    pair = Pair(pair.primary, Endpoint("secondary", pair.secondary.qmp, "127.0.0.2", None))
    server = await started(pair)
    try:
        reply = await ask_guard(pair, "secondary")
        status = await guard_status(pair)
    finally:
        await server.close()
    assert reply is not None and not reply.ok and "holds no out-of-band session to the secondary" in reply.error
    assert status is not None and status.status is not None and status.status["secondary"] is None
    with pytest.raises(UserError, match="neither VM"):
        await started(Pair(Endpoint("p", pair.primary.qmp), Endpoint("s", pair.secondary.qmp)))


# -- the protocol: what is refused, and that the guard lives on ---------------------------------------------------

async def test_no_token_or_a_wrong_one_gets_an_error_and_nothing_is_sent(short_tmp: Path, runtime: Path,
                                                                       vm: FakeVM) -> None:
    server = await started(lab_like_pair(short_tmp))
    try:
        token = token_of(server)
        requests = [{"cut": "primary"}, {"token": "", "cut": "primary"}, {"token": token[:-1], "cut": "primary"},
                    {"token": token + "x", "cut": "primary"}, {"token": token.upper(), "cut": "primary"},
                    {"token": None, "cut": "primary"}, {"token": [token], "cut": "primary"},
                    {"token": "é" + token[1:], "cut": "primary"}, {"token": "x", "status": True}]
        replies = [(await raw(server.socket_path, json.dumps(r).encode() + b"\n"))[0] for r in requests]
        good = await ask_guard(lab_like_pair(short_tmp), "primary")
    finally:
        await server.close()
    for reply in replies:
        assert reply["ok"] is False and reply["error"].startswith("refused: wrong or missing token")
        assert token not in reply["error"] and "\n" not in reply["error"]
    assert good is not None and good.ok, "the guard lived on, and still cuts for who holds the token"
    assert len(vm.sent("query-yank")) == 1 and len(vm.sent("yank")) == 1, "only the good request sent anything"


async def test_garbage_and_oversize_lines_get_one_line_and_a_close(short_tmp: Path, runtime: Path,
                                                                 vm: FakeVM) -> None:
    server = await started(lab_like_pair(short_tmp))
    try:
        token = token_of(server)
        bad = [b"x" * 10_000 + b"\n", b"\x00\xff\xfe garbage\n", b"not json\n", b"[" * 3000 + b"\n",
               b'{"token": "' + token.encode() + b'", "cut": "primary", "pad": "' + b"y" * 5000 + b'"}\n',
               json.dumps([token, "primary"]).encode() + b"\n", b"\n", b"NaN\n",
               json.dumps({"token": token, "cut": "tertiary"}).encode() + b"\n",
               json.dumps({"token": token, "cut": ["primary"]}).encode() + b"\n",
               json.dumps({"token": token, "reboot": True}).encode() + b"\n",
               json.dumps({"token": token, "cut": "primary", "status": True}).encode() + b"\n",
               json.dumps({"token": token, "status": 1}).encode() + b"\n",
               json.dumps({"token": token, "cut": "primary", "qmp": 7}).encode() + b"\n",
               json.dumps({"token": token, "cut": {"x": {"y": {"z": {}}}}}).encode() + b"\n",
               json.dumps({"token": token + "\ud800", "cut": "primary"}).encode() + b"\n"]
        replies = [await raw(server.socket_path, data) for data in bad]
        status = await guard_status(lab_like_pair(short_tmp))
    finally:
        await server.close()
    for (reply, rest), data in zip(replies, bad, strict=True):
        assert reply["ok"] is False and reply["error"].startswith("refused: "), (data[:40], reply)
        assert "\n" not in reply["error"] and token not in reply["error"]
        assert rest == b"", "one reply, then the connection is closed"
    assert not vm.sent("query-yank", "yank")
    assert status is not None and status.ok, "the guard lives on"


async def test_a_silent_client_cannot_hold_the_guard(short_tmp: Path, runtime: Path, vm: FakeVM,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "READ_DEADLINE", 0.5)
    server = await started(lab_like_pair(short_tmp))
    try:
        silent = [await asyncio.open_unix_connection(str(server.socket_path)) for _ in range(3)]
        reply = await asyncio.wait_for(ask_guard(lab_like_pair(short_tmp), "primary"), 2)  # served meanwhile
        dropped = [json.loads(await asyncio.wait_for(r.readline(), 2)) for r, _ in silent]
        ends = [await asyncio.wait_for(r.read(), 2) for r, _ in silent]
    finally:
        await server.close()
    assert reply is not None and reply.ok
    assert all(d["ok"] is False and "no request within 0.5 s" in d["error"] for d in dropped)
    assert ends == [b"", b"", b""]


async def test_a_flood_of_connections_is_turned_away_not_queued(short_tmp: Path, runtime: Path, vm: FakeVM,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "READ_DEADLINE", 1.5)
    server = await started(lab_like_pair(short_tmp))
    try:
        held = [await asyncio.open_unix_connection(str(server.socket_path)) for _ in range(guard.MAX_CLIENTS)]
        await asyncio.sleep(0.2)
        busy = await asyncio.wait_for(ask_guard(lab_like_pair(short_tmp), "primary"), 1)
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        later = await ask_guard(lab_like_pair(short_tmp), "primary")
    finally:
        await server.close()
    assert busy is not None and not busy.ok and "busy" in busy.error
    assert later is not None and later.ok, "the connections that went away free the guard"


# -- the socket, the token, the directory -------------------------------------------------------------------------

async def test_socket_token_and_directory_are_private_and_gone_at_exit(short_tmp: Path, runtime: Path,
                                                                       vm: FakeVM) -> None:
    server = await started(lab_like_pair(short_tmp))
    sock, token = server.socket_path, server.token_path
    try:
        assert sock.parent == runtime / "colotui" and token == token_path(sock)
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(sock.lstat().st_mode) and stat.S_IMODE(sock.lstat().st_mode) == 0o600
        assert stat.S_ISREG(token.lstat().st_mode) and stat.S_IMODE(token.lstat().st_mode) == 0o600
        assert len(token_of(server)) >= 43, "256 bits"
        with pytest.raises(UserError, match="already serves this pair"):
            await started(lab_like_pair(short_tmp))
        assert sock.exists() and token_of(server), "the refused second guard left the first one's files alone"
    finally:
        await server.close()
    assert not sock.exists() and not token.exists()
    assert await ask_guard(lab_like_pair(short_tmp), "primary") is None


async def test_a_stale_socket_is_replaced_and_ask_guard_says_no_guard(short_tmp: Path, runtime: Path,
                                                                     vm: FakeVM) -> None:
    pair = lab_like_pair(short_tmp)
    assert await ask_guard(pair, "primary") is None, "no directory yet"
    path = guard_socket(pair)
    path.parent.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a guard that was killed: its socket file, nobody listening
    token_path(path).write_text("old\n")
    assert await ask_guard(pair, "primary") is None
    server = await started(pair)
    try:
        assert token_of(server) != "old"
        reply = await ask_guard(pair, "primary")
    finally:
        await server.close()
    assert reply is not None and reply.ok


def unsafe(place: Path, elsewhere: Path, trouble: str) -> None:
    """Make ``place`` a directory no guard may use, the way ``trouble`` says."""
    if trouble == "symlink":
        place.symlink_to(elsewhere)
    elif trouble == "a file":
        place.write_text("")
    else:
        place.mkdir(mode=0o700)
        if trouble == "open to others":
            os.chmod(place, 0o755)
        else:
            os.chown(place, 4242, 4242)  # the tests run as root (CI, this machine): a stranger's directory


TROUBLES = ["symlink", "open to others", "not ours", "a file"]


@pytest.mark.parametrize("trouble", TROUBLES)
async def test_the_guard_refuses_an_unsafe_directory(short_tmp: Path, runtime: Path, vm: FakeVM,
                                                     trouble: str) -> None:
    elsewhere = short_tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    unsafe(runtime / "colotui", elsewhere, trouble)
    with pytest.raises(UserError, match=r"the guard's directory .* is refused"):
        await started(lab_like_pair(short_tmp))
    assert list(elsewhere.iterdir()) == [], "nothing was put where the link points"
    assert not vm.got, "no session was opened either"


@pytest.mark.parametrize("trouble", TROUBLES[:3])
async def test_the_client_sends_no_token_into_an_unsafe_directory(short_tmp: Path, runtime: Path,
                                                                  trouble: str) -> None:
    """A listener and a token where the guard's would be, in a directory someone else could have made."""
    elsewhere = short_tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    sock = guard_socket(lab_like_pair(short_tmp))
    where = elsewhere if trouble == "symlink" else sock.parent
    where.mkdir(mode=0o700, exist_ok=True)
    heard: list[bytes] = []

    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.append(await reader.readline())
        writer.close()

    server = await asyncio.start_unix_server(impostor, path=str(where / sock.name))
    token_path(where / sock.name).write_text("secret\n")
    if trouble == "symlink":
        sock.parent.symlink_to(elsewhere)
    elif trouble == "open to others":
        os.chmod(sock.parent, 0o755)
    else:
        os.chown(sock.parent, 4242, 4242)
    try:
        reply = await ask_guard(lab_like_pair(short_tmp), "primary")
        await asyncio.sleep(0.1)
    finally:
        server.close()
    assert reply is not None and not reply.ok and "is refused" in reply.error
    assert heard == [], "nothing, and no token, reached the listener"


async def test_something_else_at_the_socket_or_token_name_is_refused(short_tmp: Path, runtime: Path,
                                                                      vm: FakeVM) -> None:
    pair = lab_like_pair(short_tmp)
    path = guard_socket(pair)
    path.parent.mkdir(mode=0o700)
    path.write_text("not a socket")
    with pytest.raises(UserError, match="not a guard's socket"):
        await started(pair)
    assert path.read_text() == "not a socket", "left as it was"
    reply = await ask_guard(pair, "primary")
    assert reply is not None and not reply.ok and "not a guard's socket" in reply.error
    path.unlink()
    token_path(path).symlink_to(short_tmp / "victim")
    with pytest.raises(UserError, match="not a guard's token"):
        await started(pair)
    assert not (short_tmp / "victim").exists()


# -- the client against a bad guard ---------------------------------------------------------------------------

async def test_ask_guard_never_raises_on_a_slow_or_broken_guard(short_tmp: Path, runtime: Path) -> None:
    pair = lab_like_pair(short_tmp)
    path = guard_socket(pair)
    path.parent.mkdir(mode=0o700)
    token_path(path).write_text("t\n")
    answers = iter([None, b"\xff\xfe not json\n", b'{"ok": "yes"}\n', b'{"ok": false, "error": "a\\nb"}\n'])

    async def bad_guard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        answer = next(answers)
        if answer is None:
            await asyncio.sleep(3600)  # a stopped guard: connected, never answers
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(bad_guard, path=str(path))
    try:
        slow = await asyncio.wait_for(ask_guard(pair, "primary", timeout=0.5), 2)
        broken = [await ask_guard(pair, "primary") for _ in range(3)]
    finally:
        server.close()
    assert slow is not None and not slow.ok and "did not answer within 0.5 s" in slow.error
    assert [b.ok if b else None for b in broken] == [False, False, False]
    assert "not one" in broken[0].error and "not one" in broken[1].error  # type: ignore[union-attr]
    assert broken[2].error == "a"  # type: ignore[union-attr]
    bad_role = await ask_guard(pair, "tertiary")
    assert bad_role is not None and not bad_role.ok


def test_the_socket_is_per_pair_and_per_user(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = lab_like_pair(short_tmp)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    assert guard_socket(pair).parent == Path("/run/user/4242/colotui")
    monkeypatch.chdir(short_tmp)
    relative = Pair(Endpoint("a", UnixAddress(Path("p.sock"))), Endpoint("b", UnixAddress(short_tmp / "s.sock")))
    assert guard_socket(relative) == guard_socket(pair), "a path is the same from wherever it is given"
    other = Pair(pair.primary, Endpoint("secondary", UnixAddress(short_tmp / "t.sock")))
    assert guard_socket(other) != guard_socket(pair)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/dir")
    monkeypatch.setenv("XDG_STATE_HOME", str(short_tmp / "state"))
    assert guard_socket(pair).parent == short_tmp / "state" / "colotui"


def test_guard_without_yank_addresses_is_one_line(short_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guard", str(short_tmp / "p.sock"), str(short_tmp / "s.sock")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("colotui: neither VM has a yank address")


async def test_a_guard_still_starting_holds_the_pairs_place(short_tmp: Path, runtime: Path, vm: FakeVM) -> None:
    pair = lab_like_pair(short_tmp)
    first = GuardServer(pair, find_connections=peer_connections_out_of_band)
    await first.claim()
    transcripts = Path(os.environ["XDG_STATE_HOME"]) / "colotui" / "transcripts"
    before = sorted(transcripts.glob("*")) if transcripts.exists() else []
    try:
        assert await ask_guard(pair, "primary") is None, "bound, not answering yet: no guard to hand a cut to"
        with pytest.raises(UserError, match="already serves this pair"):
            await started(pair)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "colotui", "guard", str(pair.primary.qmp), str(pair.secondary.qmp),
            "--primary-yank", str(pair.primary.yank), stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 1
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("colotui: a guard already serves this pair"), lines
        assert (sorted(transcripts.glob("*")) if transcripts.exists() else []) == before, "no transcript was made"
        await first.start(connect_timeout=3.0)
        reply = await ask_guard(pair, "primary")
    finally:
        await first.close()
    assert reply is not None and reply.ok


async def test_a_guard_killed_outright_lets_the_next_one_in(short_tmp: Path, runtime: Path, vm: FakeVM) -> None:
    """SIGKILL leaves the socket and the token behind; the lock goes with the process."""
    pair = lab_like_pair(short_tmp)
    program = ("import asyncio, sys\nfrom pathlib import Path\nfrom colotui.pair import Endpoint, Pair\n"
               "from colotui.qmp import UnixAddress\nfrom colotui.service.guard import GuardServer\n"
               "async def main():\n    w = Path(sys.argv[1])\n"
               "    pair = Pair(Endpoint('primary', UnixAddress(w / 'p.sock'), '', UnixAddress(w / 'p-yank.sock')),"
               " Endpoint('secondary', UnixAddress(w / 's.sock'), '', UnixAddress(w / 's-yank.sock')))\n"
               "    server = GuardServer(pair, find_connections=None)\n    await server.claim()\n"
               "    print('claimed', flush=True)\n    await asyncio.sleep(3600)\nasyncio.run(main())\n")
    other = await asyncio.create_subprocess_exec(sys.executable, "-c", program, str(short_tmp),
                                                 stdout=asyncio.subprocess.PIPE)
    try:
        assert other.stdout is not None
        assert await asyncio.wait_for(other.stdout.readline(), 20) == b"claimed\n"
        with pytest.raises(UserError, match="already serves this pair"):
            await started(pair)
    finally:
        other.kill()
        await other.wait()
    assert guard_socket(pair).exists() and token_path(guard_socket(pair)).exists(), "left behind"
    server = await started(pair)
    try:
        reply = await ask_guard(pair, "primary")
    finally:
        await server.close()
    assert reply is not None and reply.ok
