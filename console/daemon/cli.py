"""``btk-console daemon | status | stop``: start the daemon, ask it how it is, stop a run.

``status`` and ``stop`` talk to the daemon of the project's dump folder over its socket (or, with
``--tcp PORT``, over TCP with the token of ``$BTK_DAEMON_TOKEN``). Exit codes: 0 done, 1 the daemon
refused or is not running, 2 bad arguments. Nothing printed ever holds a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..project import ProjectError, load_project
from .paths import TOKEN_ENV, DaemonPaths, project_dump_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as the other commands
        raise _Usage(message)


class _Usage(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="btk-console")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="the project's btk.toml (default ./btk.toml, else the demo)")
        p.add_argument("--dump-dir", help="the project's dump folder (default: the project's)")

    d = sub.add_parser("daemon", help="own the engine for the project; serve the control API until SIGTERM")
    common(d)
    d.add_argument("--tcp", type=int, metavar="PORT", help="also serve on 127.0.0.1:PORT (needs $BTK_DAEMON_TOKEN)")
    d.add_argument("--token-env", default=TOKEN_ENV, help=f"the bearer token's variable (default {TOKEN_ENV})")
    d.add_argument("--live", action="append", metavar="STRATEGY", help="start trading STRATEGY at once (repeatable)")
    d.add_argument("--symbol", help="the symbol of --live (default: the project's first)")
    d.add_argument("--exchange", help="the exchange of --live (default: the project's)")

    a = sub.add_parser("attach", help="the dashboard of the project's daemon (ctrl+d or x detaches)")
    common(a)
    a.add_argument("--tcp", type=int, metavar="PORT", help="reach the daemon on 127.0.0.1:PORT")
    a.add_argument("--token-env", default=TOKEN_ENV)
    a.add_argument("--read-only", action="store_true", help="watch only: starting and stopping runs is refused")
    a.add_argument("--theme", help="colour theme")

    doc = sub.add_parser("doctor", help="check config, strategy files, exchanges, keys and the state folder")
    common(doc)

    for name, text in (("status", "the daemon's runs and open positions"), ("stop", "stop a run of the daemon")):
        p = sub.add_parser(name, help=text)
        common(p)
        p.add_argument("--tcp", type=int, metavar="PORT", help="reach the daemon on 127.0.0.1:PORT")
        p.add_argument("--token-env", default=TOKEN_ENV)
        if name == "status":
            p.add_argument("--json", action="store_true", help="the status as JSON (for scripts)")
        else:
            p.add_argument("run", help="the run's id, e.g. live:BTCUSDT:demo-trend (see status)")
    return parser


def _dump_dir(args: argparse.Namespace) -> Path:
    if args.dump_dir:
        return Path(args.dump_dir)
    try:
        return project_dump_dir(args.config)
    except (OSError, ValueError) as exc:
        raise _Usage(f"cannot read the project's dump folder: {exc}") from None


def _endpoint(args: argparse.Namespace, dump_dir: Path) -> Any:
    from ..client import Endpoint

    return Endpoint.tcp(args.tcp, args.token_env) if args.tcp is not None else Endpoint.for_dump(dump_dir)


def _print_status(data: dict[str, Any], out: TextIO) -> None:
    d = data["daemon"]
    out.write(f"daemon pid {d['pid']} for {d['project']} since {d['since']} ({d['dump_dir']})\n")
    runs = data["runs"]
    out.write(f"runs: {len(runs)}\n" if runs else "runs: none\n")
    for r in runs:
        progress = f" {r['progress'] * 100:.0f}%" if r["mode"] != "live" and r["status"] == "running" else ""
        error = f" ({r['error']})" if r.get("error") else ""
        written = f" -> {r['output']}" if r.get("output") else ""  # an optimizer's program
        out.write(f"  {r['id']}  {r['status']}{progress}{error}{written}\n")
    positions = data["positions"]
    out.write(f"open positions: {len(positions)}\n" if positions else "open positions: none\n")
    for p in positions:
        out.write(
            f"  {p['symbol']} {p['strategy']} {p['side'].upper()} {p['state']} at {p['price_open']:,.2f} "
            f"(TP {p['price_take_profit']:,.2f}, SL {p['price_stop_loss']:,.2f}) now {p['current_price']:,.2f} "
            f"id {p['id']}\n"
        )
    for a in data.get("accounts", []):
        if "error" in a:
            out.write(f"account {a['broker']}: not available ({a['error']})\n")
            continue
        breaker = f", BREAKER {a['breaker']} (close-only)" if a.get("breaker") else ""
        out.write(
            f"account {a['broker']}: balance {a['balance']:,.2f} {a['currency']}, equity {a['equity']:,.2f}, "
            f"today {a['day_pnl']:+,.2f}, fees {a['fees_paid']:,.2f}, open orders {a['open_orders']}{breaker}\n"
        )


async def _call(args: argparse.Namespace, dump_dir: Path, out: TextIO) -> int:
    from ..client import DaemonClient

    async with DaemonClient(_endpoint(args, dump_dir)) as client:
        if args.command == "status":
            data = await client.status()
            if args.json:
                out.write(json.dumps(data, indent=2) + "\n")
            else:
                _print_status(data, out)
        else:
            record = await client.stop(args.run)
            out.write(f"{record['id']}: {record['status']}\n")
    return EXIT_OK


def attach(endpoint: Any, *, read_only: bool = False, theme: str | None = None) -> int:
    """Run the attached dashboard until it detaches; ``DaemonError`` when no daemon answers."""
    from ..attach import AttachedApp, fetch

    info, daemon = asyncio.run(fetch(endpoint))
    app = AttachedApp(endpoint, info, daemon, read_only=read_only, theme=theme)
    return int(app.run() or 0)


def daemon_endpoint(config: str | None, dump_dir: str | None) -> Any:
    """The endpoint of a daemon that answers for the project, or None (no daemon, a socket left by
    a killed one, or a project whose dump folder cannot be read: the dashboard then runs its own)."""
    from ..client import DaemonClient, DaemonError, Endpoint

    try:
        folder = Path(dump_dir) if dump_dir else project_dump_dir(config)
    except (OSError, ValueError):
        return None  # the in-process path reports a broken project as it always has
    if not DaemonPaths(folder.absolute()).socket.exists():
        return None
    endpoint = Endpoint.for_dump(folder)

    async def answers() -> bool:
        try:
            async with DaemonClient(endpoint, timeout=10) as c:
                await c.status()
        except DaemonError:
            return False
        return True

    return endpoint if asyncio.run(answers()) else None


def try_attach(config: str | None, dump_dir: str | None, theme: str | None) -> int | None:
    """``btk-console`` with no subcommand: the daemon's dashboard when one answers, else None."""
    from ..client import DaemonError

    endpoint = daemon_endpoint(config, dump_dir)
    if endpoint is None:
        return None
    try:
        return attach(endpoint, theme=theme)
    except DaemonError:
        return None


