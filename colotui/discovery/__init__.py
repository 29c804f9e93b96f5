"""A pair's wiring as it is: snapshots of live VMs, the topology derived from them, and the doctor's audit."""

from .derive import Discovered, Found, discover, plays, swapped
from .snapshot import SNAPSHOT_QUERIES, Snapshot

__all__ = ["SNAPSHOT_QUERIES", "Discovered", "Found", "Snapshot", "discover", "plays", "swapped"]
