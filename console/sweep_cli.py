"""``btk-console sweep``: a parameter sweep of one project strategy, headless.

    sweep --strategy S --symbol X [--symbol ...] [--method grid|random|optuna] [--trials N]
          [--metric M [--metric M2]] [--walk-forward TRAIN/TEST/STEP [--anchored]]
          [--backend local|ray] [--workers N] [--table PATH] [--frame F] [--exchange E] [--seed N]
          [--min-trades N] [--max-drawdown PCT] [--heat P1,P2]

It loads the project like the other commands (``--config``, else ./btk.toml, else the demo) and
sweeps over the frame's period (``--frame``, default the project's first). The results table (SQLite)
defaults to ``<dump>/sweep/<strategy>-<method>[-wf].sqlite``; run the same command again and it
resumes where it stopped. Progress goes to stderr: a rich bar with the ETA and the best set so far on a
terminal, plain lines otherwise. On success it prints the leaderboard's top rows and the paths of the
table and of the markdown report (beside the table) and exits 0; bad input is one line and exit 2; a
sweep whose every row failed exits 1.

Pool and Ray workers are fresh processes: each loads the same btk.toml to make the same registrations.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import engine

from .project import Project, ProjectError, load_project

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_WF = re.compile(r"^(\d+)/(\d+)(?:/(\d+))?$")
TOP = 10


class SweepUsageError(Exception):
    """A bad command line: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise SweepUsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="btk-console sweep", description="sweep a strategy's parameters headless")
    p.add_argument("--config", default=None, help="a btk.toml project (default: ./btk.toml, else the demo)")
    p.add_argument("--dump-dir", default=None, help="where the table and report go (default: the project's dump_dir)")
    p.add_argument("--strategy", required=True, help="a strategy of the project that declares params")
    p.add_argument("--symbol", action="append", required=True, help="symbol to sweep on (repeatable)")
    p.add_argument("--method", default="grid", choices=("grid", "random", "optuna"))
    p.add_argument("--trials", type=int, default=None, help="sets to try (random, optuna; a cap for grid)")
    p.add_argument("--metric", action="append", default=None, help="walker metric to rank by (twice: optuna only)")
    p.add_argument("--walk-forward", default=None, metavar="TRAIN/TEST/STEP", help="days, e.g. 20/10/10")
    p.add_argument("--anchored", action="store_true", help="walk-forward train windows all start at the beginning")
    p.add_argument("--backend", default="local", choices=("local", "ray"))
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: every core)")
    p.add_argument("--table", default=None, help="the results table (SQLite; default under <dump>/sweep/)")
    p.add_argument("--frame", default=None, help="the period to sweep over (default: the project's first frame)")
    p.add_argument("--exchange", default=None, help="default: the project's first exchange")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-trades", type=int, default=0)
    p.add_argument("--max-drawdown", type=float, default=None, help="percentage points")
    p.add_argument("--heat", default=None, metavar="P1,P2", help="the heat map's two parameters")
    return p


def _walk_forward(text: str) -> tuple[int, int, int]:
    m = _WF.match(text)
    if m is None:
        raise SweepUsageError(f"--walk-forward must be TRAIN/TEST/STEP in whole days, e.g. 20/10/10; got {text!r}")
    train, test = int(m.group(1)), int(m.group(2))
    step = int(m.group(3)) if m.group(3) else test
    if min(train, test, step) < 1:
        raise SweepUsageError(f"--walk-forward days must all be >= 1; got {text!r}")
    return train, test, step


def _pick(kind: str, wanted: str | None, available: Sequence[str]) -> str:
    if wanted is None:
        return available[0]
    if wanted not in available:
        raise SweepUsageError(f"unknown {kind} {wanted!r} (available: {', '.join(available) or 'none'})")
    return wanted


def make_sweep(args: argparse.Namespace, project: Project) -> tuple[engine.Sweep, tuple[str, str] | None]:
    """The Sweep the command line asks for, every value checked against the project."""
    strategy = _pick("strategy", args.strategy, project.strategies)
    exchange = _pick("exchange", args.exchange, project.exchanges)
    frame_name = _pick("frame", args.frame or project.default_frame, project.frames)
    frame = next(f for f in engine.list_frames() if f.frame_name == frame_name)
    if project.symbol_list_is_strict:
        for s in args.symbol:
            if s not in project.symbols:
                raise SweepUsageError(f"unknown symbol {s!r} (available: {', '.join(project.symbols)})")
    if args.trials is not None and args.trials < 1:
        raise SweepUsageError(f"--trials must be >= 1; got {args.trials}")
    if args.workers is not None and args.workers < 1:
        raise SweepUsageError(f"--workers must be >= 1; got {args.workers}")
    if args.max_drawdown is not None and not (math.isfinite(args.max_drawdown) and args.max_drawdown >= 0):
        raise SweepUsageError(f"--max-drawdown must be a number >= 0 (percentage points); got {args.max_drawdown}")
    heat = None
    if args.heat is not None:
        parts = [p.strip() for p in args.heat.split(",")]
        if len(parts) != 2 or not all(parts):
            raise SweepUsageError(f"--heat must name two parameters, e.g. tp,sl; got {args.heat!r}")
        heat = (parts[0], parts[1])
    if args.anchored and args.walk_forward is None:
        raise SweepUsageError("--anchored needs --walk-forward TRAIN/TEST/STEP")
    if args.walk_forward is not None:
        train, test, step = _walk_forward(args.walk_forward)
        windows = engine.walk_forward_windows(
            frame.start_date, frame.end_date, train, test, step, anchored=args.anchored
        )
    else:
        windows = (engine.SweepWindow(frame.start_ms, frame.end_ms),)
    sweep = engine.Sweep(
        strategy,
        exchange,
        tuple(args.symbol),
        tuple(windows),
        method=args.method,
        trials=args.trials,
        metric=tuple(args.metric or ("sharpe_ratio",)),
        seed=args.seed,
        constraints=engine.SweepConstraints(args.min_trades, args.max_drawdown),
        frame_interval=frame.interval,
    )
    return sweep, heat


