"""Monte Carlo, deflated Sharpe ratio and PBO against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.research.analysis import deflated_sharpe, expected_max_sharpe, monte_carlo, monte_carlo_paths, pbo


def test_monte_carlo_bands_by_hand():
    # paths: [2,-1,3] [-1,-1,-1] [3,3,2] [2,-1,-1]; totals 4,-3,8,0; drawdowns 1,3,0,2
    mc = monte_carlo_paths([2.0, -1.0, 3.0], np.array([[0, 1, 2], [1, 1, 1], [2, 2, 0], [0, 1, 1]]))
    assert (mc.total_return.p5, mc.total_return.p50, mc.total_return.p95) == pytest.approx((-2.55, 2.0, 7.4))
    assert (mc.max_drawdown.p5, mc.max_drawdown.p50, mc.max_drawdown.p95) == pytest.approx((0.15, 1.5, 2.85))
    assert mc.p_loss == 0.25  # a path ending at exactly 0 is not a loss
    assert (mc.paths, mc.trades) == (4, 3)


def test_monte_carlo_is_seeded():
    pnls = [1.0, -0.5, 0.25, -2.0, 1.5]
    assert monte_carlo(pnls, 200, seed=1) == monte_carlo(pnls, 200, seed=1)
    assert monte_carlo(pnls, 200, seed=1) != monte_carlo(pnls, 200, seed=2)
    assert monte_carlo([1.0, 2.0], 50, seed=3).p_loss == 0.0
    with pytest.raises(ValueError, match="no trades"):
        monte_carlo([], 10)


def test_expected_max_sharpe_by_hand():
    # (1-γ)·Φ⁻¹(1-1/1000) + γ·Φ⁻¹(1-1/(1000e)) = 0.42278·3.09023 + 0.57722·3.3758 ≈ 3.2551
    # (Φ⁻¹(0.9996321) read from a table between Φ(3.37) = 0.999624 and Φ(3.38) = 0.999638)
    assert expected_max_sharpe(1000, 1.0) == pytest.approx(3.2551, abs=3e-4)
    assert expected_max_sharpe(1000, 0.25) == pytest.approx(3.2551 / 2, abs=2e-4)
    assert expected_max_sharpe(1, 1.0) == 0.0


def test_deflated_sharpe_by_hand():
    # one trial: SR0 = 0; Φ(0.1·√252 / √(1 + 2/4·0.01)) = Φ(1.58350) ≈ 0.94334
    assert deflated_sharpe(0.1, 253, 1, 0.0) == pytest.approx(0.94334, abs=1e-4)
    # a thousand trials with the same Sharpe: SR0 = 3.2551·√0.0004 = 0.06510; z = 0.03490·15.8745/1.0025 = 0.5526
    assert deflated_sharpe(0.1, 253, 1000, 0.0004) == pytest.approx(0.7097, abs=5e-4)
    assert deflated_sharpe(0.1, 253, 1000, 0.01) < 0.01  # many varied trials: luck explains it


def test_pbo_by_hand():
    overfit = np.array([[1, 0, -1], [1, 0, -1], [-1, 0, 1], [-1, 0, 1]], dtype=float)
    res = pbo(overfit, splits=2)
    assert res is not None and res.pbo == 1.0 and res.combinations == 2
    assert res.logits == pytest.approx((np.log(1 / 3), np.log(1 / 3)))
    steady = np.array([[1, 0, -1]] * 4, dtype=float)
    assert pbo(steady, splits=2).pbo == 0.0
    assert pbo(steady[:, :1], splits=2) is None  # one set: nothing to compare
    assert pbo(steady, splits=8) is None  # fewer periods than blocks
