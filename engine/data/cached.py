"""A ccxt exchange whose backtests read the local catalog first (``cache = true``).

Without it every backtest on a real exchange downloads its candles again, page by page, through
the engine's generic ``get_candles`` path. With it, a backtest asks the catalog: what the catalog
covers is served memory-mapped (the column fast path, as ``kind = "catalog"``), and what it lacks is
downloaded once into it (``download_symbol``: chunked, resumable, locked per symbol, never the
candle still forming) before the run reads it. The second run of the same range asks the exchange
nothing.

Live runs never read the cache: a live strategy needs the exchange's candle of this minute, so the
feed marks its columns ``backtest_only`` and the engine takes the ordinary ccxt path for them.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from engine.candles import SourceError
from engine.exchanges.ccxt_feed import CcxtFeed
from engine.model import MINUTE_MS, CandleColumns

from .catalog import CatalogError, iso
from .download import download_symbol
from .feed import CatalogFeed

__all__ = ["CacheFillError", "CachedCcxtFeed"]


class CacheFillError(CatalogError, SourceError):
    """The minutes a backtest needs could not be put in the catalog (the exchange failed after its
    retries, another process is writing the file): the run fails at once, with this reason."""


class CachedCcxtFeed:
    """``ccxt`` for live runs and downloads, the catalog folder ``exchange`` under ``root`` for
    backtests. The engine awaits ``prepare`` before it reads ``columns`` for a backtest."""

    backtest_only = True  # the engine uses ``columns`` for backtests only (live asks ccxt)

    def __init__(self, ccxt_feed: CcxtFeed, root: str | os.PathLike[str], exchange: str) -> None:
        self.ccxt = ccxt_feed
        self.catalog_feed = CatalogFeed(root, exchange)
        self.catalog = self.catalog_feed.catalog
        self.exchange = exchange

    def __repr__(self) -> str:
        return f"CachedCcxtFeed({self.ccxt!r}, {str(self.catalog.root)!r}, {self.exchange!r})"

    @property
    def symbols(self) -> list[str]:
        return self.ccxt.symbols

    async def prepare(self, symbol: str, start_ms: int, end_ms: int) -> None:
        """Download into the catalog the closed minutes of ``[start_ms, end_ms)`` it does not hold
        (the range is widened to whole minutes; nothing is fetched when it is all there)."""
        start = start_ms // MINUTE_MS * MINUTE_MS
        end = -(-end_ms // MINUTE_MS) * MINUTE_MS
        try:
            await download_symbol(self.catalog, self.exchange, self.ccxt, symbol, start, end)
        except SourceError:
            raise
        except Exception as exc:
            raise CacheFillError(
                f"{self.ccxt.exchange_id} {symbol}: could not fill the catalog {self.catalog.root}/{self.exchange} "
                f"for {iso(start)}..{iso(end)}: {exc}"
            ) from exc

    def columns(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, *, until_ms: int | None = None
    ) -> CandleColumns:
        return self.catalog_feed.columns(symbol, interval, start_ms, end_ms, until_ms=until_ms)

    def columns_checked(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, factor: float
    ) -> tuple[CandleColumns, bool]:
        return self.catalog_feed.columns_checked(symbol, interval, start_ms, end_ms, factor)

    async def get_candles(self, symbol: str, interval: str, since: datetime, limit: int) -> Any:
        return await self.ccxt.get_candles(symbol, interval, since, limit)

    async def format_price(self, symbol: str, price: float) -> str:
        return await self.ccxt.format_price(symbol, price)

    async def format_quantity(self, symbol: str, quantity: float) -> str:
        return await self.ccxt.format_quantity(symbol, quantity)

    async def close(self) -> None:
        await self.ccxt.close()
