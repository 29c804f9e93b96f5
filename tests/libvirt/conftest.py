"""The private libvirtd the libvirt tier shares (one per run: its domains are each test's own)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support import libvirtd


@pytest.fixture(scope="session")
def daemon() -> Iterator[libvirtd.Libvirtd]:
    why = libvirtd.missing()
    if why is not None:
        pytest.fail(f"the libvirt tier cannot run here: {why}")
    root = Path(tempfile.mkdtemp(prefix="colotui-lv-", dir="/tmp"))  # short: unix socket paths
    started = libvirtd.start(root)
    try:
        yield started
    finally:
        libvirtd.stop(started)
