"""The trade inspector's data (sorting, filtering, the equity curve and its drawdown), the two
charts as drawn lines, and the engine's ``read_candles`` on a real synthetic exchange."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

import engine
from console.trades import Trade, equity_curve, filter_trades, matches, sort_trades
from console.widgets.charts import PLAIN, Candles, Palette, _rows_of, render_candles, render_equity

UP, DOWN = Style(color="green"), Style(color="red")
PALETTE = Palette(
    up=UP,
    down=DOWN,
    axis=Style(dim=True),
    entry=Style(color="cyan"),
    exit=Style(color="yellow"),
    take_profit=Style(color="bright_green"),
    stop_loss=Style(color="bright_red"),
    drawdown=Style(color="magenta"),
)
H = 3_600_000


def trade(n: int, pnl: float, side: str = "long", reason: str = "take_profit", note: str = "", **kw) -> Trade:
    base = dict(
        signal_id=f"id-{n}",
        entry=100.0,
        exit=100.0 * (1 + pnl / 100),
        take_profit=103.0,
        stop_loss=98.0,
        opened_at=n * H,
        closed_at=n * H + n * 60_000,
    )
    base.update(kw)
    return Trade(number=n, side=side, reason=reason, pnl=pnl, note=note, **base)


TRADES = [
    trade(1, 2.0, note="breakout above 101"),
    trade(2, -1.0, side="short", reason="stop_loss"),
    trade(3, 0.5, reason="time_expired", note="mean reversion"),
    trade(4, -3.0, reason="stop_loss"),
]


def test_the_equity_curve_sums_trades_and_its_drawdown_is_the_fall_from_the_peak() -> None:
    curve = equity_curve(t.pnl for t in TRADES)
    assert curve.points == pytest.approx((0.0, 2.0, 1.0, 1.5, -1.5))
    assert curve.drawdown == pytest.approx((0.0, 0.0, -1.0, -0.5, -3.5))
    assert curve.max_drawdown == pytest.approx(-3.5)


def test_sorting_by_each_column_keeps_the_close_order_for_ties() -> None:
    assert [t.number for t in sort_trades(TRADES, "pnl")] == [4, 2, 3, 1]
    assert [t.number for t in sort_trades(TRADES, "pnl", descending=True)] == [1, 3, 2, 4]
    assert [t.number for t in sort_trades(TRADES, "reason")] == [2, 4, 1, 3]
    assert [t.number for t in sort_trades(TRADES, "duration", descending=True)] == [4, 3, 2, 1]
    with pytest.raises(ValueError, match="cannot sort trades by 'price'"):
        sort_trades(TRADES, "price")


def test_the_filter_reads_words_results_and_bounds() -> None:
    assert [t.number for t in filter_trades(TRADES, "win")] == [1, 3]
    assert [t.number for t in filter_trades(TRADES, "loss")] == [2, 4]
    assert [t.number for t in filter_trades(TRADES, "short")] == [2]
    assert [t.number for t in filter_trades(TRADES, "tp")] == [1]
    assert [t.number for t in filter_trades(TRADES, "sl")] == [2, 4]
    assert [t.number for t in filter_trades(TRADES, "stop long")] == [4]  # every word must match
    assert [t.number for t in filter_trades(TRADES, ">1")] == [1]
    assert [t.number for t in filter_trades(TRADES, "<-0.5%")] == [2, 4]
    assert [t.number for t in filter_trades(TRADES, "reversion")] == [3]  # a word of the note
    assert filter_trades(TRADES, "  ") == TRADES
    assert not matches(TRADES[0], "nothing-like-this")


def _styles_of(lines, char: str) -> set:
    """The styles the cells showing ``char`` are drawn in (a span may cover a run of cells)."""
    return {
        span.style for line in lines for span in line.spans for ch in line.plain[span.start : span.end] if ch == char
    }


def label(line: str) -> str:
    """A chart line's axis label (left of its axis character)."""
    return re.split("[┤│]", line, maxsplit=1)[0].strip()


def plot(line: str) -> str:
    """A chart line's drawing (right of its axis character)."""
    return re.split("[┤│]", line, maxsplit=1)[1]


