"""A worker's runs of backtest trades go to the console as columns (console/host/columns.py,
``engine.TradeColumns``, issue 14 item 2). The batch's order holds; the dashboard folded from
columns reads exactly as the dashboard folded from the objects (log lines and their keys,
milestone lines, counters, curve, clock), at the edges too (a curve thinned, logs shorter than a
run of trades and read between batches, a PnL of exactly zero); where the shortcut would not be
the same, the objects are folded; and a listener of the project's own hears every event."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest
from conftest import fixed_clock

import engine
from console import state as state_mod
from console.app import BtkApp
from console.host import child, columns, remote, wire
from console.project import load_project
from console.state import DashboardState, MilestoneBatch, RunLog, RunView, ScheduledView, run_id
from engine.model import ClosedResult, OpenedResult, Pnl, SignalRow
from engine.testing import add_busy_backtest

RID = run_id("backtest", "BTCUSDT", "many")


class Pipe:
    """The worker's end of the pipe: what it sends, unpickled."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send_bytes(self, raw: bytes) -> None:
        self.sent.append(wire.decode(raw))


def _batches(days: int = 5) -> list[list[tuple[str, Any]]]:
    """A real backtest's batches as the worker sends them (its hooks, its outbox, its pickling):
    short trades with their milestones, thousands of items."""
    add_busy_backtest(days, seed=5)
    pipe = Pipe()
    out = child.Outbox(pipe)  # type: ignore[arg-type]
    child.listen(engine.active_engine(), out)

    async def main() -> None:
        async for _ in engine.Backtest.run("BTCUSDT", strategy_name="many", exchange_name="synthetic", frame_name="f"):
            pass

    asyncio.run(main())
    out.flush(None)
    return [message[1] for message in pipe.sent]


def _events(items: list[tuple[str, Any]], *, as_columns: bool) -> list[Any]:
    """What the bridge hands the dashboard for a batch: columns as they are, or the objects."""
    out: list[Any] = []
    for kind, value in items:
        if kind == "trades" and not as_columns:
            out += _events(columns.expand(value), as_columns=False)
        elif kind == "trades" or kind in ("signal", "closed_backtest"):
            out.append(value)
        elif kind == "partial_lazy":
            out.append(MilestoneBatch(value))
    return out


def _state(mode: str = "backtest", maxlen: int = 7) -> DashboardState:
    st = DashboardState()
    st.signal_log, st.milestone_log = RunLog(maxlen=maxlen), RunLog(maxlen=maxlen)
    if mode == "walker":
        st.add_walker(RunView("walker:BTCUSDT:w", "walker", "BTCUSDT", "w", "synthetic"), "sharpe", ["many"])
    else:
        st.add_run(RunView(RID, "backtest", "BTCUSDT", "many", "synthetic", status="running"))
    return st


def _digest(st: DashboardState) -> tuple:
    return (
        [list(st.signal_log.of(r)) for r in (None, RID)],
        [list(st.milestone_log.of(r)) for r in (None, RID)],
        (st.signal_log.count(None), st.milestone_log.count(None)),
        [(r.trades, r.wins, r.total_pnl, list(r.equity), r.sim_time) for r in st.runs.values()],
        sorted(st.positions.items()),
        sorted(st.scheduled.items()),
    )


def test_a_batch_keeps_its_order_and_its_items_as_columns(monkeypatch) -> None:
    batches = _batches()
    items = [item for batch in batches for item in batch]
    blocks = [v for k, v in items if k == "trades"]
    assert len(blocks) >= 3 and sum(map(len, blocks)) > 500  # most trades went as columns
    assert sum(k == "signal" for k, _ in items) < 50  # the few left: runs too short, open positions
    for batch in batches:  # each message, expanded, is the objects the worker would have sent
        plain = [x for k, v in batch for x in (columns.expand(v) if k == "trades" else [(k, v)])]
        again = columns.to_columns(_heard(plain, monkeypatch))
        assert [(k, type(v)) for k, v in again] == [(k, type(v)) for k, v in batch]
        back = [x for k, v in again for x in (columns.expand(v) if k == "trades" else [(k, v)])]
        assert list(map(_comparable, back)) == list(map(_comparable, plain))


def _heard(plain: list[tuple[str, Any]], monkeypatch) -> list[tuple[str, Any]]:
    """``plain`` (the items the console gets as objects) as the worker's collector holds them:
    each open heard as its row (``Bus.opened_rows``), each trade heard whole as one item
    (``Outbox.closed``), all in one batch."""
    monkeypatch.setattr(child, "SEND_SLICE", 10**9)
    out = child.Outbox(Pipe())  # type: ignore[arg-type]
    for kind, value in plain:
        if kind == "signal" and value.action == "opened":
            out.items.append(value.signal)  # as the engine's hooks append them (child.py ``listen``)
        elif kind == "partial_lazy":
            out.items.append(value)
        elif kind == "closed_backtest":
            out.closed(value)
        else:
            out.items.append((kind, value))
    return out.items


