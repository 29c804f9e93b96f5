"""``colotui``: the command line — lab, connect, demo."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import UserError
from .paths import default_lab_dir, state_dir

DESCRIPTION = """\
An operator console for QEMU COLO fault tolerance: both VMs side by side,
the documented procedures step by step, and a real local COLO pair to try it on.
"""

EPILOG = """\
examples:
  colotui demo                          a local COLO pair and the console attached to it
  colotui lab up --dir /tmp/lab         start a primary (127.0.0.1) and a secondary (127.0.0.2)
  colotui connect --lab /tmp/lab        attach the console to that lab
  colotui connect /run/p.sock 127.0.0.2:4444
  colotui lab kill secondary --dir /tmp/lab
"""


def _lab_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir else default_lab_dir()


def _print_lab(state: object) -> None:
    from .lab import LabState

    assert isinstance(state, LabState)
    print(f"lab {state.dir}  (QEMU {state.qemu['version']}, accel {state.accel}, "
          f"guest {'counter' if state.guest else 'none'})")
    p = state.ports
    print(f"ports: mirror {p.mirror}, compare {p.compare}, loops {p.compare_loop}/{p.compare_out}, "
          f"migration {p.migration}, nbd {p.nbd}")
    print(f"{'name':<12}{'role':<11}{'state':<9}{'address':<11}{'pid':>8}  qmp")
    for vm in state.vms:
        print(f"{vm.name:<12}{vm.role:<11}{vm.state:<9}{vm.address:<11}{vm.pid:>8}  {vm.qmp}")


def cmd_lab(args: argparse.Namespace) -> int:
    from .lab import Lab

    lab = Lab(_lab_dir(args))
    if args.lab_command == "up":
        state = lab.up(accel=args.accel, guest=not args.no_guest, base_port=args.base_port,
                       disk_mb=args.disk_mb, memory_mb=args.memory_mb)
        _print_lab(state)
        print(f"\nnext: colotui connect --lab {lab.dir}")
    elif args.lab_command == "status":
        state = lab.state()
        if args.json:
            print(json.dumps(state.to_dict(), indent=2))
        else:
            _print_lab(state)
    elif args.lab_command == "down":
        stopped = lab.down()
        print(f"stopped {', '.join(f'{vm.name} (pid {vm.pid})' for vm in stopped) or 'nothing: no QEMU was running'}")
    elif args.lab_command == "kill":
        vm = lab.kill(args.role)
        print(f"killed {vm.name} (pid {vm.pid}, {args.role}) with SIGKILL")
    elif args.lab_command == "respawn":
        vm = lab.respawn()
        print(f"started {vm.name} (pid {vm.pid}) on {vm.address} as the new secondary; qmp {vm.qmp}")
    return 0


def _endpoints(args: argparse.Namespace) -> list[object]:
    from .lab import LabState
    from .qmp import AddressError, parse_address
    from .ui.app import Endpoint

    if args.lab is not None:
        state = LabState.load(Path(args.lab))
        state.refresh()
        endpoints = []
        for role in ("primary", "secondary"):
            vm = state.current(role)
            if vm is None:
                raise UserError(f"the lab in {args.lab} has no {role}")
            endpoints.append(Endpoint(vm.name, parse_address(vm.qmp), vm.address))
        return endpoints
    if args.primary is None or args.secondary is None:
        raise UserError("give PRIMARY and SECONDARY QMP addresses, or --lab DIR")
    try:
        return [Endpoint("primary", parse_address(args.primary)), Endpoint("secondary", parse_address(args.secondary))]
    except AddressError as exc:
        raise UserError(str(exc))


def _transcript(args: argparse.Namespace) -> object:
    from .qmp import Transcript

    path = Path(args.transcript) if args.transcript else state_dir() / "transcripts" / time.strftime(
        "%Y%m%d-%H%M%S.jsonl")
    try:
        return Transcript(path)
    except OSError as exc:
        raise UserError(f"cannot write the transcript {path}: {exc.strerror}")


def cmd_connect(args: argparse.Namespace) -> int:
    from .ui.app import ColotuiApp

    app = ColotuiApp(_endpoints(args), transcript=_transcript(args), deadline=args.deadline)  # type: ignore[arg-type]
    app.run()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .lab import Lab
    from .qmp import parse_address
    from .ui.app import ColotuiApp, Endpoint

    lab = Lab(_lab_dir(args))
    print(f"starting a COLO lab in {lab.dir} …", flush=True)
    state = lab.up(accel=args.accel)
    try:
        endpoints = [Endpoint(vm.name, parse_address(vm.qmp), vm.address) for vm in state.vms]
        ColotuiApp(endpoints, transcript=_transcript(args)).run()  # type: ignore[arg-type]
    finally:
        lab.down()
        print(f"lab stopped; its logs stay in {lab.dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colotui", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"colotui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", help=f"the lab's directory (default: {default_lab_dir()})")

    def add_session_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--transcript", metavar="FILE",
                       help="write every QMP message here (default: a new file under "
                            f"{state_dir() / 'transcripts'})")
        p.add_argument("--deadline", type=float, default=10.0, metavar="SECONDS",
                       help="how long any QMP command may take before it is reported as late (default 10)")

    lab = sub.add_parser("lab", help="start and break a real local COLO pair",
                         description="A real COLO pair of QEMUs on loopback: primary 127.0.0.1, secondary 127.0.0.2.")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser("up", help="create images and start a primary and a secondary",
                            description="Start a primary and a secondary QEMU with the COLO-FT command lines. "
                                        "They wait for the startup procedure.")
    add_dir(up)
    up.add_argument("--accel", choices=("kvm", "tcg"),
                    help="default: kvm; without a working /dev/kvm, tcg must be asked for (no COLO checkpoints)")
    up.add_argument("--no-guest", action="store_true", help="blank disks instead of the counter test guest")
    up.add_argument("--base-port", type=int, help="use ports BASE+1..BASE+9 (default: free ones at random)")
    up.add_argument("--disk-mb", type=int, default=64, help="disk size in MiB (default 64)")
    up.add_argument("--memory-mb", type=int, default=128, help="guest RAM in MiB (default 128)")
    status = lab_sub.add_parser("status", help="show the lab's QEMUs and whether they run")
    add_dir(status)
    status.add_argument("--json", action="store_true", help="print lab.json, refreshed")
    down = lab_sub.add_parser("down", help="stop every QEMU of the lab (by PID)")
    add_dir(down)
    kill = lab_sub.add_parser("kill", help="SIGKILL one side: the fault a failover answers")
    kill.add_argument("role", choices=("primary", "secondary"))
    add_dir(kill)
    respawn = lab_sub.add_parser("respawn", help="start a fresh secondary against the surviving VM")
    add_dir(respawn)
    lab.set_defaults(func=cmd_lab)

    connect = sub.add_parser("connect", help="open the console on a primary and a secondary",
                             description="Open the console with a QMP session to each VM. An address is a unix "
                                         "socket path or host:port.")
    connect.add_argument("primary", nargs="?", metavar="PRIMARY")
    connect.add_argument("secondary", nargs="?", metavar="SECONDARY")
    connect.add_argument("--lab", metavar="DIR", help="attach to the lab in DIR instead")
    add_session_options(connect)
    connect.set_defaults(func=cmd_connect)

    demo = sub.add_parser("demo", help="start a local COLO lab, open the console, stop the lab on exit")
    add_dir(demo)
    demo.add_argument("--accel", choices=("kvm", "tcg"))
    add_session_options(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"colotui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # a bug: keep the screen clean, keep the details
        crash = state_dir() / "crash.log"
        crash.parent.mkdir(parents=True, exist_ok=True)
        with crash.open("a") as f:
            f.write(f"--- {time.ctime()} colotui {__version__} {sys.argv}\n{traceback.format_exc()}")
        print(f"colotui: internal error: {sys.exc_info()[1]!r} (details in {crash})", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
