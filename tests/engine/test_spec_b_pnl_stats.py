"""SPEC 16 part B (cases 27-35): PNL, statistics and report structure, through the engine's public API.

Statistics come from ``Backtest.get_data``; the schedule and heatmap numbers from the public ``Schedule`` and
``Heat`` facades (through the ``spec_helpers`` shorthands, and once spelled out for case 30's drawdown).
Live statistics (cases 31, 32) are checked on the live report layer, as no live runner exists yet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import (
    SYMBOL,
    F,
    Harness,
    backtest,
    flat,
    heat_report,
    heat_stats,
    m,
    minute,
    restart,
    schedule_stats,
    sig,
    use_test_profile,
)

import engine as e
from engine.model import IdleResult
from engine.reports.live import LiveEventList, live_event, live_statistics


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


# --------------------------------------------------------------------------- 27-29: PNL


@pytest.mark.parametrize(
    ("dto", "later", "reason", "close", "expected"),
    [
        (sig("long", tp=43000, sl=41000), F(43100), "take_profit", 43000, 1.9763950335379084),
        (sig("short", tp=41000, sl=43000), F(40900), "take_profit", 41000, 1.9855188521855365),
        (sig("short", tp=41000, sl=43000), F(43100), "stop_loss", 43000, -2.7859192525859022),
        (sig("long", tp=43000, sl=41000, met=10), flat(42000), "time_expired", 42000, -0.39980019980018255),
        (sig("long", tp=42084, sl=41000), F(42200), "take_profit", 42084, -0.200199800199789),
        (sig("long", tp=42210, sl=41000), F(42200), "take_profit", 42210, 0.09920079920081859),
    ],
    ids=["long-43000", "short-41000", "short-43000", "long-42000", "long-42084", "long-42210"],
)
async def test_case_27_pnl_table(dto, later, reason, close, expected):
    """Each row of SPEC 7's table as a real trade entered at 42000 (flat candles before m5)."""
    out = await backtest(lambda k: flat(42000) if k < 5 else later, [dto])
    [closed] = out.yielded
    assert (closed.close_reason, closed.current_price) == (reason, close)
    assert closed.signal.price_open == 42000
    assert closed.pnl.pnl_percentage == expected
    assert (closed.pnl.price_open, closed.pnl.price_close) == (42000, close)  # raw prices (SPEC 1.6)


async def test_case_28_breakeven():
    out = await backtest(lambda k: flat(42000) if k < 5 else F(42200), [sig("long", tp=42084, sl=41000)])
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp)) == ("take_profit", 5)
    assert closed.pnl.pnl_percentage == -0.200199800199789  # about the fees alone


async def test_case_29_small_profit():
    out = await backtest(lambda k: flat(42000) if k < 5 else F(42200), [sig("long", tp=42210, sl=41000)])
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp)) == ("take_profit", 5)
    assert closed.pnl.pnl_percentage == 0.09920079920081859
    assert closed.pnl.pnl_percentage > 0


# --------------------------------------------------------------------------- 30: three trades


def _case30_candles(k):
    if k in (5, 25):
        return F(43100)
    if k == 15:
        return F(40900)
    return F(42000)


CASE30_SCRIPT = [sig("long", tp=43000, sl=41000, met=30)] * 3


