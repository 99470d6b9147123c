"""Builders shared by the report tests: closed results from a few numbers, and a clean column
and config state around every test (both are process-wide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from engine import config
from engine.model import ClosedResult, Pnl, SignalRow
from engine.reports import columns

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000


def make_closed(
    *,
    signal_id: str,
    open_m: int,
    close_m: int,
    pnl: float,
    price_open: float = 42_000.0,
    close_price: float = 43_000.0,
    reason: str = "take_profit",
    position: str = "long",
    symbol: str = "BTCUSDT",
    strategy: str = "case30",
    note: str = "",
) -> ClosedResult:
    """A closed result opened at ``T0 + open_m`` minutes and closed at ``T0 + close_m``."""
    row = SignalRow(
        id=signal_id,
        position=position,  # type: ignore[arg-type]
        price_open=price_open,
        price_take_profit=43_000.0,
        price_stop_loss=41_000.0,
        minute_estimated_time=30,
        symbol=symbol,
        exchange_name="binance",
        strategy_name=strategy,
        scheduled_at=T0 + open_m * MINUTE,
        pending_at=T0 + open_m * MINUTE,
        is_scheduled=False,
        note=note,
    )
    return ClosedResult(
        signal=row,
        current_price=close_price,
        strategy_name=strategy,
        exchange_name="binance",
        symbol=symbol,
        backtest=True,
        close_reason=reason,  # type: ignore[arg-type]
        close_timestamp=T0 + close_m * MINUTE,
        pnl=Pnl(pnl, price_open, close_price),
    )


def case30_trades(symbol: str = "BTCUSDT", strategy: str = "case30") -> list[ClosedResult]:
    """SPEC case 30's three trades, newest first as the store holds them."""
    t1 = make_closed(
        signal_id="t1",
        open_m=0,
        close_m=5,
        pnl=1.9763950335379084,
        price_open=42_000.0,
        close_price=43_000.0,
        symbol=symbol,
        strategy=strategy,
    )
    t2 = make_closed(
        signal_id="t2",
        open_m=6,
        close_m=15,
        pnl=-3.2836524915160497,
        price_open=42_220.0,
        close_price=41_000.0,
        reason="stop_loss",
        symbol=symbol,
        strategy=strategy,
    )
    t3 = make_closed(
        signal_id="t3",
        open_m=16,
        close_m=25,
        pnl=2.5144229633458957,
        price_open=41_780.0,
        close_price=43_000.0,
        symbol=symbol,
        strategy=strategy,
    )
    return [t3, t2, t1]


@pytest.fixture
def closed_factory() -> Callable[..., ClosedResult]:
    return make_closed


@pytest.fixture
def case30() -> list[ClosedResult]:
    return case30_trades()


@pytest.fixture
def trades30() -> Callable[..., list[ClosedResult]]:
    return case30_trades


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    columns.reset_columns()
    config.reset_config()
    yield
    columns.reset_columns()
    config.reset_config()