def _reload(config: str | None, cwd: str) -> None:
    """A worker's setup: the same project, so the same registrations (module level: picklable)."""
    load_project(config, cwd=Path(cwd))


def worker_setup(config: str | None) -> Callable[[], None]:
    """What a worker process (and the console's sweep process) calls to load the same project."""
    return functools.partial(_reload, config, str(Path.cwd()))


def table_path(args: argparse.Namespace, project: Project, sweep: engine.Sweep) -> Path:
    """``--table``, else ``<dump>/sweep/<strategy>-<method>[-wf].sqlite`` (the report goes beside it)."""
    dump = Path(args.dump_dir) if args.dump_dir else project.dump_dir
    stem = f"{sweep.strategy}-{sweep.method}" + ("-wf" if args.walk_forward else "")
    return Path(args.table) if args.table else dump / "sweep" / f"{stem}.sqlite"


def _best_text(ev: Any, metric: str) -> str:
    if ev.best_trial is None:
        return "best: none yet"
    params = ", ".join(f"{k}={v}" for k, v in (ev.best_params or {}).items())
    return f"best: set {ev.best_trial} {metric}={engine.to_fixed(ev.best_value, 2)} ({params})"


class _Reporter:
    """Progress on stderr: a live bar on a terminal, else a plain line every 10 % and at the end."""

    def __init__(self, err: TextIO, metric: str) -> None:
        self.err, self.metric = err, metric
        self.tty = err.isatty()
        self.bar: Progress | None = None
        self.task: Any = None
        self.shown = -1
        if self.tty:
            self.bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[best]}"),
                console=Console(file=err, force_terminal=True, highlight=False),
            )
            self.task = self.bar.add_task("sweep", total=None, best="")
            self.bar.start()

    def __call__(self, ev: Any) -> None:
        total = max(ev.total, ev.done)
        best = _best_text(ev, self.metric)
        if self.bar is not None:
            self.bar.update(self.task, completed=ev.done, total=total, best=best)
            return
        tenth = ev.done * 10 // total if total else 10
        if tenth == self.shown and ev.done != total:
            return
        self.shown = tenth
        rate = ev.elapsed_s / ev.computed if ev.computed else 0.0
        eta = rate * max(total - ev.done, 0)
        self.err.write(f"sweep: {ev.done}/{total} rows, {ev.elapsed_s:.1f}s, eta {eta:.0f}s, {best}\n")
        self.err.flush()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _leaderboard(sweep: engine.Sweep, table: Path, out: TextIO) -> int:
    """Print the top rows (rank by the first metric, like the report); return the count of failed rows."""
    rows = engine.load_sweep_rows(table)
    metric = sweep.metric[0]
    order = engine.rank_sweep_sets(sweep, rows)
    tty = out.isatty()
    console = Console(file=out, force_terminal=tty, force_jupyter=False, width=10_000, highlight=False)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    names = list(order[0].params) if order else []
    for name in ["Rank", "Set", *names, metric, "Trades", "Feasible"]:
        t.add_column(name, justify="left" if name in names else "right", no_wrap=True)
    for rank, s in enumerate(order[:TOP], start=1):
        v = s.value(metric)
        trades = s.value("trades")
        t.add_row(
            str(rank),
            str(s.trial),
            *(str(s.params[n]) for n in names),
            "N/A" if v is None else engine.to_fixed(v, 2),
            "N/A" if trades is None else engine.to_fixed(trades, 0),
            "yes" if s.feasible else "no",
        )
    console.print(t)
    return sum(1 for r in rows if r.error is not None)


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(list(argv))
        project = load_project(args.config)
        sweep, heat = make_sweep(args, project)
        table = table_path(args, project, sweep)
        setup = worker_setup(args.config)
        reporter = _Reporter(err, sweep.metric[0])
        t0 = time.perf_counter()
        try:
            res = engine.run_sweep(
                sweep, table, setup=setup, workers=args.workers, backend=args.backend, progress=reporter
            )
        finally:
            reporter.stop()
        report = engine.write_sweep_report(sweep, table, table.with_suffix(".md"), heat=heat)
    except (SweepUsageError, ProjectError, engine.SweepError) as exc:
        err.write(f"btk-console sweep: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("btk-console sweep: interrupted (run the same command again to resume)\n")
        return 130
    failed = _leaderboard(sweep, table, out)
    out.write(
        f"{res.trials} set(s) tried, {res.computed} row(s) computed now, {res.rows} in the table "
        f"({time.perf_counter() - t0:.1f}s)\n"
    )
    out.write(f"table: {table}\nreport: {report}\n")
    if failed:
        err.write(f"btk-console sweep: {failed} of {res.rows} row(s) failed (see the error column of the table)\n")
        if failed == res.rows:
            return EXIT_FAILED
    return EXIT_OK
