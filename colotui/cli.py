"""``colotui``: the command line — lab, connect, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, crashlog
from .compat import deprecation_lines
from .config import MAX_SECONDS, Config, load_config
from .config import default_path as default_config_path
from .errors import UserError
from .pair import Pair
from .qmp import Transcript
from .qmp.redact import redact_text
from .qmp.transcript import new_transcript
from .serve import DEFAULT_HOST, DEFAULT_PORT, binding_warning, check_port, console_argv, parse_origin, split_args
from .topology import MAX_CHECKPOINT_DELAY_MS, VARIANTS

if TYPE_CHECKING:  # the console and the lab load only for the commands that use them
    from .control.console import ConsoleController
    from .lab import LabState
    from .scenario import Scenario
    from .ui.app import ColotuiApp
from .paths import default_lab_dir, keep_state_private, state_dir

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
  colotui fleet --lab /tmp/lab --lab /tmp/lab2   both pairs in one table
  colotui lab kill secondary --dir /tmp/lab
  colotui keys --keymap vim             the console's keys with the vim keymap
  colotui serve --lab /tmp/lab          the console in a browser, on 127.0.0.1 port 8566
"""


def seconds(text: str) -> float:
    """An option's number of seconds: more than 0 and at most a day (not nan, not inf); argparse says why not."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text}: give a number of seconds more than 0 and at most {MAX_SECONDS:g}")
    return value


def _lab_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir else default_lab_dir()


def _print_lab(state: LabState) -> None:
    from .lab.traffic import read_stats

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
        print(f"{vm.name:<12}{vm.role:<11}{vm.state:<9}{vm.address:<11}{vm.pid:>8}  {vm.qmp}")
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


def cmd_lab(args: argparse.Namespace) -> int:
    from .lab import Lab

    lab = Lab(_lab_dir(args))
    if args.lab_command == "up":
        from .lab import QemuInstall

        root = Path(args.qemu_root).absolute() if args.qemu_root else None
        install = QemuInstall(prefix=("chroot", str(root)), root=root) if root else QemuInstall()
        state = lab.up(install=install, accel=args.accel, guest=args.guest, traffic=args.traffic,
                       base_port=args.base_port,
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


def _pair(args: argparse.Namespace, config: Config) -> Pair:
    from .resolve import resolve_pair  # it reads a lab's lab.json: the lab loads only for commands on a pair

    return resolve_pair(config, lab=args.lab, profile=args.profile, addresses=(args.primary, args.secondary),
                        topology=getattr(args, "topology", None), yank=(args.primary_yank, args.secondary_yank),
                        settings=_settings(getattr(args, "set", None) or [], getattr(args, "variant", None)))


def _settings(items: Sequence[str], variant: str | None = None) -> dict[str, object]:
    """``--set NAME=VALUE`` values (``ids.compare=cmp0``, ``ports.nbd=9999``, ``addr.secondary=10.0.0.2``), and
    ``--variant`` (the same as ``--set variant=…``)."""
    from .discovery.settle import NAMES

    settings: dict[str, object] = {"variant": variant} if variant else {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in NAMES:
            raise UserError(f"--set {item!r}: give NAME=VALUE with one of {', '.join(NAMES)}")
        if name.startswith("ports.") or name == "checkpoint_delay_ms":
            if not (value.isascii() and value.isdigit() and len(value) <= 10) or \
                    (name.startswith("ports.") and not 0 < int(value) < 65536) or int(value) > MAX_CHECKPOINT_DELAY_MS:
                raise UserError(f"--set {item!r}: {name} takes a number" + (" (a TCP port)" if "ports" in name else ""))
            settings[name] = int(value)
        elif name == "variant" and value not in VARIANTS:
            raise UserError(f"--set {item!r}: variant is one of {', '.join(VARIANTS)}")
        else:
            settings[name] = value
    return settings


def _config(args: argparse.Namespace) -> Config:
    """The operator's settings, read once per command."""
    return load_config(Path(args.config) if getattr(args, "config", None) else None)


