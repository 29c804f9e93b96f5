"""Which commands only read: the allowlist behind ``--read-only``, and what needs no confirmation.

It is an allowlist, reviewed command by command against the schemas of QEMU 7.2, 10.0 and 11.1:
a command QEMU adds later is taken to change state until it is reviewed and listed here. Some
commands only read in one argument form: HMP only as ``info …`` or ``help``, ``yank`` only with no
instances (the liveness probe's no-op). Left out on purpose although their names sound harmless:
``ringbuf-read`` (it consumes what it reads), ``calc-dirty-rate`` (it starts a measurement),
``x-query-profile`` (it resets the profiler's counters) and HMP ``i`` (with an index it writes that
index to the port first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: QMP commands that only read, whatever their arguments.
READ_ONLY_COMMANDS = frozenset({
    # query-* of the three schemas
    "query-acpi-ospm-status", "query-audiodevs", "query-balloon", "query-block", "query-block-exports",
    "query-block-jobs", "query-blockstats", "query-chardev", "query-chardev-backends", "query-colo-status",
    "query-command-line-options", "query-commands", "query-cpu-definitions", "query-cpu-model-baseline",
    "query-cpu-model-comparison", "query-cpu-model-expansion", "query-cpus-fast", "query-cryptodev",
    "query-current-machine", "query-dirty-rate", "query-display-options", "query-dump",
    "query-dump-guest-memory-capability", "query-fdsets", "query-hotpluggable-cpus", "query-iothreads",
    "query-jobs", "query-kvm", "query-machines", "query-memdev", "query-memory-devices",
    "query-memory-size-summary", "query-mice", "query-migrate", "query-migrate-capabilities",
    "query-migrate-parameters", "query-migrationthreads", "query-name", "query-named-block-nodes", "query-pci",
    "query-pr-managers", "query-qmp-schema", "query-replay", "query-rocker", "query-rocker-of-dpa-flows",
    "query-rocker-of-dpa-groups", "query-rocker-ports", "query-rx-filter", "query-sev",
    "query-sev-attestation-report", "query-sev-capabilities", "query-sev-launch-measure", "query-sgx",
    "query-sgx-capabilities", "query-spice", "query-stats", "query-stats-schemas", "query-status",
    "query-target", "query-tpm", "query-tpm-models", "query-tpm-types", "query-uuid", "query-vcpu-dirty-limit",
    "query-version", "query-vm-generation-id", "query-vnc", "query-vnc-servers", "query-xen-replication-status",
    "query-yank", "query-accelerators", "query-gic-capabilities",
    "query-s390x-cpu-polarization", "query-hv-balloon-status-report", "query-firmware-log",
    # the x- queries (HMP's info, as QMP)
    "x-query-irq", "x-query-jit", "x-query-numa", "x-query-opcount", "x-query-ramblock", "x-query-rdma",
    "x-query-roms", "x-query-usb", "x-query-virtio", "x-query-virtio-queue-element",
    "x-query-virtio-queue-status", "x-query-virtio-status", "x-query-virtio-vhost-queue-status",
    "x-query-interrupt-controllers", "x-debug-query-block-graph", "x-debug-block-dirty-bitmap-sha256",
    # the object model and the rest that only look
    "qom-get", "qom-list", "qom-list-get", "qom-list-types", "qom-list-properties", "device-list-properties",
    "trace-event-get-state", "x-accel-stats",
})

#: HMP commands that only read (the first word of a command line).
READ_ONLY_HMP = frozenset({"info", "help", "?"})


def _hmp_reads(arguments: Mapping[str, Any]) -> bool:
    line = arguments.get("command-line")
    if not isinstance(line, str) or any(ord(c) < 32 and c not in " \t" for c in line):
        return False
    words = line.split()
    return bool(words) and words[0] in READ_ONLY_HMP


def _yank_nothing(arguments: Mapping[str, Any]) -> bool:
    return arguments.get("instances") == []


#: Commands that only read in one argument form (given the arguments, or {} for none).
READ_ONLY_FORMS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "human-monitor-command": _hmp_reads,
    "yank": _yank_nothing,
}


def is_read_only(command: str, arguments: Mapping[str, Any] | None = None) -> bool:
    """True for a command on the allowlist (in its reading form, for those that have one)."""
    form = READ_ONLY_FORMS.get(command)
    if form is not None:
        return form(arguments or {})
    return command in READ_ONLY_COMMANDS


def refusal(command: str, arguments: Mapping[str, Any] | None = None) -> str:
    """The one line a read-only console says instead of sending ``command`` (of an HMP line, its command
        only: the rest may hold a password)."""
    what = command
    if command == "human-monitor-command" and isinstance(arguments, Mapping):
        words = str(arguments.get("command-line", "")).split()
        what = f"HMP {words[0] if words else ''!r}"
    return f"read-only: {what} may change the VM; nothing was sent"
