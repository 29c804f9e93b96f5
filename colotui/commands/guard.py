"""``colotui guard``: hold a pair's out-of-band sessions, so a `colotui run` reaches a survivor a hung peer wedged."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import UserError
from .options import add_pair_arguments, pair_of, read_config, transcript_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..pair import Pair
    from ..qmp import Transcript
    from ..service.guard import GuardServer
    from .options import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    guard = subparsers.add_parser(
        "guard", help="hold a pair's out-of-band sessions for a `colotui run` to hand its cut to",
        description="Hold an out-of-band QMP session on each VM's yank monitor and serve a private socket until "
                    "SIGINT or SIGTERM. A peer that stops in the middle of a checkpoint wedges the survivor's "
                    "main loop: a new QMP connection then gets no greeting, but a session opened before the hang "
                    "can still yank the peer's connections, which frees it. A `colotui run` on this pair hands "
                    "that cut to the guard. Leave it running beside the pair.")
    add_pair_arguments(guard)
    guard.add_argument("--transcript", metavar="FILE",
                       help="write every QMP message here (default: a new file under the state directory's "
                            "transcripts)")
    guard.add_argument("--read-only", action="store_true", help="refuse every cut (hold the sessions only)")
    guard.set_defaults(func=cmd_guard)


def cmd_guard(args: argparse.Namespace) -> int:
    import asyncio

    config = read_config(args)
    pair = pair_of(args, config)
    if all(e.yank is None for e in pair.by_role().values()):
        raise UserError("neither VM has a yank address: give --primary-yank ADDR and --secondary-yank ADDR (another "
                        "-qmp of each VM), or primary_yank/secondary_yank in a profile; a lab has them")
    asyncio.run(_guard(pair, lambda: transcript_of(args, config), read_only=args.read_only))
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


async def _guard(pair: Pair, new_transcript: Callable[[], Transcript], *, read_only: bool) -> None:
    """Claim the pair's place first (a second guard of the pair is refused before it makes a transcript),
    then hold the sessions and serve until SIGINT or SIGTERM."""
    import asyncio
    import signal

    from ..scenario.live import peer_connections_out_of_band
    from ..service.guard import GuardServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    server = GuardServer(pair, find_connections=peer_connections_out_of_band, read_only=read_only, say=_say)
    await server.claim()
    transcript: Transcript | None = None
    try:
        transcript = new_transcript()
        await server.start(transcript=transcript)
        for role, endpoint in pair.by_role().items():
            if endpoint.yank is None:
                _say(f"{endpoint.name} has no yank address (--{role}-yank ADDR, or {role}_yank in a profile): "
                     "the guard cannot cut it")
        _say(_started(server, read_only))
        await stop.wait()
    finally:
        await server.close()
        if transcript is not None:
            transcript.close()
            print(f"transcript: {transcript.path}", file=sys.stderr)


def _started(server: GuardServer, read_only: bool) -> str:
    """``guarding primary (primary/oob) and secondary (secondary/oob): …; socket …``."""
    held = []
    for role, state in server.status().items():
        if state is not None:
            late = "" if state["connected"] else f", not connected yet: {state['detail']}"
            held.append(f"{role} ({state['vm']}/oob{late})")
    hands = "cuts are refused (read-only)" if read_only else \
        "a `colotui run` on this pair hands its out-of-band cut to me"
    return f"guarding {' and '.join(held)}: {hands}; socket {server.socket_path}"
