"""``btk-console``: argument parsing and the headless subcommands.

``btk-console backtest`` runs a btk.toml project (``--config``, else ./btk.toml) or the embedded
demo without a UI: a progress bar on stderr, a statistics table on stdout, reports under dump/. Progress comes
from polling ``Backtest.list()``, not from per-frame events, so the engine keeps its fast path.

``btk-console walker`` runs a walker the same way: the leaderboard on stdout, the walker report
(and each tested strategy's backtest report) under dump/.

``btk-console live`` trades until SIGTERM/SIGINT (see headless_live).

Tables and bars are rich's. On a terminal the bars redraw in place and the tables get a Unicode
rule; anywhere else (a pipe, a file, CI's log) there are no bars, only one line per finished run,
and the tables are plain text with an ASCII rule and no ANSI codes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from . import __version__
from .project import Project, ProjectError, load_project

if TYPE_CHECKING:
    import engine

SUBCOMMANDS = {
    "backtest": "run backtests headless and write their reports",
    "walker": "compare a walker's strategies headless: print the leaderboard, write the walker report",
    "live": "trade live headless until SIGTERM/SIGINT; state under dump/data, log in dump/logs",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,30}$")


class UsageError(Exception):
    """A bad command line: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump
        raise UsageError(message)


def status_word(t: engine.TaskStatus) -> str:
    """The word a trader reads for a run's status: the engine's are promise states (a stopped
    backtest is "fulfilled" too, with frames left)."""
    if t.status == "rejected":
        return "failed"
    if t.status == "fulfilled":
        return "done" if t.processed_frames >= t.total_frames else "stopped"
    return {"pending": "running", "ready": "waiting"}.get(t.status, str(t.status))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="btk-console",
        description="btk trading console. Without a subcommand it opens the interactive dashboard on "
        "./btk.toml (or --config), else on the embedded demo project.",
    )
    p.add_argument("--version", action="version", version=f"btk-console {__version__}")
    p.add_argument("--config", default=None, help="a btk.toml project (default: ./btk.toml if present, else the demo)")
    p.add_argument("--theme", default=None, help="btk-dark (default), btk-light or btk-high-contrast")
    p.add_argument("--dump-dir", default=None, help="where reports go (default: the project's dump_dir, ./dump)")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run backtests and walkers on the console's own event loop instead of a worker process each",
    )
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    bt = sub.add_parser("backtest", help=SUBCOMMANDS["backtest"], description=SUBCOMMANDS["backtest"])
    bt.add_argument("--symbol", action="append", help="symbol to test (repeatable; default: the project's first)")
    bt.add_argument("--strategy", action="append", help="strategy to run (repeatable; default: all)")
    bt.add_argument("--days", type=str, default=None, help="length of the demo frame in days (default 30)")
    bt.add_argument("--frame", default=None, help="frame to test over (default: the project's first)")
    bt.add_argument("--exchange", default=None, help="exchange to test on (default: the project's first)")
    # also accepted before the subcommand; SUPPRESS keeps a top-level value from being reset here
    bt.add_argument("--dump-dir", default=argparse.SUPPRESS, help="where reports go (default: the project's dump_dir)")
    bt.add_argument(
        "--config", default=argparse.SUPPRESS, help="a btk.toml project (default: ./btk.toml, else the demo)"
    )
    wk = sub.add_parser("walker", help=SUBCOMMANDS["walker"], description=SUBCOMMANDS["walker"])
    wk.add_argument("--walker", default=None, help="walker to run (default: the project's first)")
    wk.add_argument("--symbol", action="append", help="symbol to test (repeatable; default: the project's first)")
    wk.add_argument("--dump-dir", default=argparse.SUPPRESS, help="where reports go (default: the project's dump_dir)")
    wk.add_argument(
        "--config", default=argparse.SUPPRESS, help="a btk.toml project (default: ./btk.toml, else the demo)"
    )
    lv = sub.add_parser("live", help=SUBCOMMANDS["live"], description=SUBCOMMANDS["live"])
    lv.add_argument("--symbol", action="append", help="symbol to trade (repeatable; default: the project's first)")
    lv.add_argument("--strategy", action="append", help="strategy to trade (repeatable; default: all)")
    lv.add_argument("--exchange", default=None, help="exchange to trade on (default: the project's first)")
    lv.add_argument("--dump-dir", default=argparse.SUPPRESS, help="state, logs and reports (default: ./dump)")
    lv.add_argument(
        "--config", default=argparse.SUPPRESS, help="a btk.toml project (default: ./btk.toml, else the demo)"
    )
    return p


