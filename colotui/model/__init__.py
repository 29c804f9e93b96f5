"""What colotui knows about the VMs, as plain data, and the code that keeps it current."""

from .vm import ColoStatus, VMView
from .watcher import VMWatcher

__all__ = ["ColoStatus", "VMView", "VMWatcher"]
