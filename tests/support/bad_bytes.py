"""Damaged copies of real files, for the readers' fuzz tests: a seeded mutator of bytes, and a time bound.

Each copy takes one to three of: a byte or a bit flipped, the file cut short, a
range deleted or repeated, and an insertion of what breaks naive readers — deep
nesting, NaN and Infinity, numbers no float holds, bytes that are not UTF-8, NUL
bytes, lone surrogates, control characters — either anywhere or in place of a
value (after a ``=`` or a ``:``), where a reader's checks of types and ranges
are reached.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from colotui.errors import UserError

#: Seconds one input may take a reader (a hang is what this catches; a loaded CI machine is slow).
BOUND = 5.0

#: What is put in, anywhere or in place of a value.
POISON = [
    b"[" * 100_000, b"{\"a\":" * 50_000, b"[" * 400 + b"]" * 400, b"{a={b={c={d={e={f={g={h={i={j=1}}}}}}}}}}",
    b"a." * 5000 + b"b = 1", b"[" * 40 + b"1" + b"]" * 40,
    b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-inf", b"1e999", b"-1e400", b"9" * 5000, b"9" * 4000,
    b"18446744073709551616", b"-1", b"0", b"1e300", b"253402300800", b"-0.0", b"1.5",
    b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
    b"\x00", b"\\u0000", b"\\ud800", b'"\\udc00"', b"\x1b[2J", b"\r", b"\x0b", b"\x0c", b"\xe2\x80\xa8",
    b"true", b"false", b"null", b'""', b'"x"', b"[]", b"{}", b"[1, 2]", b'{"a": 1}', b"{ a = 1 }",
    b'"../../../tmp/x"', b'"/etc/passwd"', b'"a/b"', b'".."', b'"primary\\u0000"', b'"127.0.0.1,path=/x"',
    b"\n", b"\n\n\n", b"[[", b"]]", b"\"", b"'", b'"""', b"'''", b"#", b",", b"=", b":",
]
#: Where a value starts: after ``=`` (TOML) or ``:`` (JSON).
_VALUE = re.compile(rb"(=|:)\s*")
_VALUE_END = re.compile(rb"[,}\]\n]")


def mutate(rng: random.Random, data: bytes) -> bytes:
    """``data`` with one to three mutations (see the module's docstring)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        at = rng.randint(0, len(out))
        if roll < 0.15 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif roll < 0.25 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif roll < 0.35:
            del out[at:]
        elif roll < 0.45:
            del out[at:at + rng.randint(1, 64)]
        elif roll < 0.5:
            out[at:at] = out[at:at + rng.randint(1, 256)] * rng.randint(2, 8)
        elif roll < 0.65:
            out[at:at] = rng.choice(POISON)
        else:
            _replace_value(rng, out)
    return bytes(out)


def _replace_value(rng: random.Random, out: bytearray) -> None:
    """A value (the next after a random place: after ``=`` or ``:``) replaced by a poison: a wrong type, a
    range, a depth."""
    found = _VALUE.search(out, rng.randint(0, len(out)))
    if found is None:
        out[len(out):] = rng.choice(POISON)
        return
    end = _VALUE_END.search(out, found.end())
    out[found.end():end.start() if end else len(out)] = rng.choice(POISON)


def inputs(seed: int, count: int, originals: list[bytes]) -> list[bytes]:
    """``count`` damaged copies of ``originals`` (and the originals, untouched, first)."""
    rng = random.Random(seed)
    return [*originals, *(mutate(rng, rng.choice(originals)) for _ in range(count - len(originals)))]


def overwrite(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` now: written over and cut to length (truncating to nothing first costs ten
    times as much on ext4, and a fuzz test writes its file ten thousand times)."""
    with path.open("r+b" if path.exists() else "wb") as f:
        f.write(data)
        f.truncate()


class Hang(BaseException):
    """A reader took longer than its bound on one input (not an Exception: no reader's handler takes it)."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise `Hang` in the block if it runs longer than ``seconds`` (SIGALRM: the main thread's)."""
    def expired(signum: int, frame: object) -> None:
        raise Hang(f"more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What the readers made of the inputs: how many were read, how many refused (and each kind of reason,
    the words before the first quote or number), the slowest input's time."""

    read: int = 0
    refused: int = 0
    reasons: set[str] = field(default_factory=set)
    slowest: float = 0.0

    def __repr__(self) -> str:
        return f"Outcome(read={self.read}, refused={self.refused}, slowest={self.slowest:.3f} s, " \
               f"{len(self.reasons)} kinds of reason)"

    def unsaid(self, *starts: str) -> list[str]:
        """Which of ``starts`` begins none of the reasons given (the checks the fuzz never reached)."""
        return [start for start in starts if not any(reason.startswith(start) for reason in self.reasons)]


def fuzz(path: Path, inputs: list[bytes], read: Callable[[Path], object], refusal: type[BaseException] = UserError,
         bound: float = BOUND) -> Outcome:
    """Each input written to ``path`` and given to ``read``: it returns, or raises ``refusal`` in one line
    that names ``path``, within ``bound`` seconds. Anything else fails the test, with the input."""
    outcome = Outcome()
    for data in inputs:
        overwrite(path, data)
        started = time.perf_counter()
        try:
            with bounded(bound):
                read(path)
            outcome.read += 1
        except refusal as exc:
            text = str(exc)
            assert "\n" not in text and text.startswith(str(path)), (text, data[:300])
            outcome.refused += 1
            words = re.sub(r"^:(\d+:)? ", "", text[len(str(path)):])
            outcome.reasons.add(re.split(r"['\"0-9(]", words, maxsplit=1)[0].strip()[:60])
        except BaseException as exc:
            raise AssertionError(f"{type(exc).__name__} on input {data[:300]!r}…") from exc
        outcome.slowest = max(outcome.slowest, time.perf_counter() - started)
    return outcome
