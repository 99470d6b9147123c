"""One task of a sweep: backtest one parameter set on one symbol over one window, in this process.

The same function runs in the parent (sequential sweeps), in a pool worker and in a Ray task, so
the three give the same numbers. Statistics are SPEC 12.2's (``backtest_statistics``) over every
closed trade of the run (a report store keeps only the newest CC_MAX_REPORT_EVENTS; a sweep ranks on
all of them), plus the maximum drawdown of the summed pnl percentages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from .. import config, registry
from ..heap import reuse_freed_memory, settle_heap
from ..model import CANDLE_INTERVALS, MINUTE_MS, CandleColumns, ClosedResult, TradeMetrics
from ..reports.statistics import DAY_MS, backtest_statistics
from .table import ResultRow

__all__ = ["Task", "Worker", "btk_version", "max_drawdown"]


def btk_version() -> str:
    try:
        return metadata.version("btk")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class Task:
    """What a worker is sent: a few numbers and the parameter dict (never candles)."""

    trial: int
    symbol: str
    window: int
    start_ms: int
    end_ms: int
    params: Mapping[str, Any]
    until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Constraints:
    """Rows that break a constraint stay in the table, marked infeasible, and never rank as best."""

    min_trades: int = 0
    max_drawdown: float | None = None
    """Largest allowed drawdown of the summed pnl percentages, in percentage points."""

    def problem(self) -> str | None:
        if isinstance(self.min_trades, bool) or not isinstance(self.min_trades, int) or self.min_trades < 0:
            return f"min_trades must be an integer >= 0, got {self.min_trades!r}"
        md = self.max_drawdown
        if md is not None and (isinstance(md, bool) or not isinstance(md, int | float) or not md >= 0):
            return f"max_drawdown must be a number >= 0 (percentage points) or None, got {md!r}"
        return None

    def feasible(self, stats: Mapping[str, Any]) -> bool:
        if (stats.get("trades") or 0) < self.min_trades:
            return False
        return not (self.max_drawdown is not None and (stats.get("max_drawdown") or 0.0) > self.max_drawdown)


def max_drawdown(pnls: list[float]) -> float:
    """Largest fall of the running SUM of ``pnls`` (chronological) from its running peak; the sum
    starts at 0, so a first losing trade is a drawdown too. For the walk-forward's stitched daily
    PNL sums; a run's own ``max_drawdown`` statistic is the compounded one (engine/reports/statistics.py)."""
    peak = level = worst = 0.0
    for p in pnls:
        level += p
        if level > peak:
            peak = level
        elif peak - level > worst:
            worst = peak - level
    return worst


def _stats(closed: list[ClosedResult], cancelled: int) -> dict[str, Any]:
    s = backtest_statistics(closed[::-1])  # the store's order: newest first
    out: dict[str, Any] = {
        "trades": len(closed),
        "cancelled": cancelled,
        "total_signals": s.total_signals,
        **{f.name: getattr(s, f.name) for f in dataclasses.fields(TradeMetrics)},  # max_drawdown: compounded
    }
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _daily(closed: list[ClosedResult], start_ms: int, end_ms: int) -> np.ndarray:
    """The window's pnl percentages summed per day of close, in close order. The sums run on
    Python floats (the same IEEE additions as numpy's, in the same order, so the same bits):
    indexing a numpy array one trade at a time cost 2.5 % of a set."""
    days = (end_ms - start_ms) // DAY_MS + 1
    out = [0.0] * days
    last = days - 1
    for c in closed:
        d = (c.close_timestamp - start_ms) // DAY_MS
        out[0 if d < 0 else last if d > last else d] += c.pnl.pnl_percentage
    return np.array(out, dtype=np.float64)