def _controller(args: argparse.Namespace, config: Config, pair: Pair,
                transcript: Transcript | None) -> ConsoleController:
    """The engine room of a console on ``pair``: a lab's pair follows the lab (respawn) and shows its traffic."""
    from .control.console import ConsoleController, Follower, TrafficSource
    from .model.traffic import TrafficStats

    if getattr(args, "deadline", None):
        config = replace(config, deadline=args.deadline)
    follow: Follower | None = None
    traffic: TrafficSource | None = None
    if pair.lab is not None:  # a lab's roles change at respawn: the console follows them
        from .lab import follow
        from .lab.traffic import has_traffic, watch_stats

        lab = pair.lab
        if has_traffic(lab):  # the net guest: the console shows what its traffic helper sees
            def traffic() -> AsyncIterator[TrafficStats]:
                return watch_stats(lab)
    return ConsoleController(pair, config=config, transcript=transcript,
                             read_only=getattr(args, "read_only", False), follow=follow, traffic=traffic)


def _console(args: argparse.Namespace, config: Config, pair: Pair, transcript: Transcript | None) -> ColotuiApp:
    """The console on ``pair`` with the operator's config and keymap (a refused keymap: the default, and why)."""
    from .ui.app import ColotuiApp
    from .ui.keymap import keymap_or_default

    keymap = keymap_or_default(args.keymap or config.keymap)
    return ColotuiApp(_controller(args, config, pair, transcript), keymap=keymap)


def _transcript(args: argparse.Namespace, config: Config) -> Transcript:
    return new_transcript(Path(args.transcript) if args.transcript else None, config.transcripts)


def cmd_connect(args: argparse.Namespace) -> int:
    config = _config(args)
    _console(args, config, _pair(args, config), _transcript(args, config)).run()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .control.replay import ReplayController
    from .service.player import Player, open_recording, parse_when
    from .ui.app import ColotuiApp
    from .ui.keymap import keymap_or_default

    config = _config(args)
    path = Path(args.transcript)
    player = Player(open_recording(path))
    start = player.recording.start
    if args.at:
        try:
            start = parse_when(args.at, player.recording.start, player.recording.end, start)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    player.set_speed(args.speed)
    controller = ReplayController(player, path.name, config=config, at=start, play=args.play)
    ColotuiApp(controller, keymap=keymap_or_default(args.keymap or config.keymap)).run()
    return 0


def check_connect(args: argparse.Namespace) -> None:
    """What `colotui connect` refuses before its console starts (a wrong lab, profile, address or setting)."""
    _pair(args, _config(args))


def cmd_serve(args: argparse.Namespace) -> int:
    """The console in a browser: the pass-through arguments are checked as their own command would check
    them before anything listens, so a browser never shows a refusal."""
    from .console_server import serve  # textual-serve and aiohttp load for this command only

    console = console_argv(args.rest)
    checked = build_parser().parse_args(console[3:])  # a bad option: argparse's usage and exit status 2
    if check := getattr(checked, "check", None):
        check(checked)
    allowed = [parse_origin(origin) for origin in args.allow_origin]
    if warning := binding_warning(args.host):
        print(f"colotui serve: {warning}", file=sys.stderr, flush=True)
    check_port(args.host, args.port)
    serve(console, host=args.host, port=args.port, allowed=allowed)
    return 0


def _fleet_pairs(args: argparse.Namespace, config: Config) -> list[tuple[str, Pair]]:
    """The pairs of ``--lab`` and ``--profile`` (each repeatable), else every profile of the config; by name
    (a lab's directory name, a profile's name)."""
    from .resolve import resolve_pair

    labs, profiles = args.lab or [], args.profile or []
    if not labs and not profiles:
        profiles = list(config.profiles)
    if not labs and not profiles:
        where = config.path or default_config_path()
        raise UserError(f"no pairs: give --lab DIR or --profile NAME (each repeatable), or add profiles to {where}")
    pairs = [(Path(lab).name or str(lab), resolve_pair(config, lab=lab)) for lab in labs]
    pairs += [(profile, resolve_pair(config, profile=profile)) for profile in profiles]
    names = [name for name, _ in pairs]
    pairs = [(name if names.count(name) == 1 else f"{name}#{i + 1}", pair) for i, (name, pair) in enumerate(pairs)]
    seen: dict[str, str] = {}
    for name, pair in pairs:  # a QMP socket serves one client: one VM in two rows would starve one of them
        for endpoint in pair.by_role().values():
            other = seen.setdefault(str(endpoint.qmp), name)
            if other != name:
                raise UserError(f"{other} and {name} share the VM at {endpoint.qmp}: give each pair once")
    return pairs


