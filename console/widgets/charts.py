"""Charts drawn with characters: a candlestick chart with a trade's entry, exit, TP and SL, and an
equity chart with a labelled axis, a zero line and the drawdown under it.

Drawn here rather than with plotext (README "Console"): a chart must read at 80x24 in a
16-colour terminal and follow the console's themes, so every cell takes a theme colour
(``success`` up/above zero, ``error`` down/below zero) and is a plain character; the drawing is
a pure function of the data and the size (``render_candles``, ``render_equity``), so snapshots
are stable and tests read the lines without a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.strip import Strip
from textual.widget import Widget

from ..trades import EquityCurve, Trade
from .base import price, theme_style
from .note import NOTE_CLASS, NoteHolder, note_css
from .paint_style import StyleOncePerPaint


@dataclass(frozen=True, slots=True)
class Palette:
    up: Style
    down: Style
    axis: Style
    entry: Style
    exit: Style
    take_profit: Style
    stop_loss: Style
    drawdown: Style


PLAIN = Palette(*(Style() for _ in range(8)))
"""No colours: what tests read."""


def theme_palette(widget: Widget) -> Palette:
    return Palette(
        up=theme_style(widget, "success"),
        down=theme_style(widget, "error"),
        axis=theme_style(widget, "text-muted"),
        entry=theme_style(widget, "accent", bold=True),
        exit=theme_style(widget, "warning", bold=True),
        take_profit=theme_style(widget, "success"),
        stop_loss=theme_style(widget, "error"),
        drawdown=theme_style(widget, "warning"),
    )


@dataclass(frozen=True, slots=True)
class Candles:
    """OHLC columns ascending by open time (ms)."""

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def bucketed(self, columns: int) -> Candles:
        """At most ``columns`` candles: consecutive candles merged (first open, highest high,
        lowest low, last close) when there are more than the chart has columns."""
        n = len(self)
        if n <= columns or columns < 1:
            return self
        edges = np.linspace(0, n, columns + 1).astype(int)
        starts, ends = edges[:-1], edges[1:] - 1
        return Candles(
            self.time[starts],
            self.open[starts],
            np.maximum.reduceat(self.high, starts),
            np.minimum.reduceat(self.low, starts),
            self.close[ends],
        )


def _label_time(ms: int, span_ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%m-%d %H:%M") if span_ms < 3 * 86_400_000 else dt.strftime("%Y-%m-%d")


def _x_axis(left: int, width: int, first: str, last: str, style: Style) -> Text:
    line = Text(" " * left, style=style)
    room = width
    if len(first) + len(last) + 1 <= room:
        line.append(first + " " * (room - len(first) - len(last)) + last, style=style)
    elif len(first) <= room:
        line.append(first, style=style)
    return line


def _grid(height: int, width: int) -> tuple[list[list[str]], list[list[Style | None]]]:
    return [[" "] * width for _ in range(height)], [[None] * width for _ in range(height)]


def _rows_of(grid: list[list[str]], styles: list[list[Style | None]]) -> list[Text]:
    """Each row as one string with a span per run of cells in the same style: a chart is mostly
    long runs (the area, the zero line, blanks), and a span per cell made the equity chart the
    dearest widget of a run's last paint (~18 ms of ~40 at 120x40)."""
    out = []
    for chars, row_styles in zip(grid, styles):
        spans = []
        start, current = 0, None
        for x, st in enumerate(row_styles):
            if st is not current:
                if current:  # None and the plain palette's null style: no span
                    spans.append(Span(start, x, current))
                start, current = x, st
        if current:
            spans.append(Span(start, len(row_styles), current))
        out.append(Text("".join(chars), spans=spans))
    return out


