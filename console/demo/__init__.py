"""The embedded demo project: what ``btk-console`` runs when there is no btk.toml.

A synthetic exchange (deterministic candles, no network), three strategies sharing one risk
profile, a 30-day frame and a walker that ranks the three strategies on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine import add_frame, add_synthetic_exchange, add_walker, list_frames

from . import risk, strategies

EXCHANGE = "demo-synthetic"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_DAYS = 30
WALKER = "demo-walker"
WALKER_METRIC = "sharpe_ratio"


def frame_name(days: int) -> str:
    return f"demo-{days}d"


def ensure_frame(days: int) -> str:
    """The 1m frame of ``days`` days from 2024-01-01 (registered on first use)."""
    name = frame_name(days)
    if name not in {f.frame_name for f in list_frames()}:
        add_frame(
            name,
            "1m",
            START,
            START + timedelta(days=days) - timedelta(minutes=1),
            note=f"{days} days of 1m frames from {START:%Y-%m-%d}",
        )
    return name


def register() -> dict[str, object]:
    """Register the demo's exchange, strategies and default frame; returns what was registered."""
    add_synthetic_exchange(EXCHANGE, seed=42, note="deterministic demo market (no network)")
    risk_name = risk.register()
    names = strategies.register(risk_name)
    frame = ensure_frame(DEFAULT_DAYS)
    add_walker(
        WALKER,
        EXCHANGE,
        frame,
        names,
        metric=WALKER_METRIC,
        note=f"the three demo strategies over {DEFAULT_DAYS} days, ranked by Sharpe ratio",
    )
    return {
        "exchange": EXCHANGE,
        "strategies": names,
        "frame": frame,
        "symbols": list(SYMBOLS),
        "risk": risk_name,
        "walker": WALKER,
    }
