"""SPEC 16 part D (cases 45-48): partial profit / loss milestones, plus the Partial report (SPEC 10, 12.5).

A backtest computes milestones on one of three paths, depending on who listens: step by step when a strategy
has an ``on_partial_*`` callback, vectorised and emitted when someone subscribes to the partial streams, and
lazily (on report read) when nobody but the report store wants them. ``three_ways`` runs a scenario on every
path and checks the Partial report and the emitted events agree, so each case below covers all three.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import (
    SYMBOL,
    F,
    Harness,
    flat,
    m,
    minute,
    restart,
    sig,
    use_test_profile,
)

import engine as e


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def _rising(k):
    """Case 45: flat at 100000 up to m0, then 100000 + 1000·m."""
    return flat(100000) if k <= 0 else flat(100000 + 1000 * k)


def _rising_slowly(k):
    """Case 46: flat at 100000 up to m0, then 100000 + 500·m."""
    return flat(100000) if k <= 0 else flat(100000 + 500 * k)


CASE45 = [sig("long", tp=110000, sl=90000, met=60)]
CASE46 = [sig("short", tp=95000, sl=105000, met=60)]


def _rows(stats) -> list[tuple]:
    """Partial report rows, oldest first, without the signal id: (action, level, minute, price, backtest)."""
    return [(r.action, r.level, minute(r.timestamp), r.current_price, r.backtest) for r in reversed(stats.event_list)]


def _emitted(events: list[tuple[str, object]]) -> list[tuple]:
    return [(kind, ev.level, minute(ev.timestamp), ev.current_price, ev.backtest) for kind, ev in events]


async def three_ways(candles, script, **kw) -> tuple[list[tuple], object]:
    """Run the scenario with callbacks, with stream listeners only, and with nobody listening; check the three
    Partial reports (and the events emitted on the first two) are identical. Returns the rows and the first
    run's ``Outcome`` (callbacks, results)."""
    seen: dict[str, list[tuple]] = {}
    first = None
    for way in ("callbacks", "listeners", "report-only"):
        restart()
        emitted: list[tuple[str, object]] = []
        if way != "report-only":
            e.listen_partial_profit(lambda ev, into=emitted: into.append(("profit", ev)))
            e.listen_partial_loss(lambda ev, into=emitted: into.append(("loss", ev)))
        out = await Harness(candles, script, record=way == "callbacks", **kw).run()
        stats = e.Partial.get_data(SYMBOL, "s", True)
        rows = _rows(stats)
        ids = {r.signal_id for r in stats.event_list}
        assert ids <= {r.signal.id for r in out.yielded}, way  # every milestone names a signal of this run
        if way != "report-only":
            assert _emitted(emitted) == rows, f"{way}: the report differs from the emitted events"
            for _, ev in emitted:
                assert (ev.symbol, ev.strategy_name, ev.exchange_name) == (SYMBOL, "s", "x")
                assert ev.data.id in {r.signal.id for r in out.yielded}
        seen[way] = rows
        first = first or out
    assert seen["listeners"] == seen["callbacks"], "vectorised milestones differ from step-by-step ones"
    assert seen["report-only"] == seen["callbacks"], "lazy milestones differ from step-by-step ones"
    return seen["callbacks"], first


# --------------------------------------------------------------------------- 45-46: levels


async def test_case_45_profit_levels():
    rows, out = await three_ways(_rising, CASE45)
    prices = [101200, 102000, 103000, 104000, 105000, 106000, 107000]  # VWAP of m3..m9
    assert rows == [("profit", 10 * n, 2 + n, prices[n - 1], True) for n in range(1, 8)]
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == ("take_profit", 10, 110000)
    assert closed.signal.price_open == 100000
    # onPartialProfit fires on every evaluation (also at m1 = 2 % and m2 = 6 %, which reach no level)
    cbs = out.cb("on_partial_profit")
    assert [price for _, price, _ in cbs] == [100200, 100600, *prices]
    assert [pct for _, _, pct in cbs] == pytest.approx([2, 6, 12, 20, 30, 40, 50, 60, 70])
    assert all(row == closed.signal for row, _, _ in cbs)
    assert out.cb("on_partial_loss") == []

    stats = e.Partial.get_data(SYMBOL, "s", True)
    assert (stats.total_events, stats.total_profit, stats.total_loss) == (7, 7, 0)
    assert [r.level for r in stats.event_list] == [70, 60, 50, 40, 30, 20, 10]  # newest first
    assert {(r.signal_id, r.position, r.symbol, r.strategy_name) for r in stats.event_list} == {
        (closed.signal.id, "long", SYMBOL, "s")
    }
    # the live-mode store and another symbol saw nothing
    assert e.Partial.get_data(SYMBOL, "s", False).total_events == 0
    assert e.Partial.get_data("ETHUSDT", "s", True).total_events == 0


