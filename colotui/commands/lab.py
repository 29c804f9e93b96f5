"""``colotui lab``: start and break a real local COLO pair (up, status, down, kill, hang, cont, respawn)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..compat import deprecation_lines
from ..errors import UserError
from .options import add_guest_options, add_lab_dir, lab_dir

if TYPE_CHECKING:  # the lab loads only when this command runs
    from ..lab import Lab, LabState
    from ..lab.lab import Fault
    from .options import Subparsers

#: The latest --after-stop-ms taken: a checkpoint lasts milliseconds; much later, the signal lands wherever.
MAX_AFTER_STOP_MS = 10_000
#: How long --during-checkpoint waits for a checkpoint to begin (and, between tries, to end): COLO takes one
#: at least every x-checkpoint-delay (QEMU's default: 20 s; a lab's startup sets 1 s).
CHECKPOINT_WAIT = 25.0


def add_parser(subparsers: Subparsers) -> None:
    lab = subparsers.add_parser("lab", help="start and break a real local COLO pair",
                                description="A real COLO pair of QEMUs on loopback: primary 127.0.0.1, "
                                            "secondary 127.0.0.2.")
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="create images and start a primary and a secondary",
                            description="Start a primary and a secondary QEMU with the COLO-FT command lines. "
                                        "They wait for the startup procedure.")
    add_lab_dir(up)
    up.add_argument("--accel", choices=("kvm", "tcg"),
                    help="default: kvm; without a working /dev/kvm, tcg must be asked for (no COLO checkpoints)")
    add_guest_options(up)
    up.add_argument("--no-guest", dest="guest", action="store_const", const="none", help="the same as --guest none")
    up.add_argument("--base-port", type=int, help="use ports BASE+1..BASE+9 (default: free ones at random)")
    up.add_argument("--disk-mb", type=int, default=64, help="disk size in MiB (default 64)")
    up.add_argument("--memory-mb", type=int, default=128, help="guest RAM in MiB (default 128)")
    up.add_argument("--qemu-root", metavar="ROOT",
                    help="run QEMU and qemu-img from another Debian root (chroot ROOT), e.g. the one "
                         "scripts/prepare-qemu SUITE makes; --dir must then be inside ROOT")
    status = actions.add_parser("status", help="show the lab's QEMUs and whether they run")
    add_lab_dir(status)
    status.add_argument("--json", action="store_true", help="print lab.json, refreshed")
    down = actions.add_parser("down", help="stop every QEMU of the lab (by PID)")
    add_lab_dir(down)
    kill = actions.add_parser("kill", help="SIGKILL one side: the fault a failover answers")
    kill.add_argument("role", choices=("primary", "secondary"))
    _add_checkpoint_options(kill)
    add_lab_dir(kill)
    hang = actions.add_parser("hang", help="SIGSTOP one side: a hung host, which keeps its sockets and says "
                                           "nothing (lab cont undoes it)")
    hang.add_argument("role", choices=("primary", "secondary"))
    _add_checkpoint_options(hang)
    hang.add_argument("--until-wedged", action="store_true",
                      help="with --during-checkpoint: while the survivor's main loop still answers, SIGCONT and "
                           "hang it again at a later checkpoint (up to 20)")
    add_lab_dir(hang)
    cont = actions.add_parser("cont", help="SIGCONT a side that lab hang stopped")
    cont.add_argument("role", choices=("primary", "secondary"))
    add_lab_dir(cont)
    respawn = actions.add_parser("respawn", help="start a fresh secondary against the surviving VM")
    add_lab_dir(respawn)
    lab.set_defaults(func=cmd_lab)


def _add_checkpoint_options(action: argparse.ArgumentParser) -> None:
    action.add_argument("--during-checkpoint", action="store_true",
                        help="wait for the pair's next checkpoint and signal the moment the primary sends its "
                             "STOP event (a peer lost then wedges the survivor's main loop)")
    action.add_argument("--after-stop-ms", type=int, metavar="N",
                        help="with --during-checkpoint: signal N ms after the STOP event, later in the checkpoint")


def cmd_lab(args: argparse.Namespace) -> int:
    from ..lab import Lab

    lab = Lab(lab_dir(args))
    if args.lab_command == "up":
        from ..lab import QemuInstall

        root = Path(args.qemu_root).absolute() if args.qemu_root else None
        install = QemuInstall(prefix=("chroot", str(root)), root=root) if root else QemuInstall()
        state = lab.up(install=install, accel=args.accel, guest=args.guest, traffic=args.traffic,
                       base_port=args.base_port,
                       disk_mb=args.disk_mb, memory_mb=args.memory_mb)
        _print_lab(state)
        print(f"\nnext: colotui connect --lab {lab.dir}")
    elif args.lab_command == "status":
        state = lab.state()
        if args.json:  # lab.json, and whether each VM is hung (SIGSTOP), which only /proc knows
            data = state.to_dict()
            for vm, shown in zip(state.vms, data["vms"], strict=True):
                shown["hung"] = vm.state == "running" and vm.is_hung()
            print(json.dumps(data, indent=2))
        else:
            _print_lab(state)
    elif args.lab_command == "down":
        stopped = lab.down()
        print(f"stopped {', '.join(f'{vm.name} (pid {vm.pid})' for vm in stopped) or 'nothing: no QEMU was running'}")
    elif args.lab_command in ("kill", "hang"):
        print(_fault(lab, args))
    elif args.lab_command == "cont":
        vm = lab.cont(args.role)
        print(f"continued {vm.name} (pid {vm.pid}, {args.role}) with SIGCONT")
    elif args.lab_command == "respawn":
        vm = lab.respawn()
        print(f"started {vm.name} (pid {vm.pid}) on {vm.address} as the new secondary; qmp {vm.qmp}")
    return 0


def _fault(lab: Lab, args: argparse.Namespace) -> str:
    """Kill or hang a side, at once or at a checkpoint's start; the line that says what was done."""
    import signal

    verb, sig = ("killed", signal.SIGKILL) if args.lab_command == "kill" else ("hung", signal.SIGSTOP)
    until_wedged = getattr(args, "until_wedged", False)
    if not args.during_checkpoint:
        for given, option in ((args.after_stop_ms is not None, "--after-stop-ms"), (until_wedged, "--until-wedged")):
            if given:
                raise UserError(f"{option} needs --during-checkpoint: without it the {args.role} is signalled at once")
        vm = lab.kill(args.role) if sig is signal.SIGKILL else lab.hang(args.role)
        return f"{verb} {vm.name} (pid {vm.pid}, {args.role}) with {sig.name}"
    after = args.after_stop_ms or 0
    if not 0 <= after <= MAX_AFTER_STOP_MS:
        raise UserError(f"--after-stop-ms is from 0 to {MAX_AFTER_STOP_MS}, not {after}")
    fault = lab.strike(args.role, sig, until_wedged=until_wedged, after_stop=after / 1000, timeout=CHECKPOINT_WAIT)
    return _struck(verb, fault, until_wedged)


