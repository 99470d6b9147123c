"""SPEC 16 part G (cases 61, 63-67): stop, background, list, the walker and sizing (SPEC 6.6, 11, 12.9, 13.1).

Case 62 (``Live.stop`` / doneLive) and the ``Live.list()`` half of case 63 need the Live runner, which does not
exist yet; they belong to the live issue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from spec_helpers import (
    EXCHANGE,
    FRAME,
    STRATEGY,
    SYMBOL,
    F,
    Harness,
    exchange_from,
    m,
    minute,
    sig,
    use_test_profile,
    within,
)

import engine as e


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


LONG = sig("long", tp=43000, sl=41000, met=60)
SHORT = sig("short", tp=41000, sl=43000, met=60)


def case64_candles(k):
    return F(43100) if k == 5 else F(42000)


def once(dto: dict | None, calls: list | None = None):
    """A get_signal returning ``dto`` on its first call and None afterwards; ``calls`` records call minutes."""
    state = {"n": 0}

    async def get_signal(symbol, when, price):
        if calls is not None:
            calls.append(minute(int(when.timestamp() * 1000)))
        state["n"] += 1
        return dict(dto) if dto is not None and state["n"] == 1 else None

    return get_signal


def setup(strategies: dict, *, candles=case64_candles, end: int = 20, frame_callbacks=None) -> None:
    """Exchange ``x``, frame ``f`` (T0..m``end``) and one strategy per name -> get_signal."""
    e.add_exchange(EXCHANGE, exchange_from(candles))
    e.add_frame(FRAME, "1m", m(0), m(end), callbacks=frame_callbacks)
    for name, get_signal in strategies.items():
        e.add_strategy(name, "1m", get_signal)


async def walk(walker: str, symbol: str = SYMBOL) -> list:
    return [c async for c in e.Walker.run(symbol, walker_name=walker)]


async def background_and_wait(board, key: tuple[str, str]) -> None:
    await within(board.tasks[key].task)
    await asyncio.sleep(0)  # fire-and-forget emissions (a cancel function's done event) get their turn


# --------------------------------------------------------------------------- 61: Backtest.stop


async def test_case_61_stop_while_a_position_is_open_yields_its_close_then_ends():
    h = Harness(lambda k: F(42000), lambda k, price: dict(LONG), end=120)
    e.listen_signal_backtest(lambda r: e.Backtest.stop(SYMBOL, STRATEGY), actions=("opened",))
    out = await h.run()
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp)) == ("time_expired", 59)
    assert out.calls == [0]  # no new signal after the stop
    assert out.actions() == ["opened", "closed"]


async def test_case_61_stop_shortly_after_start_with_no_signals_emits_done_once():
    calls: list[int] = []
    done: list = []

    async def get_signal(symbol, when, price):
        calls.append(minute(int(when.timestamp() * 1000)))
        if len(calls) == 3:
            e.Backtest.stop(symbol, STRATEGY)
        return None

    setup({STRATEGY: get_signal}, end=600)
    e.listen_done_backtest(done.append)
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await background_and_wait(e.Backtest.board, (SYMBOL, STRATEGY))
    assert calls == [0, 1, 2]
    assert done == [e.DoneEvent(exchange_name=EXCHANGE, strategy_name=STRATEGY, backtest=True, symbol=SYMBOL)]


async def test_case_61_cancel_with_an_open_position_waits_for_its_close_and_emits_done_once():
    closed, done, holder = [], [], {}
    setup({STRATEGY: once(LONG)}, end=120)
    e.listen_signal_backtest(lambda r: holder["cancel"](), actions=("opened",))
    e.listen_signal_backtest(closed.append, actions=("closed",))
    e.listen_done_backtest(done.append)
    holder["cancel"] = e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await background_and_wait(e.Backtest.board, (SYMBOL, STRATEGY))
    assert [(r.close_reason, minute(r.close_timestamp)) for r in closed] == [("take_profit", 5)]
    assert len(done) == 1


# --------------------------------------------------------------------------- 63: list


async def test_case_63_backtest_list_pending_then_fulfilled_and_a_second_start_raises():
    seen: list[str] = []

    async def get_signal(symbol, when, price):
        seen.append(e.Backtest.list()[0].status)
        return None

    setup({STRATEGY: get_signal}, end=5)
    assert e.Backtest.list() == []
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    with pytest.raises(RuntimeError, match="already running"):
        e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await background_and_wait(e.Backtest.board, (SYMBOL, STRATEGY))
    assert seen == ["pending"] * 6
    [row] = e.Backtest.list()
    assert (row.symbol, row.strategy_name, row.status) == (SYMBOL, STRATEGY, "fulfilled")


async def test_case_63_walker_list_pending_then_fulfilled_and_a_second_start_raises():
    seen: list[list[tuple[str, str]]] = []

    def on_strategy_start(name, symbol):
        seen.append([(r.strategy_name, r.status) for r in e.Walker.list()])

    setup({"a": once(LONG), "b": once(None)})
    e.add_walker("w", EXCHANGE, FRAME, ["a", "b"], callbacks={"on_strategy_start": on_strategy_start})
    assert e.Walker.list() == []
    e.Walker.background(SYMBOL, walker_name="w")
    with pytest.raises(RuntimeError, match="already running"):
        e.Walker.background(SYMBOL, walker_name="w")
    await background_and_wait(e.Walker.board, (SYMBOL, "w"))
    assert seen == [[("w", "pending")], [("w", "pending")]]
    [row] = e.Walker.list()
    assert (row.symbol, row.strategy_name, row.status, row.processed_frames) == (SYMBOL, "w", "fulfilled", 2)


# --------------------------------------------------------------------------- 64: the exact walker


def case64() -> None:
    setup({"wC": once(None), "wB": once(SHORT), "wA": once(LONG)})
    e.add_walker("w", EXCHANGE, FRAME, ["wC", "wB", "wA"], metric="total_pnl")


async def test_case_64_walker_ranks_by_total_pnl():
    case64()
    order: list[tuple] = []
    contracts: list[e.WalkerContract] = []
    complete: list[e.WalkerCompleteEvent] = []
    done: list = []
    e.listen_walker_progress(lambda p: order.append(("progress", p.processed_strategies, p.progress)))
    e.listen_walker(lambda c: (order.append(("walker", c.strategy_name)), contracts.append(c)))
    e.listen_walker_complete(complete.append)
    e.listen_done_walker(done.append)
    async for c in e.Walker.run(SYMBOL, walker_name="w"):
        order.append(("yield", c.strategy_name))
    assert order == [
        ("progress", 1, 1 / 3),
        ("walker", "wC"),
        ("yield", "wC"),
        ("progress", 2, 2 / 3),
        ("walker", "wB"),
        ("yield", "wB"),
        ("progress", 3, 1.0),
        ("walker", "wA"),
        ("yield", "wA"),
    ]
    wc, wb, wa = contracts
    assert (wc.metric_value, wc.best_strategy, wc.best_metric, wc.stats.total_signals) == (None, None, None, 0)
    assert (wb.metric_value, wb.best_strategy, wb.best_metric) == (-2.7859192525859022, "wB", -2.7859192525859022)
    assert (wa.metric_value, wa.best_strategy, wa.best_metric) == (1.9763950335379084, "wA", 1.9763950335379084)
    assert [c.strategies_tested for c in contracts] == [1, 2, 3]
    assert {
        (c.walker_name, c.exchange_name, c.frame_name, c.symbol, c.metric, c.total_strategies) for c in contracts
    } == {("w", EXCHANGE, FRAME, SYMBOL, "total_pnl", 3)}
    [last] = complete
    assert (last.best_strategy, last.best_metric, last.total_strategies) == ("wA", 1.9763950335379084, 3)
    assert (last.walker_name, last.symbol, last.exchange_name, last.frame_name, last.metric) == (
        "w",
        SYMBOL,
        EXCHANGE,
        FRAME,
        "total_pnl",
    )
    assert last.best_stats.total_signals == 1 and last.best_stats is wa.stats
    assert done == []  # Walker.run emits no done event

    data = e.Walker.get_data(SYMBOL, "w")
    assert [r.strategy_name for r in data.strategy_results] == ["wA", "wB", "wC"]  # newest first
    assert (data.best_strategy, data.best_metric, data.metric) == ("wA", 1.9763950335379084, "total_pnl")
    assert data.best_stats is wa.stats

    lines = e.Walker.get_report(SYMBOL, "w").split("\n")
    assert lines[:14] == [
        "# Walker Comparison Report: w",
        "",
        "**Symbol:** BTCUSDT",
        "**Exchange:** x",
        "**Frame:** f",
        "**Optimization Metric:** total_pnl",
        "**Strategies Tested:** 3",
        "",
        "## Best Strategy: wA",
        "",
        "**Best total_pnl:** 1.98",
        "**Total Signals:** 1",
        "",
        "## Top Strategies Comparison",
    ]
    rows = [line for line in lines if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()]
    assert [row.split(" | ")[1:3] for row in rows] == [["wA", "1.98"], ["wB", "-2.79"], ["wC", "N/A"]]
    assert "## All Signals (PNL Table)" in lines


async def test_case_64_walker_background_emits_done_walker_once():
    case64()
    done: list = []
    e.listen_done_walker(done.append)
    e.Walker.background(SYMBOL, walker_name="w")
    await background_and_wait(e.Walker.board, (SYMBOL, "w"))
    assert done == [e.DoneEvent(exchange_name=EXCHANGE, strategy_name="w", backtest=True, symbol=SYMBOL)]
    assert e.Walker.get_data(SYMBOL, "w").best_strategy == "wA"


# --------------------------------------------------------------------------- 65: callbacks


async def test_case_65_callback_order_and_arguments():
    calls: list[tuple] = []

    async def on_strategy_complete(name, symbol, stats, value):
        calls.append(("complete", name, symbol, stats.total_signals, value))
        await asyncio.sleep(0)
        calls.append(("complete-end", name))  # awaited: before the walker event

    callbacks = {
        "on_strategy_start": lambda name, symbol: calls.append(("start", name, symbol)),
        "on_strategy_complete": on_strategy_complete,
        "on_complete": lambda results: calls.append(("on_complete", results.best_strategy, results.total_strategies)),
    }
    setup({"wB": once(SHORT), "wA": once(LONG)})
    e.add_walker("w", EXCHANGE, FRAME, ["wB", "wA"], metric="total_pnl", callbacks=callbacks)
    e.listen_walker(lambda c: calls.append(("walker", c.strategy_name)))
    e.listen_walker_complete(lambda r: calls.append(("walker_complete", r.best_strategy)))
    await walk("w")
    assert calls == [
        ("start", "wB", SYMBOL),
        ("complete", "wB", SYMBOL, 1, -2.7859192525859022),
        ("complete-end", "wB"),
        ("walker", "wB"),
        ("start", "wA", SYMBOL),
        ("complete", "wA", SYMBOL, 1, 1.9763950335379084),
        ("complete-end", "wA"),
        ("walker", "wA"),
        ("on_complete", "wA", 2),
        ("walker_complete", "wA"),
    ]


async def test_default_metric_is_sharpe_ratio_and_ties_keep_the_earlier_strategy():
    setup({"a": once(LONG), "b": once(LONG)})
    e.add_walker("w", EXCHANGE, FRAME, ["a", "b"])
    contracts = await walk("w")
    assert [c.metric for c in contracts] == ["sharpe_ratio", "sharpe_ratio"]
    assert [c.metric_value for c in contracts] == [0, 0]  # one trade: stdDev 0 -> sharpe 0
    assert [c.best_strategy for c in contracts] == ["a", "a"]


# --------------------------------------------------------------------------- a strategy whose backtest raises


async def test_a_strategy_whose_backtest_raises_is_skipped_and_the_others_are_ranked():
    """The frame's on_timeframe callback runs inside each strategy's backtest (before its first frame) and
    raises while "bad" is being tested, so ``Backtest.run`` itself raises for that strategy only."""
    current: dict[str, str] = {}
    errors: list[BaseException] = []
    strategy_errors: list[tuple] = []

    def on_timeframe(timestamps, start, end, interval):
        if current["name"] == "bad":
            raise RuntimeError("frame refused for bad")

    def on_strategy_start(name, symbol):
        current["name"] = name

    setup({"wB": once(SHORT), "bad": once(LONG), "wA": once(LONG)}, frame_callbacks={"on_timeframe": on_timeframe})
    e.add_walker(
        "w",
        EXCHANGE,
        FRAME,
        ["wB", "bad", "wA"],
        metric="total_pnl",
        callbacks={
            "on_strategy_start": on_strategy_start,
            "on_strategy_error": lambda name, symbol, exc: strategy_errors.append((name, symbol, exc)),
        },
    )
    e.listen_error(errors.append)
    progress: list[int] = []
    e.listen_walker_progress(lambda p: progress.append(p.processed_strategies))
    complete: list = []
    e.listen_walker_complete(complete.append)
    contracts = await walk("w")
    assert [(c.strategy_name, c.strategies_tested, c.total_strategies) for c in contracts] == [
        ("wB", 1, 3),
        ("wA", 2, 3),
    ]
    assert progress == [1, 2]
    [err] = errors
    assert "frame refused for bad" in str(err)
    assert [(name, symbol, exc) for name, symbol, exc in strategy_errors] == [("bad", SYMBOL, err)]
    assert (complete[0].best_strategy, complete[0].best_metric) == ("wA", 1.9763950335379084)
    assert [r.strategy_name for r in e.Walker.get_data(SYMBOL, "w").strategy_results] == ["wA", "wB"]


# --------------------------------------------------------------------------- 66: Walker.stop


async def test_case_66_stop_mid_run_skips_the_rest_and_another_walker_on_the_symbol_goes_on():
    """w1's first strategy stops w1 from inside its own backtest (at m3, with no position open): it ends there,
    a2 and a3 are skipped, walker_complete still comes. w2 runs at the same time on the same symbol, untouched."""
    calls: dict[str, list[int]] = {name: [] for name in ("a1", "a2", "a3", "b1", "b2")}

    def stopping(name):
        async def get_signal(symbol, when, price):
            k = minute(int(when.timestamp() * 1000))
            calls[name].append(k)
            await asyncio.sleep(0)  # let the other walker run meanwhile
            if k == 3:
                e.Walker.stop(symbol, "w1")
            return None

        return get_signal

    def counting(name, dto):
        fn = once(dto, calls[name])

        async def get_signal(symbol, when, price):
            await asyncio.sleep(0)
            return await fn(symbol, when, price)

        return get_signal

    setup(
        {
            "a1": stopping("a1"),
            "a2": counting("a2", LONG),
            "a3": counting("a3", LONG),
            "b1": counting("b1", SHORT),
            "b2": counting("b2", LONG),
        }
    )
    e.add_walker("w1", EXCHANGE, FRAME, ["a1", "a2", "a3"], metric="total_pnl")
    e.add_walker("w2", EXCHANGE, FRAME, ["b1", "b2"], metric="total_pnl")
    complete: dict[str, e.WalkerCompleteEvent] = {}
    e.listen_walker_complete(lambda r: complete.__setitem__(r.walker_name, r))
    w1, w2 = await within(asyncio.gather(walk("w1"), walk("w2")))
    assert calls["a1"] == [0, 1, 2, 3]
    assert calls["a2"] == calls["a3"] == []
    assert [c.strategy_name for c in w1] == ["a1"]
    assert (complete["w1"].total_strategies, complete["w1"].best_strategy) == (3, None)
    assert [(c.strategy_name, c.metric_value) for c in w2] == [("b1", -2.7859192525859022), ("b2", 1.9763950335379084)]
    assert complete["w2"].best_strategy == "b2"
    assert calls["b1"] == [0, *range(6, 21)] and calls["b2"] == [0, *range(6, 21)]


async def test_walker_stop_from_a_walker_listener_after_the_first_strategy():
    calls: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    setup({name: once(LONG, calls[name]) for name in calls})
    e.add_walker("w", EXCHANGE, FRAME, ["a", "b", "c"])
    e.add_walker("other", EXCHANGE, FRAME, ["a", "b", "c"])
    e.listen_walker(lambda c: e.Walker.stop(c.symbol, "w") if c.walker_name == "w" else None)
    complete: list = []
    e.listen_walker_complete(complete.append)
    assert [c.strategy_name for c in await walk("w")] == ["a"]
    assert calls == {"a": [0, *range(6, 21)], "b": [], "c": []}
    assert [(r.walker_name, r.best_strategy) for r in complete] == [("w", "a")]
    # the stop was scoped to walker "w": "other" (same symbol, same strategies) runs them all afterwards
    assert [c.strategy_name for c in await walk("other")] == ["a", "b", "c"]
    # and a new run of "w" starts afresh
    assert [c.strategy_name for c in await walk("w")] == ["a"]


async def test_walker_stop_from_on_strategy_start_stops_that_strategy_before_its_first_frame():
    """SPEC 11.4: the stop sets the strategy's stop flag, so the backtest that is about to start ends at its
    first check: it is reported (with no trades) and the strategies after it are skipped."""
    calls: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    setup({name: once(LONG, calls[name]) for name in calls})

    def on_strategy_start(name, symbol):
        if name == "b":
            e.Walker.stop(symbol, "w")

    e.add_walker("w", EXCHANGE, FRAME, ["a", "b", "c"], callbacks={"on_strategy_start": on_strategy_start})
    contracts = await walk("w")
    assert [(c.strategy_name, c.stats.total_signals) for c in contracts] == [("a", 1), ("b", 0)]
    assert calls["b"] == [] and calls["c"] == []


async def test_walker_background_cancel_emits_done_walker_at_once_and_only_once():
    done: list = []
    holder: dict = {}
    calls: dict[str, list[int]] = {"a": [], "b": []}
    setup({name: once(LONG, calls[name]) for name in calls})

    def on_strategy_start(name, symbol):
        if name == "a":
            holder["cancel"]()

    e.add_walker("w", EXCHANGE, FRAME, ["a", "b"], callbacks={"on_strategy_start": on_strategy_start})
    e.listen_done_walker(done.append)
    holder["cancel"] = e.Walker.background(SYMBOL, walker_name="w")
    await background_and_wait(e.Walker.board, (SYMBOL, "w"))
    holder["cancel"]()  # a second call changes nothing
    await asyncio.sleep(0)
    assert done == [e.DoneEvent(exchange_name=EXCHANGE, strategy_name="w", backtest=True, symbol=SYMBOL)]
    assert calls == {"a": [], "b": []}  # stopped before trading


async def test_walker_cancel_emits_done_walker_while_the_walker_is_still_running():
    """The cancel function emits doneWalker itself, at once: a strategy that waits for that event in the
    middle of its backtest gets it (it would wait forever if done only came when the run ends)."""
    done: list = []
    got_done = asyncio.Event()
    holder: dict = {}
    calls: list[int] = []

    async def waits_for_done(symbol, when, price):
        calls.append(minute(int(when.timestamp() * 1000)))
        if len(calls) == 3:
            holder["cancel"]()
            await within(got_done.wait(), 5)
        return None

    b_calls: list[int] = []
    setup({"a": waits_for_done, "b": once(LONG, b_calls)})
    e.add_walker("w", EXCHANGE, FRAME, ["a", "b"])
    e.listen_done_walker(lambda d: (done.append(d), got_done.set()))
    holder["cancel"] = e.Walker.background(SYMBOL, walker_name="w")
    await background_and_wait(e.Walker.board, (SYMBOL, "w"))
    assert calls == [0, 1, 2]  # the stopped backtest asked for no signal after the cancel
    assert b_calls == []  # and the next strategy never started
    assert done == [e.DoneEvent(exchange_name=EXCHANGE, strategy_name="w", backtest=True, symbol=SYMBOL)]
    assert [r.status for r in e.Walker.list()] == ["fulfilled"]


# --------------------------------------------------------------------------- get_data / dump


async def test_walker_get_data_before_any_run_and_dump():
    case64()
    with pytest.raises(ValueError, match="No walker data available"):
        e.Walker.get_data(SYMBOL, "w")
    with pytest.raises(e.NotFoundError, match="walker nope not found"):
        e.Walker.get_data(SYMBOL, "nope")
    await walk("w")
    with pytest.raises(ValueError, match="No walker data available"):
        e.Walker.get_data("ETHUSDT", "w")  # results are kept per symbol
    written = e.Walker.dump(SYMBOL, "w")
    target = Path("dump/walker/w.md")
    assert written is not None and Path(written).resolve() == target.resolve()
    assert target.read_text() == e.Walker.get_report(SYMBOL, "w")
    e.Walker.dump(SYMBOL, "w", path="./reports")
    assert Path("reports/w.md").read_text() == target.read_text()


async def test_walker_validates_every_name_at_call_time():
    setup({"a": once(None)})
    e.add_walker("w", EXCHANGE, FRAME, ["a", "missing"])
    with pytest.raises(e.NotFoundError, match=r"strategy missing not found source=Walker\.run"):
        e.Walker.run(SYMBOL, walker_name="w")
    with pytest.raises(e.NotFoundError, match="walker nope not found"):
        e.Walker.run(SYMBOL, walker_name="nope")


# --------------------------------------------------------------------------- 67: sizing


def test_case_67_fixed_percentage_and_its_limits():
    e.add_sizing("fixed", "fixed-percentage", risk_percentage=2)
    e.add_sizing("capped-pct", "fixed-percentage", risk_percentage=50, max_position_percentage=10)
    e.add_sizing("capped", "fixed-percentage", risk_percentage=2, max_position_size=0.01)
    e.add_sizing("floored", "fixed-percentage", risk_percentage=0.001, min_position_size=0.001)
    ps = e.PositionSize
    assert ps.fixed_percentage(SYMBOL, 10000, 50000, 49000, sizing_name="fixed") == 0.2
    assert ps.fixed_percentage(SYMBOL, 10000, 50000, 51000, sizing_name="fixed") == 0.2  # a short's stop above
    assert ps.fixed_percentage(SYMBOL, 10000, 50000, 49000, sizing_name="capped-pct") == 0.02
    assert ps.fixed_percentage(SYMBOL, 10000, 50000, 49000, sizing_name="capped") == 0.01
    assert ps.fixed_percentage(SYMBOL, 10000, 50000, 49000, sizing_name="floored") == 0.001
    with pytest.raises(e.SizingError, match="Stop-loss distance cannot be zero"):
        ps.fixed_percentage(SYMBOL, 10000, 50000, 50000, sizing_name="fixed")


def test_case_67_kelly_criterion():
    e.add_sizing("kelly", "kelly-criterion", kelly_multiplier=0.25)
    e.add_sizing("kelly-default", "kelly-criterion")
    e.add_sizing("kelly-zero", "kelly-criterion", kelly_multiplier=0)
    ps = e.PositionSize
    assert ps.kelly_criterion(SYMBOL, 10000, 50000, 0.55, 1.5, sizing_name="kelly") == pytest.approx(0.0125, abs=1e-15)
    assert ps.kelly_criterion(SYMBOL, 10000, 50000, 0.55, 1.5, sizing_name="kelly-default") == pytest.approx(0.0125)
    assert ps.kelly_criterion(SYMBOL, 10000, 50000, 0.55, 1.5, sizing_name="kelly-zero") == 0
    assert ps.kelly_criterion(SYMBOL, 10000, 50000, 0.3, 1.0, sizing_name="kelly") == 0  # negative edge -> 0
    for win_rate, ratio in ((0, 1.5), (1, 1.5), (1.2, 1.5), (0.55, 0), (0.55, -1)):
        with pytest.raises(e.SizingError):
            ps.kelly_criterion(SYMBOL, 10000, 50000, win_rate, ratio, sizing_name="kelly")


def test_case_67_atr_based_and_on_calculate():
    calculated: list[tuple] = []
    e.add_sizing(
        "atr",
        "atr-based",
        risk_percentage=2,
        atr_multiplier=2,
        callbacks={"on_calculate": lambda q, p: calculated.append((q, p))},
    )
    assert e.PositionSize.atr_based(SYMBOL, 10000, 50000, 500, sizing_name="atr") == 0.2
    assert calculated == [(0.2, {"symbol": SYMBOL, "balance": 10000, "price_open": 50000, "atr": 500})]
    for atr in (0, -5):
        with pytest.raises(e.SizingError):
            e.PositionSize.atr_based(SYMBOL, 10000, 50000, atr, sizing_name="atr")


def test_case_67_method_mismatch_and_unknown_sizing():
    e.add_sizing("kelly", "kelly-criterion")
    with pytest.raises(e.SizingError, match="method mismatch"):
        e.PositionSize.fixed_percentage(SYMBOL, 10000, 50000, 49000, sizing_name="kelly")
    with pytest.raises(e.SizingError, match="method mismatch"):
        e.PositionSize.atr_based(SYMBOL, 10000, 50000, 500, sizing_name="kelly")
    with pytest.raises(e.NotFoundError, match="sizing nope not found"):
        e.PositionSize.kelly_criterion(SYMBOL, 10000, 50000, 0.55, 1.5, sizing_name="nope")
    with pytest.raises(e.SchemaError, match="risk_percentage"):
        e.add_sizing("no-risk", "atr-based")