def test_a_workers_trades_go_in_the_columns_its_store_packed_once_and_no_message_splits_one(monkeypatch) -> None:
    """The worker packs a trade's closed result once, as a headless run does: its backtest store
    folds at each batch and the batch sends those columns (``engine.FoldedChunks``); to_columns
    packs nothing again. The batch is cut into messages after its trades became columns, so a
    message's edge never falls inside a trade; every closed result arrives once, in order."""
    from engine.reports import packed, stores, trade_columns

    packed_here: dict[str, int] = {"store": 0, "again": 0}

    def counting(where: str) -> Any:
        def pack_closed(results: list[ClosedResult]) -> Any:
            packed_here[where] += len(results)
            return packed.pack_closed(results)

        return pack_closed

    monkeypatch.setattr(stores, "pack_closed", counting("store"))
    monkeypatch.setattr(trade_columns, "pack_closed", counting("again"))
    monkeypatch.setattr(child, "SEND_SLICE", 50)  # many messages a batch
    batches = _batches(3)
    closed = [
        c for batch in batches for k, v in batch for c in ([t[2] for t in v.trades()] if k == "trades" else [v])
        if k in ("trades", "closed_backtest")
    ]  # fmt: skip
    kept = engine.Backtest.get_data("BTCUSDT", "many")
    assert len(closed) == kept.total_signals > 300
    assert [c.signal.id for c in closed] == [c.signal.id for c in reversed(kept.signal_list)]
    assert packed_here == {"store": len(closed), "again": 0}  # each packed once, by the store
    assert sum(k == "trades" for batch in batches for k, _ in batch) > 5
    for batch in batches:
        assert len(batch) <= 50
        opened = {v.signal.id for k, v in batch if k == "signal" and v.action == "opened"}
        assert all(v.signal.id in opened for k, v in batch if k == "closed_backtest")  # no trade split


def _comparable(item: tuple[str, Any]) -> tuple:
    """A lazy milestone batch by its signal and its milestones (it has no equality of its own)."""
    kind, value = item
    return (kind, value.row, value.events()) if kind == "partial_lazy" else item


def _trade(i: int, pnl: float, *, lazy: bool = False) -> list[tuple[str, Any]]:
    """A trade as the worker's collector holds it: one item (its row, no milestones, its result)."""
    row = SignalRow(
        id=f"{i:036d}", position="long", price_open=100.0, price_take_profit=101.0, price_stop_loss=99.0,
        minute_estimated_time=60, symbol="BTCUSDT", exchange_name="x", strategy_name="s",
        scheduled_at=60_000 * i, pending_at=60_000 * i, is_scheduled=False,
    )  # fmt: skip
    names = {"strategy_name": "s", "exchange_name": "x", "symbol": "BTCUSDT", "backtest": True}
    closed = ClosedResult(
        signal=row, current_price=100.0, close_reason="time_expired", close_timestamp=60_000 * i + 1,
        pnl=Pnl(pnl, 100.0, 100.0), **names,
    )  # fmt: skip
    return [(row, None, closed)]


