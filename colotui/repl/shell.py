"""The shell's run: the REPL over sessions to the VMs, on a terminal (the prompt) or fed by a pipe.

`colotui.commands.shell` parses ``colotui shell`` and calls `run_shell`. The prompt (`colotui.repl.prompt`)
and the pipe mode (`colotui.repl.pipe`) are imported only for the one that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from ..pair import Endpoint
    from ..qmp import Transcript
    from .safety import Policy

#: How long to wait for the VMs before the first command.
CONNECT_TIMEOUT = 5.0


async def run_shell(endpoints: dict[str, Endpoint], transcript: Transcript, *, deadline: float, target: str | None,
                    policy: Policy, interactive: bool) -> int:
    """The shell on ``endpoints`` until its input ends; its exit status."""
    from ..service.sessions import open_sessions
    from .history import History
    from .runner import Repl

    async with open_sessions(endpoints, transcript=transcript, deadline=deadline,
                             connect_timeout=CONNECT_TIMEOUT, read_only=policy.read_only) as sessions:
        try:
            repl = Repl(sessions, target=target, policy=policy, history=History())
        except ValueError as exc:
            raise UserError(str(exc)) from None
        await repl.learn()
        if interactive:
            from .prompt import banner, interact

            return await interact(repl, banner(repl, endpoints, transcript))
        from .pipe import run_pipe

        return await run_pipe(repl, sys.stdin, sys.stdout, sys.stderr)
