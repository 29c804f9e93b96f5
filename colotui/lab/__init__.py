"""A real local COLO pair: QEMU command lines, images, the test guest, lab.json."""

from .lab import Lab
from .qemu import QemuInstall, kvm_problem
from .state import LabState, VMRecord

__all__ = ["Lab", "LabState", "QemuInstall", "VMRecord", "kvm_problem"]
