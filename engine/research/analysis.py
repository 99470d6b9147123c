"""Is the edge real? Monte Carlo of a backtest's trades, the deflated Sharpe ratio and PBO.

- ``monte_carlo``: resample the trade sequence with replacement (seeded bootstrap), N paths; the
  5/50/95 percentiles of the total return and of the maximum drawdown, and the probability that
  the period ends in a loss.
- ``deflated_sharpe``: Bailey & López de Prado (2014). The best Sharpe ratio of N trials is
  compared with the largest Sharpe ratio N tries of a strategy *without* edge would be expected to
  show; the answer is the probability that the true Sharpe ratio is above that.
- ``pbo``: the probability of backtest overfitting from combinatorially symmetric cross-validation
  (Bailey, Borwein, López de Prado, Zhu 2015): how often the set that is best in sample ranks in
  the bottom half out of sample.

Returns are pnl percentages summed (the engine's ``total_pnl`` convention), not compounded.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "EULER_GAMMA",
    "Bands",
    "MonteCarlo",
    "Pbo",
    "deflated_sharpe",
    "expected_max_sharpe",
    "monte_carlo",
    "monte_carlo_paths",
    "pbo",
]

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


@dataclass(frozen=True, slots=True)
class Bands:
    p5: float
    p50: float
    p95: float


@dataclass(frozen=True, slots=True)
class MonteCarlo:
    paths: int
    trades: int
    seed: int | None
    total_return: Bands
    max_drawdown: Bands
    p_loss: float
    """Share of paths whose total return is below zero."""


def _drawdowns(paths: np.ndarray) -> np.ndarray:
    """Max drawdown of each row's running sum, counted from a starting level of 0."""
    level = np.cumsum(paths, axis=1)
    peak = np.maximum.accumulate(np.concatenate([np.zeros((paths.shape[0], 1)), level], axis=1), axis=1)[:, 1:]
    return np.max(peak - level, axis=1, initial=0.0)


def monte_carlo_paths(pnls: Sequence[float], index: np.ndarray, seed: int | None = None) -> MonteCarlo:
    """The bands of the paths ``pnls[index[k]]`` (one path per row); ``monte_carlo`` draws the rows."""
    p = np.asarray(pnls, dtype=np.float64)
    paths = p[np.asarray(index)]
    totals = paths.sum(axis=1)
    dd = _drawdowns(paths)

    def bands(x: np.ndarray) -> Bands:
        a, b, c = np.percentile(x, [5, 50, 95])
        return Bands(float(a), float(b), float(c))

    return MonteCarlo(
        paths=int(paths.shape[0]),
        trades=int(paths.shape[1]),
        seed=seed,
        total_return=bands(totals),
        max_drawdown=bands(dd),
        p_loss=float(np.mean(totals < 0)),
    )


def monte_carlo(pnls: Sequence[float], paths: int = 1000, seed: int = 0) -> MonteCarlo:
    """Bootstrap ``paths`` sequences of ``len(pnls)`` trades each (numpy PCG64 seeded by ``seed``)."""
    if len(pnls) == 0:
        raise ValueError("monte_carlo: no trades to resample")
    if not isinstance(paths, int) or paths < 1:
        raise ValueError(f"monte_carlo: paths must be an integer >= 1, got {paths!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    index = rng.integers(0, len(pnls), size=(paths, len(pnls)))
    return monte_carlo_paths(pnls, index, seed)


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR0: the expected largest Sharpe ratio of ``trials`` independent tries without edge whose
    Sharpe ratios vary with ``variance`` (the False Strategy theorem)."""
    if trials < 2:
        return 0.0
    a = _N.inv_cdf(1 - 1 / trials)
    b = _N.inv_cdf(1 - 1 / (trials * math.e))
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * a + EULER_GAMMA * b)


def deflated_sharpe(
    sharpe: float, observations: int, trials: int, sharpe_variance: float, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """DSR = Φ((SR − SR0)·√(T−1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)), every Sharpe ratio per period
    (not annualised); ``kurtosis`` is the plain (not excess) kurtosis of the returns."""
    if observations < 2:
        raise ValueError(f"deflated_sharpe: needs at least 2 returns, got {observations}")
    sr0 = expected_max_sharpe(trials, sharpe_variance)
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if denom <= 0:
        return float("nan")
    return _N.cdf((sharpe - sr0) * math.sqrt(observations - 1) / math.sqrt(denom))


def moments(returns: Sequence[float]) -> tuple[float, float, float]:
    """(Sharpe ratio per period, skewness, kurtosis) of a return series (population moments)."""
    r = np.asarray(returns, dtype=np.float64)
    sd = float(r.std())
    if r.size < 2 or sd == 0:
        return 0.0, 0.0, 3.0
    z = (r - r.mean()) / sd
    return float(r.mean() / sd), float(np.mean(z**3)), float(np.mean(z**4))


@dataclass(frozen=True, slots=True)
class Pbo:
    pbo: float
    splits: int
    combinations: int
    logits: tuple[float, ...]


def pbo(matrix: np.ndarray, splits: int = 8) -> Pbo | None:
    """CSCV over ``matrix`` (rows: periods in time order, columns: parameter sets). The rows are cut
    into ``splits`` equal blocks (the remainder at the end is dropped); every choice of half the
    blocks is an in-sample set and the rest its out-of-sample set. Performance is the mean return.
    None when the data does not allow it (fewer than 2 sets or fewer rows than blocks)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2 or splits < 2 or splits % 2 or m.shape[0] < splits:
        return None
    size = m.shape[0] // splits
    blocks = [m[i * size : (i + 1) * size] for i in range(splits)]
    logits = []
    n = m.shape[1]
    for chosen in itertools.combinations(range(splits), splits // 2):
        ins = np.concatenate([blocks[i] for i in chosen]).mean(axis=0)
        outs = np.concatenate([blocks[i] for i in range(splits) if i not in chosen]).mean(axis=0)
        best = int(np.argmax(ins))
        rank = int(np.sum(outs < outs[best])) + 1  # 1 = worst out of sample, n = best
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    return Pbo(float(np.mean(np.asarray(logits) <= 0)), splits, len(logits), tuple(logits))
