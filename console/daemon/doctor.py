"""``btk-console doctor``: check a project before trusting it with money; exit 1 on any problem.

One line per check, ``ok``, ``warn`` (worth knowing, not blocking) or ``FAIL`` (exit 1): the
config loads and its strategy files import; each exchange answers (a ccxt exchange is asked for one
recent candle, and says whether it is the sandbox) or is offline by nature (synthetic, files);
each ccxt exchange's keys are in the environment (named, never printed); the state folder can be
written, holds nothing quarantined, and who holds its lock; whether a daemon answers.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import engine

from ..project import ProjectError, load_project
from .paths import DaemonPaths

CANDLE_TIMEOUT_S = 30.0  # a slow exchange is not a broken one; a hung one is


class Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed = 0

    def line(self, level: str, what: str, detail: str) -> None:
        if level == "FAIL":
            self.failed += 1
        self.out.write(f"{level:<4}  {what}: {detail}\n")
        self.out.flush()


async def _exchange(report: Report, schema: Any, symbol: str) -> None:
    name = schema.exchange_name
    feed = getattr(schema.get_candles, "__self__", None)
    if isinstance(feed, engine.SyntheticFeed):
        report.line("ok", f"exchange {name}", "synthetic market (offline, no keys needed)")
        return
    if not isinstance(feed, engine.CcxtFeed):
        report.line("ok", f"exchange {name}", "local candles (no network, no keys needed)")
        return
    mode = "sandbox (testnet)" if feed.sandbox else "REAL exchange (sandbox = false)"
    since = datetime.fromtimestamp(engine.get_clock().now() / 1000, tz=UTC) - timedelta(minutes=5)
    try:
        rows = await asyncio.wait_for(schema.get_candles(symbol, "1m", since, 1), CANDLE_TIMEOUT_S)
    except Exception as exc:  # any failure is the finding; the first line says which
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.line("FAIL", f"exchange {name}", f"{mode}, not reachable for {symbol}: {first[:200]}")
    else:
        report.line("ok", f"exchange {name}", f"{mode}, reachable ({len(rows)} candle of {symbol} in the last minutes)")
    variables = engine.credential_env_vars(feed.exchange_id)
    missing = [variables[k] for k in ("apiKey", "secret") if not os.environ.get(variables[k])]
    present = [v for v in variables.values() if os.environ.get(v)]
    if missing:
        level = "warn" if feed.sandbox else "FAIL"
        report.line(level, f"keys {name}", f"not set: {', '.join(missing)} (set: {', '.join(present) or 'none'})")
    else:
        report.line("ok", f"keys {name}", f"set: {', '.join(present)} (values not shown)")


def _state(report: Report, dump_dir: Path) -> None:
    paths = DaemonPaths(dump_dir.absolute())
    state = paths.state
    try:
        state.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state, prefix=".doctor-", delete=True) as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        report.line("FAIL", "state folder", f"{state} cannot be written: {exc}")
        return
    quarantine = state / "quarantine"
    held = sorted(p for p in quarantine.rglob("*") if p.is_file() and not p.name.endswith(".why.json"))
    if held:
        shown = ", ".join(str(p.relative_to(state)) for p in held[:5]) + (" ..." if len(held) > 5 else "")
        report.line(
            "FAIL",
            "state folder",
            f"{len(held)} quarantined document(s) wait for you: {shown} (read the .why.json next to each)",
        )
    else:
        report.line("ok", "state folder", f"{state} writable, nothing quarantined")
    try:
        engine.hold_state_folder(state)
    except engine.StateFolderLocked as exc:
        report.line("ok", "state lock", f"held by pid {exc.holder.pid} ({exc.holder.command}) since {exc.holder.since}")
    else:
        report.line("ok", "state lock", "free (no daemon or live process trades this folder)")


async def run_doctor(config: str | None, dump_dir: str | None, out: TextIO) -> int:
    report = Report(out)
    try:
        project = load_project(config)
    except ProjectError as exc:
        report.line("FAIL", "config", str(exc))
        return 1
    source = str(project.source) if project.source else "the embedded demo"
    report.line(
        "ok",
        "config",
        f"{source}: project {project.name}, {len(project.strategies)} strategies "
        f"({len(project.modules)} strategy file(s) imported), {len(project.exchanges)} exchange(s)",
    )
    for note in project.notes:
        report.line("warn", "config", note)
    symbol = project.symbols[0] if project.symbols else "BTCUSDT"
    try:
        for schema in engine.list_exchanges():
            if schema.exchange_name in project.exchanges:
                await _exchange(report, schema, symbol)
    finally:
        await engine.close_ccxt_exchanges()
    folder = Path(dump_dir) if dump_dir else project.dump_dir
    _state(report, folder)
    paths = DaemonPaths(folder.absolute())
    info = paths.read_info()
    if paths.socket.exists() and info is not None:
        from ..client import DaemonClient, DaemonError, Endpoint

        try:
            async with DaemonClient(Endpoint.for_dump(folder), timeout=10) as c:
                status = await c.status()
            report.line("ok", "daemon", f"pid {status['daemon']['pid']} answers, {len(status['runs'])} run(s)")
        except DaemonError as exc:
            report.line("warn", "daemon", f"a socket is there but nobody answers ({exc}); a new daemon replaces it")
    else:
        report.line("ok", "daemon", "not running (btk-console daemon starts it)")
    out.write(f"{report.failed} problem(s)\n" if report.failed else "no problems\n")
    return 1 if report.failed else 0
