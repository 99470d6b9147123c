"""Trade statistics shared by the backtest, live and walker reports (SPEC 12.2).

The results are compared with the original to the last bit, so every sum here is a plain
left-to-right loop over the list in the order the store holds it (newest first), starting from
zero. Python's ``sum`` is avoided on purpose: from 3.12 on it compensates rounding errors, which
would make results *more* accurate and therefore different.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.model import BacktestStatistics, ClosedResult

EMPTY_TRADE_METRICS = {
    "win_count": 0,
    "loss_count": 0,
    "win_rate": None,
    "avg_pnl": None,
    "total_pnl": None,
    "std_dev": None,
    "sharpe_ratio": None,
    "annualized_sharpe_ratio": None,
    "certainty_ratio": None,
    "expected_yearly_returns": None,
}
"""``TradeMetrics`` of an empty store: no trades, every metric null (SPEC 12.2, 12.3)."""

__all__ = [
    "DAY_MS",
    "PnlMetrics",
    "backtest_statistics",
    "expected_yearly_returns",
    "left_sum",
    "pnl_metrics",
    "safe",
]

DAY_MS = 86_400_000
_SQRT_365 = math.sqrt(365)


def safe(value: float | None) -> float | None:
    """The "safe" filter of SPEC 12.1: NaN, +-infinity and non-numbers become ``None``."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def left_sum(values: Iterable[float]) -> float:
    """``values.reduce((s, v) => s + v, 0)``: one rounding per addition, in order."""
    total = 0.0
    for v in values:
        total += v
    return total


@dataclass(frozen=True, slots=True, kw_only=True)
class PnlMetrics:
    """The per-trade numbers backtest and live statistics share, before the safe filter.

    ``win_rate`` and ``avg_pnl`` are NaN when ``count`` is 0 (JavaScript's 0/0).
    """

    count: int
    win_count: int
    loss_count: int
    win_rate: float
    avg_pnl: float
    total_pnl: float
    std_dev: float
    sharpe_ratio: float
    annualized_sharpe_ratio: float
    certainty_ratio: float


def _div(a: float, b: float) -> float:
    """JavaScript division for the cases statistics meet (0/0 is NaN, x/0 is +-infinity)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def pnl_metrics(pnls: Sequence[float]) -> PnlMetrics:
    """SPEC 12.2 over net PNL percentages in stored (newest-first) order.

    ``avg_pnl`` and ``total_pnl`` are two separate sums of the list; the variance term is the
    plain product ``(r - avg) * (r - avg)``; Sharpe is 0 when the deviation is 0 and the certainty
    ratio is 0 without a losing trade.
    """
    n = len(pnls)
    win_count = sum(1 for r in pnls if r > 0)
    loss_count = sum(1 for r in pnls if r < 0)
    avg_pnl = _div(left_sum(pnls), n)
    total_pnl = left_sum(pnls)
    win_rate = _div(win_count, n) * 100
    variance = _div(left_sum((r - avg_pnl) * (r - avg_pnl) for r in pnls), n)
    std_dev = math.sqrt(variance) if variance >= 0 else math.nan
    sharpe = avg_pnl / std_dev if std_dev > 0 else 0.0
    wins = [r for r in pnls if r > 0]
    losses = [r for r in pnls if r < 0]
    avg_win = left_sum(wins) / len(wins) if wins else 0.0
    avg_loss = left_sum(losses) / len(losses) if losses else 0.0
    certainty = avg_win / abs(avg_loss) if avg_loss < 0 else 0.0
    return PnlMetrics(
        count=n,
        win_count=win_count,
        loss_count=loss_count,
        win_rate=win_rate,
        avg_pnl=avg_pnl,
        total_pnl=total_pnl,
        std_dev=std_dev,
        sharpe_ratio=sharpe,
        annualized_sharpe_ratio=sharpe * _SQRT_365,
        certainty_ratio=certainty,
    )


def expected_yearly_returns(avg_pnl: float, avg_duration_days: float) -> float:
    """``avgPnl * tradesPerYear``; trades per year is 0 when the duration is 0 (or NaN)."""
    trades_per_year = 365 / avg_duration_days if avg_duration_days > 0 else 0.0
    return avg_pnl * trades_per_year


def _duration_ms_sum(closed: Sequence[ClosedResult]) -> float:
    """Σ(closeTimestamp − pendingAt) in integer milliseconds; NaN if a row lacks ``pending_at``
    (a restored row without it), which JavaScript would meet as ``undefined``."""
    total = 0
    for c in closed:
        if c.signal.pending_at is None:
            return math.nan
        total += c.close_timestamp - c.signal.pending_at
    return total


def _sum_durations(durations: Sequence[Any]) -> float:
    """``_duration_ms_sum`` over durations already subtracted (None: a row without ``pending_at``),
    added in the same order."""
    total = 0
    for d in durations:
        if d is None:
            return math.nan
        total += d
    return total


def compounded(pnls_newest_first: Sequence[float]) -> tuple[float, float]:
    """(compounded return %, maximum drawdown %) of the equity that compounds every trade's net
    PNL in turn, oldest first, from 1.0; the drawdown is the largest fall from a running peak
    (the starting equity counts as a peak), as a positive percentage (0 when it never fell).
    PNLs so large that the equity overflows a float give an infinite return and a NaN drawdown
    (inf / inf), quietly: they are absurd inputs, not a run's numbers to warn about."""
    if not pnls_newest_first:
        return math.nan, math.nan
    growth = 1.0 + np.asarray(pnls_newest_first[::-1], dtype=np.float64) / 100.0
    with np.errstate(over="ignore", invalid="ignore"):
        equity = np.cumprod(growth)
        peak = np.maximum(np.maximum.accumulate(equity), 1.0)
        drawdown = float(np.max(1.0 - equity / peak)) * 100.0
    return (float(equity[-1]) - 1.0) * 100.0, drawdown