def test_an_all_negative_curve_is_drawn_red_under_a_labelled_zero_line() -> None:
    """Issue 14 item 14: the sparkline coloured by height drew a falling curve green."""
    curve = equity_curve([-1.0, -2.0, -0.5, -4.0])
    lines = render_equity(curve, 40, 12, palette=PALETTE)
    assert len(lines) == 12 and all(line.cell_len == 40 for line in lines)
    text = [line.plain for line in lines]
    assert label(text[0]) == "0%" and "┈" in plot(text[0])  # the zero line is the top: nothing is above it
    assert any(label(line) == "-7.5%" for line in text[:8])  # the curve's lowest point, labelled
    assert _styles_of(lines, "█") == {DOWN}  # every filled cell is in the loss colour
    assert "█" in plot(text[7])[-5:]  # the curve fills the width: its last trade at the right edge
    assert [label(line) for line in text[8:11]] == ["DD", "", "-7.5%"]  # the drawdown under it
    assert "▒" in plot(text[10])
    assert text[-1].split() == ["0", "4", "trades"]  # and the trades along the bottom


def test_a_curve_crossing_zero_is_green_above_and_red_below() -> None:
    curve = equity_curve([3.0, -5.0, 4.0])
    lines = render_equity(curve, 30, 7, palette=PALETTE)
    zero_row = next(i for i, line in enumerate(lines) if label(line.plain) == "0%")
    assert 0 < zero_row < 4
    assert _styles_of(lines[:zero_row], "█") == {UP}
    assert _styles_of(lines[zero_row + 1 : 5], "█") == {DOWN}
    assert label(lines[0].plain) == "+3.0%"


def _cell_by_cell(grid: list[list[str]], styles: list[list[Style | None]]) -> list[Text]:
    """The rule ``_rows_of`` keeps: each cell appended with its own style."""
    out = []
    for chars, row_styles in zip(grid, styles):
        line = Text()
        for ch, st in zip(chars, row_styles):
            line.append(ch, style=st or "")
        out.append(line)
    return out


def _cells(lines: list[Text]) -> list[list[tuple[str, Style]]]:
    console = Console(width=200)
    return [[(line.plain[x], line.get_style_at_offset(console, x)) for x in range(len(line.plain))] for line in lines]


def test_chart_rows_made_of_runs_draw_every_cell_as_cell_by_cell_rows_did() -> None:
    """The chart rows take a span per run of one style (the equity chart's paint was the dearest
    of a run's end): every cell keeps its character and style, at the runs' edges too (a style at
    the first and last cell, a one-cell run, no style between two runs of the same style, the
    plain palette's null style)."""
    a, b = Style(color="green"), Style(color="red", bold=True)
    rows = [
        ("ab cd", [a, a, None, b, b]),
        ("xyz", [None, None, None]),
        ("q", [b]),
        ("12345", [a, b, a, None, a]),
        ("....", [PLAIN.up, PLAIN.up, a, PLAIN.axis]),
        ("", []),
    ]
    grid = [list(chars) for chars, _ in rows]
    styles = [list(st) for _, st in rows]
    fast, rule = _rows_of(grid, styles), _cell_by_cell(grid, styles)
    assert [line.plain for line in fast] == [line.plain for line in rule]
    assert _cells(fast) == _cells(rule)
    assert len(fast[0].spans) == 2 and fast[1].spans == []  # one span a run, none for unstyled cells
    curve = equity_curve([3.0, -5.0, 4.0, 1.0, -2.0])
    drawn = render_equity(curve, 50, 14, marker=2, palette=PALETTE)
    assert sum(len(line.spans) for line in drawn) < sum(len(line.plain) for line in drawn) / 3


