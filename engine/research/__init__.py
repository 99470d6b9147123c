"""Strategy research: parameter sweeps (grid, random, Optuna) on every core or on Ray, walk-forward,
Monte Carlo of trades and the overfitting guards (deflated Sharpe ratio, PBO).

Only the light parts load with ``import engine``; the sweep machinery loads on first use.
"""

from __future__ import annotations

from .params import Choice, FloatParam, IntParam, ParamError

__all__ = ["Choice", "FloatParam", "IntParam", "ParamError"]
