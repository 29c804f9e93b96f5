"""colotui: an operator console for QEMU COLO fault tolerance."""

__version__ = "0.1.0"
