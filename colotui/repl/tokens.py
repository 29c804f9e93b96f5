"""Words of a shorthand line, by qmp-shell's rules.

Whitespace separates words, except inside '…' or "…", where a backslash
escapes the next character. The quotes stay in the word: qmp-shell sends
``id="m0"`` as the string ``"m0"``, quotes and all, and so does colotui. A
quote that never closes is an error here; qmp-shell silently drops it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: int  # offset in the line

    @property
    def end(self) -> int:
        return self.start + len(self.text)


class UnclosedQuote(Exception):
    """A quote at ``offset`` is never closed."""

    def __init__(self, offset: int, quote: str) -> None:
        super().__init__(f"the {quote} at column {offset + 1} is never closed")
        self.offset = offset
        self.quote = quote


def split_words(line: str, *, lenient: bool = False) -> list[Word]:
    """The words of one line; with ``lenient`` an unclosed quote runs to the end (for completing as you type)."""
    words: list[Word] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not line[i].isspace():
            if line[i] in "\"'":
                close = closing_quote(line, i)
                if close is None:
                    if not lenient:
                        raise UnclosedQuote(i, line[i])
                    i = n
                    break
                i = close
            i += 1
        words.append(Word(line[start:i], start))
    return words


def closing_quote(line: str, start: int) -> int | None:
    """Where the quote opened at ``start`` closes, if it does; a backslash escapes any character but a newline."""
    quote, i, n = line[start], start + 1, len(line)
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n and line[i + 1] != "\n":
            i += 2
        elif c == quote:
            return i
        else:
            i += 1
    return None
