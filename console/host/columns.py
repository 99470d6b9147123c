"""A worker's batch with its runs of backtest trades as columns (``engine.TradeColumns``).

A fast backtest emits each trade as its opened row (heard through ``Bus.opened_rows``: the
worker builds no opened result), its lazy milestone batch (when it has milestones) and its closed
result, thousands of them a batch; the worker's collector keeps a trade heard whole as one
``(row, lazy, closed)`` item (``Outbox.closed``, console/host/child.py). The worker
sends each run of such trades of one pair as one ``("trades", columns)`` item; the console keeps
the columns in its report stores and folds them into its dashboard without building the objects
(console/host/remote.py), or turns them back into the same items when something else listens
(``expand``). What does not fit the pattern goes as it came, in its place, so the order of
everything in a batch holds; an opened row goes as the opened result it stands for
(``engine.opened_result``), the item the console's bridge takes.
"""

from __future__ import annotations

from typing import Any

import engine

__all__ = ["MIN_TRADES", "expand", "to_columns"]

MIN_TRADES = 4
"""Trades a run needs to go as columns: a lone trade between other events costs no more as objects."""


def to_columns(items: list[Any], folded: engine.FoldedChunks | None = None) -> list[tuple[str, Any]]:
    """``items`` (``(kind, value)`` tuples; an opened row or a lazy batch as itself; a trade
    heard whole as its ``(row, lazy, closed)``) with each
    run of at least ``MIN_TRADES`` trades heard whole of one pair (all
    with milestones, or all without) replaced by one ``("trades", TradeColumns)`` item in its
    place, the other trades by their three items, and every other opened row by its opened
    result. ``folded``: the chunks the worker's report stores packed these closed results into
    (their columns are sent, not packed again)."""
    out: list[tuple[str, Any]] = []
    run: list[engine.HeardTrade] = []
    pair: tuple[str, str, bool] | None = None
    held: list[tuple[str, Any]] = []  # timing samples met within a run of trades: they go after it
    for item in items:
        if type(item) is not tuple:  # an opened row or a lazy batch as the engine gave it (child.py ``listen``)
            item = ("opened_row", item) if type(item) is engine.SignalRow else ("partial_lazy", item)
        if len(item) == 3:  # a trade heard whole (``Outbox.closed``): its row, lazy batch, closed result
            closed = item[2]
            here = (closed.symbol, closed.strategy_name, item[1] is None)  # columns hold one kind
            if run and here != pair:
                _close_run(out, run, folded)
                run = []
            pair = here
            run.append(item)
            continue
        kind, value = item
        if kind == "timings" and run:  # another store's: the run stays one (each cut cost a pack)
            held.append(item)
            continue
        if run:
            _close_run(out, run, folded)
            run = []
            out += held
            held.clear()
        out.append(("signal", engine.opened_result(value, True)) if kind == "opened_row" else item)
    _close_run(out, run, folded)
    return out + held


def _close_run(out: list[tuple[str, Any]], run: list[engine.HeardTrade], folded: engine.FoldedChunks | None) -> None:
    """Append ``run`` to ``out``: as columns when it is long enough and fits, else as it came."""
    if not run:
        return
    columns = engine.TradeColumns.pack(run, folded) if len(run) >= MIN_TRADES else None
    if columns is not None:
        out.append(("trades", columns))
    else:
        _as_items(out, [(engine.opened_result(row, True), lazy, closed) for row, lazy, closed in run])


def expand(columns: engine.TradeColumns) -> list[tuple[str, Any]]:
    """The items ``columns`` stands for, in order (equal objects)."""
    out: list[tuple[str, Any]] = []
    _as_items(out, columns.trades())
    return out


def _as_items(out: list[tuple[str, Any]], trades: list[engine.Trade]) -> None:
    for opened, lazy, closed in trades:
        out.append(("signal", opened))
        if lazy is not None:
            out.append(("partial_lazy", lazy))
        out.append(("closed_backtest", closed))
