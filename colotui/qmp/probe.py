"""What kind of QEMU is on the other end: its version and its QMP schema.

Asked once per connection (the schema is a few hundred kilobytes) and used to
render procedures for that QEMU and to judge whether COLO can work on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reply import Failure, Ok
from .schema import Schema
from .session import Session
from .version import QemuVersion


@dataclass(frozen=True)
class VMFacts:
    version: QemuVersion
    package: str
    schema: Schema


async def probe(session: Session, deadline: float | None = None) -> VMFacts | Failure:
    """``query-version`` and ``query-qmp-schema``; the first failure if either fails."""
    version = await session.execute("query-version", deadline=deadline)
    if not isinstance(version, Ok):
        return version
    schema = await session.execute("query-qmp-schema", deadline=deadline)
    if not isinstance(schema, Ok):
        return schema
    return VMFacts(QemuVersion.from_qmp(version.value["qemu"]), str(version.value.get("package", "")).strip(),
                   Schema(schema.value))


class FactsCache:
    """Facts per session, asked again after the session reconnects (it may be another QEMU now)."""

    def __init__(self) -> None:
        self._facts: dict[str, tuple[int, VMFacts]] = {}

    async def get(self, session: Session, deadline: float | None = None) -> VMFacts | Failure:
        cached = self._facts.get(session.name)
        if cached is not None and cached[0] == session.connects:
            return cached[1]
        facts = await probe(session, deadline)
        if isinstance(facts, VMFacts):
            self._facts[session.name] = (session.connects, facts)
        return facts
