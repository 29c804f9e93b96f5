"""A reply not of QEMU's shape is taken as no reply.

QEMU's replies have the shapes its schema gives, and the parsers read them so. A reply can still come
otherwise: from a damaged recording in a replay, or a peer that is not QEMU (a proxy, a fake, a bug).
Such a reply must never stop the console or the doctor: the fields it would give are left as they
were, exactly as for a reply that failed. `tolerant` says so once, around each parser.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

#: What a parser raises on a reply of another shape (a list for an object, a missing key, a string for a number).
MISSHAPEN = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def tolerant(default: Callable[[], Any]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A parser that gives ``default()`` (of the type it returns) when what it reads is not of the shape it
    expects."""
    def wrap(parse: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(parse)
        def parsed(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return parse(*args, **kwargs)
            except MISSHAPEN:
                fallback: T = default()
                return fallback
        return parsed
    return wrap