def check_fleet(args: argparse.Namespace) -> None:
    """What `colotui fleet` refuses before its table starts (no pairs, a wrong lab or profile, a VM twice)."""
    _fleet_pairs(args, _config(args))


def cmd_fleet(args: argparse.Namespace) -> int:
    """Many pairs in one table; each row opens that pair's console on the fleet's own sessions to it."""
    from .ui.app import FleetApp
    from .ui.keymap import keymap_or_default

    config = _config(args)
    pairs = [(name, _controller(args, config, pair, new_transcript(None, config.transcripts,
                                                                   label=f"fleet-{name.replace('/', '_')}")))
             for name, pair in _fleet_pairs(args, config)]
    FleetApp(pairs, config=config, keymap=keymap_or_default(args.keymap or config.keymap)).run()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """A lab, brought into COLO by the startup procedure, with the console attached; the lab stops on exit."""
    import asyncio

    from .control.terminal import Options, run_scenario
    from .lab import Lab, pair_from_lab
    from .scenario import find_scenario

    config = _config(args)
    lab = Lab(_lab_dir(args))
    print(f"starting a COLO lab in {lab.dir} …", flush=True)
    lab.up(accel=args.accel, guest=args.guest, traffic=args.traffic)
    try:
        pair = pair_from_lab(lab.dir)
        transcript = _transcript(args, config)
        if args.accel != "tcg":
            print("bringing it into COLO (the startup procedure):", flush=True)
            result = asyncio.run(run_scenario(find_scenario("startup"), pair, Options(yes=True),
                                              transcript=transcript))
            if result is None or not result.passed:
                raise UserError(f"the startup procedure did not pass; see {transcript.path}")
        _console(args, config, pair, transcript).run()
    finally:
        lab.down()
        print(f"lab stopped; its logs stay in {lab.dir}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from .control.terminal import Options, run_scenario
    from .scenario import catalogue, find_scenario

    extra = [Path(d) for d in args.scenarios]
    if args.list:
        entries = catalogue(extra).values()
        width = max((len(e.name) for e in entries), default=0) + 2
        for entry in entries:
            status = f"ERROR {entry.error}" if entry.error else entry.title
            print(f"{entry.name:<{width}}{entry.origin:<10}{status}")
        return 0
    if args.name is None:
        raise UserError("name a scenario (colotui run --list shows them)")
    scenario = find_scenario(args.name, extra)
    if args.show:
        _show_scenario(scenario)
        return 0
    if args.start is not None:
        try:
            scenario.index_of(args.start)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    config = _config(args)
    pair = _pair(args, config)
    deadline = args.deadline or config.deadline
    options = Options(yes=args.yes, dry_run=args.dry_run, start=args.start, resume=args.resume, json_lines=args.json,
                      deadline=deadline)
    transcript = None if args.dry_run else _transcript(args, config)
    result = asyncio.run(run_scenario(scenario, pair, options, transcript=transcript))
    if transcript is not None:
        transcript.close()
        if not args.json:
            print(f"transcript: {transcript.path}", file=sys.stderr)
        if args.runbook:
            from .qmp.transcript import read_series
            from .runbook import runbook

            Path(args.runbook).write_text(runbook(read_series(transcript.path), source=str(transcript.path)))
            print(f"runbook: {args.runbook}", file=sys.stderr)
    if result is None:
        return 0
    return {"passed": 0, "skipped": 3}.get(result.status, 1)


def cmd_topology(args: argparse.Namespace) -> int:
    """The pair's topology as discovered on its VMs, as a topology file."""
    import asyncio

    from .audit import discovered_topology, topology_toml

    settled, silent = asyncio.run(discovered_topology(_pair(args, _config(args))))
    for role in silent:
        print(f"colotui: the {role} did not answer: what only it shows is not discovered", file=sys.stderr)
    print(topology_toml(settled), end="")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """A cross-VM audit of the pair's wiring; exit status 1 on an error."""
    import asyncio

    from .audit import doctor, doctor_report

    findings = asyncio.run(doctor(_pair(args, _config(args))))
    if args.json:
        for finding in findings:
            print(json.dumps(finding.__dict__))
        return 1 if any(f.level == "error" for f in findings) else 0
    text, status = doctor_report(findings)
    print(text, end="")
    return status


def cmd_keys(args: argparse.Namespace) -> int:
    """The bindings in force with a keymap (the config's by default); a keymap with an error is refused."""
    from .ui.help import keys_rows
    from .ui.keymap import find_keymap, load_keymap

    name = args.keymap or _config(args).keymap
    rows = keys_rows(load_keymap(name))
    print(f"keymap {name} ({find_keymap(name)})")
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for where, keys, does, action_id in rows:
        print(f"{where:<{widths[0]}}  {keys:<{widths[1]}}  {does:<{widths[2]}}  {action_id}")
    return 0


def _show_scenario(scenario: Scenario) -> None:
    from .qmp.redact import redact_message, redact_text

    print(f"{scenario.name}: {scenario.title}  ({scenario.path})\n{scenario.description}\n")
    for step in scenario.steps:
        if step.command.yank:
            command = (f'{{"exec-oob": "yank", "arguments": {{"instances": <its connections to the '
                       f'{step.command.yank}, from query-yank when the step runs>}}}}')
        else:
            arguments = {"arguments": step.command.arguments} if step.command.arguments else {}
            command = (step.command.hmp and f"HMP {redact_text(step.command.hmp)}") or json.dumps(
                redact_message({"execute": step.command.qmp, **arguments}))
        variant = f"  (variant {step.variant} only)" if step.variant else ""
        print(f"{step.number:>2}. {step.id} → {step.target}{variant}{'' if step.confirm else '  (no confirmation)'}")
        print(f"    {step.why}\n    sends: {command}")
        for check in step.require:
            print(f"    requires: {check.describe()}")
        for wait in step.waits:
            print(f"    waits for: {wait.describe()} (up to {wait.timeout:g} s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colotui", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"colotui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", help=f"the lab's directory (default: {default_lab_dir()})")

    def add_console_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--keymap", metavar="NAME|PATH", help="key bindings: default, vim, or a file "
                                                             "(default: the config's keymap)")
        p.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
        p.add_argument("--read-only", action="store_true",
                       help="the QMP console refuses every command that may change a VM")

    def add_yank_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--primary-yank", metavar="ADDR",
                       help="the primary's second QMP address (another -qmp), held for out-of-band commands: "
                            "how a hung peer is cut off (a lab has one)")
        p.add_argument("--secondary-yank", metavar="ADDR", help="the secondary's second QMP address, likewise")

    def add_topology_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--topology", metavar="FILE",
                       help="values that override what is discovered on the VMs (TOML; `colotui topology` "
                            "prints the discovered one)")
        p.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="one such value, e.g. addr.secondary=10.0.0.2 or ports.nbd=9999 (repeatable)")
        p.add_argument("--variant", choices=list(VARIANTS),
                       help="how procedures attach the secondary's disk: doc (HMP drive_add of a replication "
                            "node, as QEMU's COLO-FT document) or upstream (blockdev-add of an nbd node); "
                            "default: what the pair shows, else the topology's, else doc")

    def add_session_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--transcript", metavar="FILE",
                       help="write every QMP message here, NAME.jsonl (rotated into NAME.1.jsonl.gz, … as the "
                            f"config's [transcripts] says; default: a new file under {state_dir() / 'transcripts'})")
        p.add_argument("--deadline", type=seconds, metavar="SECONDS",
                       help="how long any QMP command may take before it is reported as late "
                            "(default: the config's, 10)")

    def add_guest_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--guest", choices=("counter", "net", "none"), default="counter",
                       help="counter (default): counts on disk and serial; net: also sends a UDP tick to the host "
                            "every 100 ms and answers UDP requests, so colo-compare has packets; none: blank disks")
        p.add_argument("--traffic", choices=("same", "differ"),
                       help="the net guest's packets: same (default; the secondary's match the primary's) or "
                            "differ (they carry the TSC: every one miscompares and forces a checkpoint)")

    lab = sub.add_parser("lab", help="start and break a real local COLO pair",
                         description="A real COLO pair of QEMUs on loopback: primary 127.0.0.1, secondary 127.0.0.2.")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser("up", help="create images and start a primary and a secondary",
                            description="Start a primary and a secondary QEMU with the COLO-FT command lines. "
                                        "They wait for the startup procedure.")
    add_dir(up)
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
    connect.add_argument("--profile", metavar="NAME", help="a connection profile from the config file")
    add_topology_options(connect)
    add_yank_options(connect)
    add_session_options(connect)
    add_console_options(connect)
    # check: what `colotui serve` runs before serving this command (a subcommand it serves may set one)
    connect.set_defaults(func=cmd_connect, check=check_connect)

    serve = sub.add_parser("serve", help="serve the console in a browser (textual-serve)",
                           usage="colotui serve [CONNECT ARGS | fleet FLEET ARGS] [--host HOST] [--port N] "
                                 "[--allow-origin ORIGIN]...",
                           description="Serve the console on a web page: each browser session gets its own "
                                       "console, `colotui connect` with the arguments given (`--lab DIR`, two "
                                       "addresses, `--profile NAME`, …), or `colotui fleet …` after `fleet`. "
                                       "Whoever opens the page controls both VMs over QMP: the address it "
                                       "prints holds a token made for this run, and only that page, at that "
                                       "address, reaches a console. It listens on loopback unless --host says "
                                       "otherwise.")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help=f"the address to listen on (default {DEFAULT_HOST}; anything not loopback is warned "
                            "about: plain HTTP carries the token in clear)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the TCP port (default {DEFAULT_PORT})")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="another address the page is opened at, scheme://host[:port] (a tunnel's other "
                            "port, a proxy): its requests and websockets are let in (repeatable)")
    serve.set_defaults(func=cmd_serve, rest=[])

    run = sub.add_parser("run", help="run a COLO procedure (scenario) step by step, without the TUI",
                         description="Run a procedure from scenarios/ (or your own) against a pair of VMs. Each "
                                     "step shows the QMP it sends and is confirmed unless --yes; a failure "
                                     "stops the run. Exit status: 0 all steps passed, 3 some were skipped, "
                                     "1 failed, aborted or refused.")
    run.add_argument("name", nargs="?", metavar="NAME", help="scenario name (see --list) or path to a .toml file")
    run.add_argument("--list", action="store_true", help="list the scenarios and where they come from")
    run.add_argument("--show", action="store_true", help="print the scenario's steps without connecting")
    run.add_argument("--lab", metavar="DIR", help="the VMs and topology of the lab in DIR")
    run.add_argument("--profile", metavar="NAME", help="a connection profile from the config file")
    run.add_argument("--primary", metavar="ADDR", help="the primary's QMP address (socket path or host:port)")
    run.add_argument("--secondary", metavar="ADDR", help="the secondary's QMP address")
    add_topology_options(run)
    add_yank_options(run)
    run.add_argument("--yes", action="store_true", help="run every step without asking (a failure still stops)")
    run.add_argument("--dry-run", action="store_true", help="print each step's exact QMP message; send nothing")
    run.add_argument("--from", dest="start", metavar="STEP", help="start at this step (id or number)")
    run.add_argument("--resume", action="store_true",
                     help="start at the step where this procedure last stopped on this pair")
    run.add_argument("--json", action="store_true", help="print one JSON object per step event")
    run.add_argument("--runbook", metavar="FILE.md", help="also write what was run, and its results, as Markdown")
    run.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
    run.add_argument("--scenarios", action="append", default=[], metavar="DIR",
                     help="also look for scenarios in DIR (after the built-in and user ones)")
    add_session_options(run)
    run.set_defaults(func=cmd_run)

    def add_pair_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("primary", nargs="?", metavar="PRIMARY", help="the primary's QMP address")
        p.add_argument("secondary", nargs="?", metavar="SECONDARY", help="the secondary's QMP address")
        p.add_argument("--lab", metavar="DIR", help="the lab in DIR instead")
        p.add_argument("--profile", metavar="NAME", help="a connection profile from the config file")
        p.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
        add_yank_options(p)

    topology = sub.add_parser("topology", help="print a pair's topology as discovered on its VMs (TOML)",
                              description="Read both VMs and print every id, port and address colotui found, "
                                          "with where each came from and the COLO-FT document's name, as a file "
                                          "--topology reads back. Roles come from the VMs, not the order given.")
    add_pair_arguments(topology)
    add_topology_options(topology)
    topology.set_defaults(func=cmd_topology)

    doctor = sub.add_parser("doctor", help="audit a pair's COLO wiring across both VMs",
                            description="Check the pair's wiring across both VMs: versions, capabilities, filter "
                                        "chains, the chardev links between them, colo-compare, quorum and "
                                        "replication, the NBD export, the incoming migration, listeners. One "
                                        "line per check (ok / warning / error); exit status 1 on an error.")
    add_pair_arguments(doctor)
    doctor.add_argument("--json", action="store_true", help="one JSON object per finding")
    doctor.set_defaults(func=cmd_doctor)

    keys = sub.add_parser("keys", help="list the console's key bindings (and check a keymap)",
                          description="Print every binding of the console with the keymap in force: its keys, what "
                                      "it does and its id (the ids a keymap file maps to keys). A keymap with an "
                                      "error is refused with its file, line and reason.")
    keys.add_argument("--keymap", metavar="NAME|PATH", help="default, vim, or a file (default: the config's keymap)")
    keys.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
    keys.set_defaults(func=cmd_keys)

    from .service.player import SPEEDS as REPLAY_SPEEDS

    replay = sub.add_parser("replay", help="open the console over a recorded transcript (read-only)",
                            description="Replay a transcript: the console's panes, trees, alerts and event log as "
                                        "they were, driven by the recorded replies and events. Nothing is sent.")
    replay.add_argument("transcript", metavar="TRANSCRIPT", help="a transcript file (JSON lines)")
    replay.add_argument("--at", metavar="WHEN", help="start at this moment (03:12:05, 90, end …)")
    replay.add_argument("--speed", type=float, choices=REPLAY_SPEEDS, default=1.0, help="times real time")
    replay.add_argument("--play", action="store_true", help="start playing (default: paused at the start)")
    replay.add_argument("--keymap", metavar="NAME|PATH", help="key bindings (default: the config's keymap)")
    replay.add_argument("--config", metavar="FILE", help="settings file (default: ~/.config/colotui/config.toml)")
    replay.set_defaults(func=cmd_replay)

    from .repl.shell import add_shell_parser

    add_shell_parser(sub, add_session_options)

    fleet = sub.add_parser("fleet", help="a table of many COLO pairs, worst alert first; enter opens a pair's console",
                           description="One row per pair: its addresses, roles, COLO state, checkpoint rate and "
                                       "pauses, each side's link, and its alert, worst first. enter opens the "
                                       "pair's console, escape comes back; every pair stays watched meanwhile. "
                                       "Without --lab or --profile: every profile of the config.")
    fleet.add_argument("--lab", action="append", metavar="DIR", help="a lab's pair (repeatable)")
    fleet.add_argument("--profile", action="append", metavar="NAME",
                       help="a connection profile from the config file (repeatable)")
    fleet.add_argument("--deadline", type=seconds, metavar="SECONDS",
                       help="how long any QMP command may take before it is reported as late "
                            "(default: the config's, 10)")
    add_console_options(fleet)
    fleet.set_defaults(func=cmd_fleet, check=check_fleet)

    demo = sub.add_parser("demo", help="start a local COLO lab, open the console, stop the lab on exit")
    add_dir(demo)
    demo.add_argument("--accel", choices=("kvm", "tcg"))
    add_guest_options(demo)
    add_session_options(demo)
    add_console_options(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # every file colotui (and a QEMU its lab starts) creates is its user's alone
    keep_state_private()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:  # serve's own options, wherever they are; the rest is the console's command
        own, rest = split_args(argv[1:])
        args = parser.parse_args(["serve", *own])
        args.rest = rest
    else:
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
    except BrokenPipeError:  # e.g. piped into head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: keep the screen clean, keep the details (without secrets)
        try:
            where = f"details in {crashlog.record(traceback.format_exc(), sys.argv)}"
        except OSError as trouble:
            where = f"and {crashlog.default_path()} could not be written: {trouble.strerror}"
        print(f"colotui: internal error: {redact_text(repr(exc))} ({where})", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
