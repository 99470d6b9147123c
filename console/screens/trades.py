"""The trade inspector: every closed trade of the selected run, sortable and filterable, with the
run's candles and equity charted (issue 14 "What to add").

Enter on a trade shows its entry, exit, TP/SL, duration, note, milestones, fees and PnL, moves
the candle chart to the trade's life and marks it on the equity curve. Trades and candles come
from a ``TradeReader`` (console/trade_reader.py: this process's engine, or an attached console's
daemon) in workers, so a slow exchange or daemon never holds up the keys.
While the run goes on, the screen reads its trades again by itself (at most once a second, only
when the run's trade count or state moved), keeping the sort, the filter, the row under the
cursor and the scroll; ``u`` still reads them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ..trade_reader import LOCAL, TradeReader
from ..trades import (
    SORT_KEYS,
    Trade,
    TradeSource,
    equity_curve,
    filter_trades,
    sort_trades,
    trade_window,
)
from ..widgets.base import hhmm, minutes, price, signed_text, theme_style
from ..widgets.charts import CandleChart, Candles, EquityChart

COLUMNS = (
    ("number", "#"),
    ("side", "Side"),
    ("pnl", "PnL"),
    ("duration", "Held"),
    ("reason", "Exit"),
    ("opened", "Opened"),
)
"""The table's columns, each also a sort key (``SORT_KEYS``)."""

CHART_CANDLES = 240
"""The most candles the chart asks for (a wide terminal's columns); fewer are merged to fit."""

FOLLOW_S = 1.0
"""How often the inspector looks whether its run closed more trades (issue 14 "Trade inspector":
a running backtest or live run keeps adding them). It reads the engine's stores again only when
the run's trade count or state moved, so an idle or finished run costs one comparison."""