def _struck(verb: str, fault: Fault, until_wedged: bool) -> str:
    """``hung secondary (pid N, secondary) with SIGSTOP 0.1 ms after checkpoint STOP on primary; primary's
    main loop is wedged (try 2)``."""
    strike, vm = fault.strike, fault.vm
    line = (f"{verb} {vm.name} (pid {vm.pid}, {vm.role}) with SIG{strike.signal} {strike.after_stop_s * 1000:.1f} ms "
            f"after checkpoint STOP on {fault.watched.name}")
    if strike.wedged is None:
        return line
    loop = f"{fault.survivor.name}'s main loop"
    if strike.wedged:
        return f"{line}; {loop} is wedged" + (f" (try {strike.tries})" if until_wedged else "")
    tried = f" after {strike.tries} tries" if strike.tries > 1 else ""
    return f"{line}; {loop} still answers{tried}"


def _print_lab(state: LabState) -> None:
    from ..lab.traffic import read_stats

    guest = f"{state.guest}, traffic {state.traffic}" if state.traffic else state.guest
    print(f"lab {state.dir}  (QEMU {state.qemu['version']}, accel {state.accel}, guest {guest})")
    p = state.ports
    print(f"ports: mirror {p.mirror}, compare {p.compare}, loops {p.compare_loop}/{p.compare_out}, "
          f"migration {p.migration}, nbd {p.nbd}")
    if state.net is not None:
        print(f"net: ticks to 127.0.0.1:{state.net.tick} (udp), service on each VM's address, udp port "
              f"{state.net.service}")
        stats = read_stats(Path(state.dir))
        helper = "running" if state.helper is not None and state.helper.is_alive() else "not running"
        print(f"traffic ({helper}): {stats.line() if stats else 'nothing seen yet'}")
    print(f"{'name':<12}{'role':<11}{'state':<9}{'address':<11}{'pid':>8}  qmp")
    for vm in state.vms:
        print(f"{vm.name:<12}{vm.role:<11}{vm.shown_state:<9}{vm.address:<11}{vm.pid:>8}  {vm.qmp}")
    for vm in state.alive():
        if vm.is_hung():
            print(f"{vm.name} is hung (SIGSTOP): `colotui lab cont {vm.role} --dir {state.dir}` continues it")
    for vm in state.vms:  # QEMU's own word that something it was given will go (COLO's first)
        for line in deprecation_lines(_tail(Path(vm.log))):
            print(f"warning: {vm.name} (QEMU): {line}")


def _tail(path: Path, limit: int = 1 << 20) -> str:
    """The last ``limit`` bytes of a log, as text; nothing if it cannot be read."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
