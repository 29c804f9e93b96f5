"""The QMP session service: connections, deadlines, events and the transcript."""

from .address import Address, AddressError, LibvirtAddress, TcpAddress, UnixAddress, parse_address
from .notices import CHECKPOINT_EVENTS, Event, LinkChanged, LinkState, Notice, Subscription, Unreached
from .reply import CommandError, DeadlineExceeded, Disconnected, Failure, Ok, Reply
from .session import Session
from .transcript import Transcript, read_transcript
from .version import QemuVersion

__all__ = [
    "CHECKPOINT_EVENTS", "Address", "AddressError", "CommandError", "DeadlineExceeded", "Disconnected", "Event",
    "Failure", "LibvirtAddress", "LinkChanged", "LinkState", "Notice", "Ok", "QemuVersion", "Reply", "Session",
    "Subscription", "TcpAddress", "Transcript", "UnixAddress", "Unreached", "parse_address", "read_transcript",
]