def _as_sent(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``items`` as the console gets them when they go as objects: each trade as its opened
    result (rebuilt from its row) and its closed result."""
    out: list[tuple[str, Any]] = []
    for item in items:
        if len(item) == 3:  # a trade heard whole
            out += [("signal", engine.opened_result(item[0], True)), ("closed_backtest", item[2])]
        else:
            out.append(item)
    return out


def test_runs_break_where_a_trade_would_not_fit_and_stay_in_place() -> None:
    """Two pairs, a note between trades, a run too short: each stays an item in its place."""
    items = [*_trade(1, 1.0), *_trade(2, 0.0), *_trade(3, -1.0), *_trade(4, 2.0), *_trade(5, 0.5)]
    items += [("log", ("info", "note")), *_trade(6, 1.0), *_trade(7, 1.0)]
    got = columns.to_columns(items)
    assert [k for k, _ in got] == ["trades", "log", "signal", "closed_backtest", "signal", "closed_backtest"]
    assert len(got[0][1]) == 5
    assert [x for k, v in got for x in (columns.expand(v) if k == "trades" else [(k, v)])] == _as_sent(items)
    names = {"strategy_name": "s", "exchange_name": "x", "symbol": "BTCUSDT", "backtest": True}
    assert _as_sent(items)[0][1] == OpenedResult(signal=items[0][0], current_price=100.0, **names)


@pytest.mark.parametrize("points", [40, state_mod.EQUITY_POINTS])
@pytest.mark.parametrize("maxlen", [7, 500])
def test_the_dashboard_folds_columns_as_it_folds_their_objects(monkeypatch, points: int, maxlen: int) -> None:
    """Batch by batch, with the logs read after some of them and not others: the same lines (to
    their keys), counts, curve (thinned past ``points``), clock and positions either way."""
    monkeypatch.setattr(state_mod, "EQUITY_POINTS", points)
    batches = _batches()
    folded_as_columns: list[int] = []
    original = DashboardState._apply_trades_one_by_one
    monkeypatch.setattr(
        DashboardState,
        "_apply_trades_one_by_one",
        lambda self, t: folded_as_columns.append(-len(t)) or original(self, t),
    )
    fast, slow = _state(maxlen=maxlen), _state(maxlen=maxlen)
    for n, batch in enumerate(batches):
        fast.apply(_events(batch, as_columns=True))
        slow.apply(_events(batch, as_columns=False))
        if n % 3 == 1:
            assert _digest(fast) == _digest(slow)
    assert _digest(fast) == _digest(slow)
    assert folded_as_columns == []  # no run of trades took the objects' way
    run = fast.runs[RID]
    assert run.trades > 500 and fast.milestone_log.count(RID) > 0
    if points == 40:
        assert len(run.equity) <= 40  # thinned, as one by one


def test_a_zero_pnl_is_no_win_and_the_clock_starts_with_the_first_trade() -> None:
    items = columns.to_columns([x for i in range(1, 7) for x in _trade(i, (0.0, 1.5, -0.0, 2.0, 0.0, -1.0)[i - 1])])
    assert [k for k, _ in items] == ["trades"]
    rid = run_id("backtest", "BTCUSDT", "s")
    fast, slow = DashboardState(), DashboardState()
    for st in (fast, slow):
        st.add_run(RunView(rid, "backtest", "BTCUSDT", "s", "x", status="running"))
    fast.apply(_events(items, as_columns=True))
    slow.apply(_events(items, as_columns=False))
    assert list(fast.log_of(rid)) == list(slow.log_of(rid))
    assert (fast.runs[rid].wins, fast.runs[rid].trades, fast.runs[rid].sim_time) == (2, 6, 6 * 60_000 + 1)
    assert fast.runs[rid].equity == slow.runs[rid].equity and fast.runs[rid].total_pnl == slow.runs[rid].total_pnl


@pytest.mark.parametrize("before", ["scheduled", "position", "walker"])
def test_where_the_shortcut_would_differ_the_objects_are_folded(monkeypatch, before: str) -> None:
    """A limit entry waiting or a position shown for the run (a trade may close it), or a walker
    (its strategies switch): folded one by one, to the same state."""
    batches = _batches(1)
    calls: list[int] = []
    original = DashboardState._apply_trades_one_by_one
    monkeypatch.setattr(
        DashboardState, "_apply_trades_one_by_one", lambda self, t: calls.append(len(t)) or original(self, t)
    )
    states = []
    for as_columns in (True, False):
        st = _state("walker" if before == "walker" else "backtest")
        rid = "walker:BTCUSDT:w" if before == "walker" else RID
        if before == "scheduled":
            st.scheduled[(rid, "x")] = ScheduledView(rid, "x", "BTCUSDT", "many", "long", 1.0, 1.0, 0, 0)
        elif before == "position":
            first = next(v for k, v in batches[0] if k == "trades").trades()[0][0]
            st.apply([first])  # the first trade's opened result: the run shows its position
        for batch in batches:
            st.apply(_events(batch, as_columns=as_columns))
        states.append(_digest(st))
    assert calls  # the objects' way was taken
    assert states[0] == states[1]


def _remote(on_trades: list[Any], heard: bool) -> remote.RemoteRun:
    run = object.__new__(remote.RemoteRun)
    run.engine = engine.active_engine()
    run._results = deque()
    run.on_milestones = None
    run.on_trades = on_trades.append
    run.columns_heard = lambda: heard
    return run


@pytest.mark.parametrize("heard", [True, False])
def test_a_listener_of_the_projects_own_hears_every_event(heard: bool) -> None:
    """Columns reach the report stores and the dashboard only while nobody else listens to the
    console's signal streams; otherwise each trade is published as its events."""
    batches = _batches(1)
    from engine.testing import reset_engine

    reset_engine()
    engine.add_strategy("many", "1m", lambda *a: None)
    heard_events: list[str] = []
    engine.listen_signal(lambda r: heard_events.append(r.action), actions=("opened", "closed"))
    given: list[Any] = []
    run = _remote(given, heard)

    async def publish() -> None:
        for batch in batches:
            await run._publish(batch)

    asyncio.run(publish())
    trades = engine.Backtest.get_data("BTCUSDT", "many").total_signals
    in_columns = sum(len(v) for batch in batches for k, v in batch if k == "trades")
    assert in_columns > 100
    assert trades == sum(k == "closed_backtest" for batch in batches for k, _ in batch) + in_columns
    if heard:
        assert sum(map(len, given)) == in_columns and heard_events.count("closed") == trades - in_columns
    else:
        assert given == [] and heard_events.count("closed") == trades and heard_events.count("opened") >= trades


async def test_the_console_takes_columns_only_while_its_dashboard_alone_listens(project_dir, no_settings) -> None:
    with engine.Engine().activate():
        app = BtkApp(load_project(project_dir / "btk.toml"), clock=fixed_clock, save_settings=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app._columns_heard()
            stop = engine.listen_signal(lambda r: None)  # a notifier of the project's own
            assert not app._columns_heard()
            stop()
            assert app._columns_heard()
            stop = engine.listen_signal_backtest(lambda r: None)
            assert not app._columns_heard()
            stop()


@pytest.mark.parametrize("where", ["closed", "row"])
@pytest.mark.parametrize("name", ["symbol", "strategy_name", "exchange_name"])
def test_one_trade_of_another_pair_keeps_the_run_out_of_columns(where: str, name: str) -> None:
    """``TradeColumns.pack`` holds one pair: a trade whose closed result or row names another
    symbol, strategy or exchange (the last of five, so the first trade's names are the run's)
    leaves every trade as objects; the same five with the names all alike go as columns."""
    from dataclasses import replace

    trades = [_trade(n, 1.0)[0] for n in range(1, 6)]
    assert engine.TradeColumns.pack(trades) is not None
    row, lazy, closed = trades[-1]
    if where == "row":
        row = replace(row, **{name: "other"})
        closed = replace(closed, signal=row)
    else:
        closed = replace(closed, **{name: "other"})
    assert engine.TradeColumns.pack([*trades[:-1], (row, lazy, closed)]) is None


def test_the_clock_and_the_curve_of_a_batch_are_those_of_its_trades_one_by_one(monkeypatch) -> None:
    """``_clock_after`` and ``_extended`` (a batch of trades as columns) against the rule a trade
    at a time (``_apply_result``): the clock's ``max(now or t, t)`` with no time yet, times of
    zero and before 1970 on the way; the curve thinned each time it is full, whatever its size."""
    from console.state import _clock_after, _extended

    def clock_one_by_one(now, opened_at, closed_at):
        for opened, closed in zip(opened_at, closed_at):
            now = max(now or opened, opened)
            now = max(now or closed, closed)
        return now

    times = [[], [5], [5, 9], [0, 3], [3, 0, 2], [-5, 0, -3], [-7, -2], [1, 2, 3, 1]]
    for now in (None, 0, 4, 10, -6):
        for opened in times:
            for closed in ([t + 1 for t in opened], [t - 1 for t in opened], list(reversed(opened))):
                expected = clock_one_by_one(now, opened, closed)
                assert _clock_after(now, opened, closed) == expected, (now, opened, closed)

    def curve_one_by_one(equity, points, cap):
        equity = list(equity)
        for p in points:
            if len(equity) >= cap:
                equity = equity[::2]
            equity.append(p)
        return equity

    for cap in (1, 2, 3, 7, 40):
        monkeypatch.setattr(state_mod, "EQUITY_POINTS", cap)
        for start in (0, 1, cap - 1, cap, cap + 3):
            for n in (0, 1, cap, 3 * cap + 1):
                equity = [float(i) for i in range(start)]
                points = [100.0 + i for i in range(n)]
                assert _extended(list(equity), points) == curve_one_by_one(equity, points, cap), (cap, start, n)


def test_timing_samples_within_a_run_of_trades_go_after_it_and_before_what_follows() -> None:
    """A chunk of timing samples the performance log packed mid-run (``PerformanceLog.on_pack``)
    lands among a run's trades; it belongs to another store, so the run stays one ``trades`` item
    (each cut cost the worker a pack, ~7M instructions a run on the engine benchmark) and the
    samples follow it, still before the next event (a ``clear`` of their pair, say)."""
    samples = [("timings", (("BTCUSDT", "s", True), (["chunk"], [], 0)))]
    clear = ("clear", ("BTCUSDT", "t", True))
    items = [x for i in range(1, 5) for x in _trade(i, 1.0)]
    items = items[:2] + samples + items[2:] + samples + [clear] + [x for i in range(5, 9) for x in _trade(i, 1.0)]
    got = columns.to_columns(items)
    assert [k for k, _ in got] == ["trades", "timings", "timings", "clear", "trades"]
    assert [len(v) for k, v in got if k == "trades"] == [4, 4]
    # at the end of the batch, and outside a run, they stay where they are
    tail = columns.to_columns([*_trade(1, 1.0), *_trade(2, 1.0), *samples])
    assert [k for k, _ in tail][-1] == "timings"
    alone = columns.to_columns([*samples, clear])
    assert alone == [*samples, clear]