class _Clipped:
    """A column source that ends at ``until_ms``: only candles that close by then exist."""

    def __init__(self, source: Any, until_ms: int) -> None:
        self.source = source
        self.until_ms = until_ms

    def columns(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> CandleColumns:
        step = CANDLE_INTERVALS[interval] * MINUTE_MS
        if start_ms >= self.until_ms:
            return CandleColumns.empty()
        cols = self.source.columns(symbol, interval, start_ms, min(end_ms, self.until_ms))
        keep = cols.timestamp + step <= self.until_ms
        if keep.all():
            return cols
        return CandleColumns(
            *(a[keep] for a in (cols.timestamp, cols.open, cols.high, cols.low, cols.close, cols.volume))
        )


class Worker:
    """Runs tasks for one sweep in this process (a pool worker holds one for its whole life)."""

    def __init__(self, strategy: str, exchange: str, frame_interval: str, constraints: Constraints, seed: int) -> None:
        self.strategy = strategy
        self.exchange = exchange
        self.frame_interval = frame_interval
        self.constraints = constraints
        self.seed = seed
        self.version = btk_version()
        self._original = registry.strategies.get(strategy, "sweep")
        # the frames and clipped exchanges this worker registered for its windows: a sweep in the
        # user's own process removes them at its end, so pickers and list_frames() never show them
        self._added: list[tuple[registry.Registry[Any], str]] = []

    def frame(self, start_ms: int, end_ms: int) -> str:
        name = f"sweep:{self.frame_interval}:{start_ms}:{end_ms}"
        if not registry.frames.has(name):
            registry.add_frame(name, self.frame_interval, start_ms, end_ms, note="a sweep window")
            self._added.append((registry.frames, name))
        return name

    def clipped(self, until_ms: int) -> str:
        """The exchange without the candles that open at or after ``until_ms`` (or end after it)."""
        name = f"{self.exchange}|until:{until_ms}"
        if not registry.exchanges.has(name):
            schema = registry.exchanges.get(self.exchange, "sweep")
            if schema.columns is None:
                raise ValueError(
                    f"walk-forward: exchange {self.exchange} has no column source to cut at a window's end "
                    "(run the sweep with workers > 1: workers read shared columns)"
                )
            source = _Clipped(schema.columns, until_ms)
            registry.exchanges.add(name, dataclasses.replace(schema, exchange_name=name, columns=source))
            self._added.append((registry.exchanges, name))
        return name

    def run(self, task: Task) -> ResultRow:
        from ..runners.backtest import Backtest

        registry.use_params(self.strategy, task.params)
        frame = self.frame(task.start_ms, task.end_ms)
        exchange = self.exchange if task.until_ms is None else self.clipped(task.until_ms)
        closed: list[ClosedResult] = []
        cancelled = 0

        async def go() -> None:
            nonlocal cancelled
            # no report stores: the row is computed from the results iterated here (docs/behaviour.md 6.2)
            handle = Backtest.run(
                task.symbol, strategy_name=self.strategy, exchange_name=exchange, frame_name=frame, reports=False
            )
            async for r in handle:
                if r.action == "closed":
                    closed.append(r)
                else:
                    cancelled += 1

        error = None
        try:
            asyncio.run(go())
        except Exception as exc:  # the row says what failed; the sweep goes on
            error = f"{type(exc).__name__}: {exc}"
        stats = _stats(closed, cancelled) if error is None else dict.fromkeys(_stats([], 0))
        return ResultRow(
            trial=task.trial,
            symbol=task.symbol,
            window=task.window,
            params=dict(registry.strategies.get(self.strategy, "sweep").param_values),
            window_start=task.start_ms,
            window_end=task.end_ms,
            stats=stats,
            feasible=error is None and self.constraints.feasible(stats),
            error=error,
            seed=self.seed,
            btk_version=self.version,
            daily=_daily(closed, task.start_ms, task.end_ms) if error is None else np.zeros(0),
        )

    def restore(self) -> None:
        registry.strategies.replace(self.strategy, self._original)
        for reg, name in self._added:
            reg.remove(name)
        self._added.clear()


# --------------------------------------------------------------------------- pool workers

_worker: Worker | None = None


def init_worker(
    setup: Callable[[], Any] | None,
    shared: Any,
    overrides: Mapping[str, Any],
    args: tuple[str, str, str, Constraints, int],
) -> None:
    """A pool worker's start: the user's registrations, the shared candles, the parent's config."""
    global _worker
    if setup is not None:
        setup()
    if overrides:
        config.set_config(dict(overrides), unsafe=True)
    if shared is not None:
        from .shared import use_shared

        use_shared(args[1], shared)
    _worker = Worker(*args)
    settle_heap()  # what a worker set up lives as long as it does: the collector's passes skip it
    reuse_freed_memory()  # its runs reuse the blocks the runs before them freed


def run_task(task: Task) -> ResultRow:
    assert _worker is not None, "init_worker was not called in this process"
    return _worker.run(task)
