"""Heatmap statistics and report (SPEC 12.7, cases 30, 34, 35)."""

from __future__ import annotations

from engine.reports.heat import heat_row, heat_statistics, render_heat_report
from engine.reports.markdown import Column

HEAT_HEADERS = [
    "| Symbol |",
    "| Total PNL |",
    "| Sharpe |",
    "| PF |",
    "| Expect |",
    "| WR |",
    "| Avg Win |",
    "| Avg Loss |",
    "| Max DD |",
    "| W Streak |",
    "| L Streak |",
    "| Trades |",
]


def test_case30_row_exact(case30) -> None:
    row = heat_row("BTCUSDT", case30)
    assert row.total_trades == 3 and (row.win_count, row.loss_count) == (2, 1)
    assert row.win_rate == 66.66666666666666
    assert row.total_pnl == 1.2071655053677544
    assert row.sharpe_ratio == 0.15383803167340163
    assert row.std_dev == 2.615663353282645
    assert row.max_drawdown == 0.769229528170154
    assert row.profit_factor == 1.3676288853606462
    assert row.avg_win == 2.245408998441902
    assert row.avg_loss == -3.2836524915160497
    assert row.expectancy == 0.4023885017892508
    assert (row.max_win_streak, row.max_loss_streak) == (1, 1)
    # oldest-first running sum would give a different drawdown (3.28...): order matters
    assert heat_row("BTCUSDT", case30[::-1]).max_drawdown != row.max_drawdown


def test_case30_portfolio(case30) -> None:
    stats = heat_statistics({"BTCUSDT": case30})
    assert stats.total_symbols == 1 and stats.portfolio_total_trades == 3
    assert stats.portfolio_sharpe_ratio == stats.symbols[0].sharpe_ratio
    assert stats.portfolio_total_pnl == 1.2071655053677544
    lines = render_heat_report("case30", stats).split("\n")
    assert lines[:4] == [
        "# Portfolio Heatmap: case30",
        "",
        "**Total Symbols:** 1 | **Portfolio PNL:** +1.21% | **Portfolio Sharpe:** 0.15 | **Total Trades:** 3",
        "",
    ]
    header = lines[4]
    for h in HEAT_HEADERS:
        assert h in header
    assert lines[5] == "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    assert lines[6] == ("| BTCUSDT | +1.21% | 0.15 | 1.37 | +0.40% | 66.7% | +2.25% | -3.28% | -0.77% | 1 | 1 | 3 |")
    assert len(lines) == 7


def test_case34_sorting_and_single_trade(closed_factory, trades30) -> None:
    one = [closed_factory(signal_id="o", open_m=0, close_m=5, pnl=1.0, symbol="SOLUSDT")]
    good = [
        closed_factory(signal_id=f"g{i}", open_m=i, close_m=i + 1, pnl=p, symbol="ETHUSDT")
        for i, p in enumerate([1.0, 2.0, 1.5])
    ]
    stats = heat_statistics({"SOLUSDT": one, "BTCUSDT": trades30(symbol="BTCUSDT"), "ETHUSDT": good})
    assert [r.symbol for r in stats.symbols] == ["ETHUSDT", "BTCUSDT", "SOLUSDT"]
    sol = stats.symbols[2]
    assert sol.std_dev is None and sol.sharpe_ratio is None
    assert sol.profit_factor is None and sol.avg_loss is None and sol.expectancy is None
    assert sol.max_drawdown == 0 and sol.max_win_streak == 1 and sol.win_rate == 100
    assert stats.portfolio_total_trades == 7
    eth, btc = stats.symbols[0], stats.symbols[1]
    assert stats.portfolio_sharpe_ratio == (0.0 + eth.sharpe_ratio * 3 + btc.sharpe_ratio * 3) / 7
    assert stats.portfolio_total_pnl == ((0.0 + eth.total_pnl) + btc.total_pnl) + sol.total_pnl
    row = render_heat_report("s", stats).split("\n")[-1]
    assert row == "| SOLUSDT | +1.00% | N/A | N/A | N/A | 100.0% | +1.00% | N/A | 0.00% | 1 | 0 | 1 |"


def test_ties_keep_first_seen_order_and_nulls_last(closed_factory) -> None:
    def sym(name: str, pnls: list[float]) -> list:
        return [
            closed_factory(signal_id=f"{name}{i}", open_m=i, close_m=i + 1, pnl=p, symbol=name)
            for i, p in enumerate(pnls)
        ]

    stats = heat_statistics(
        {
            "NULL1": sym("NULL1", [1.0]),
            "B": sym("B", [1.0, 2.0]),
            "A": sym("A", [2.0, 4.0]),  # same sharpe as B (3.0)
            "ZERO": sym("ZERO", [1.0, 1.0]),  # std 0 -> sharpe null
        }
    )
    assert [r.symbol for r in stats.symbols] == ["B", "A", "NULL1", "ZERO"]
    only_nulls = heat_statistics({"Z": sym("Z", [1.0])})
    assert only_nulls.portfolio_sharpe_ratio is None and only_nulls.portfolio_total_pnl == 1.0


def test_streaks_ignore_zero_trades(closed_factory) -> None:
    pnls = [1.0, 0.0, 2.0, -1.0, 0.0, -2.0, -3.0, 4.0]
    row = heat_row("X", [closed_factory(signal_id=str(i), open_m=i, close_m=i + 1, pnl=p) for i, p in enumerate(pnls)])
    assert (row.max_win_streak, row.max_loss_streak) == (2, 3)


def test_empty_and_custom_columns_and_truncation(case30) -> None:
    empty = heat_statistics({})
    assert empty.total_symbols == 0 and empty.portfolio_total_pnl is None
    assert empty.portfolio_sharpe_ratio is None and empty.portfolio_total_trades == 0
    assert render_heat_report("s", empty) == "# Portfolio Heatmap: s\n\n*No data available*"
    custom = [Column("symbol", "Sym", lambda r, i: r.symbol)]
    lines = render_heat_report("s", heat_statistics({"BTCUSDT": case30}), custom).split("\n")
    assert lines[4:] == ["| Sym |", "| --- |", "| BTCUSDT |"]
    cut = heat_statistics({"BTCUSDT": case30}, seen={"BTCUSDT": 587})
    assert cut.is_truncated and cut.seen_trades == 587 and cut.symbols[0].seen_trades == 587
    assert render_heat_report("s", cut).split("\n")[2] == (
        "*Statistics over the newest 3 of 587 closed signals (CC_MAX_REPORT_EVENTS per symbol).*"
    )
