"""Backtest statistics and report (SPEC 12.2, cases 30, 31, 35)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from engine import config
from engine.reports.backtest import render_backtest_report
from engine.reports.markdown import Column
from engine.reports.statistics import backtest_statistics, left_sum, pnl_metrics, safe


def test_case30_exact(case30) -> None:
    s = backtest_statistics(case30)
    assert s.total_signals == 3 and s.seen_signals == 3 and not s.is_truncated
    assert (s.win_count, s.loss_count) == (2, 1)
    assert s.win_rate == 66.66666666666666
    assert s.avg_pnl == 0.40238850178925145
    assert s.total_pnl == 1.2071655053677544
    assert s.std_dev == 2.615663353282645
    assert s.sharpe_ratio == 0.15383803167340163
    assert s.annualized_sharpe_ratio == 2.9390714683448036
    assert s.certainty_ratio == 0.6838144426803231
    assert s.expected_yearly_returns == 27586.356070490943
    assert [c.signal.id for c in s.signal_list] == ["t3", "t2", "t1"]


def test_left_sum_is_plain_left_to_right() -> None:
    # No compensation (Python 3.12's sum() compensates; JavaScript's reduce does not).
    assert left_sum([0.1] * 10) == 0.9999999999999999
    assert math.fsum([0.1] * 10) == 1.0
    assert left_sum([1e16, 1.0, -1e16]) == 0.0
    assert left_sum([1e16, -1e16, 1.0]) == 1.0


def test_case31_empty() -> None:
    s = backtest_statistics([])
    assert s.total_signals == 0 and s.signal_list == ()
    assert (s.win_count, s.loss_count) == (0, 0)
    for name in (
        "win_rate",
        "avg_pnl",
        "total_pnl",
        "std_dev",
        "sharpe_ratio",
        "annualized_sharpe_ratio",
        "certainty_ratio",
        "expected_yearly_returns",
    ):
        assert getattr(s, name) is None, name
    assert render_backtest_report("empty", s) == "# Backtest Report: empty\n\nNo signals closed yet."


def test_single_win_zero_deviation(closed_factory) -> None:
    # Case 1: one TP trade -> winRate 100, stdDev 0, sharpe 0, certainty 0.
    s = backtest_statistics([closed_factory(signal_id="a", open_m=0, close_m=5, pnl=1.9763950335379084)])
    assert s.win_rate == 100
    assert s.std_dev == 0 and s.sharpe_ratio == 0 and s.annualized_sharpe_ratio == 0
    assert s.certainty_ratio == 0
    assert s.expected_yearly_returns == 207758.6459255049


def test_zero_pnl_counts_in_neither(closed_factory) -> None:
    s = backtest_statistics([closed_factory(signal_id="z", open_m=0, close_m=1, pnl=0.0)])
    assert (s.win_count, s.loss_count, s.win_rate) == (0, 0, 0)


def test_zero_duration_gives_zero_yearly_returns(closed_factory) -> None:
    s = backtest_statistics([closed_factory(signal_id="z", open_m=3, close_m=3, pnl=1.0)])
    assert s.expected_yearly_returns == 0


def test_missing_pending_at_does_not_crash(closed_factory) -> None:
    c = closed_factory(signal_id="r", open_m=0, close_m=5, pnl=1.0)
    c = replace(c, signal=replace(c.signal, pending_at=None))
    s = backtest_statistics([c])
    assert s.expected_yearly_returns == 0  # JS: NaN duration -> 0 trades per year
    assert "| N/A | N/A |" in render_backtest_report("r", s)


def test_safe_filter_and_helpers() -> None:
    assert safe(math.nan) is None and safe(math.inf) is None and safe(-math.inf) is None
    assert safe(None) is None and safe(True) is None and safe(0.0) == 0.0 and safe(3) == 3
    m = pnl_metrics([])
    assert math.isnan(m.win_rate) and math.isnan(m.avg_pnl)


def test_report_case30_exact_text(case30) -> None:
    report = render_backtest_report("case30", backtest_statistics(case30))
    header = (
        "| Signal ID | Symbol | Position | Open Price | Close Price | Take Profit | Stop Loss | PNL (net) "
        "| Close Reason | Duration (min) | Open Time | Close Time |"
    )
    assert report.split("\n") == [
        "# Backtest Report: case30",
        "",
        header,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        "| t3 | BTCUSDT | LONG | 41780.00000000 USD | 43000.00000000 USD | 43000.00000000 USD "
        "| 41000.00000000 USD | +2.51% | take_profit | 9 "
        "| 2024-01-01T00:16:00.000Z | 2024-01-01T00:25:00.000Z |",
        "| t2 | BTCUSDT | LONG | 42220.00000000 USD | 41000.00000000 USD | 43000.00000000 USD "
        "| 41000.00000000 USD | -3.28% | stop_loss | 9 "
        "| 2024-01-01T00:06:00.000Z | 2024-01-01T00:15:00.000Z |",
        "| t1 | BTCUSDT | LONG | 42000.00000000 USD | 43000.00000000 USD | 43000.00000000 USD "
        "| 41000.00000000 USD | +1.98% | take_profit | 5 "
        "| 2024-01-01T00:00:00.000Z | 2024-01-01T00:05:00.000Z |",
        "",
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
    ]


def test_report_note_column_and_custom_columns(case30) -> None:
    stats = backtest_statistics(case30)
    assert "| Note |" not in render_backtest_report("s", stats)
    config.set_config(CC_REPORT_SHOW_SIGNAL_NOTE=True)
    assert "| Position | Note | Open Price |" in render_backtest_report("s", stats)
    custom = [Column("id", "ID", lambda r, i: r.signal.id), Column("n", "#", lambda r, i: str(i + 1))]
    lines = render_backtest_report("s", stats, custom).split("\n")
    assert lines[2:7] == ["| ID | # |", "| --- | --- |", "| t3 | 1 |", "| t2 | 2 |", "| t1 | 3 |"]


def test_report_null_metrics_print_na(case30) -> None:
    stats = replace(backtest_statistics(case30), win_rate=None, sharpe_ratio=None, expected_yearly_returns=None)
    report = render_backtest_report("s", stats)
    assert "**Win rate:** N/A\n" in report
    assert "**Sharpe Ratio:** N/A\n" in report
    assert report.endswith("**Expected Yearly Returns:** N/A")


def test_truncation_line_only_when_cut(case30) -> None:
    full = render_backtest_report("s", backtest_statistics(case30, seen=3))
    assert "CC_MAX_REPORT_EVENTS" not in full
    cut = backtest_statistics(case30, seen=7103)
    assert cut.is_truncated and cut.seen_signals == 7103 and cut.total_signals == 3
    lines = render_backtest_report("s", cut).split("\n")
    assert lines[:4] == [
        "# Backtest Report: s",
        "",
        "*Statistics over the newest 3 of 7,103 closed signals (CC_MAX_REPORT_EVENTS).*",
        "",
    ]
    assert lines[4].startswith("| Signal ID |")
    assert backtest_statistics(case30, seen=1).seen_signals == 3


def test_compounded_return_and_drawdown_by_hand(case30) -> None:
    """Oldest first: +1.976 %, -3.284 %, +2.514 %. The account ends at 1.019764 x 0.967163 x
    1.025144 = 1.011078 (+1.108 %, not the summed +1.207 %), and its one fall is t2's loss."""
    s = backtest_statistics(case30)
    assert s.compounded_return == pytest.approx(1.1077657700675259, rel=1e-12)
    assert s.max_drawdown == pytest.approx(3.2836524915160497, rel=1e-12)
    assert s.total_pnl == pytest.approx(1.2071655053677544, rel=1e-12)


def test_drawdown_from_the_start_and_from_a_later_peak() -> None:
    from engine.reports.statistics import compounded

    assert all(math.isnan(v) for v in compounded([]))  # no trades: NaN (shown as N/A)
    ret, dd = compounded([-10.0])  # one loss: the start is the peak
    assert ret == pytest.approx(-10.0) and dd == pytest.approx(10.0)
    ret, dd = compounded([10.0, -50.0, 100.0])  # newest first: +100 %, -50 %, +10 %
    assert ret == pytest.approx(10.0) and dd == pytest.approx(50.0)
    ret, dd = compounded([5.0, 5.0])  # never falls
    assert dd == 0.0 and ret == pytest.approx(10.25)
