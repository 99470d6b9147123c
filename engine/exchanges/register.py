"""One-call registration of the built-in feeds as exchanges."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..registry import DuplicateError, ExchangeSchema, SchemaError, add_exchange, regs

__all__ = ["add_catalog_exchange", "add_ccxt_exchange", "add_csv_exchange", "add_synthetic_exchange"]


def _add_feed(exchange_name: str, feed: Any, note: str, **extra: Any) -> ExchangeSchema:
    """Register a built-in feed: its candles and formatting become the exchange's schema."""
    return add_exchange(exchange_name, feed.get_candles, feed.format_price, feed.format_quantity, note=note, **extra)


def add_synthetic_exchange(exchange_name: str, seed: int = 42, note: str | None = None) -> ExchangeSchema:
    """A deterministic market for any symbol and minute: demos, tests, offline live runs."""
    from .synthetic import SyntheticFeed

    feed = SyntheticFeed(seed)
    return _add_feed(
        exchange_name, feed, note or f"synthetic market (seed {seed})", columns=feed, symbols=feed.symbols()
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
    return _add_feed(
        exchange_name, feed, note or f"CSV candles from {os.fspath(path)}", columns=feed, symbols=feed.symbols()
    )


def add_catalog_exchange(
    exchange_name: str,
    path: str | os.PathLike = "data",
    *,
    exchange: str | None = None,
    note: str | None = None,
) -> ExchangeSchema:
    """Candles from a local catalog (``btk-console data download`` / ``data import`` fill it):
    the files of folder ``exchange`` (default: ``exchange_name``) under ``path``, memory-mapped.
    A run asking for minutes the catalog does not cover fails at once, naming what is missing."""
    from ..data.feed import CatalogFeed

    feed = CatalogFeed(path, exchange or exchange_name)
    return _add_feed(
        exchange_name,
        feed,
        note or f"catalog {os.fspath(path)}/{feed.exchange}",
        columns=feed,
        symbols=feed.symbols(),
    )


def add_ccxt_exchange(
    exchange_name: str,
    exchange_id: str,
    *,
    sandbox: bool = False,
    note: str | None = None,
    symbols: Iterable[str] = (),
    max_per_call: int | None = None,
    max_retries: int = 3,
    backoff_ms: float = 1000,
    log_requests: bool = False,
    cache: bool | str | os.PathLike = False,
    **options: Any,
) -> ExchangeSchema:
    """A real exchange through ccxt (``exchange_id`` as ccxt spells it, e.g. ``"binance"``).

    ``sandbox`` switches to the exchange's testnet. Other keyword arguments are ccxt constructor
    settings (``urls``, ``options``, ``timeout``, ``rateLimit``, ...). API keys are read from the
    environment only: ``BTK_<EXCHANGE_ID>_API_KEY``, ``_SECRET`` and ``_PASSWORD``. ``symbols``
    lists what pickers offer (empty: any symbol the exchange has). ``max_per_call`` overrides the
    candles-per-request cap ccxt knows; network errors are retried ``max_retries`` times after
    ``backoff_ms``, doubling. ``log_requests`` logs each request's URL (never headers or keys) to the
    engine log; ccxt's own ``verbose`` is refused because it prints the API key. Nothing is fetched
    until a run needs it.

    ``cache`` (``True`` for ``data/``, or a folder): backtests read the local catalog's folder named
    ``exchange_name`` first and download into it only the minutes it lacks, so the next backtest of
    the same range asks the exchange nothing; live runs always ask the exchange.
    """
    if isinstance(exchange_name, str) and regs().exchanges.has(exchange_name):
        raise DuplicateError(f"exchange {exchange_name} already exist")
    from .ccxt_feed import CcxtFeed

    feed = CcxtFeed(
        exchange_id,
        sandbox=sandbox,
        config=options,
        symbols=symbols,
        max_per_call=max_per_call,
        max_retries=max_retries,
        backoff_ms=backoff_ms,
        log_requests=log_requests,
    )
    label = note or f"ccxt {exchange_id}{' testnet' if sandbox else ''}"
    if cache is not False:
        if not isinstance(cache, bool | str | os.PathLike):
            raise SchemaError(f"exchange {exchange_name}: cache must be true or a catalog folder, got {cache!r}")
        from ..data.cached import CachedCcxtFeed

        root = "data" if cache is True else cache
        cached = CachedCcxtFeed(feed, root, exchange_name)
        return _add_feed(exchange_name, cached, label, columns=cached, symbols=feed.symbols)
    return _add_feed(exchange_name, feed, label, symbols=feed.symbols)