def _positive_days(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        days = int(text)
    except ValueError:
        raise UsageError(f"--days must be a whole number of days, got {text!r}") from None
    if not 1 <= days <= 3660:
        raise UsageError(f"--days must be between 1 and 3660, got {days}")
    return days


def _check_names(kind: str, wanted: Sequence[str], available: Sequence[str]) -> None:
    for name in wanted:
        if name not in available:
            raise UsageError(f"unknown {kind} {name!r} (available: {', '.join(available) or 'none'})")


# --------------------------------------------------------------------------- formatting


def _fmt(x: float | None, digits: int = 2, suffix: str = "", signed: bool = False) -> str:
    from engine import to_fixed

    if x is None:
        return "N/A"
    text = to_fixed(x, digits)
    if signed and x > 0:
        text = "+" + text
    return text + suffix


def console_for(stream: TextIO, *, unbounded: bool = False) -> Console:
    """A rich console on ``stream``: colours and live bars on a terminal; on anything else (a
    pipe, a file, a test's buffer) plain text with no ANSI codes, whatever the environment says.
    ``unbounded`` (tables, and anything not on a terminal) lifts the width limit, so no number is
    ever cut to fit a narrow terminal or an 80-column guess; the terminal wraps a long line."""
    tty = stream.isatty()
    return Console(
        file=stream,
        force_terminal=tty,
        force_jupyter=False,
        width=10_000 if unbounded or not tty else None,
        highlight=False,
        soft_wrap=False,
    )


def _table(header: Sequence[str], left: set[int], rows: list[tuple[str, ...]]) -> Table:
    """Header, one rule, rows; no outer frame, so the first line is the header and rows start on the
    third (as readable piped into ``cut``/``awk`` as on a terminal)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i in left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


_ASCII_HEAD = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)
"""``SIMPLE_HEAD`` with an ASCII rule under the header: what a pipe or a log file gets."""


def render(table: Table, stream: TextIO) -> None:
    """Print ``table``: a Unicode rule under the header on a terminal, ``-`` anywhere else."""
    table.box = box.SIMPLE_HEAD if stream.isatty() else _ASCII_HEAD
    console_for(stream, unbounded=True).print(table)


def summary_table(rows: list[tuple[str, str, object]]) -> Table:
    """The statistics of each (symbol, strategy) run."""
    header = ("Symbol", "Strategy", "Trades", "Win rate", "Avg PNL", "Total PNL", "Std dev", "Sharpe", "Exp. yearly")
    cells = [
        (
            symbol,
            strategy,
            f"{st.total_signals}" + (f"/{st.seen_signals}" if st.is_truncated else ""),
            _fmt(st.win_rate, 2, "%"),
            _fmt(st.avg_pnl, 2, "%", signed=True),
            _fmt(st.total_pnl, 2, "%", signed=True),
            _fmt(st.std_dev, 3, "%"),
            _fmt(st.sharpe_ratio, 3),
            _fmt(st.expected_yearly_returns, 2, "%", signed=True),
        )
        for symbol, strategy, st in rows
    ]
    return _table(header, {0, 1}, cells)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it (shorter, as typed)."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _progress(err: TextIO) -> Progress:
    """Bars on stderr, redrawn when the polling loop says (no refresh thread): name, bar, label."""
    return Progress(
        TextColumn("{task.fields[symbol]:<9} {task.fields[name]:<18}"),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[label]}"),
        console=console_for(err),
        auto_refresh=False,
    )


# --------------------------------------------------------------------------- backtest


@dataclass(frozen=True, slots=True)
class _HeadlessRun:
    """A finished headless run, as ``report_dump`` keys its reports (the console's ``d``)."""

    mode: str
    symbol: str
    name: str
    exchange: str
    frame: str


def _write_reports(runs: list[_HeadlessRun], tested: Callable[[Any], list[str]], dump_dir: Path, err: TextIO) -> bool:
    """The reports of ``runs`` under the same keyed paths as the console's ``d``
    (``<kind>/<exchange>/<frame>/<symbol>/``, console/report_dump.py): runs on different frames or
    exchanges no longer overwrite each other, and an empty report is not written. True when one
    could not be written (each is named on stderr)."""
    from .report_dump import dump_reports

    outcome = dump_reports(runs, tested, dump_dir)
    for path, why in outcome.failed:
        err.write(f"error: could not write the report {path}: {why}\n")
    return bool(outcome.failed)


def _keep_in_history(dump_dir: Path, symbol: str, name: str, exchange: str, frame: str, err: TextIO) -> None:
    """A finished headless backtest joins the run history the console's ``h`` compares
    (``console/history.py``); a write that fails is a warning, the run's result stands."""
    from datetime import datetime

    from .history import record_from, save_record

    try:
        save_record(dump_dir, record_from(name, symbol, exchange, frame, "done", datetime.now()))
    except Exception as exc:
        err.write(f"warning: {symbol} {name}: not kept in the run history: {type(exc).__name__}: {exc}\n")


async def run_backtests(
    project: Project,
    symbols: Sequence[str],
    strategies: Sequence[str],
    frame: str,
    dump_dir: Path,
    out: TextIO,
    err: TextIO,
    exchange: str | None = None,
) -> int:
    import engine
    from engine import context_of

    errors: dict[tuple[str, str], list[BaseException]] = {}
    fatal: list[BaseException] = []
    engine.listen_exit(fatal.append)

    def on_error(exc: BaseException) -> None:
        ctx = context_of(exc)
        key = (ctx.symbol, ctx.strategy_name) if ctx else ("?", "?")
        errors.setdefault(key, []).append(exc)

    engine.listen_error(on_error)
    pairs = [(s, n) for s in symbols for n in strategies]
    exchange = exchange or project.default_exchange
    for symbol, name in pairs:
        engine.Backtest.background(symbol, strategy_name=name, exchange_name=exchange, frame_name=frame)
    tasks = [engine.Backtest.board.tasks[p].task for p in pairs]
    tty = err.isatty()
    started = time.perf_counter()
    bars = _progress(err) if tty else None
    ids = {p: bars.add_task("", total=1.0, symbol=p[0], name=p[1], label="") for p in pairs} if bars else {}
    if bars:
        bars.start()
    try:
        while True:
            done, _ = await asyncio.wait(tasks, timeout=0.1 if tty else None)
            status = {(t.symbol, t.strategy_name): t for t in engine.Backtest.list()}
            if bars:
                for pair, task_id in ids.items():
                    t = status[pair]
                    label = status_word(t) if t.status != "pending" else f"{t.progress * 100:5.1f}%"
                    bars.update(task_id, completed=t.progress, label=label)
                bars.refresh()
            if len(done) == len(tasks):
                break
    finally:
        if bars:
            bars.stop()
    elapsed = time.perf_counter() - started
    if not tty:
        for symbol, name in pairs:
            t = status[(symbol, name)]
            err.write(f"{symbol} {name}: {status_word(t)} ({t.total_frames:,} frames)\n")

    rows = []
    dumped: list[_HeadlessRun] = []
    failed = False
    failures: dict[str, list[str]] = {}  # error -> the runs it failed: a bad data file is one line, not one per run
    for symbol, name in pairs:
        t = status[(symbol, name)]
        if t.status == "rejected":
            failed = True
            failures.setdefault(str(t.error), []).append(f"{symbol} {name}")
            continue
        rows.append((symbol, name, engine.Backtest.get_data(symbol, name)))
        if status_word(t) == "done":
            _keep_in_history(dump_dir, symbol, name, exchange, frame, err)
        dumped.append(_HeadlessRun("backtest", symbol, name, exchange, frame))
        n_err = len(errors.get((symbol, name), []))
        if n_err:
            first = engine.describe_error(errors[(symbol, name)][0])
            err.write(f"warning: {symbol} {name}: {n_err} error(s) during the run; first: {first}\n")
    for error, runs in failures.items():
        err.write(f"error: {', '.join(runs)} failed: {error}\n")
    failed = _write_reports(dumped, lambda _run: [], dump_dir, err) or failed
    if rows:
        render(summary_table(rows), out)
        where = _shown(dump_dir / "backtest")
        out.write(f"\nreports written under {where}/ ({elapsed:.2f}s)\n")
    return EXIT_FAILED if failed or fatal else EXIT_OK


# --------------------------------------------------------------------------- walker


def leaderboard_table(data: object) -> Table:
    """The walker's strategies ranked as its report ranks them, the best marked with ``*``."""
    from engine import rank_walker_results as ranked_results

    header = ("Rank", "Strategy", data.metric, "Signals", "Win rate", "Avg PNL", "Total PNL", "Sharpe")
    cells = []
    for rank, r in enumerate(ranked_results(data.strategy_results), start=1):
        st = r.stats
        best = "*" if r.strategy_name == data.best_strategy else " "
        cells.append(
            (
                f"{best}{rank}",
                r.strategy_name,
                _fmt(r.metric_value, 3),
                str(st.total_signals),
                _fmt(st.win_rate, 2, "%"),
                _fmt(st.avg_pnl, 2, "%", signed=True),
                _fmt(st.total_pnl, 2, "%", signed=True),
                _fmt(st.sharpe_ratio, 3),
            )
        )
    return _table(header, {1}, cells)


async def run_walkers(walker: str, symbols: Sequence[str], dump_dir: Path, out: TextIO, err: TextIO) -> int:
    import engine
    from engine import context_of

    skipped: list[str] = []

    def on_error(exc: BaseException) -> None:
        ctx = context_of(exc)
        if ctx is not None and ctx.stage == "walker":
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            skipped.append(f"{ctx.symbol} {ctx.strategy_name}: {first}")

    engine.listen_error(on_error)

    async def drain(handle) -> None:
        async for _ in handle:
            pass

    # One symbol after another: a walker's strategies share their risk profiles with nothing
    # else running, so every leaderboard is the one a run of that symbol alone would give.
    tty = err.isatty()
    started = time.perf_counter()
    outcome: dict[str, BaseException | None] = {}
    for symbol in symbols:
        handle = engine.Walker.run(symbol, walker_name=walker)
        task = asyncio.ensure_future(drain(handle))
        bars = _progress(err) if tty else None
        if bars:
            bar = bars.add_task("", total=1.0, symbol=symbol, name=walker, label="")
            bars.start()
        try:
            while True:
                done, _ = await asyncio.wait([task], timeout=0.1 if tty else None)
                if bars:
                    st = handle.status()
                    doing = f" {st.current}" if st.current and not done else ""
                    label = "done" if done else f"{st.progress * 100:5.1f}%{doing}"
                    bars.update(bar, completed=1.0 if done else st.progress, label=label)
                    bars.refresh()
                if done:
                    break
        finally:
            if bars:
                bars.stop()
        if not tty:
            err.write(f"{symbol} {walker}: {'failed' if task.exception() else 'done'}\n")
        outcome[symbol] = task.exception()
    elapsed = time.perf_counter() - started
    failed = False
    schema = next(w for w in engine.list_walkers() if w.walker_name == walker)
    dumped: list[_HeadlessRun] = []
    tested: dict[str, list[str]] = {}
    for symbol, problem in outcome.items():
        if problem is not None:
            failed = True
            err.write(f"error: walker {walker} on {symbol} failed: {problem}\n")
            continue
        try:
            data = engine.Walker.get_data(symbol, walker)
        except ValueError:
            failed = True
            err.write(f"error: walker {walker} on {symbol} tested no strategy\n")
            continue
        out.write(f"{walker} on {symbol} (best by {data.metric}: {data.best_strategy or 'none'})\n")
        render(leaderboard_table(data), out)
        out.write("\n")
        dumped.append(_HeadlessRun("walker", symbol, walker, schema.exchange_name, schema.frame_name))
        tested[symbol] = [r.strategy_name for r in data.strategy_results]
    failed = _write_reports(dumped, lambda run: tested.get(run.symbol, []), dump_dir, err) or failed
    for line in skipped:
        failed = True
        err.write(f"warning: skipped {line}\n")
    out.write(f"reports written under {_shown(dump_dir / 'walker')}/ ({elapsed:.2f}s)\n")
    return EXIT_FAILED if failed else EXIT_OK


def _run(job: Coroutine[Any, Any, int]) -> int:
    """Run a headless job; ccxt's HTTP sessions belong to its event loop, so they close with it."""
    import engine

    async def closing() -> int:
        try:
            return await job
        finally:
            await engine.close_ccxt_exchanges()

    return asyncio.run(closing())


def cmd_walker(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = load_project(args.config)
    if not project.walkers:
        raise UsageError("the project has no walkers: add a [walkers.NAME] section to btk.toml")
    walker = args.walker or project.walkers[0]
    _check_names("walker", [walker], project.walkers)
    symbols = _symbols(args, project)
    dump_dir = Path(args.dump_dir) if args.dump_dir is not None else project.dump_dir
    _settle()
    return _run(run_walkers(walker, symbols, dump_dir, out, err))


def cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    days = _positive_days(args.days)
    project = load_project(args.config, days=days)
    if days is not None and not project.is_demo:
        raise UsageError(f"--days sets the demo's frame; {_shown(project.source or Path())} has [frames]: use --frame")
    symbols = _symbols(args, project)
    strategies = args.strategy or project.strategies
    _check_names("strategy", strategies, project.strategies)
    frame = args.frame or project.default_frame
    _check_names("frame", [frame], project.frames)
    exchange = args.exchange or project.default_exchange
    _check_names("exchange", [exchange], project.exchanges)
    dump_dir = Path(args.dump_dir) if args.dump_dir is not None else project.dump_dir
    _settle()
    return _run(run_backtests(project, symbols, strategies, frame, dump_dir, out, err, exchange=exchange))


def _settle() -> None:
    """The project is loaded and the arguments checked: what is alive now lives as long as the
    command, so the collector's passes skip it (``engine.settle_heap``: a pass over it took a
    tenth of the engine benchmark's run); and the blocks a run frees are reused, not handed back
    to the system and faulted in again (``engine.reuse_freed_memory``: a tenth again)."""
    from engine import reuse_freed_memory, settle_heap

    settle_heap()
    reuse_freed_memory()


def _symbols(args: argparse.Namespace, project: Project) -> list[str]:
    if not args.symbol and not project.symbols:
        raise UsageError("the project lists no symbols: pass --symbol or set [project] symbols")
    symbols = args.symbol or [project.symbols[0]]
    for s in symbols:
        if not _SYMBOL.match(s):
            raise UsageError(f"--symbol must look like BTCUSDT (capital letters and digits), got {s!r}")
    if project.symbol_list_is_strict:
        _check_names("symbol", symbols, project.symbols)
    return list(dict.fromkeys(symbols))


def cmd_live(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .headless_live import run_live

    project = load_project(args.config)
    symbols = _symbols(args, project)
    strategies = list(dict.fromkeys(args.strategy or project.strategies))
    _check_names("strategy", strategies, project.strategies)
    exchange = args.exchange or project.default_exchange
    _check_names("exchange", [exchange], project.exchanges)
    dump_dir = Path(args.dump_dir) if args.dump_dir is not None else project.dump_dir
    _check_writable(dump_dir, "--dump-dir" if args.dump_dir is not None else "the project's dump folder")
    pairs = [(s, name) for s in symbols for name in strategies]
    _settle()
    return _run(run_live(pairs, exchange, dump_dir, out, err))


def _check_writable(folder: Path, what: str) -> None:
    """Live state, logs and reports go under ``folder``: make sure they can, before anything trades
    (one line naming the folder and the system's reason, not a traceback from the first write)."""
    import tempfile

    try:
        for sub in ("data", "logs", "live"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder / "data", prefix=".probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise UsageError(f"{what} {folder} cannot hold live state: {reason}{where}") from None


def run_interactive(args: argparse.Namespace) -> int:
    """The dashboard. A project that does not load opens the error screen (q leaves), not a traceback."""
    from themes import THEME_NAMES

    from .app import BtkApp

    if args.theme is not None and args.theme not in THEME_NAMES:
        raise UsageError(f"--theme must be one of {', '.join(THEME_NAMES)}, got {args.theme!r}")
    from .daemon.cli import try_attach  # a daemon runs for this project: show its dashboard

    attached = try_attach(args.config, args.dump_dir, args.theme)
    if attached is not None:
        return attached
    project, error = None, None
    try:
        project = load_project(args.config)
    except ProjectError as exc:
        error = str(exc)
    from .host import loader_for

    worker = None if project is None or args.in_process else loader_for(project.source, project.root)
    app = BtkApp(
        project,
        project_error=error,
        theme=args.theme,
        dump_dir=Path(args.dump_dir) if args.dump_dir else None,
        engine_process=worker,
    )
    result = app.run()
    return EXIT_FAILED if error is not None else int(result or 0)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["data"]:  # the catalog's subcommands have their own parser (console/data_cli.py)
        from .data_cli import main as data_main

        return data_main(argv[1:], out, err)
    if argv[:1] == ["optimize"]:  # LLM-written strategies have their own parser (console/optimize_cli.py)
        from .optimize_cli import main as optimize_main

        return optimize_main(argv[1:], out, err)
    if argv[:1] == ["sweep"]:  # parameter sweeps have their own parser (console/sweep_cli.py)
        from .sweep_cli import main as sweep_main

        return sweep_main(argv[1:], out, err)
    if argv[:1] and argv[0] in ("daemon", "status", "stop", "attach", "doctor"):  # console/daemon/cli.py
        from .daemon.cli import main as daemon_main

        return daemon_main(argv, out, err)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            return run_interactive(args)
        if args.command == "backtest":
            return cmd_backtest(args, out, err)
        if args.command == "walker":
            return cmd_walker(args, out, err)
        if args.command == "live":
            return cmd_live(args, out, err)
    except UsageError as exc:
        err.write(f"btk-console: error: {exc}\n")
        return EXIT_USAGE
    except ProjectError as exc:
        err.write(f"btk-console: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("btk-console: interrupted\n")
        return 130
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