async def test_case_30_three_trades_statistics_and_heat():
    out = await backtest(_case30_candles, CASE30_SCRIPT, end=40)
    trades = [
        (
            minute(r.signal.pending_at),
            r.signal.price_open,
            r.close_reason,
            minute(r.close_timestamp),
            r.pnl.pnl_percentage,
        )
        for r in out.yielded
    ]
    assert trades == [
        (0, 42000, "take_profit", 5, 1.9763950335379084),
        (6, 42220, "stop_loss", 15, -3.2836524915160497),
        (16, 41780, "take_profit", 25, 2.5144229633458957),
    ]
    s = e.Backtest.get_data(SYMBOL, "s")
    assert (s.total_signals, s.win_count, s.loss_count) == (3, 2, 1)
    assert [r.signal.id for r in s.signal_list] == [r.signal.id for r in reversed(out.yielded)]  # newest first
    assert s.win_rate == 66.66666666666666
    assert s.avg_pnl == 0.40238850178925145
    assert s.total_pnl == 1.2071655053677544
    assert s.std_dev == 2.615663353282645
    assert s.sharpe_ratio == 0.15383803167340163
    assert s.annualized_sharpe_ratio == 2.9390714683448036
    assert s.certainty_ratio == 0.6838144426803231
    assert s.expected_yearly_returns == 27586.356070490943

    h = heat_stats()
    [row] = h.symbols
    assert row.symbol == SYMBOL and row.total_trades == 3
    assert row.max_drawdown == 0.769229528170154  # newest-first running sum
    assert row.profit_factor == 1.3676288853606462
    assert row.avg_win == 2.245408998441902
    assert row.avg_loss == -3.2836524915160497
    assert row.expectancy == 0.4023885017892508
    assert (row.max_win_streak, row.max_loss_streak) == (1, 1)
    assert h.portfolio_sharpe_ratio == pytest.approx(row.sharpe_ratio, abs=1e-9)
    assert h.portfolio_total_trades == 3


async def test_case_30_heat_drawdown_through_the_public_facade():
    """SPEC 17's kept quirk: the heatmap's drawdown runs over the trades newest first. Oldest first the running
    sum would be 1.976, -1.307 (drawdown 1.307...); newest first it is 2.514, -0.769 (drawdown 0.769...)."""
    out = await backtest(_case30_candles, CASE30_SCRIPT, end=40)
    pnls = [r.pnl.pnl_percentage for r in out.yielded]
    h = e.Heat.get_data("s", backtest=True)
    [row] = h.symbols
    assert row.max_drawdown == 0.769229528170154
    assert row.max_drawdown == -(pnls[2] + pnls[1])  # the newest two, summed newest first
    assert row.max_drawdown != pytest.approx(-(pnls[0] + pnls[1]))  # not the oldest-first drawdown
    assert (row.symbol, row.total_trades, h.total_symbols, h.portfolio_total_trades) == (SYMBOL, 3, 1, 3)
    assert e.Heat.get_data("s").symbols == ()  # the live-mode heatmap (the default) saw nothing
    assert e.Heat.get_data("s", False).total_symbols == 0
    path = e.Heat.dump("s", True)
    assert path is not None and path.endswith("heatmap/s.md")
    assert Path("dump/heatmap/s.md").read_text() == e.Heat.get_report("s", True)
    with pytest.raises(e.NotFoundError, match="strategy nope not found"):
        e.Heat.get_data("nope", True)


# --------------------------------------------------------------------------- 31-34: empty and edge statistics


async def test_case_31_empty_backtest_and_empty_live_statistics():
    out = await backtest(lambda k: F(42000), None)
    assert out.yielded == []
    s = e.Backtest.get_data(SYMBOL, "s")
    assert s.total_signals == 0 and s.signal_list == ()
    metrics = (
        "win_rate",
        "avg_pnl",
        "total_pnl",
        "std_dev",
        "sharpe_ratio",
        "annualized_sharpe_ratio",
        "certainty_ratio",
        "expected_yearly_returns",
    )
    assert {k: getattr(s, k) for k in metrics} == dict.fromkeys(metrics)
    live = e.Live.get_data(SYMBOL, "s") if hasattr(e, "Live") else live_statistics(LiveEventList().events())
    assert live.total_events == 0 and live.total_closed == 0
    assert {k: getattr(live, k) for k in metrics} == dict.fromkeys(metrics)


def test_case_32_live_store_with_only_idle_events():
    """Consecutive idle ticks collapse into one event; with events but no closed trade the PNL metrics
    are 0 and the win rate null (SPEC 12.3, 17 #18). Checked on the live store's insertion rules."""
    log = LiveEventList()
    for n, price in enumerate((42000.0, 42010.0, 42020.0)):
        idle = IdleResult(current_price=price, strategy_name="s", exchange_name="x", symbol=SYMBOL, backtest=False)
        log.add(live_event(idle, m(n)))
    assert len(log) == 1 and log.events()[0].current_price == 42020.0
    st = live_statistics(log.events())
    assert st.total_events == 1 and st.total_closed == 0
    assert st.win_rate is None
    zero = (
        "avg_pnl",
        "total_pnl",
        "std_dev",
        "sharpe_ratio",
        "annualized_sharpe_ratio",
        "certainty_ratio",
        "expected_yearly_returns",
    )
    assert {k: getattr(st, k) for k in zero} == dict.fromkeys(zero, 0)