async def test_case_45_partial_events_carry_the_pending_row_and_candle_times():
    profit = []
    e.listen_partial_profit(profit.append)
    out = await Harness(_rising, CASE45, record=False).run()
    [closed] = out.yielded
    assert [ev.data for ev in profit] == [closed.signal] * 7
    assert [ev.timestamp for ev in profit] == [m(k) for k in range(3, 10)]
    assert all(ev.backtest is True for ev in profit)


async def test_case_46_loss_levels_short():
    rows, out = await three_ways(_rising_slowly, CASE46)
    prices = [100600, 101000, 101500, 102000, 102500, 103000, 103500]  # VWAP of m3..m9
    assert rows == [("loss", 10 * n, 2 + n, prices[n - 1], True) for n in range(1, 8)]
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp), closed.current_price) == ("stop_loss", 10, 105000)
    assert out.cb("on_partial_profit") == []
    assert len(out.cb("on_partial_loss")) == 9  # m1..m9
    stats = e.Partial.get_data(SYMBOL, "s", True)
    assert (stats.total_events, stats.total_profit, stats.total_loss) == (7, 0, 7)


# --------------------------------------------------------------------------- 47: dedupe


def _oscillating(k):
    """Up to 20 % of the way to TP (m1..m5 at 102000), back to 12 % (m6..m10 at 101200), up to 25 %
    (m11..m15 at 102500), then 35 % (103500 from m16)."""
    if k <= 0:
        return flat(100000)
    for last, price in ((5, 102000), (10, 101200), (15, 102500)):
        if k <= last:
            return flat(price)
    return flat(103500)


async def test_case_47_a_level_is_emitted_once_even_when_the_price_oscillates_around_it():
    rows, out = await three_ways(_oscillating, CASE45)
    # VWAP: 101200 (12 %) at m3, 102000 (20 %) at m5, down to 101200 at m10, 102500 at m15 (no new level:
    # 10 and 20 were reached already), 103100 (31 %) at m18
    assert rows == [
        ("profit", 10, 3, 101200, True),
        ("profit", 20, 5, 102000, True),
        ("profit", 30, 18, 103100, True),
    ]
    [closed] = out.yielded
    assert (closed.close_reason, minute(closed.close_timestamp)) == ("time_expired", 59)
    # the callback fires on every evaluated candle, the subject only on new levels
    cbs = out.cb("on_partial_profit")
    # m1..m59: not m0 (at the entry price); m59 is evaluated too, since no candle decided and the signal
    # closes after the loop on the last candle's VWAP (SPEC 6.4 fallback)
    assert len(cbs) == 59
    assert [price for _, price, _ in cbs[5:10]] == [101840, 101680, 101520, 101360, 101200]  # m6..m10: back down


def _two_signals(k):
    if k <= 0:
        return flat(100000)
    if k <= 9:
        return flat(101500)
    return flat(101500 + 300 * (k - 10))


async def test_levels_are_tracked_per_signal_and_forgotten_at_close():
    """Two consecutive signals each reach 10 %: both emit it (the tracker is per signal and cleared at close)."""

    def script(k, price):
        return sig("long", tp=price + 10000, sl=price - 10000, met=10) if k in (0, 10) else None

    rows, out = await three_ways(_two_signals, script, end=30)
    first, second = out.yielded
    assert (minute(first.signal.pending_at), minute(second.signal.pending_at)) == (0, 10)
    # the second one also reaches 20 % on m19, the last fetched candle: undecided, it is evaluated before the
    # fallback time-expiry closes the signal on it (SPEC 6.4)
    assert rows == [("profit", 10, 4, 101200, True), ("profit", 10, 16, 102700, True), ("profit", 20, 19, 103600, True)]
    assert minute(second.close_timestamp) == 19 and second.close_reason == "time_expired"
    stats = e.Partial.get_data(SYMBOL, "s", True)
    assert [r.signal_id for r in reversed(stats.event_list)] == [first.signal.id, second.signal.id, second.signal.id]


# --------------------------------------------------------------------------- several levels in one candle


def _jump(k):
    """8 % of the way at m1, then one heavy candle at m2 moves the VWAP to 103500 (35 %): 10, 20, 30 at once."""
    if k <= 0:
        return flat(100000)
    if k == 1:
        return flat(104000)
    if k == 2:
        return (103600, 103600, 103600, 103600, 10000)
    return flat(103600)


@pytest.mark.parametrize(
    ("dto", "kind"),
    [
        (sig("long", tp=110000, sl=90000, met=20), "profit"),
        (sig("short", tp=90000, sl=110000, met=20), "loss"),
    ],
    ids=["long-profit", "short-loss"],
)
async def test_a_jump_across_several_levels_emits_each_crossed_level_once_in_ascending_order(dto, kind):
    rows, out = await three_ways(_jump, [dto])
    assert rows == [(kind, 10, 2, 103500, True), (kind, 20, 2, 103500, True), (kind, 30, 2, 103500, True)]
    [closed] = out.yielded
    assert closed.close_reason == "time_expired"
    cbs = out.cb(f"on_partial_{kind}")
    assert [price for _, price, _ in cbs[:2]] == [100800, 103500]
    assert cbs[0][2] == pytest.approx(8) and cbs[1][2] == pytest.approx(35)