def trade_metrics(m: PnlMetrics, avg_days: float, pnls: Sequence[float] = ()) -> dict[str, Any]:
    """The trade fields backtest and live statistics share, through the safe filter; ``avg_days``
    is the average trade duration in days (for the expected yearly returns); ``pnls`` the net PNL
    percentages newest first (for the compounded metrics)."""
    ret, dd = compounded(pnls)
    return {
        "compounded_return": safe(ret),
        "max_drawdown": safe(dd),
        "win_count": m.win_count,
        "loss_count": m.loss_count,
        "win_rate": safe(m.win_rate),
        "avg_pnl": safe(m.avg_pnl),
        "total_pnl": safe(m.total_pnl),
        "std_dev": safe(m.std_dev),
        "sharpe_ratio": safe(m.sharpe_ratio),
        "annualized_sharpe_ratio": safe(m.annualized_sharpe_ratio),
        "certainty_ratio": safe(m.certainty_ratio),
        "expected_yearly_returns": safe(expected_yearly_returns(m.avg_pnl, avg_days)),
    }


def backtest_statistics(closed: Sequence[ClosedResult], seen: int | None = None) -> BacktestStatistics:
    """``Backtest.get_data``: SPEC 12.2 over ``closed`` (newest first, as the store holds them).

    ``seen`` is how many closed signals the run produced in total (the store keeps only the
    newest CC_MAX_REPORT_EVENTS); it defaults to ``len(closed)`` and is never taken below it.
    """
    n = len(closed)
    seen_signals = max(n, seen if seen is not None else n)
    if n == 0:
        return BacktestStatistics(signal_list=(), total_signals=0, seen_signals=seen_signals, **EMPTY_TRADE_METRICS)
    packed = getattr(closed, "packed_view", False)
    if packed:  # the two columns the sums need, read off the packed chunks without building objects
        pnls, durations = closed.pnl_and_duration()
        duration_ms = _sum_durations(durations)
    else:
        pnls = [c.pnl.pnl_percentage for c in closed]
        duration_ms = _duration_ms_sum(closed)
    m = pnl_metrics(pnls)
    avg_duration_days = duration_ms / n / DAY_MS
    return BacktestStatistics(
        signal_list=closed if packed else tuple(closed),  # a store's view stays packed
        total_signals=n,
        **trade_metrics(m, avg_duration_days, pnls),
        seen_signals=seen_signals,
    )