def render_candles(
    candles: Candles,
    width: int,
    height: int,
    trades: Sequence[Trade] = (),
    selected: Trade | None = None,
    palette: Palette = PLAIN,
) -> list[Text]:
    """``height`` lines of ``width`` cells: a price axis on the left, one column per candle
    (more candles than columns are merged), the time of the first and last candle under them.
    Every trade in view gets its entry (▲ long, ▼ short) and exit (✕) marked; the ``selected``
    one also gets its TP (T) and SL (S) levels as lines across its life, and its entry level."""
    if height < 2 or width < 12 or not len(candles):
        return [Text("no candles to draw", style=palette.axis)][: max(0, height)]
    rows = height - 1  # the time axis below
    levels = [float(candles.low.min()), float(candles.high.max())]
    if selected is not None:
        levels += [selected.take_profit, selected.stop_loss, selected.entry, selected.exit]
    lo, hi = min(levels), max(levels)
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.001, 1e-9)
    labels = [price(hi), price((hi + lo) / 2), price(lo)]
    lw = max(len(s) for s in labels)
    plot = width - lw - 1
    if plot < 4:
        return [Text("too narrow for a chart", style=palette.axis)]
    shown = candles.bucketed(plot)
    n = len(shown)
    slot = max(1, min(3, plot // n))  # wide panes: candles with a gap between them

    def row(p: float) -> int:
        return round((hi - p) / (hi - lo) * (rows - 1))

    grid, styles = _grid(rows, plot)
    t0, t_last = int(shown.time[0]), int(shown.time[-1])
    step = (t_last - t0) / (n - 1) if n > 1 else 1.0

    def col(ms: int) -> int | None:
        if ms < t0 or (n > 1 and ms > t_last + step):
            return None
        return min(n - 1, int((ms - t0) / step)) * slot if n > 1 else 0

    for i in range(n):
        o, h, lw_, c = (float(shown.open[i]), float(shown.high[i]), float(shown.low[i]), float(shown.close[i]))
        x = i * slot
        style = palette.up if c >= o else palette.down
        top, bottom = row(max(o, c)), row(min(o, c))
        for y in range(row(h), row(lw_) + 1):
            body = top <= y <= bottom
            grid[y][x] = "┃" if body else "│"
            styles[y][x] = style
    if selected is not None:
        start = col(selected.opened_at)
        end = col(selected.closed_at)
        a = 0 if start is None else start
        b = plot - 1 if end is None else end
        for level, mark, style in (
            (selected.take_profit, "T", palette.take_profit),
            (selected.stop_loss, "S", palette.stop_loss),
            (selected.entry, "E", palette.entry),
        ):
            if not level:
                continue
            y = row(level)
            for x in range(a, b + 1):
                if grid[y][x] == " ":
                    grid[y][x], styles[y][x] = "╌", style
            label_x = min(b + 1, plot - 1)
            grid[y][label_x], styles[y][label_x] = mark, style
    for t in trades:
        chosen = selected is not None and t.signal_id == selected.signal_id
        x_in, x_out = col(t.opened_at), col(t.closed_at)
        if x_in is not None:
            y = row(min(max(t.entry, lo), hi))
            grid[y][x_in], styles[y][x_in] = ("▲" if t.side == "long" else "▼"), palette.entry
        if x_out is not None:
            y = row(min(max(t.exit, lo), hi))
            grid[y][x_out] = "✕"
            styles[y][x_out] = palette.exit if chosen or selected is None else palette.axis
    out = []
    label_rows = {0: labels[0], (rows - 1) // 2: labels[1], rows - 1: labels[2]}
    for y, line in enumerate(_rows_of(grid, styles)):
        axis = Text(label_rows.get(y, "").rjust(lw) + ("┤" if y in label_rows else "│"), style=palette.axis)
        out.append(axis + line)
    span = t_last - t0
    out.append(_x_axis(lw + 1, plot, _label_time(t0, span), _label_time(t_last, span), palette.axis))
    return out


def _pct(v: float) -> str:
    if v == 0:
        return "0%"
    return f"{v:+.1f}%" if abs(v) < 1000 else f"{v:+.0f}%"


def _resample(values: Sequence[float], columns: int) -> list[float]:
    """One value per column, the whole width used: with more points than columns, the value at
    the end of each column's share; with fewer, each point held over its share of the columns."""
    n = len(values)
    if n > columns:
        return [values[min(n - 1, int((i + 1) * n / columns) - 1)] for i in range(columns)]
    return [values[min(n - 1, i * n // columns)] for i in range(columns)]


def render_equity(
    curve: EquityCurve, width: int, height: int, marker: int | None = None, palette: Palette = PLAIN
) -> list[Text]:
    """``height`` lines of ``width`` cells: cumulative PnL % as an area from the zero line (above
    it in the success colour, below in the error colour), its value axis on the left, and, when
    there are at least 6 lines, the drawdown under it (2 or more lines, labelled with its
    deepest point), and with 8 or more the trade count under it. ``marker`` is a trade number
    whose column is marked (the selected trade)."""
    if height < 1 or width < 12 or len(curve.points) < 2:
        return [Text("no closed trades yet", style=palette.axis)][: max(0, height)]
    x_axis = height >= 8
    if x_axis:
        height -= 1
    dd_rows = max(2, height // 3) if height >= 6 else 0
    rows = height - dd_rows
    top, bottom = max(max(curve.points), 0.0), min(min(curve.points), 0.0)
    if top == bottom:
        top = bottom + 1.0
    labels = {0: _pct(top), rows - 1: _pct(bottom)}
    deepest = curve.max_drawdown
    dd_label = _pct(deepest) if dd_rows else ""
    lw = max(len(s) for s in (*labels.values(), dd_label, "DD"))
    plot = width - lw - 1
    values = _resample(curve.points, plot)
    drawdown = _resample(curve.drawdown, plot)
    n = len(values)
    scale = (rows - 1) / (top - bottom) if rows > 1 else 0.0

    def row(v: float) -> int:
        return round((top - v) * scale)

    zero = row(0.0)
    labels.setdefault(zero, "0%")
    grid, styles = _grid(rows, plot)
    for x in range(plot):
        grid[zero][x], styles[zero][x] = "┈", palette.axis
    for x, v in enumerate(values):
        y = row(v)
        style = palette.up if v > 0 else palette.down if v < 0 else palette.axis
        if v == 0:
            continue
        for yy in range(min(y, zero), max(y, zero) + 1):
            grid[yy][x], styles[yy][x] = "█", style
    if marker is not None and n:
        x = min(n - 1, int(marker / max(1, len(curve.points) - 1) * (n - 1)))
        for yy in range(rows):
            if grid[yy][x] == " ":
                grid[yy][x], styles[yy][x] = "┊", palette.exit
    out = []
    for y, line in enumerate(_rows_of(grid, styles)):
        mark = labels.get(y)
        axis = Text((mark or "").rjust(lw) + ("┤" if mark else "│"), style=palette.axis)
        out.append(axis + line)
    if dd_rows:
        dgrid, dstyles = _grid(dd_rows, plot)
        depth = -deepest if deepest < 0 else 1.0
        for x, d in enumerate(drawdown):
            cells = round(-d / depth * dd_rows) if d < 0 else 0
            for yy in range(cells):
                dgrid[yy][x], dstyles[yy][x] = "▒", palette.drawdown
        dlabels = {0: "DD", dd_rows - 1: dd_label}
        for y, line in enumerate(_rows_of(dgrid, dstyles)):
            mark = dlabels.get(y)
            out.append(Text((mark or "").rjust(lw) + ("┤" if mark else "│"), style=palette.axis) + line)
    if x_axis:
        out.append(_x_axis(lw + 1, plot, "0", f"{len(curve.points) - 1} trades", palette.axis))
    return out


def strips_of(lines: list[Text], console: Console, width: int, height: int, base: Style) -> list[Strip]:
    """A chart's lines (each its width already: no wrapping, no alignment) as ``height`` strips
    over the widget's style ``base``, cut or padded to ``width``. Textual's own way from a
    ``Text`` (its general layout of any text) was most of the equity chart's cost in the paint
    that shows a run done; the cells and their styles are the same (the snapshots hold them)."""
    strips = []
    for line in lines[:height]:
        if line.spans:
            segments = list(line.render(console))
        else:  # (Text.render leaves a text's own style out when it has no spans)
            segments = [Segment(line.plain, console.get_style(line.style) if line.style else None)]
        strips.append(Strip(Segment.apply_style(segments, base)).crop_extend(0, width, base))
    strips.extend(Strip.blank(width, base) for _ in range(height - len(strips)))
    return strips


class CandleChart(NoteHolder, Widget):
    """The candles of a run's market with its trades marked; ``show`` sets what it draws."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {NOTE_CLASS}
    DEFAULT_CSS = "CandleChart { height: 1fr; }\n" + note_css("CandleChart")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.candles: Candles | None = None
        self.trades: Sequence[Trade] = ()
        self.selected: Trade | None = None
        self.message = "No candles yet."

    def show(self, candles: Candles | None, trades: Sequence[Trade], selected: Trade | None, message: str = "") -> None:
        self.candles, self.trades, self.selected = candles, trades, selected
        self.message = message or "No candles yet."
        self.refresh()

    def render(self) -> Text:
        w, h = self.size.width, self.size.height
        if self.candles is None or not len(self.candles):
            return Text(self.message, style=theme_style(self, "text-muted"))
        lines = render_candles(self.candles, w, h, self.trades, self.selected, theme_palette(self))
        return Text("\n").join(lines)


class EquityChart(StyleOncePerPaint, NoteHolder, Widget):
    """Cumulative PnL % with its axis, zero line and drawdown; ``show`` sets what it draws."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {NOTE_CLASS}
    DEFAULT_CSS = "EquityChart { height: 1fr; }\n" + note_css("EquityChart")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.curve: EquityCurve | None = None
        self.marker: int | None = None

    def show(self, curve: EquityCurve | None, marker: int | None = None) -> None:
        if (curve, marker) == (self.curve, self.marker):
            return  # the same points (a value comparison): no repaint at each redraw of the pane
        self.curve, self.marker = curve, marker
        self._strips = None
        self.refresh()

    _strips: tuple[tuple[object, ...], list[Strip]] | None = None  # (what they show, the lines)

    def render_line(self, y: int) -> Strip:
        base, (width, height) = self.rich_style, self.size
        if self.note is not None:  # its pane's empty-state note (``NoteHolder``)
            return self.note_line(y, width, base)
        key = (width, height, base, self.app.theme)
        if self._strips is None or self._strips[0] != key:
            lines = render_equity(self.curve, width, height, self.marker, theme_palette(self)) if self.curve else []
            self._strips = (key, strips_of(lines, self.app.console, width, height, base))
        return self._strips[1][y] if y < height else Strip.blank(width, base)
