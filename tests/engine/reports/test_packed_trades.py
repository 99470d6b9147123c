"""A backtest's trades as columns (engine/reports/trade_columns.py, issue 14 item 2): what comes
back equals what went in, one row object a trade; milestones count as the objects count them; the
report stores that take the columns read exactly as the stores that heard the events."""

from __future__ import annotations

import asyncio

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


def test_trades_come_back_equal_with_one_row_a_trade_and_their_milestones_counted() -> None:
    trades = [t for t in _trades() if t[1] is not None]
    assert len(trades) > 100
    cols = e.TradeColumns.pack(trades)
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
    base = [_trade(i) for i in range(4)]
    assert e.TradeColumns.pack(base) is not None
    o, lz, c = base[1]
    other_row = _row(1)  # equal, but not the same object as the closed result's
    assert e.TradeColumns.pack([*base[:1], (o.__class__(**{**_fields(o), "signal": other_row}), lz, c)]) is None
    int_price = OpenedResult(**{**_fields(o), "current_price": 100})  # an int: would come back a float
    assert e.TradeColumns.pack([(int_price, None, c)]) is None
    elsewhere = _trade(7, _row(7, symbol="ETHUSDT"))
    assert e.TradeColumns.pack([*base, elsewhere]) is None  # one pair a run of columns
    assert e.TradeColumns.pack([]) is None


def test_mixed_milestones_and_read_batches_stay_objects() -> None:
    trades = [t for t in _trades(1) if t[1] is not None][:6]
    o, lz, c = trades[2]
    assert e.TradeColumns.pack([*trades[:2], (o, None, c)]) is None  # with and without milestones
    lz.events()  # read: its events are computed, the columns would drop them
    assert e.TradeColumns.pack(trades) is None


def _fields(r) -> dict:
    return {
        k: getattr(r, k) for k in ("signal", "current_price", "strategy_name", "exchange_name", "symbol", "backtest")
    }


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
            cols = e.TradeColumns.pack(part)
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
    trades = [_trade(i) for i in range(4)]
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
