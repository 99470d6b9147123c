"""One-call registration of the built-in feeds as exchanges."""

from __future__ import annotations

import os

from ..registry import ExchangeSchema, add_exchange

__all__ = ["add_csv_exchange", "add_synthetic_exchange"]


def add_synthetic_exchange(exchange_name: str, seed: int = 42, note: str | None = None) -> ExchangeSchema:
    """A deterministic market for any symbol and minute: demos, tests, offline live runs."""
    from .synthetic import SyntheticFeed

    feed = SyntheticFeed(seed)
    return add_exchange(
        exchange_name,
        feed.get_candles,
        feed.format_price,
        feed.format_quantity,
        note=note or f"synthetic market (seed {seed})",
        columns=feed,
        symbols=feed.symbols(),
    )


def add_csv_exchange(
    exchange_name: str,
    path: str | os.PathLike,
    *,
    symbol: str | None = None,
    allow_gaps: bool = False,
    note: str | None = None,
) -> ExchangeSchema:
    """Candles from a CSV file or a folder of ``<SYMBOL>.csv`` files (1m rows; other intervals
    are aggregated). The files are read on first use, once."""
    from .csv_feed import CsvFeed

    feed = CsvFeed(path, symbol=symbol, allow_gaps=allow_gaps)
    return add_exchange(
        exchange_name,
        feed.get_candles,
        feed.format_price,
        feed.format_quantity,
        note=note or f"CSV candles from {os.fspath(path)}",
        columns=feed,
        symbols=feed.symbols(),
    )
