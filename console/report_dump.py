"""``d``: every report of every run written under the dump folder, by whoever owns the engine.

One function for both owners: the in-process console (console/app.py) and the daemon
(console/daemon/server.py ``POST /v1/reports``), which an attached console asks, because the
reports are made from the engine's own stores (closed signals, schedules, milestones), which live
in the daemon's process: the attached console only has what its panes show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import engine


@dataclass(frozen=True, slots=True)
class DumpPlan:
    """Which reports to write: (symbol, name) pairs, in run order."""

    backtests: tuple[tuple[str, str], ...] = ()  # backtests, and each strategy a walker tested
    walkers: tuple[tuple[str, str], ...] = ()  # (symbol, walker): the comparison report
    live: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.backtests or self.walkers or self.live)


Pairs = Iterable[tuple[str, str]]


def plan(backtests: Pairs, walkers: Pairs, live: Pairs) -> DumpPlan:
    """A plan without repeats (a pair run twice has one report)."""
    return DumpPlan(tuple(dict.fromkeys(backtests)), tuple(dict.fromkeys(walkers)), tuple(dict.fromkeys(live)))


def write_reports(root: Path, todo: DumpPlan) -> list[str]:
    """Write the reports ``todo`` names under ``root``; returns the files written. A strategy run
    on several symbols gets a folder per symbol (the report names would meet otherwise); live
    reports have their own folder (their names would meet the backtest's)."""
    symbols_of: dict[str, set[str]] = {}
    for symbol, strategy in todo.backtests:
        symbols_of.setdefault(strategy, set()).add(symbol)
    written: list[str] = []
    for symbol, strategy in todo.backtests:
        several = len(symbols_of[strategy]) > 1
        sub = (lambda kind: root / kind / symbol) if several else (lambda kind: root / kind)  # noqa: B023
        paths = (
            engine.Backtest.dump(symbol, strategy, path=str(sub("backtest"))),
            engine.Schedule.dump(symbol, strategy, True, path=str(sub("schedule"))),
            engine.Performance.dump(symbol, strategy, True, path=str(sub("performance"))),
            engine.Partial.dump(symbol, strategy, True, path=str(root / "partial")),
            engine.Risk.dump(symbol, strategy, True, path=str(root / "risk")),
        )
        written.extend(p for p in paths if p)
    for strategy in symbols_of:
        path = engine.Heat.dump(strategy, True, path=str(root / "heatmap"))
        if path:
            written.append(path)
    for symbol, walker in todo.walkers:
        several = sum(1 for _, w in todo.walkers if w == walker) > 1
        folder = root / "walker" / symbol if several else root / "walker"
        try:
            path = engine.Walker.dump(symbol, walker, path=str(folder))
        except ValueError:  # stopped before any strategy was tested: nothing to report
            continue
        if path:
            written.append(path)
    for symbol, strategy in todo.live:
        several = sum(1 for _, s in todo.live if s == strategy) > 1
        folder = root / "live" / symbol if several else root / "live"
        paths = (
            engine.Live.dump(symbol, strategy, path=str(folder)),
            engine.Schedule.dump(symbol, strategy, False, path=str(folder / "schedule")),
            engine.Performance.dump(symbol, strategy, False, path=str(folder / "performance")),
            engine.Partial.dump(symbol, strategy, False, path=str(root / "live" / "partial")),
            engine.Risk.dump(symbol, strategy, False, path=str(root / "live" / "risk")),
        )
        written.extend(p for p in paths if p)
    return written
