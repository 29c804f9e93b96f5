"""The REPL's engine: what happens to an input once the operator presses Enter.

It is parsed for each target VM's schema, judged (read-only, confirmation for
a VM in COLO), sent to every target at once and handed back as an `Outcome`.
The shell and the console pane both drive a `Repl`; they differ only in how
they ask for confirmation and show the outcome. Every message goes through the
sessions, so the transcript has it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping

from ..qmp import Ok, Session
from ..qmp.probe import FactsCache, VMFacts
from ..qmp.redact import REDACTED
from ..qmp.schema import Schema
from .completer import Completion, Hint, complete, hint
from .events import EventFilter, FilterError
from .history import History
from .meta import LANGUAGE_HELP, META
from .outcome import Info, Outcome, Pending, Quit, Refused, Rejected, Sent, TargetReply
from .parser import Incomplete, MetaCommand, Parsed, ParseError, Request, parse
from .redacted import scrub
from .safety import Confirm, Policy, changes_state, judge

#: Asks the operator a yes/no question; True sends.
Confirmer = Callable[[str], Awaitable[bool]]

#: How long the COLO check before a state-changing command may take.
COLO_CHECK_DEADLINE = 2.0


class Repl:
    """Inputs to one or more VMs, by target name (``primary``, ``secondary``, or any names given)."""

    def __init__(self, sessions: Mapping[str, Session], *, target: str | None = None, policy: Policy | None = None,
                 history: History | None = None, facts: FactsCache | None = None,
                 events: EventFilter | None = None,
                 in_colo: Callable[[str], Awaitable[bool]] | None = None) -> None:
        if not sessions:
            raise ValueError("a REPL needs at least one session")
        self.sessions = dict(sessions)
        self.names = tuple(self.sessions)
        self.policy = policy or Policy()
        self.history = history
        self.facts = facts if facts is not None else FactsCache()
        self.events = events if events is not None else EventFilter()
        self._in_colo = in_colo or self._ask_colo_status
        self._schemas: dict[str, tuple[int, Schema]] = {}
        self.target = self.names[:1]
        if target is not None:
            problem = self.set_target(target)
            if problem:
                raise ValueError(problem)

    # -- what the prompt and the completer need -------------------------------

    @property
    def target_label(self) -> str:
        """What the prompt shows: a VM's name, or ``both``."""
        return "both" if len(self.target) > 1 else self.target[0]

    def set_target(self, name: str) -> str | None:
        """Point commands at ``name`` (or ``both``/``all``); returns what is wrong with it, if anything."""
        if name in self.names:
            self.target = (name,)
        elif name in ("both", "all") and len(self.names) > 1:
            self.target = self.names
        else:
            choices = " or ".join(self.names + (("both",) if len(self.names) > 1 else ()))
            return f"no target {name!r}: {choices}"
        return None

    def schema(self, name: str | None = None) -> Schema | None:
        """The schema of ``name`` (default: the first target) as last learnt, if it is still the same QEMU."""
        name = name or self.target[0]
        known = self._schemas.get(name)
        return known[1] if known is not None and known[0] == self.sessions[name].connects else None

    async def learn(self) -> None:
        """Ask each connected VM for its schema, unless already known for this connection."""
        async def one(name: str, session: Session) -> None:
            if session.connected and self.schema(name) is None:
                facts = await self.facts.get(session)
                if isinstance(facts, VMFacts):
                    self._schemas[name] = (session.connects, facts.schema)
        await asyncio.gather(*(one(n, s) for n, s in self.sessions.items()))

    def remember(self, text: str) -> None:
        """Add an input to the shared history, with where it went (colotui's own commands went nowhere)."""
        if self.history is not None:
            self.history.append(text, "" if text.lstrip().startswith(":") else self.target_label)

    def completions(self, text: str, cursor: int) -> list[Completion]:
        return complete(text, cursor, self.schema(), targets=self.names)

    def hint(self, text: str, cursor: int) -> Hint | None:
        return hint(text, cursor, self.schema())

    def parse(self, text: str) -> Parsed:
        """The input as the first target would get it (for live feedback; `submit` checks every target)."""
        return parse(text, self.schema())

    # -- Enter -------------------------------------------------------------

    async def submit(self, text: str, confirm: Confirmer | None = None) -> Outcome | None:
        """Run one input; ``confirm`` asks the operator (without it, what needs confirmation is refused)."""
        await self.learn()
        parsed = self.parse(text)
        if parsed is None:
            return None
        if isinstance(parsed, Incomplete):
            return Pending(text, parsed.message)
        if isinstance(parsed, ParseError):
            return Rejected(text, parsed)
        if isinstance(parsed, MetaCommand):
            return self._meta(text, parsed)
        return await self._send(text, parsed, confirm)

    async def _send(self, text: str, first: Request, confirm: Confirmer | None) -> Outcome:
        requests: dict[str, Request] = {}
        for name in self.target:
            request = first if self.schema(name) is self.schema() else parse(text, self.schema(name))
            if isinstance(request, ParseError):
                return Rejected(text, request, name)
            assert isinstance(request, Request)
            requests[name] = request
        if REDACTED in json.dumps(first.arguments or {}):  # recalled from the history, which keeps no secret
            return Refused(text, f"{REDACTED} stands where a secret was (the history keeps none): type the "
                                 "secret itself; nothing was sent")
        in_colo: dict[str, bool] = dict.fromkeys(self.target, False)
        if changes_state(first) and not self.policy.read_only and self.policy.confirm is Confirm.COLO:
            found = await asyncio.gather(*(self._in_colo(name) for name in self.target))
            in_colo = dict(zip(self.target, found, strict=True))
        verdict = judge(first, self.policy, in_colo)
        if verdict.refusal:
            return Refused(text, verdict.refusal)
        if verdict.question:
            if confirm is None:
                return Refused(text, f"{verdict.question[:-1]}: that needs a confirmation, and there is no one to "
                                     "ask; nothing was sent")
            if not await confirm(scrub(verdict.question, text)):
                return Refused(text, "not confirmed; nothing was sent")
        replies = await asyncio.gather(*(self.sessions[n].execute(r.command, r.arguments) for n, r in requests.items()))
        return Sent(text, tuple(TargetReply(name, self.sessions[name].name, requests[name], reply)
                                for name, reply in zip(requests, replies, strict=True)))

    async def _ask_colo_status(self, name: str) -> bool:
        reply = await self.sessions[name].execute("query-colo-status", deadline=COLO_CHECK_DEADLINE)
        return isinstance(reply, Ok) and isinstance(reply.value, dict) and reply.value.get("mode") not in (None, "none")

    # -- colotui's own commands --------------------------------------------

    def _meta(self, text: str, meta: MetaCommand) -> Outcome:
        def rejected(message: str, index: int = 0) -> Rejected:
            column = meta.columns[index] if meta.columns else len(text.rstrip()) + 1
            return Rejected(text, ParseError(message, column, 1, "meta"))

        if meta.name == "target":
            if meta.args:
                problem = self.set_target(meta.args[0])
                if problem:
                    return rejected(problem)
            return Info(text, f"target: {self.target_label}" + (f" ({', '.join(self.target)})"
                                                               if len(self.target) > 1 else ""))
        if meta.name == "events":
            try:
                return Info(text, self.events.change(meta.args))
            except FilterError as exc:
                return rejected(str(exc), exc.index)
        if meta.name == "history":
            if self.history is None:
                return Info(text, "no history is kept here")
            found = self.history.search(" ".join(meta.args))
            return Info(text, f"{len(found)} matching entr{'y' if len(found) == 1 else 'ies'}",
                        tuple(f"{e.target or '-':<10} {e.text}" for e in found))
        if meta.name == "help":
            return self._help(text, meta, rejected)
        return Quit(text)

    def _help(self, text: str, meta: MetaCommand, rejected: Callable[[str], Rejected]) -> Outcome:
        if not meta.args:
            return Info(text, "the command language", (*LANGUAGE_HELP.splitlines(), "",
                                                       *(f"{spec.usage:<52}{spec.summary}" for spec in META.values())))
        schema = self.schema()
        command = meta.args[0]
        if schema is None:
            return rejected(f"no schema from {self.target[0]} yet (is it connected?)")
        signature = hint(command + " ", len(command) + 1, schema)
        if signature is None:
            return rejected(f"{self.target[0]} has no command {command!r}")
        flags = [f for f, on in (("deprecated", signature.deprecated), ("unstable", signature.unstable)) if on]
        lines = tuple(f"{a.name:<28}{a.type}{', optional' if a.optional else ''}"
                      f"{', deprecated' if a.deprecated else ''}{', unstable' if a.unstable else ''}"
                      for a in signature.arguments) or ("(no arguments)",)
        title = f"{command}{' (' + ', '.join(flags) + ')' if flags else ''}" \
                f"{'' if changes_state(Request(command)) else ' — only reads'}"
        return Info(text, title, lines)