async def test_case_33_schedule_statistics_empty_then_one_cancelled():
    await backtest(lambda k: F(42000), None)
    st = schedule_stats()
    assert (st.total_events, st.total_scheduled, st.total_opened, st.total_cancelled) == (0, 0, 0, 0)
    assert st.cancellation_rate is None and st.activation_rate is None
    assert st.avg_wait_time is None and st.avg_activation_time is None

    restart()
    await backtest(lambda k: F(42000), [sig("long", open_=41000, tp=43000, sl=40000, met=10)], end=30)
    st = schedule_stats()
    assert (st.total_scheduled, st.total_opened, st.total_cancelled) == (1, 0, 1)
    assert st.cancellation_rate == 100
    assert st.activation_rate == 0
    assert st.avg_wait_time == 120 and st.avg_activation_time is None


async def test_case_34_heat_sorts_by_sharpe_with_nulls_last():
    """Three symbols of one strategy: ONE has a single trade (stdDev and Sharpe null), MIX is case 30
    (Sharpe 0.15...), WIN has two winning trades of different size (the best Sharpe)."""
    dto = sig("long", tp=43000, sl=41000, met=30)
    candles = {
        "ONE": lambda k: F(43100) if k == 5 else F(42000),
        "MIX": _case30_candles,
        "WIN": lambda k: F(43100) if k in (5, 15) else F(42000),
    }
    h = Harness(candles, {"ONE": [dto], "MIX": [dto] * 3, "WIN": [dto] * 2}, end=40)
    for symbol in ("ONE", "MIX", "WIN"):  # first seen in this order
        await h.run(symbol)
    stats = heat_stats()
    assert [r.symbol for r in stats.symbols] == ["WIN", "MIX", "ONE"]
    win, mix, one = stats.symbols
    assert win.total_trades == 2 and win.sharpe_ratio > mix.sharpe_ratio
    assert mix.sharpe_ratio == pytest.approx(0.15383803167340163, abs=1e-9)
    assert one.total_trades == 1 and one.std_dev is None and one.sharpe_ratio is None
    assert stats.total_symbols == 3 and stats.portfolio_total_trades == 6


# --------------------------------------------------------------------------- 35: report structure


BACKTEST_HEADER = (
    "| Signal ID | Symbol | Position | Open Price | Close Price | Take Profit | Stop Loss | PNL (net) "
    "| Close Reason | Duration (min) | Open Time | Close Time |"
)


