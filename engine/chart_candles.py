"""Candles of a finished or running run's market, read from outside any run (a console's chart).

``get_candles`` (engine/helpers.py) only works inside a strategy: it reads "now" and the exchange
from the run's context. A chart needs the candles of a period it names, coarse enough to fit its
width, so this asks the registered exchange directly through a client of its own: a chart never
grows or evicts the stores a run reads (DESIGN 3's candle contract makes the answers the same).
"""

from __future__ import annotations

from . import config, registry
from .candles import ExchangeClient
from .model import CANDLE_INTERVALS, MINUTE_MS
from .window import CandleWindow

__all__ = ["chart_interval", "read_candles"]


def chart_interval(start_ms: int, end_ms: int, max_candles: int) -> str:
    """The shortest candle interval that covers ``[start_ms, end_ms]`` in at most ``max_candles``
    candles (the longest interval when none does)."""
    span = max(0, end_ms - start_ms)
    for name, minutes in CANDLE_INTERVALS.items():
        if span // (minutes * MINUTE_MS) + 1 <= max_candles:
            return name
    return next(reversed(CANDLE_INTERVALS))


async def read_candles(
    exchange_name: str, symbol: str, start_ms: int, end_ms: int, max_candles: int = 200
) -> tuple[str, CandleWindow]:
    """The candles of ``symbol`` on ``exchange_name`` opening in ``[start_ms, end_ms]``, at the
    interval ``chart_interval`` picks; returns ``(interval, candles)``. Raises ``NotFoundError``
    for an exchange that is not registered and ``CandleError`` when the exchange fails."""
    if max_candles < 1:
        raise ValueError(f"read_candles: max_candles must be at least 1, got {max_candles}")
    if end_ms < start_ms:
        raise ValueError(f"read_candles: end {end_ms} is before start {start_ms}")
    schema = registry.exchanges.get(exchange_name, "read_candles")
    interval = chart_interval(start_ms, end_ms, max_candles)
    store = ExchangeClient(schema, backtest=True).store(symbol, interval)
    lo = -(-start_ms // store.step_ms)
    hi = end_ms // store.step_ms + 1
    await store.ensure(lo, hi, config.current())
    return interval, store.window(lo, hi)
