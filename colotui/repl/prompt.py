"""The REPL on a terminal: a prompt-toolkit prompt with the schema's completion and hint.

The prompt shows the target (and a VM that is down); the bottom toolbar shows
the arguments of the command being typed; events are printed above the prompt
as they arrive; Enter inside an open transaction( starts a new line; history
is colotui's shared file, searchable with Ctrl-R.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Iterable, Sequence

from prompt_toolkit import PromptSession
from prompt_toolkit.application.current import get_app
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import ANSI, FormattedText
from prompt_toolkit.history import History as PromptHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style
from rich.console import Console, RenderableType

from ..pair import Endpoint
from ..qmp import LinkChanged, LinkState, Transcript
from .events import EventFeed
from .history import History
from .outcome import Quit
from .parser import Incomplete, parse
from .render import event_text, hint_text, outcome_renderable
from .runner import Repl

_STYLE = Style.from_dict({"target": "bold ansicyan", "down": "bold ansired", "readonly": "ansiyellow",
                          "deprecated": "fg:ansired", "unstable": "fg:ansiyellow"})


def banner(repl: Repl, endpoints: dict[str, Endpoint], transcript: Transcript) -> list[str]:
    lines = []
    for target, session in repl.sessions.items():
        state = session.detail if session.connected else f"{session.state.value}: {session.detail}"
        lines.append(f"{target}: {endpoints[target].qmp}  ({state})")
    lines.append(f"commands go to {repl.target_label}" + ("; read-only" if repl.policy.read_only else "")
                 + "; Tab completes, :help explains, Ctrl-D leaves")
    lines.append(f"transcript: {transcript.path}")
    return lines


async def interact(repl: Repl, banner_lines: Sequence[str]) -> int:
    """Read, run and show inputs until Ctrl-D or :quit, on the current prompt-toolkit app session's terminal."""
    prompt = prompt_session(repl)
    console = Console(file=sys.stdout, highlight=False)  # replies: printed at once, between prompts
    for line in banner_lines:
        console.print(line, style="dim")

    async def confirm(question: str) -> bool:
        asking: PromptSession[str] = PromptSession()
        try:
            answer = await asking.prompt_async(f"{question} [y/N] ")
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    feed = EventFeed(repl.sessions, repl.events)
    with patch_stdout(raw=True):  # events: printed above the prompt, whenever they come
        printer = asyncio.create_task(_print_events(feed, repl, Console(highlight=False)))
        try:
            while True:
                try:
                    text = await prompt.prompt_async()
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                outcome = await repl.submit(text, confirm)
                if isinstance(outcome, Quit):
                    break
                shown = outcome_renderable(outcome) if outcome is not None else None
                if shown is not None:
                    console.print(shown)
        finally:
            printer.cancel()
            await asyncio.gather(printer, return_exceptions=True)
            feed.close()
    return 0


async def _print_events(feed: EventFeed, repl: Repl, console: Console) -> None:
    learning: set[asyncio.Task[None]] = set()
    async for item in feed:
        console.print(event_text(item))
        if isinstance(item.notice, LinkChanged) and item.notice.state is LinkState.CONNECTED:
            task = asyncio.create_task(repl.learn())  # it may be another QEMU now: learn its schema
            learning.add(task)
            task.add_done_callback(learning.discard)


class SchemaCompleter(Completer):
    """prompt-toolkit's side of `Repl.completions`."""

    def __init__(self, repl: Repl) -> None:
        self.repl = repl

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        for c in self.repl.completions(document.text, document.cursor_position):
            style = "class:deprecated" if c.deprecated else "class:unstable" if c.unstable else ""
            yield Completion(c.text, c.start - document.cursor_position, c.display, display_meta=c.meta, style=style)


class SharedHistory(PromptHistory):
    """prompt-toolkit's view of colotui's history file (it wants the newest first)."""

    def __init__(self, history: History, repl: Repl) -> None:
        super().__init__()
        self.history = history
        self.repl = repl

    def load_history_strings(self) -> Iterable[str]:
        return [e.text for e in reversed(self.history.entries())]

    def store_string(self, string: str) -> None:
        self.repl.remember(string)


def prompt_session(repl: Repl) -> PromptSession[str]:
    def message() -> FormattedText:
        down = [n for n in repl.target if not repl.sessions[n].connected]
        parts = [("class:target", repl.target_label)]
        if down:
            parts.append(("class:down", f" ({', '.join(down)} down)" if len(repl.target) > 1 else " (down)"))
        if repl.policy.read_only:
            parts.append(("class:readonly", " read-only"))
        parts.append(("", "> "))
        return FormattedText(parts)

    def toolbar() -> ANSI | str:
        buffer = get_app().current_buffer
        h = repl.hint(buffer.text, buffer.cursor_position)
        if h is None:
            return " Tab completes · Ctrl-R searches history · :help · " + repl.events.describe()
        return ANSI(" " + ansi(hint_text(h)))

    keys = KeyBindings()

    @keys.add("enter", filter=Condition(lambda: isinstance(parse(get_app().current_buffer.text), Incomplete)))
    def _(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")  # a transaction( goes on until its ')'

    history = SharedHistory(repl.history, repl) if repl.history is not None else None
    return PromptSession(message, completer=SchemaCompleter(repl), complete_while_typing=True, history=history,
                         bottom_toolbar=toolbar, key_bindings=keys, style=_STYLE, prompt_continuation="… ")


def ansi(renderable: RenderableType) -> str:
    """``renderable`` as one line of ANSI text, for prompt-toolkit."""
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, color_system="standard", width=10_000).print(
        renderable, end="", soft_wrap=True)
    return buffer.getvalue()
