"""``d``: the reports of the session's runs, written under the dump folder (issue 14 item 13).

Each run's reports go to ``<kind>/<exchange>/<frame>/<symbol>/`` (live: ``live/<exchange>/<symbol>/``)
so runs of one strategy on different frames or exchanges no longer overwrite each other; the
browser lists every ``.md`` under the dump folder, so files written under the old flat paths are
still read. A report with nothing in it (a schedule report of a strategy that never placed a
limit, a backtest stopped before its first trade) is not written: the toast says how many were
left out, and when nothing at all has data, that there is nothing to dump.

The engine renders the text (its own statistics); the columns and the one-fact-per-line layout
are the console's (``report_layout``). Files are written with ``engine.write_atomic``, so the
browser never reads half a report.

One function for both owners of an engine: the in-process console (console/app.py) and the daemon
(console/daemon/server.py ``POST /v1/reports``), which an attached console asks, because the
reports are made from the engine's own stores, which live in the daemon's process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import engine

from .paths import safe_part
from .report_layout import backtest_columns, live_columns, one_per_line, schedule_columns, walker_pnl_columns

__all__ = ["DumpOutcome", "RunLike", "dump_reports", "run_folder", "safe_part"]


class RunLike(Protocol):
    """What a run must say to have its reports written: the console's ``RunView`` and the
    daemon's ``RunRecord`` both do."""

    mode: str
    symbol: str
    name: str
    exchange: str
    frame: str


def run_folder(root: Path, kind: str, run: RunLike) -> Path:
    """Where ``run``'s reports of ``kind`` go: keyed by exchange, frame (not for live) and symbol."""
    parts = [kind, run.exchange] + ([run.frame] if run.mode != "live" and run.frame else []) + [run.symbol]
    return root.joinpath(*(safe_part(p) for p in parts))


@dataclass(slots=True)
class DumpOutcome:
    """What ``d`` did: the files written, how many reports were empty (not written), and any
    report that could not be written (path and reason)."""

    written: list[Path] = field(default_factory=list)
    empty: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return not self.written and not self.failed


@dataclass(frozen=True, slots=True)
class _Report:
    path: Path
    has_data: Callable[[], bool]
    text: Callable[[], str]


def _backtest_reports(root: Path, run: RunLike, strategy: str) -> Iterable[_Report]:
    sym = run.symbol
    folder = lambda kind: run_folder(root, kind, run)  # noqa: E731
    name = f"{safe_part(strategy)}.md"
    yield _Report(
        folder("backtest") / name,
        lambda: engine.Backtest.get_data(sym, strategy).total_signals > 0,
        lambda: engine.Backtest.get_report(sym, strategy, columns=backtest_columns()),
    )
    yield _Report(
        folder("schedule") / name,
        lambda: engine.Schedule.get_data(sym, strategy, True).total_events > 0,
        lambda: engine.Schedule.get_report(sym, strategy, True, columns=schedule_columns()),
    )
    yield _Report(
        folder("performance") / name,
        lambda: engine.Performance.get_data(sym, strategy, True).total_events > 0,
        lambda: engine.Performance.get_report(sym, strategy, True),
    )
    yield _Report(
        folder("partial") / name,
        lambda: engine.Partial.get_data(sym, strategy, True).total_events > 0,
        lambda: engine.Partial.get_report(sym, strategy, True),
    )
    yield _Report(
        folder("risk") / name,
        lambda: engine.Risk.get_data(sym, strategy, True).total_rejections > 0,
        lambda: engine.Risk.get_report(sym, strategy, True),
    )


def _live_reports(root: Path, run: RunLike) -> Iterable[_Report]:
    sym, strategy = run.symbol, run.name
    folder = run_folder(root, "live", run)
    name = f"{safe_part(strategy)}.md"
    yield _Report(
        folder / name,
        lambda: engine.Live.get_data(sym, strategy).total_events > 0,
        lambda: engine.Live.get_report(sym, strategy, columns=live_columns()),
    )
    for kind, facade, count in (
        ("schedule", engine.Schedule, "total_events"),
        ("performance", engine.Performance, "total_events"),
        ("partial", engine.Partial, "total_events"),
        ("risk", engine.Risk, "total_rejections"),
    ):
        cols = schedule_columns() if kind == "schedule" else None
        yield _Report(
            folder / kind / name,
            lambda f=facade, c=count: getattr(f.get_data(sym, strategy, False), c) > 0,
            lambda f=facade, cols=cols: f.get_report(sym, strategy, False, columns=cols),
        )


def _walker_reports(root: Path, run: RunLike) -> Iterable[_Report]:
    def has_data() -> bool:
        try:
            return bool(engine.Walker.get_data(run.symbol, run.name).strategy_results)
        except ValueError:  # stopped before any strategy was tested: "No walker data available"
            return False

    yield _Report(
        run_folder(root, "walker", run) / f"{safe_part(run.name)}.md",
        has_data,
        lambda: engine.Walker.get_report(run.symbol, run.name, pnl_columns=walker_pnl_columns()),
    )


def dump_reports(runs: Iterable[RunLike], tested: Callable[[RunLike], list[str]], root: Path) -> DumpOutcome:
    """Write the reports of ``runs`` under ``root``. ``tested(walker_run)`` names the strategies a
    walker finished: their backtest reports are written beside the walker's. The engine keeps one
    result per (symbol, strategy), so a pair that ran twice is written once, under the frame and
    exchange of its latest run. The heatmap (one per strategy, over every symbol it traded) goes
    to ``heatmap/<exchange>/<frame>/``."""
    reports: list[_Report] = []
    pairs: dict[tuple[str, str], RunLike] = {}
    heat: dict[str, RunLike] = {}
    for run in runs:
        if run.mode == "backtest":
            pairs[(run.symbol, run.name)] = run
        elif run.mode == "walker":
            reports.extend(_walker_reports(root, run))
            for strategy in tested(run):
                pairs[(run.symbol, strategy)] = run
        elif run.mode == "live":
            reports.extend(_live_reports(root, run))
    for (_symbol, strategy), run in pairs.items():
        reports.extend(_backtest_reports(root, run, strategy))
        heat[strategy] = run
    for strategy, run in heat.items():
        folder = root.joinpath("heatmap", *(safe_part(p) for p in (run.exchange, run.frame) if p))
        reports.append(
            _Report(
                folder / f"{safe_part(strategy)}.md",
                lambda s=strategy: engine.Heat.get_data(s, True).total_symbols > 0,
                lambda s=strategy: engine.Heat.get_report(s, True),
            )
        )
    outcome = DumpOutcome()
    for report in reports:
        try:
            if not report.has_data():
                outcome.empty += 1
                continue
            text = one_per_line(report.text())
            report.path.parent.mkdir(parents=True, exist_ok=True)
            engine.write_atomic(report.path, text)
        except Exception as exc:  # one report that cannot be written never loses the others
            outcome.failed.append((report.path, f"{type(exc).__name__}: {exc}"))
            continue
        outcome.written.append(report.path)
    return outcome
