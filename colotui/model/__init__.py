"""What colotui knows about the VMs, as plain data, and the parsers that build it from QMP replies."""

from .vm import ColoStatus, VMView

__all__ = ["ColoStatus", "VMView"]
