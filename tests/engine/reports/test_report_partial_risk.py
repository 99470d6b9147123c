"""Partial milestones (SPEC 12.5) and risk rejections (SPEC 12.6)."""

from __future__ import annotations

from engine import config
from engine.model import PartialEvent, RiskEvent, SignalDto
from engine.reports.partial import PartialRecord, partial_record, partial_statistics, render_partial_report
from engine.reports.risk import render_risk_report, risk_statistics

T0 = 1_704_067_200_000


def test_partial_counts_and_report(closed_factory) -> None:
    row = closed_factory(signal_id="sig", open_m=0, close_m=5, pnl=1.0).signal
    events = [
        partial_record(
            PartialEvent(
                symbol="BTCUSDT",
                strategy_name="st",
                exchange_name="x",
                data=row,
                current_price=42_420.0,
                level=20,
                backtest=True,
                timestamp=T0 + 120_000,
            ),
            "profit",
        ),
        partial_record(
            PartialEvent(
                symbol="BTCUSDT",
                strategy_name="st",
                exchange_name="x",
                data=row,
                current_price=41_900.0,
                level=10,
                backtest=False,
                timestamp=T0 + 60_000,
            ),
            "loss",
        ),
    ]
    assert isinstance(events[0], PartialRecord) and events[0].signal_id == "sig" and events[0].position == "long"
    s = partial_statistics(events)
    assert (s.total_events, s.total_profit, s.total_loss, s.seen_events) == (2, 1, 1, 2)
    lines = render_partial_report("BTCUSDT", "st", s).split("\n")
    assert lines[0] == "# Partial Profit/Loss Report: BTCUSDT:st"
    assert lines[2] == (
        "| Action | Symbol | Strategy | Signal ID | Position | Level % | Current Price | Timestamp | Mode |"
    )
    assert lines[4] == (
        "| PROFIT | BTCUSDT | st | sig | LONG | +20% | 42420.00000000 USD | 2024-01-01T00:02:00.000Z | Backtest |"
    )
    assert lines[5] == (
        "| LOSS | BTCUSDT | st | sig | LONG | -10% | 41900.00000000 USD | 2024-01-01T00:01:00.000Z | Live |"
    )
    assert lines[6:] == ["", "**Total events:** 2", "**Profit events:** 1", "**Loss events:** 1"]
    empty = render_partial_report("BTCUSDT", "st", partial_statistics([]))
    assert empty == "# Partial Profit/Loss Report: BTCUSDT:st\n\nNo partial profit/loss events recorded yet."
    assert partial_statistics(events, seen=300).is_truncated


def risk(symbol: str, strategy: str, pending: object, comment: str = "N/A") -> RiskEvent:
    return RiskEvent(
        symbol=symbol,
        pending_signal=pending,
        strategy_name=strategy,
        exchange_name="binance",
        current_price=41_500.0,
        active_position_count=0,
        comment=comment,
        timestamp=T0,
        backtest=True,
    )


def test_risk_counts_in_first_appearance_order_and_report(closed_factory) -> None:
    row = closed_factory(signal_id="r1", open_m=0, close_m=5, pnl=1.0, note="why").signal
    dto = SignalDto(position="short", price_take_profit=41_000.0, price_stop_loss=43_000.0, minute_estimated_time=10)
    raw = {
        "position": "long",
        "price_take_profit": 44_000.0,
        "price_stop_loss": 40_000.0,
        "price_open": 42_000.0,
    }
    events = [
        risk("ETHUSDT", "b", dto, "max 1 position"),
        risk("BTCUSDT", "a", row, "second check rejects"),
        risk("ETHUSDT", "a", raw),
    ]
    s = risk_statistics(events)
    assert s.total_rejections == 3
    assert list(s.by_symbol.items()) == [("ETHUSDT", 2), ("BTCUSDT", 1)]
    assert list(s.by_strategy.items()) == [("b", 1), ("a", 2)]
    config.set_config(CC_REPORT_SHOW_SIGNAL_NOTE=True)
    lines = render_risk_report("ETHUSDT", "b", s).split("\n")
    assert lines[0] == "# Risk Rejection Report: ETHUSDT:b"
    assert lines[2] == (
        "| Symbol | Strategy | Signal ID | Position | Note | Exchange | Open Price | Take Profit | Stop Loss "
        "| Current Price | Active Positions | Reason | Timestamp |"
    )
    assert lines[4] == (
        "| ETHUSDT | b | N/A | SHORT | N/A | binance | N/A | 41000.00000000 USD | 43000.00000000 USD "
        "| 41500.00000000 USD | 0 | max 1 position | 2024-01-01T00:00:00.000Z |"
    )
    assert lines[5].startswith("| BTCUSDT | a | r1 | LONG | why | binance | 42000.00000000 USD |")
    assert lines[6].startswith("| ETHUSDT | a | N/A | LONG | N/A | binance | 42000.00000000 USD |")
    assert lines[7:] == [
        "",
        "**Total rejections:** 3",
        "",
        "## Rejections by Symbol",
        "- ETHUSDT: 2",
        "- BTCUSDT: 1",
        "",
        "## Rejections by Strategy",
        "- b: 1",
        "- a: 2",
    ]
    assert render_risk_report("X", "y", risk_statistics([])) == (
        "# Risk Rejection Report: X:y\n\nNo risk rejections recorded yet."
    )
    cut = risk_statistics(events, seen=286)
    assert cut.total_rejections == 3 and cut.seen_events == 286 and cut.is_truncated
