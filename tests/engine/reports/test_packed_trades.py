"""A backtest's trades as columns (engine/reports/trade_columns.py, issue 14 item 2): what comes
back equals what went in, one row object a trade; milestones count as the objects count them; the
report stores that take the columns read exactly as the stores that heard the events."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import engine as e
from engine.model import ClosedResult, OpenedResult, Pnl, SignalRow
from engine.partial import LazyMilestones
from engine.testing import add_busy_backtest, reset_engine


def _trades(days: int = 3) -> list[e.Trade]:
    """A real backtest's trades as a listener sees them: opened, the lazy milestones sunk just
    before the closed result, closed."""
    add_busy_backtest(days, seed=11)
    eng = e.active_engine()
    opened: dict[str, OpenedResult] = {}
    lazy: dict[str, LazyMilestones] = {}
    trades: list[e.Trade] = []
    sink = eng.partials.lazy_sink

    def keep_lazy(batch: LazyMilestones) -> None:
        lazy[batch.row.id] = batch
        sink(batch)

    eng.partials.lazy_sink = keep_lazy

    def hear(r) -> None:
        if r.action == "opened":
            opened[r.signal.id] = r
        else:
            trades.append((opened.pop(r.signal.id), lazy.pop(r.signal.id, None), r))

    e.listen_signal(hear, actions=("opened", "closed"))

    async def main() -> None:
        async for _ in e.Backtest.run("BTCUSDT", strategy_name="many", exchange_name="synthetic", frame_name="f"):
            pass

    asyncio.run(main())
    return trades


def _heard(trades: list[e.Trade]) -> list[e.HeardTrade]:
    """The trades as a listener of ``Bus.opened_rows`` hears them: each open as its row."""
    return [(opened.signal, lazy, closed) for opened, lazy, closed in trades]


def test_trades_come_back_equal_with_one_row_a_trade_and_their_milestones_counted() -> None:
    """Packed from the rows, the trades come back with the opened results the run published
    (``opened_result`` is the rule the run built them by)."""
    trades = [t for t in _trades() if t[1] is not None]
    assert len(trades) > 100
    cols = e.TradeColumns.pack(_heard(trades))
    assert cols is not None and len(cols) == len(trades)
    assert (cols.symbol, cols.strategy_name, cols.backtest) == ("BTCUSDT", "many", True)
    back = cols.trades()
    assert back == [(o, lz, c) for o, lz, c in back]  # a list of triples
    for (o, lz, c), (o2, lz2, c2) in zip(trades, back):
        assert (o2, c2) == (o, c)
        assert o2.signal is c2.signal is lz2.row
        assert lz2.events() == lz.events() and lz2.backtest == lz.backtest
    assert cols.milestone_counts() == LazyMilestones.count_all([lz for _, lz, _ in trades])
    assert sum(cols.milestone_counts()) > 0
    assert [b.events() for b in cols.lazy_batches()] == [lz.events() for _, lz, _ in trades]
    assert cols.column("signal.scheduled_at") == [c.signal.scheduled_at for _, _, c in trades]


def _row(i: int, **kw) -> SignalRow:
    fields = {
        "id": f"{i:036d}",
        "position": "long",
        "price_open": 100.0,
        "price_take_profit": 101.0,
        "price_stop_loss": 99.0,
        "minute_estimated_time": 60,
        "symbol": "BTCUSDT",
        "exchange_name": "x",
        "strategy_name": "s",
        "scheduled_at": 1_000 * i,
        "pending_at": 1_000 * i,
        "is_scheduled": False,
    }
    return SignalRow(**{**fields, **kw})


def _trade(i: int, row: SignalRow | None = None, price: float = 100.0) -> e.Trade:
    row = row or _row(i)
    names = {"strategy_name": row.strategy_name, "exchange_name": row.exchange_name, "symbol": row.symbol}
    opened = OpenedResult(signal=row, current_price=price, backtest=True, **names)
    closed = ClosedResult(
        signal=row,
        current_price=101.0,
        backtest=True,
        close_reason="take_profit",
        close_timestamp=1_000 * i + 500,
        pnl=Pnl(0.0, 100.0, 101.0),
        **names,
    )
    return opened, None, closed


def test_what_does_not_fit_stays_objects() -> None:
    """Each of these would not come back the same from columns: ``pack`` says so (None)."""
    base = _heard([_trade(i) for i in range(4)])
    assert e.TradeColumns.pack(base) is not None
    assert [t[0] for t in e.TradeColumns.pack(base).trades()] == [_trade(i)[0] for i in range(4)]
    _, lz, c = base[1]
    other_row = _row(1)  # equal, but not the same object as the closed result's
    assert e.TradeColumns.pack([*base[:1], (other_row, lz, c)]) is None
    # a row whose names are not its closed result's: its opened result would name another pair
    renamed = _row(2, strategy_name="t")
    c2 = ClosedResult(**{**_closed_fields(base[2][2]), "signal": renamed})
    assert e.TradeColumns.pack([(renamed, None, c2)]) is None
    elsewhere = _heard([_trade(7, _row(7, symbol="ETHUSDT"))])[0]
    assert e.TradeColumns.pack([*base, elsewhere]) is None  # one pair a run of columns
    assert e.TradeColumns.pack([]) is None


def test_mixed_milestones_and_read_batches_stay_objects() -> None:
    trades = _heard([t for t in _trades(1) if t[1] is not None][:6])
    row, lz, c = trades[2]
    assert e.TradeColumns.pack([*trades[:2], (row, None, c)]) is None  # with and without milestones
    lz.events()  # read: its events are computed, the columns would drop them
    assert e.TradeColumns.pack(trades) is None


def _closed_fields(r: ClosedResult) -> dict:
    names = ("signal", "current_price", "strategy_name", "exchange_name", "symbol", "backtest")
    return {k: getattr(r, k) for k in (*names, "close_reason", "close_timestamp", "pnl")}


@pytest.mark.parametrize("chunk", [3, 1_000])
def test_stores_that_take_columns_read_as_stores_that_heard_the_events(chunk: int) -> None:
    """The backtest, partial and heat reports and the statistics of a store given the trades as
    columns (in pieces of ``chunk``, after a few as events) equal those of a store given every
    event."""
    trades = _trades()
    heard = _reports_of(trades, chunk=None)
    taken = _reports_of(trades, chunk=chunk)
    assert taken == heard
    assert TAKEN[-1] > len(trades) // 2  # most of them went as columns
    assert heard[1].total_signals == len(trades)


TAKEN: list[int] = []


def _reports_of(trades: list[e.Trade], chunk: int | None) -> tuple:
    reset_engine()
    TAKEN.append(0)
    eng = e.active_engine()
    bus, stores = eng.bus, eng.stores
    e.add_strategy("many", "1m", lambda *a: None)
    first = 5 if chunk is not None else len(trades)

    def publish(t: e.Trade) -> None:
        opened, lazy, closed = t
        bus.signal.emit_nowait(opened)
        if lazy is not None:
            eng.partials.lazy_sink(lazy)
        bus.signal_backtest.emit_nowait(closed)
        bus.signal.emit_nowait(closed)

    for t in trades[:first]:
        publish(t)
    rest = trades[first:]
    while rest and chunk is not None:
        piece, rest = rest[:chunk], rest[chunk:]
        parts = [[t for t in piece if t[1] is not None], [t for t in piece if t[1] is None]]
        for part in parts:
            cols = e.TradeColumns.pack(_heard(part))
            if cols is None:
                for t in part:
                    publish(t)
            else:
                assert stores.take_trades(cols)
                TAKEN[-1] += len(cols)
    stores.backtest_store.get(("BTCUSDT", "many")).pack()
    return (
        e.Backtest.get_report("BTCUSDT", "many"),
        e.Backtest.get_data("BTCUSDT", "many"),
        e.Partial.get_report("BTCUSDT", "many", True),
        e.Partial.get_data("BTCUSDT", "many", True),
        e.Heat.get_report("many", True),
    )


def test_stores_refuse_columns_where_their_hooks_would_keep_more() -> None:
    trades = _heard([_trade(i) for i in range(4)])
    cols = e.TradeColumns.pack(trades)
    assert cols is not None
    stores = e.active_engine().stores
    e.set_config(CC_MAX_REPORT_EVENTS=250)  # capped: the heat store keeps its own copy
    assert not stores.take_trades(cols)
    e.set_config(CC_MAX_REPORT_EVENTS=0)  # every event (the default)
    stores.quiet.add(("BTCUSDT", "s", True))  # a run that keeps no report
    assert not stores.take_trades(cols)
    assert stores.backtest_store.get(("BTCUSDT", "s")) is None
    stores.quiet.clear()
    assert stores.take_trades(cols)
    assert stores.backtest_store.get(("BTCUSDT", "s")).seen == 4


def test_compacted_milestones_hold_only_their_candles_and_read_the_same() -> None:
    """``_Lazy.compact`` (what a worker sends): each batch reads the same milestones at the same
    times from a copy of its own stretch. At the edges: a stretch from candle 0, one to the
    column's end, an empty one, two batches over the same candles, two columns (one with
    timestamps of a lane with gaps, one without)."""
    from engine.reports.packed import pack_lazy

    rng = np.random.default_rng(5)
    walk = 100.0 + np.cumsum(rng.normal(0.0, 0.2, 400))  # crosses 99 and 101 back and forth
    vw_a, vw_b = walk[:200].copy(), walk[200:].copy()
    ts_b = 5_000_000 + 60_000 * np.cumsum(rng.integers(1, 4, 200))  # minutes with gaps
    stretches = [(vw_a, None, 0, 50), (vw_a, None, 150, 200), (vw_a, None, 30, 30), (vw_b, ts_b, 10, 120)]
    stretches += [(vw_a, None, 0, 50), (vw_b, ts_b, 0, 200)]
    batches = [
        LazyMilestones(_row(i, position=("long", "short")[i % 2]), vw, 1_000_000, ts, k0, k1, True)
        for i, (vw, ts, k0, k1) in enumerate(stretches)
    ]
    packed = pack_lazy(batches)
    assert packed is not None and len(packed.columns) == 2
    small = packed.compact()
    # each column's stretches lie within twice their candles: its span is copied (own_stretches)
    assert [len(vw) for vw, _ in small.columns] == [200, 200]
    assert small.columns[1][1] is not None and small.columns[0][1] is None
    back = small.unpack()
    assert [b.events() for b in back] == [b.events() for b in batches]
    assert sum(len(b.events()) for b in batches) > 10  # milestones of both sides were reached
    assert LazyMilestones.count_all(back) == LazyMilestones.count_all(batches)


def test_a_stretch_of_a_chunk_is_what_packing_that_stretch_gives() -> None:
    """``_Closed.part`` (a worker's run of trades inside its store's chunk) equals ``pack_closed``
    of those results, at the chunk's edges and with rows and results kept whole or with notes
    on either side of the cut."""
    from engine.reports.packed import pack_closed

    trades = [_trade(i) for i in range(12)]
    odd_row = _row(4, id="short id")  # does not fit the id column: kept whole
    trades[4] = _trade(4, odd_row)
    trades[7] = _trade(7, _row(7, note="a note"))
    o, lz, c = trades[9]
    trades[9] = (o, lz, ClosedResult(**{**_closed_fields(c), "close_reason": "odd", "close_timestamp": 9}))
    results = [c for _, _, c in trades]
    chunk = pack_closed(results)
    assert chunk.whole and chunk.rows.whole and chunk.rows.notes  # each kind of exception is there
    for i, j in [(0, 12), (0, 1), (11, 12), (3, 5), (4, 8), (5, 10), (8, 12), (6, 6)]:
        part = chunk.part(i, j)
        assert part.unpack() == results[i:j]
        if j > i:
            assert part.unpack() == pack_closed(results[i:j]).unpack()
            assert part.column("signal.note") == pack_closed(results[i:j]).column("signal.note")
    assert chunk.part(0, 12) is chunk


def test_folded_chunks_give_columns_only_for_one_stretch_of_the_same_results() -> None:
    from engine.reports.packed import pack_closed

    results = [c for _, _, c in (_trade(i) for i in range(10))]
    later = [c for _, _, c in (_trade(i) for i in range(10, 14))]
    folded = e.FoldedChunks()
    assert not folded and folded.columns_of(results[:3]) is None
    folded.add(results, pack_closed(results))
    folded.add(later, later)  # a chunk its store could not pack stays a list: never found
    assert folded
    assert folded.columns_of(results).unpack() == results
    assert folded.columns_of(results[4:7]).unpack() == results[4:7]
    assert folded.columns_of(results[9:]).unpack() == results[9:]
    assert folded.columns_of([*results[8:], later[0]]) is None  # runs past the chunk's end
    assert folded.columns_of([results[2], results[4]]) is None  # not one stretch
    equal_copy = [ClosedResult(**_closed_fields(c)) for c in results[:2]]
    assert equal_copy == results[:2] and folded.columns_of(equal_copy) is None  # equal is not the same
    assert folded.columns_of(later) is None and folded.columns_of([]) is None
    second = [c for _, _, c in (_trade(i) for i in range(20, 25))]
    folded.add(second, pack_closed(second))  # found in the chunk that holds it, after the first
    assert folded.columns_of(second[1:4]).unpack() == second[1:4]
    assert folded.columns_of([*results[9:], second[0]]) is None  # across two chunks
    folded.clear()
    assert not folded and folded.columns_of(results) is None


def test_milestone_batches_find_their_columns_and_rows_in_any_order() -> None:
    """``pack_lazy``'s quick paths (one column for every batch; the batches' rows in the closed
    results' order) give what the general lookups give: a column is one only when both its VWAP
    and its timestamps are the same objects, and batches out of the results' order point at
    their own rows."""
    from engine.reports.packed import pack_closed, pack_lazy

    vw = np.linspace(99.0, 101.0, 50)
    ts, other_ts = np.arange(50, dtype=np.int64) * 60_000, np.arange(50, dtype=np.int64) * 60_000
    trades = [_trade(i) for i in range(4)]
    results = [c for _, _, c in trades]
    rows = pack_closed(results).rows

    def batches(tss, order):
        return [LazyMilestones(results[i].signal, vw, 0, t, 0, 10 + i, True) for i, t in zip(order, tss)]

    same = pack_lazy(batches([ts] * 4, range(4)), (rows, results))
    assert len(same.columns) == 1 and same.source.tolist() == [0, 0, 0, 0]
    assert same.rows.index.tolist() == [0, 1, 2, 3]
    # an equal timestamp column that is another object is another column, whichever batch has it
    for where in range(4):
        tss = [ts] * 4
        tss[where] = other_ts
        two = pack_lazy(batches(tss, range(4)), (rows, results))
        # numbered in order of first use: batch 0's column is column 0
        expected = [0, 1, 1, 1] if where == 0 else [int(k == where) for k in range(4)]
        assert len(two.columns) == 2 and two.source.tolist() == expected
    shuffled = pack_lazy(batches([ts] * 4, [2, 0, 3, 1]), (rows, results))
    assert shuffled.rows.index.tolist() == [2, 0, 3, 1]
    assert [b.row for b in shuffled.unpack([results[i].signal for i in (2, 0, 3, 1)])] == [
        results[i].signal for i in (2, 0, 3, 1)
    ]
    short = pack_lazy(batches([ts] * 3, range(3)), (rows, results))  # fewer batches than results
    assert short.rows.index.tolist() == [0, 1, 2]
