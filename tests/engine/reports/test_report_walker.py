"""Walker statistics and report (SPEC 11.3, 12.9, case 64)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.reports.statistics import backtest_statistics
from engine.reports.walker import (
    WalkerContract,
    pnl_rows,
    ranked_results,
    render_walker_report,
    walker_statistics,
)


def contract(name: str, stats, value, best_strategy, best_metric, tested: int) -> WalkerContract:
    return WalkerContract(
        walker_name="w",
        exchange_name="binance",
        frame_name="f",
        symbol="BTCUSDT",
        strategy_name=name,
        stats=stats,
        metric_value=value,
        metric="total_pnl",
        best_metric=best_metric,
        best_strategy=best_strategy,
        strategies_tested=tested,
        total_strategies=3,
    )


@pytest.fixture
def case64(closed_factory) -> list[WalkerContract]:
    sb = backtest_statistics(
        [
            closed_factory(
                signal_id="b1",
                open_m=0,
                close_m=5,
                pnl=-2.7859192525859022,
                position="short",
                reason="stop_loss",
                strategy="wB",
            ),
        ]
    )
    sa = backtest_statistics(
        [
            closed_factory(signal_id="a1", open_m=0, close_m=5, pnl=1.9763950335379084, strategy="wA"),
        ]
    )
    sc = backtest_statistics([])
    wc = contract("wC", sc, None, None, None, 1)
    wb = contract("wB", sb, sb.total_pnl, "wB", sb.total_pnl, 2)
    wa = contract("wA", sa, sa.total_pnl, "wA", sa.total_pnl, 3)
    return [wa, wb, wc]  # newest first


def test_case64_statistics(case64) -> None:
    s = walker_statistics(case64)
    assert (s.walker_name, s.symbol, s.metric, s.total_strategies) == ("w", "BTCUSDT", "total_pnl", 3)
    assert s.best_strategy == "wA" and s.best_metric == 1.9763950335379084
    assert s.best_stats is not None and s.best_stats.total_signals == 1
    assert [r.strategy_name for r in s.strategy_results] == ["wA", "wB", "wC"]
    assert [r.strategy_name for r in ranked_results(s.strategy_results)] == ["wA", "wB", "wC"]
    assert [(r.strategy_name, r.signal.signal.id) for r in pnl_rows(s.strategy_results)] == [
        ("wA", "a1"),
        ("wB", "b1"),
    ]
    with pytest.raises(ValueError, match="No walker data available"):
        walker_statistics([])


def test_case64_report(case64) -> None:
    lines = render_walker_report(walker_statistics(case64)).split("\n")
    assert lines[:17] == [
        "# Walker Comparison Report: w",
        "",
        "**Symbol:** BTCUSDT",
        "**Exchange:** binance",
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
        "",
        "| Rank | Strategy | Metric | Total Signals | Win Rate | Avg PNL | Total PNL | Sharpe Ratio | Std Dev |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    assert lines[17:20] == [
        "| 1 | wA | 1.98 | 1 | 100.00% | +1.98% | +1.98% | 0.000 | 0.000% |",
        "| 2 | wB | -2.79 | 1 | 0.00% | -2.79% | -2.79% | 0.000 | 0.000% |",
        "| 3 | wC | N/A | 0 | N/A | N/A | N/A | N/A | N/A |",
    ]
    assert lines[20:24] == [
        "",
        "## All Signals (PNL Table)",
        "",
        ("| Strategy | Signal ID | Symbol | Position | PNL (net) | Close Reason | Open Time | Close Time |"),
    ]
    assert lines[25] == (
        "| wA | a1 | BTCUSDT | LONG | +1.98% | take_profit | 2024-01-01T00:00:00.000Z | 2024-01-01T00:05:00.000Z |"
    )
    assert lines[26].startswith("| wB | b1 | BTCUSDT | SHORT | -2.79% | stop_loss |")
    assert lines[27] == "" and lines[28].startswith("*Note:") and len(lines) == 29


def test_empty_tables_top10_and_truncation(closed_factory) -> None:
    empty = backtest_statistics([])
    contracts = [contract(f"s{i}", empty, None, None, None, i) for i in range(12)]
    s = walker_statistics(contracts)
    assert s.best_strategy is None and s.best_stats is None
    text = render_walker_report(s)
    assert "## Best Strategy: N/A" in text and "**Best total_pnl:** N/A" in text and "**Total Signals:** 0" in text
    assert "No closed signals available." in text
    assert text.count("| N/A | 0 |") == 10  # top 10 only
    assert "No strategy results available." not in text
    cut = backtest_statistics([closed_factory(signal_id="x", open_m=0, close_m=1, pnl=1.0)], seen=700)
    text = render_walker_report(walker_statistics([contract("big", cut, 1.0, "big", 1.0, 1)]))
    assert "*Statistics over the newest 1 of 700 closed signals of big (CC_MAX_REPORT_EVENTS).*" in text
    no_results = replace(walker_statistics([contract("a", empty, None, None, None, 1)]), strategy_results=())
    assert "No strategy results available." in render_walker_report(no_results)
