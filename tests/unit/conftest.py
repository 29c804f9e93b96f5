"""The unit group needs no QEMU: a test here that asks for one (the `qemu` fixture, directly or through
`labs`, `plain_vm`…) is an error, so `pytest tests/unit` stays what a developer runs on every change."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = __file__.rpartition("/")[0] + "/"
    for item in items:
        if str(item.path).startswith(here) and "qemu" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} needs QEMU: it belongs in tests/qemu or tests/ui")
