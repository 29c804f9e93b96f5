"""A real local COLO pair: QEMU command lines, images, the test guest, lab.json."""

from .lab import Lab
from .pair import follow, pair_from_lab
from .qemu import QemuInstall, kvm_problem
from .state import LabState, VMRecord

__all__ = ["Lab", "LabState", "QemuInstall", "VMRecord", "follow", "kvm_problem", "pair_from_lab"]