def main(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    from ..client import DaemonError

    try:
        args = build_parser().parse_args(list(argv))
        if args.command == "daemon":
            from .process import run_daemon

            project = load_project(args.config)
            dump_dir = Path(args.dump_dir) if args.dump_dir else project.dump_dir
            symbol = args.symbol or (project.symbols[0] if project.symbols else "")
            live = [(symbol, name) for name in dict.fromkeys(args.live or [])]
            return asyncio.run(
                run_daemon(
                    project,
                    dump_dir,
                    out,
                    err,
                    tcp_port=args.tcp,
                    token_env=args.token_env,
                    live=live,
                    exchange=args.exchange,
                )
            )
        if args.command == "doctor":
            from .doctor import run_doctor

            return asyncio.run(run_doctor(args.config, args.dump_dir, out))
        dump_dir = _dump_dir(args)
        if args.command == "attach":
            return attach(_endpoint(args, dump_dir), read_only=args.read_only, theme=args.theme)
        if args.tcp is None and not DaemonPaths(dump_dir.absolute()).socket.exists():
            err.write(f"btk-console: no daemon runs for {dump_dir} (start one with: btk-console daemon)\n")
            if args.command == "status" and args.json:
                out.write(json.dumps({"daemon": None}) + "\n")
            return EXIT_FAILED
        return asyncio.run(_call(args, dump_dir, out))
    except (_Usage, ProjectError) as exc:
        err.write(f"btk-console: error: {exc}\n")
        return EXIT_USAGE
    except DaemonError as exc:
        err.write(f"btk-console: error: {exc}\n")
        return EXIT_FAILED