def test_candles_merge_to_fit_and_the_selected_trade_gets_its_levels() -> None:
    n = 200
    t = np.arange(n, dtype=np.int64) * 60_000
    close = 100 + np.sin(np.arange(n) / 10)
    candles = Candles(t, close - 0.1, close + 0.3, close - 0.3, close)
    merged = candles.bucketed(50)
    assert len(merged) == 50
    assert merged.high[0] == pytest.approx(candles.high[:4].max())
    assert merged.low[0] == pytest.approx(candles.low[:4].min())
    assert merged.open[0] == candles.open[0] and merged.close[0] == candles.close[3]
    chosen = trade(1, 1.0, entry=100.2, exit=101.0, take_profit=101.6, stop_loss=98.7, opened_at=30 * 60_000)
    chosen = replace(chosen, closed_at=90 * 60_000)
    lines = render_candles(candles, 60, 14, [chosen], chosen, PALETTE)
    assert len(lines) == 14 and all(line.cell_len <= 60 for line in lines)
    text = [line.plain for line in lines]
    rows = {mark: [i for i, line in enumerate(text[:-1]) if mark in plot(line)] for mark in "TSE"}
    assert rows["T"] == [0] and rows["S"] == [12]  # TP and SL: the chart's top and bottom here
    assert label(text[0]) == "101.600" and label(text[12]) == "98.7"  # the price axis says so
    assert len(rows["E"]) == 1 and 0 < rows["E"][0] < 12
    assert "▲" in plot(text[rows["E"][0]])  # the entry marked on its level
    assert any("✕" in plot(line) for line in text[:-1])
    assert _styles_of(lines, "▲") == {PALETTE.entry}
    assert _styles_of(lines, "T") == {PALETTE.take_profit} and _styles_of(lines, "S") == {PALETTE.stop_loss}
    assert {UP, DOWN} <= _styles_of(lines, "┃") | _styles_of(lines, "│")
    assert text[-1].split()[:2] == ["01-01", "00:00"]  # the first candle's time under the axis


async def test_read_candles_picks_an_interval_that_fits_and_agrees_with_the_minute_candles() -> None:
    engine.add_synthetic_exchange("chart-sim", seed=7)
    start = int(datetime(2024, 1, 2, tzinfo=UTC).timestamp() * 1000)
    end = start + 6 * H - 60_000
    assert engine.chart_interval(start, end, 400) == "1m"
    assert engine.chart_interval(start, end, 30) == "15m"
    interval, minutes = await engine.read_candles("chart-sim", "BTCUSDT", start, end, 400)
    assert interval == "1m" and len(minutes) == 360
    interval, quarters = await engine.read_candles("chart-sim", "BTCUSDT", start, end, 30)
    assert interval == "15m" and len(quarters) == 24
    assert int(quarters.timestamp[0]) == start
    for i in (0, 11, 23):  # a 15m candle is its fifteen 1m candles
        part = slice(i * 15, i * 15 + 15)
        assert quarters.high[i] == pytest.approx(minutes.high[part].max())
        assert quarters.low[i] == pytest.approx(minutes.low[part].min())
        assert quarters.open[i] == pytest.approx(minutes.open[part][0])
        assert quarters.close[i] == pytest.approx(minutes.close[part][-1])


def test_read_candles_refuses_what_it_cannot_answer() -> None:
    with pytest.raises(engine.NotFoundError):
        asyncio.run(engine.read_candles("no-such-exchange", "BTCUSDT", 0, H))
    with pytest.raises(ValueError, match="before start"):
        asyncio.run(engine.read_candles("chart-sim", "BTCUSDT", H, 0))
    with pytest.raises(ValueError, match="max_candles"):
        asyncio.run(engine.read_candles("chart-sim", "BTCUSDT", 0, H, 0))


def _drawdown_as_the_rule_reads(points: list[float]) -> tuple[float, ...]:
    peak, out = points[0], []
    for v in points:
        peak = max(peak, v)
        out.append(v - peak)
    return tuple(out)


@pytest.mark.parametrize(
    "points",
    [
        [0.0, 1.0, 1.0, 0.5, 0.5, 2.0],  # ties with the peak, from above and below
        [0.0, -1.0, -1.0, -0.5, -2.0],  # never above the start
        [0.0, -0.0, 0.0, -0.0],  # signed zeros: the peak keeps its own
        [-0.0, 0.0, -0.0],
        [0.0, float("nan"), 1.0, 0.5],  # a NaN never becomes the peak
        [0.0, float("inf"), 1.0, float("-inf")],
        [0.0, *np.random.default_rng(3).uniform(-2, 2, 5_000).cumsum().tolist()],
    ],
)
def test_the_drawdown_under_a_curve_is_the_running_peak_rule_to_the_bit(points: list[float]) -> None:
    """``cumulative_curve`` works a column at a time; each drawdown is the loop's, bit for bit
    (the sign of a zero and NaN included)."""
    from console.trades import cumulative_curve

    got = cumulative_curve(points).drawdown
    want = _drawdown_as_the_rule_reads(points)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert (a != a and b != b) or (a == b and np.copysign(1, a) == np.copysign(1, b)), (a, b)
