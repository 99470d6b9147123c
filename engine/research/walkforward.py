"""Walk-forward: search on a train window, score the winner on the test window after it, move on.

``walk_forward_windows`` cuts a period into folds (rolling: the train window moves with the step;
anchored: it always starts at the beginning). The sweep (``run_sweep``) evaluates every parameter
set on every train window, picks each fold's best and runs it on that fold's test window. A train
window's runs never see a candle of its test window: its exchange is cut at the test start, so a
trade still open at the train end is left unsettled instead of being settled on test prices.

``walk_forward_summary`` reads the table back: per fold the chosen set, its train and test
statistics; and the stitched out-of-sample result (the test windows one after another).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import to_ms
from ..reports.statistics import DAY_MS
from .analysis import moments
from .evaluate import max_drawdown
from .sweep import Sweep, Window, best_per_window
from .table import ResultsTable, SweepError

__all__ = ["Fold", "WalkForwardSummary", "walk_forward_summary", "walk_forward_windows"]

MINUTE_MS = 60_000


def walk_forward_windows(
    start: Any, end: Any, train_days: int, test_days: int, step_days: int | None = None, *, anchored: bool = False
) -> tuple[Window, ...]:
    """Train/test windows from ``start`` to ``end``: fold k trains on ``[start + k·step, +train)``
    (anchored: ``[start, start + train + k·step)``) and tests on the ``test_days`` right after."""
    s, e = to_ms(start), to_ms(end)
    step = step_days if step_days is not None else test_days
    for name, v in (("train_days", train_days), ("test_days", test_days), ("step_days", step)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise SweepError(f"walk-forward: {name} must be an integer >= 1, got {v!r}")
    out: list[Window] = []
    k = 0
    while True:
        train_start = s if anchored else s + k * step * DAY_MS
        test_start = s + (train_days + k * step) * DAY_MS
        test_end = test_start + test_days * DAY_MS
        if test_end - MINUTE_MS > e:
            break
        out.append(Window(train_start, test_start - MINUTE_MS, "train", k, until_ms=test_start))
        out.append(Window(test_start, test_end - MINUTE_MS, "test", k))
        k += 1
    if not out:
        raise SweepError(
            f"walk-forward: {train_days} train + {test_days} test days do not fit between {start} and {end}"
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Fold:
    fold: int
    trial: int | None
    params: dict[str, Any] | None
    train: dict[str, Any] | None
    test: dict[str, Any] | None
    test_start: int
    test_end: int


@dataclass(frozen=True, slots=True)
class WalkForwardSummary:
    folds: tuple[Fold, ...]
    oos_daily: np.ndarray
    """Daily pnl % of the stitched test windows (mean over symbols), in time order."""
    oos_total: float
    oos_max_drawdown: float
    oos_sharpe: float
    """Per-day Sharpe ratio of the stitched out-of-sample days."""
    oos_trades: int


def _mean_stats(rows: list) -> dict[str, Any] | None:
    if not rows:
        return None
    out: dict[str, Any] = {}
    for k in rows[0].stats:
        vals = [r.stats[k] for r in rows]
        out[k] = None if any(v is None for v in vals) else sum(vals) / len(vals)
    return out


def walk_forward_summary(sweep: Sweep, table: str | os.PathLike) -> WalkForwardSummary:
    with ResultsTable(table) as t:
        rows = list(t.rows())
    folds = []
    daily_parts = []
    trades = 0
    for i, w in enumerate(sweep.windows):
        if w.role != "test":
            continue
        train = next(j for j, x in enumerate(sweep.windows) if x.role == "train" and x.fold == w.fold)
        chosen = best_per_window(sweep, rows, train)
        test_rows = [r for r in rows if r.window == i]
        trial = chosen[0] if chosen else None
        train_rows = [r for r in rows if r.window == train and r.trial == trial]
        folds.append(
            Fold(
                w.fold,
                trial,
                dict(chosen[1]) if chosen else None,
                _mean_stats(train_rows),
                _mean_stats(test_rows),
                w.start_ms,
                w.end_ms,
            )
        )
        days = (w.end_ms - w.start_ms) // DAY_MS + 1
        if test_rows:
            daily_parts.append(np.mean([r.daily for r in test_rows], axis=0))
            trades += sum(r.stats.get("trades") or 0 for r in test_rows)
        else:
            daily_parts.append(np.zeros(days))
    daily = np.concatenate(daily_parts) if daily_parts else np.zeros(0)
    return WalkForwardSummary(
        folds=tuple(folds),
        oos_daily=daily,
        oos_total=float(daily.sum()),
        oos_max_drawdown=max_drawdown(daily.tolist()),
        oos_sharpe=moments(daily.tolist())[0],
        oos_trades=trades,
    )
