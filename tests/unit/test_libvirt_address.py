"""A libvirt domain as a QMP address: the spellings operators type, what is refused, and what a session says
when it cannot use libvirt at all. The transport itself runs against a real libvirtd in tests/libvirt."""

from __future__ import annotations

import sys

import pytest

from colotui.pair import Endpoint, Pair, pair_from_record, pair_record
from colotui.qmp import AddressError, LibvirtAddress, LinkState, Unreached, parse_address
from colotui.qmp.libvirt import NO_BINDINGS
from colotui.service.sessions import PairSessions


@pytest.mark.parametrize(("text", "uri", "domain"), [
    ("qemu:///system?domain=colo-a", "qemu:///system", "colo-a"),
    ("qemu+unix:///system?socket=/run/x/libvirt-sock&domain=a%20b", "qemu+unix:///system?socket=/run/x/libvirt-sock",
     "a b"),
    ("qemu+ssh://root@host/system?domain=vm1&keyfile=/k", "qemu+ssh://root@host/system?keyfile=/k", "vm1"),
])
def test_a_libvirt_address_is_a_uri_and_a_domain(text: str, uri: str, domain: str) -> None:
    address = parse_address(text)
    assert address == LibvirtAddress(uri, domain)
    assert parse_address(str(address)) == address  # what a pair record or a transcript keeps reads back


@pytest.mark.parametrize("text", ["qemu:///system", "qemu:///system?domain=", "qemu:///system?domain=a&domain=b"])
def test_a_libvirt_address_names_one_domain(text: str) -> None:
    with pytest.raises(AddressError, match="names one domain"):
        parse_address(text)


def test_a_pair_record_keeps_libvirt_addresses() -> None:
    pair = Pair(Endpoint("p", parse_address("qemu:///system?domain=p"), "127.0.0.1", parse_address("/run/p-yank.sock")),
                Endpoint("s", parse_address("qemu:///system?domain=s"), "127.0.0.2"))
    assert pair_from_record(pair_record(pair)) == pair


async def test_without_libvirt_python_the_link_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # import libvirt raises ImportError
    sessions = PairSessions({"vm": Endpoint("vm", parse_address("qemu:///system?domain=x"))})
    try:
        await sessions.wait_settled(["vm"], 5)
        vm = sessions["vm"]
        assert vm.state is LinkState.CONNECTING and vm.unreached is Unreached.NOTHING_LISTENS
        assert vm.detail == f"cannot reach x: {NO_BINDINGS}"
    finally:
        await sessions.close()


def test_a_libvirt_uri_with_a_password_is_refused() -> None:
    """It would go into the transcript's link lines and the pair record in clear."""
    with pytest.raises(AddressError, match="password") as refused:
        parse_address("qemu+tcp://admin:s3cret@host/system?domain=vm")
    assert "s3cret" not in str(refused.value)
    user_only = parse_address("qemu+tcp://admin@host/system?domain=vm")
    assert user_only == LibvirtAddress("qemu+tcp://admin@host/system", "vm")