def _loss_then_profit(k):
    """Long from 100000: down to -20 % (m1..m5 at 98000), up to +20 % (m6..m10 at 102000), down to -30 %."""
    if k <= 0:
        return flat(100000)
    if k <= 5:
        return flat(98000)
    if k <= 10:
        return flat(102000)
    return flat(97000)


async def test_profit_and_loss_milestones_share_one_emission_order():
    rows, _ = await three_ways(_loss_then_profit, [sig("long", tp=110000, sl=90000, met=20)])
    assert [(kind, level, minute_) for kind, level, minute_, _, _ in rows] == [
        ("loss", 10, 3),
        ("loss", 20, 5),
        ("profit", 10, 9),
        ("profit", 20, 10),
        ("loss", 30, 15),
    ]


# --------------------------------------------------------------------------- 48: once


async def test_case_48_listen_partial_profit_once_and_loss_once_fire_exactly_once():
    profit_once, first_profit, loss_once = [], [], []
    e.listen_partial_profit_once(lambda ev: ev.level >= 30, profit_once.append)
    e.listen_partial_profit_once(lambda ev: True, first_profit.append)
    e.listen_partial_loss_once(lambda ev: True, loss_once.append)
    out = await Harness(_rising, CASE45 * 2, end=30).run()  # two signals: levels 10..70 twice
    assert len(out.yielded) == 2
    assert [(ev.level, minute(ev.timestamp)) for ev in profit_once] == [(30, 5)]
    assert [(ev.level, minute(ev.timestamp)) for ev in first_profit] == [(10, 3)]
    assert loss_once == []

    restart()
    loss_once.clear()
    e.listen_partial_loss_once(lambda ev: ev.level == 50, loss_once.append)
    unsubscribe = e.listen_partial_loss_once(lambda ev: True, lambda ev: pytest.fail("unsubscribed"))
    unsubscribe()
    await Harness(_rising_slowly, CASE46).run()
    assert [(ev.level, ev.current_price) for ev in loss_once] == [(50, 102500)]


# --------------------------------------------------------------------------- 12.5: report and dump


PARTIAL_HEADER = "| Action | Symbol | Strategy | Signal ID | Position | Level % | Current Price | Timestamp | Mode |"


async def test_partial_report_and_dump_of_case_45():
    h = Harness(_rising, CASE45)
    assert e.Partial.get_report(SYMBOL, "s", True).split("\n")[0] == "# Partial Profit/Loss Report: BTCUSDT:s"
    assert "No partial profit/loss events recorded yet." in e.Partial.get_report(SYMBOL, "s", True)
    out = await h.run()
    [closed] = out.yielded
    report = e.Partial.get_report(SYMBOL, "s", True)
    lines = report.split("\n")
    assert lines[0] == "# Partial Profit/Loss Report: BTCUSDT:s"
    assert "No partial profit/loss events recorded yet." not in report
    table = lines.index(PARTIAL_HEADER)
    assert lines[table + 1] == "|" + " --- |" * 9
    sid = closed.signal.id
    assert lines[table + 2] == (
        f"| PROFIT | BTCUSDT | s | {sid} | LONG | +70% | 107000.00000000 USD | 2024-01-01T00:09:00.000Z | Backtest |"
    )
    assert lines[table + 8] == (
        f"| PROFIT | BTCUSDT | s | {sid} | LONG | +10% | 101200.00000000 USD | 2024-01-01T00:03:00.000Z | Backtest |"
    )
    for line in ("**Total events:** 7", "**Profit events:** 7", "**Loss events:** 0"):
        assert line in lines
    # the loss side prints a minus level
    restart()
    await Harness(_rising_slowly, CASE46).run()
    assert "| LOSS | BTCUSDT | s |" in e.Partial.get_report(SYMBOL, "s", True)
    assert "| -70% | 103500.00000000 USD |" in e.Partial.get_report(SYMBOL, "s", True)

    restart()
    await Harness(_rising, CASE45).run()
    written = e.Partial.dump(SYMBOL, "s", True)
    target = Path("dump/partial/BTCUSDT_s.md")
    assert written is not None and Path(written).resolve() == target.resolve()
    assert target.read_text() == e.Partial.get_report(SYMBOL, "s", True)
    e.Partial.dump(SYMBOL, "s", True, path="./elsewhere")
    assert Path("elsewhere/BTCUSDT_s.md").read_text() == target.read_text()


async def test_partial_facade_checks_the_strategy_name():
    await Harness(lambda k: F(42000), None).run()
    with pytest.raises(e.NotFoundError, match="strategy nope not found"):
        e.Partial.get_data(SYMBOL, "nope", True)
