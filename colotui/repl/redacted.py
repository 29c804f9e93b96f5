"""A REPL line with its secrets redacted: what the history keeps and what the echo shows.

`colotui.qmp.redact` finds secrets in text by its rules. A line the REPL can read is then read,
and if its command still holds a secret the rules cannot see in the text (a JSON escape in a value,
a comma in a shorthand value), the line is kept as the JSON of the redacted command instead. A line
of a password command that cannot be read (``change-vnc-password hunter2``) has every bare word
after the command hidden.
"""

from __future__ import annotations

import json

from ..qmp.redact import REDACTED, SECRET_COMMANDS, may_hold, redact_arguments, redact_text
from .parser import ParseError, Request, parse
from .tokens import split_words


def redact_line(text: str, found: list[str] | None = None) -> str:
    """``text`` (one input, as typed) with its secrets `REDACTED`; ``found`` collects them as typed."""
    if not may_hold(text) and "\\" not in text:  # nothing to see, nor an escape that could spell it
        return text
    seen: list[str] = [] if found is None else found
    redacted = redact_text(text, seen)
    parsed = parse(redacted)
    if isinstance(parsed, Request):
        arguments = parsed.arguments or {}
        clean = redact_arguments(parsed.command, arguments)
        if clean is not arguments:
            seen += _strings(arguments, clean)
            return json.dumps({"execute": parsed.command, "arguments": clean})
    elif isinstance(parsed, ParseError):
        return _hide_words(redacted, seen)
    return redacted


def scrub(message: str, text: str) -> str:
    """``message`` (a parse error's, a refusal's) about input ``text``, without the secrets of ``text``."""
    found: list[str] = []
    redact_line(text, found)
    bare = [secret.strip("\"'") for secret in found]  # as typed, and without the quotes around it
    forms = {*found, *bare, *(json.dumps(secret)[1:-1] for secret in (*found, *bare))}  # and as JSON writes it
    for secret in sorted(filter(None, forms), key=len, reverse=True):
        message = message.replace(secret, REDACTED)
    return redact_text(message)


def _hide_words(line: str, seen: list[str]) -> str:
    words = split_words(line, lenient=True)
    if not words or words[0].text.lstrip("!") not in SECRET_COMMANDS:
        return line
    for word in reversed(words[1:]):
        if "=" not in word.text and word.text != REDACTED:
            seen.append(word.text)
            line = line[:word.start] + REDACTED + line[word.end:]
    return line


def _strings(before: object, after: object) -> list[str]:
    """The values that redaction took away (as text), to hide them wherever else they are quoted."""
    if before is after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [s for key in before for s in _strings(before[key], after.get(key))]
    if isinstance(before, list) and isinstance(after, list):
        return [s for a, b in zip(before, after, strict=False) for s in _strings(a, b)]
    return [before if isinstance(before, str) else json.dumps(before)]
