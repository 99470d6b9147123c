"""``candle_source``: an optimizer source over any feed that serves candle columns.

The common first source of an optimizer is the market itself. This turns a feed with a
``columns(symbol, interval, start_ms, end_ms)`` method (``SyntheticFeed``, the CSV and catalog
feeds) into the ``fetch(symbol, start_date, end_date, limit, offset)`` SPEC 13.2 pages through,
one row per candle with its open time as ``id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..model import CANDLE_INTERVALS
from ..registry import ColumnSource, SchemaError, to_ms

__all__ = ["candle_source"]


def candle_source(name: str, feed: ColumnSource, interval: str = "1h", *, note: str | None = None) -> dict[str, Any]:
    """A source mapping for ``add_optimizer`` serving ``interval`` candles of ``feed``."""
    if interval not in CANDLE_INTERVALS:
        raise SchemaError(f"candle_source {name}: interval must be one of {', '.join(CANDLE_INTERVALS)}")
    if not callable(getattr(feed, "columns", None)):
        raise SchemaError(f"candle_source {name}: the feed needs a columns(symbol, interval, start_ms, end_ms) method")
    cache: dict[tuple[str, int, int], Any] = {}

    def fetch(symbol: str, start_date: datetime, end_date: datetime, limit: int, offset: int) -> list[dict[str, Any]]:
        key = (symbol, to_ms(start_date), to_ms(end_date))
        if key not in cache:
            cache.clear()  # one range at a time: pages of the same range reuse it
            cache[key] = feed.columns(symbol, interval, key[1], key[2])
        cols = cache[key]
        stop = min(offset + limit, len(cols))
        return [
            {
                "id": int(cols.timestamp[i]),
                "time": datetime.fromtimestamp(int(cols.timestamp[i]) / 1000, tz=UTC).isoformat(),
                "open": float(cols.open[i]),
                "high": float(cols.high[i]),
                "low": float(cols.low[i]),
                "close": float(cols.close[i]),
                "volume": float(cols.volume[i]),
            }
            for i in range(offset, stop)
        ]

    return {"name": name, "fetch": fetch, "note": note or f"{interval} candles"}