async def test_case_35_report_structure_and_custom_columns():
    out = await backtest(_case30_candles, CASE30_SCRIPT, end=40)
    report = e.Backtest.get_report(SYMBOL, "s")
    lines = report.split("\n")
    assert lines[0] == "# Backtest Report: s"
    assert BACKTEST_HEADER in lines
    table = lines.index(BACKTEST_HEADER)
    assert lines[table + 1] == "|" + " --- |" * 12  # Note is hidden unless CC_REPORT_SHOW_SIGNAL_NOTE
    first = out.yielded[0]
    assert lines[table + 4] == (
        f"| {first.signal.id} | BTCUSDT | LONG | 42000.00000000 USD | 43000.00000000 USD | 43000.00000000 USD "
        "| 41000.00000000 USD | +1.98% | take_profit | 5 | 2024-01-01T00:00:00.000Z | 2024-01-01T00:05:00.000Z |"
    )  # oldest trade last
    for line in (
        "**Total signals:** 3",
        "**Closed signals:** 3",
        "**Win rate:** 66.67% (2W / 1L) (higher is better)",
        "**Average PNL:** +0.40% (higher is better)",
        "**Total PNL (sum of trade %):** +1.21% (higher is better)",
        "**Compounded return:** +1.11% (the account, each trade compounded)",  # 1.0198 x 0.9672 x 1.0251
        "**Max drawdown (compounded):** 3.28% (lower is better)",  # the one fall: t2's loss from t1's peak
        "**Standard Deviation:** 2.616% (lower is better)",
        "**Sharpe Ratio:** 0.154 (higher is better)",
        "**Annualized Sharpe Ratio:** 2.939 (higher is better)",
        "**Certainty Ratio:** 0.684 (higher is better)",
        "**Expected Yearly Returns:** +27586.36% (higher is better)",
    ):
        assert line in lines

    heat = heat_report().split("\n")
    assert heat[0] == "# Portfolio Heatmap: s"
    assert "**Total Symbols:** 1 | **Portfolio PNL:** +1.21% | **Portfolio Sharpe:** 0.15 | **Total Trades:** 3" in heat
    header = next(line for line in heat if line.startswith("| Symbol |"))
    for label in (
        "Total PNL",
        "Sharpe",
        "PF",
        "Expect",
        "WR",
        "Avg Win",
        "Avg Loss",
        "Max DD",
        "W Streak",
        "L Streak",
        "Trades",
    ):
        assert f"| {label} |" in header
    row = heat[heat.index(header) + 2]
    assert row == "| BTCUSDT | +1.21% | 0.15 | 1.37 | +0.40% | 66.7% | +2.25% | -3.28% | -0.77% | 1 | 1 | 3 |"

    # custom columns replace the defaults, per call or through set_columns, keeping the table shape
    cols = [
        e.Column("id", "ID", lambda r, i: r.signal.id),
        e.Column("pnl", "Net", lambda r, i: f"{r.pnl.pnl_percentage:.1f}"),
    ]
    custom = e.Backtest.get_report(SYMBOL, "s", cols).split("\n")
    start = custom.index("| ID | Net |")
    assert custom[start + 1] == "| --- | --- |"
    assert custom[start + 2 : start + 5] == [
        f"| {r.signal.id} | {r.pnl.pnl_percentage:.1f} |" for r in reversed(out.yielded)
    ]
    assert BACKTEST_HEADER not in custom
    e.set_columns(backtest_columns=cols, heat_columns=[e.Column("sym", "Sym", lambda r, i: r.symbol)])
    assert "| ID | Net |" in e.Backtest.get_report(SYMBOL, "s").split("\n")
    heat = heat_report().split("\n")
    assert heat[heat.index("| Sym |") + 1 :][:2] == ["| --- |", "| BTCUSDT |"]
    e.set_columns(backtest_columns=e.get_default_columns()["backtest_columns"])
    assert BACKTEST_HEADER in e.Backtest.get_report(SYMBOL, "s").split("\n")
    e.set_config(CC_REPORT_SHOW_SIGNAL_NOTE=True, unsafe=True)  # the Note column follows the config
    assert "| Signal ID | Symbol | Position | Note | Open Price |" in e.Backtest.get_report(SYMBOL, "s")


async def test_case_32_through_the_live_store_fed_by_the_signal_live_stream():
    """The live store is fed by the engine's signal_live stream (as the Live runner will feed it):
    idle ticks collapse into one row stamped with the clock's "now", opened rows go to the front."""
    from engine import events
    from engine.clock import SimulatedClock, set_clock
    from engine.model import OpenedResult
    from engine.reports import stores

    set_clock(SimulatedClock(m(0), speed=0))
    for price in (42000.0, 42010.0):
        await events.signal_live.emit(
            IdleResult(current_price=price, strategy_name="s", exchange_name="x", symbol=SYMBOL, backtest=False)
        )
    assert stores.live_statistics(SYMBOL, "s").total_events == 1
    row = e.SignalRow(
        id="l-1",
        position="long",
        price_open=42000.0,
        price_take_profit=43000.0,
        price_stop_loss=41000.0,
        minute_estimated_time=60,
        symbol=SYMBOL,
        exchange_name="x",
        strategy_name="s",
        scheduled_at=m(1),
        pending_at=m(1),
        is_scheduled=False,
    )
    await events.signal_live.emit(
        OpenedResult(
            signal=row, current_price=42000.0, strategy_name="s", exchange_name="x", symbol=SYMBOL, backtest=False
        )
    )
    st = stores.live_statistics(SYMBOL, "s")
    assert [ev.action for ev in st.event_list] == ["opened", "idle"]
    assert st.event_list[1].current_price == 42010.0 and st.event_list[1].timestamp == m(0)
    assert stores.live_report(SYMBOL, "s").startswith("# Live Trading Report: s")