class TradesScreen(Screen[None]):
    DEFAULT_CSS = """
    TradesScreen { overflow: hidden; }
    #trades-title { height: 1; padding: 0 1; }
    #trades-filter { height: 1; border: none; padding: 0 2; }
    #trades-top { height: 1fr; min-height: 6; }
    #trades-charts { height: 1fr; min-height: 7; }
    #trades-table, #trade-detail, .chart-pane {
        border: round $primary 40%;
        border-title-color: $primary;
        border-title-style: bold;
        background: $surface;
    }
    #trades-table:focus, .chart-pane:focus-within { border: round $primary; }
    #trades-table { width: 1fr; height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    #trade-detail { width: 40%; min-width: 28; max-width: 56; height: 1fr; padding: 0 1; }
    #candles-pane { width: 3fr; }
    #trade-equity-pane { width: 2fr; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("o", "sort(1)", "Sort"),
        Binding("O", "reverse", "Reverse", show=False),
        Binding("a", "whole_run", "Whole run"),
        Binding("u", "update", "Update"),
    ]

    def __init__(
        self,
        source: TradeSource,
        *,
        reader: TradeReader = LOCAL,
        follow: Callable[[], Hashable] | None = None,
        follow_every: float = FOLLOW_S,
    ) -> None:
        """``follow`` says where the run is (its state and trade count, say): while what it returns
        changes, the screen reads the trades again, at most once per ``follow_every`` seconds.
        ``reader`` is where the run's trades and candles are (the daemon's, attached)."""
        super().__init__(id="trades-screen")
        self.source = source
        self.reader = reader
        self.follow, self.follow_every = follow, follow_every
        self._followed: Hashable = follow() if follow is not None else None
        self.updates = 0  # reads of the trades since the screen opened (tests wait on it)
        self.fee, self.slippage = 0.0, 0.0  # per side, %, as the engine that ran the trades charged
        self.run_window: tuple[int, int] | None = None  # the whole run's chart period, once read
        self.read_error: str | None = None
        self.trades: list[Trade] = []
        self.shown: list[Trade] = []
        self.sort_key, self.descending = "number", False
        self.selected: Trade | None = None
        self.window: tuple[int, int] | None = None  # the chart's period (ms), once known
        self.charted: tuple[int, int] | None = None  # the period whose candles the chart shows
        self.chart_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="trades-title")
        yield Input(placeholder="filter: long short tp sl win loss >1 <-0.5 or a word of the note", id="trades-filter")
        with Horizontal(id="trades-top"):
            table = DataTable(cursor_type="row", zebra_stripes=True, id="trades-table")
            table.border_title = "Trades"
            yield table
            detail = Static("Enter on a trade shows it here and on the charts.", id="trade-detail")
            detail.border_title = "Trade"
            yield detail
        with Horizontal(id="trades-charts"):
            with Vertical(id="candles-pane", classes="chart-pane"):
                yield CandleChart(id="trade-candles")
            with Vertical(id="trade-equity-pane", classes="chart-pane"):
                yield EquityChart(id="trade-equity")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        s = self.source
        candles = self.query_one("#candles-pane")
        candles.border_title = f"{s.symbol} · {s.exchange}"
        candles.border_subtitle = "▲▼ entry ✕ exit T S E: TP SL entry"
        self.query_one("#trade-equity-pane").border_title = "Equity % · drawdown"
        self._fill()
        self.query_one("#trades-table", DataTable).focus()
        self.run_worker(self._read_trades(chart_too=True), exclusive=True, group="trades", exit_on_error=False)
        if self.follow is not None:
            self.set_interval(self.follow_every, self._follow_run, name="follow-run")

    def _follow_run(self) -> None:
        """The run moved on (more trades, or it ended): the trades again, keeping the sort, the
        filter, the row under the cursor and the scroll."""
        now = self.follow() if self.follow is not None else None
        if now != self._followed:
            self._followed = now
            self.reload()

    # ------------------------------------------------------------------ data
    def reload(self) -> None:
        """Read the trades again (a running backtest keeps adding to them)."""
        nothing_charted = self.window is None and self.selected is None
        self.run_worker(self._read_trades(nothing_charted), exclusive=True, group="trades", exit_on_error=False)

    async def _read_trades(self, chart_too: bool = False) -> None:
        """The trades from the reader; ``chart_too``: then the whole run's candles (the first
        read, or one while nothing is charted yet: a run that had no trades may have some now)."""
        try:
            got = await self.reader.trades(self.source)
        except Exception as exc:  # the title says why; the screen stays usable (u tries again)
            self.read_error = f"{type(exc).__name__}: {exc}"
            self.updates += 1
            self._fill()
            if chart_too:
                self.query_one(CandleChart).show(None, (), None, f"No trades: {self.read_error}")
            return
        self.read_error = None
        self.trades, self.run_window = got.trades, got.window
        self.fee, self.slippage = got.fee, got.slippage
        self.updates += 1
        self.query_one(EquityChart).show(equity_curve(t.pnl for t in self.trades), self._marker())
        chart = self.query_one(CandleChart)
        if chart.candles is not None:  # the new trades marked on the candles already shown
            chart.show(chart.candles, self.trades, chart.selected, chart.message)
        self._fill()
        if chart_too:
            self._chart(self._run_window())

    def _fill(self) -> None:
        query = self.query_one("#trades-filter", Input).value
        self.shown = sort_trades(filter_trades(self.trades, query), self.sort_key, self.descending)
        table = self.query_one("#trades-table", DataTable)
        keep = self._cursor_trade(table) or (self.selected.signal_id if self.selected else None)
        scrolled = table.scroll_y
        table.clear(columns=True)
        arrow = " ↓" if self.descending else " ↑"
        for key, label in COLUMNS:
            table.add_column(label + (arrow if key == self.sort_key else ""), key=key)
        for t in self.shown:
            table.add_row(*self._cells(t), key=t.signal_id)
        if keep is not None and keep in table.rows:
            table.scroll_to(y=scrolled, animate=False, immediate=True)  # the view stays where it was
            table.move_cursor(row=table.get_row_index(keep))  # (and moves only to keep the row in it)
        s = self.source
        wins = sum(1 for t in self.trades if t.pnl > 0)
        count = f"{len(self.shown)} of {len(self.trades)}" if len(self.shown) != len(self.trades) else len(self.trades)
        title = Text.assemble(
            ("Trades ", "bold"),
            f"· {s.symbol} {s.strategy} · {s.frame or 'live'} · {count} trades",
            (f" · {wins} wins" if self.trades else "", "dim"),
            (f" · cannot read them: {self.read_error}" if self.read_error else "", "bold"),
        )
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#trades-title", Static).update(title)

    @staticmethod
    def _cursor_trade(table: DataTable) -> str | None:
        """The signal id of the row under the cursor (None before the first fill)."""
        if not table.row_count or not 0 <= table.cursor_row < table.row_count:
            return None
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value

    def _cells(self, t: Trade) -> tuple:
        side = Text(t.side.upper(), style=theme_style(self, "primary" if t.side == "long" else "secondary"))
        return (str(t.number), side, signed_text(self, t.pnl), minutes(t.duration_ms), t.reason, hhmm(t.opened_at))

    def _marker(self) -> int | None:
        return self.selected.number if self.selected is not None else None

    # ------------------------------------------------------------------ keys and events
    def action_back(self) -> None:
        if self.focused is self.query_one("#trades-filter"):
            self.query_one("#trades-table").focus()
            return
        self.dismiss(None)

    def action_update(self) -> None:
        """``u``: the trades again, with those closed since the screen opened (a running run)."""
        self.reload()

    def action_focus_filter(self) -> None:
        self.query_one("#trades-filter", Input).focus()

    def action_sort(self, step: int) -> None:
        keys = list(SORT_KEYS)
        self.sort_key = keys[(keys.index(self.sort_key) + step) % len(keys)]
        self._fill()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._fill()

    def action_whole_run(self) -> None:
        """The chart back on the whole run (Enter moved it to one trade)."""
        self.selected = None
        self.query_one(EquityChart).show(equity_curve(t.pnl for t in self.trades), None)
        self.query_one("#trade-detail", Static).update("Enter on a trade shows it here and on the charts.")
        self._chart(self._run_window())

    @on(Input.Changed, "#trades-filter")
    def _filter_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#trades-filter")
    def _filter_done(self) -> None:
        self.query_one("#trades-table").focus()

    @on(DataTable.HeaderSelected, "#trades-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self.sort_key:
            self.descending = not self.descending
        else:
            self.sort_key, self.descending = key, False
        self._fill()

    @on(DataTable.RowSelected, "#trades-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        chosen = next((t for t in self.shown if t.signal_id == event.row_key.value), None)
        if chosen is not None:
            self.show_trade(chosen)

    def show_trade(self, t: Trade) -> None:
        """The trade's numbers in the detail pane, its life on the candle chart, its place on the
        equity curve."""
        self.selected = t
        self.query_one("#trade-detail", Static).update(self._detail(t))
        self.query_one(EquityChart).show(equity_curve(x.pnl for x in self.trades), t.number)
        self._chart(trade_window(t))

    def _detail(self, t: Trade) -> Text:
        """Short lines (the pane is 28 columns at 80x24): what a trader checks, in that order."""
        dim = "dim"
        lines = Text()
        lines.append(f"#{t.number} {t.side.upper()} ", style="bold")
        lines.append_text(signed_text(self, t.pnl))
        lines.append(f" {t.reason}\n")
        lines.append("in  ", style=dim)
        lines.append(f"{price(t.entry)}  {hhmm(t.opened_at)}\n")
        lines.append("out ", style=dim)
        lines.append(f"{price(t.exit)}  {hhmm(t.closed_at)}\n")
        lines.append("TP ", style=dim)
        lines.append(price(t.take_profit), style=theme_style(self, "success"))
        lines.append(" SL ", style=dim)
        lines.append(price(t.stop_loss) + "\n", style=theme_style(self, "error"))
        lines.append("held ", style=dim)
        lines.append(minutes(t.duration_ms) + "\n")
        lines.append("fees ", style=dim)
        lines.append(f"{2 * self.fee:.2f}%")
        lines.append(" slippage ", style=dim)
        lines.append(f"{2 * self.slippage:.2f}%\n")
        lines.append("milestones", style=dim)
        for kind, sign, colour in (("profit", "+", "success"), ("loss", "-", "error")):
            levels = [m.level for m in t.milestones if m.kind == kind]
            if levels:
                shown = (
                    " ".join(f"{sign}{n}" for n in levels)
                    if len(levels) <= 3
                    else f"{sign}{levels[0]}…{sign}{levels[-1]}"
                )
                lines.append(f" {shown}", style=theme_style(self, colour))
        lines.append(" none\n" if not t.milestones else "\n", style=dim)
        lines.append("note ", style=dim)
        lines.append(t.note or "—")
        lines.append(f"\nid {t.signal_id[:8]}", style=dim)  # as the signal log names it
        return lines

    # ------------------------------------------------------------------ the candle chart
    def _run_window(self) -> tuple[int, int] | None:
        """The whole run: its frame (a backtest), else from the first entry to the last exit
        (console/trades.py ``run_window``, as the reader's engine knows the frame)."""
        return self.run_window

    def _chart(self, window: tuple[int, int] | None) -> None:
        self.window = window
        chart = self.query_one(CandleChart)
        if window is None:
            chart.show(None, self.trades, None, "No trades and no frame: nothing to chart yet.")
            self.charted = None
            return
        self.run_worker(self._load_candles(window), exclusive=True, group="chart", exit_on_error=False)

    async def _load_candles(self, window: tuple[int, int]) -> None:
        s = self.source
        chart = self.query_one(CandleChart)
        try:
            got = await self.reader.candles(s.exchange, s.symbol, window[0], window[1], CHART_CANDLES)
        except Exception as exc:  # the chart says why; the table stays usable
            self.chart_error = f"{type(exc).__name__}: {exc}"
            chart.show(None, self.trades, None, f"No candles: {self.chart_error}")
            self.charted = window
            return
        candles = Candles(got.time, got.open, got.high, got.low, got.close)
        start = datetime.fromtimestamp(window[0] / 1000, tz=UTC).strftime("%Y-%m-%d")
        what = f"trade #{self.selected.number}" if self.selected is not None else f"whole run from {start}"
        self.query_one("#candles-pane").border_title = f"{s.symbol} {got.interval} · {what}"
        chart.show(candles, self.trades, self.selected, "No candles in this period.")
        self.chart_error = None
        self.charted = window
