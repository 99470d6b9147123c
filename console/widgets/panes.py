"""The dashboard's core panes: runs, progress, positions, scheduled entries, signals, equity.
The analysis tabs live in their own modules (leaderboard, events, heatmap)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

import engine

from ..state import DashboardState, LogLine, RunView
from ..trade_reader import reader_of
from ..trades import Trade, TradeSource, cumulative_curve, source_of, trade_window
from .base import (
    FINISHED_STYLE,
    LogPane,
    Pane,
    ResizingTable,
    TablePane,
    column_width,
    hhmm,
    minutes,
    price,
    same_cell,
    signed_text,
    theme_style,
)
from .charts import CandleChart, Candles, EquityChart
from .log_view import LogView
from .outcome import outcome, short_outcome, with_errors

STATUS_ICON = {"starting": "…", "running": "▶", "stopping": "■", "stopped": "■", "done": "✓", "failed": "✗"}


def progress_bar(progress: float, width: int = 12) -> str:
    filled = round(progress * width)
    return "█" * filled + "░" * (width - filled)


def compact(n: int) -> str:
    """Frame counts that fit a narrow pane: 980, 43.2k, 525.6k, 1.2M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def elapsed(run: RunView, now: float) -> str:
    end = run.finished if run.finished is not None else now
    seconds = max(0.0, end - run.started)
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class RunsPane(TablePane):
    """The runs of this session; the highlighted one drives the header, positions and equity.
    At 80 columns the strategy name is shortened, never the state (issue 14 item 4)."""

    @dataclass
    class Selected(Message):
        """The cursor moved to run ``run_id`` (None: the table is empty)."""

        run_id: str | None

    COLUMNS = (("icon", ""), ("symbol", "Symbol"), ("name", "Strategy"), ("state", "State"))
    FLEX = "name"
    DROP: tuple[str, ...] = ("icon",)  # the state says it in words
    FIXED = {"icon": 1, "state": 7}  # "stopped", "100%", "live": no relayout as a run progresses

    def __init__(self) -> None:
        super().__init__("Runs", "No runs yet: press b to backtest.", id="runs")

    def compose_body(self) -> ComposeResult:
        yield ResizingTable(cursor_type="row", zebra_stripes=False, id="runs-table")

    def sync(self, state: DashboardState) -> None:  # type: ignore[override]
        runs = state.runs.values()
        rows = {run.id: (STATUS_ICON[run.status], run.symbol, run.name, self._state(run)) for run in runs}
        symbols = {run.symbol for run in state.runs.values()}
        # one symbol: the title names it and a narrow pane drops its column before cutting names
        self.DROP = ("icon", "symbol") if len(symbols) == 1 else ("icon",)
        self.set_title(f"Runs · {next(iter(symbols))}" if len(symbols) == 1 else "Runs")
        selected = self.selected
        self._keep = selected
        super().sync(rows)

    def laid_out(self) -> None:
        """The table was laid out afresh: the cursor goes back to the run it was on."""
        keep = getattr(self, "_keep", None)
        if keep is not None:
            self.highlight(keep)

    def _state(self, run: RunView) -> Text:
        if run.status == "running" and run.mode == "live":
            return Text("live", style=theme_style(self, "error", bold=True))
        if run.status == "running":
            return Text(f"{run.progress * 100:3.0f}%")
        if with_errors(run):  # not a green "done": its strategy raised (issue 14 item 7)
            return Text(short_outcome(run), style=theme_style(self, "warning", bold=True))
        if run.status in FINISHED_STYLE:
            return Text(run.status, style=theme_style(self, FINISHED_STYLE[run.status]))
        return Text(run.status)

    def highlight(self, run_id: str) -> None:
        """Put the cursor on ``run_id`` (a run the app selected as it started it); the move posts
        ``Selected`` for that run, which is already the selected one."""
        table = self.table
        if run_id in table.rows and self.selected != run_id:
            table.move_cursor(row=table.get_row_index(run_id))

    def on_resize(self, _event: events.Resize) -> None:
        """A pane that shrank (the Account pane appears once a live run trades) keeps the selected
        run's row in view: at 80x24 it may have room for one row, and that row must be the one the
        header and the other panes describe."""
        table = self.table
        if table.row_count:
            table.call_after_refresh(lambda: table.move_cursor(row=table.cursor_row))

    @property
    def selected(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(str(event.row_key.value) if event.row_key else None))


class ProgressPane(TablePane):
    """One two-line row per run: which run, then bar, percent, frames and time taken; a live run
    shows its price and its last and next tick instead (issue 14 item 11: a sign of life between
    events). Each line is fitted to the pane's width by priority (issue 14 items 4 and 15): the
    bar shrinks, then the time taken goes, then the total; nothing is wrapped or cut mid-number."""

    COLUMNS = (("run", "Run"),)

    def __init__(self) -> None:
        super().__init__("Progress", "Runs show their progress here; live runs their price and ticks.", id="progress")
        self._last: tuple[DashboardState, float] | None = None

    def compose_body(self) -> ComposeResult:
        yield ResizingTable(cursor_type="none", show_cursor=False, show_header=False)

    @on(ResizingTable.Resized)
    def _progress_resized(self) -> None:
        if self._last is not None:
            self.refresh_from(*self._last)

    def refresh_from(self, state: DashboardState, now: float) -> None:
        """Laid out afresh whenever its rows or its width change. Its width is the pane's room (or
        the widest cell before the pane has a size), given to its one column: a DataTable column
        of its own width only ever widens, so cells updated in place left it to whichever
        transient values happened to be drawn, and a snapshot of a finished run depended on the
        machine's speed. A cell that changes in a column of a given width is updated in place:
        its row alone is painted again (``ResizingTable.update_cell``)."""
        self._last = (state, now)
        table = self.table
        room = self._table_room()
        runs = list(state.runs.values())
        # what is running first (a short pane shows it without scrolling), then the finished runs
        shown = [r for r in runs if r.is_active] + [r for r in runs if not r.is_active]
        cells = {run.id: self._cell(run, now, room) for run in shown}
        existing = [str(k.value) for k in table.rows]
        width = room if room else column_width("Run", cells.values())
        widths = [c.width for c in table.ordered_columns]
        if existing != list(cells) or widths != [width]:
            table.clear(columns=True)
            table.add_column("Run", key="run", width=width)
            for key, cell in cells.items():
                table.add_row(cell, key=key, height=2)
        else:
            for key, cell in cells.items():
                if not same_cell(table.get_cell(key, "run"), cell):
                    table.update_cell(key, "run", cell)
        self.set_empty(not cells)

    def _cell(self, run: RunView, now: float, room: int | None) -> Text:
        title = Text(f"{run.symbol} {run.name}", style="bold", no_wrap=True, overflow="ellipsis")
        if room:
            title.truncate(room, overflow="ellipsis")
        line = self._live_line(run, room) if run.mode == "live" else self._progress_line(run, now, room)
        return Text.assemble(title, "\n", line)

    def _progress_line(self, run: RunView, now: float, room: int | None) -> Text:
        style = theme_style(self, FINISHED_STYLE.get(run.status, "accent"))
        label = run.status if run.status in FINISHED_STYLE else f"{run.progress * 100:3.0f}%"
        labels = [label]
        if with_errors(run):  # "done · 4 errors", or "4 err" where that would cost the frame count
            label, colour = outcome(run)
            labels = [label, short_outcome(run)]
            style = theme_style(self, colour)
        took = f" {elapsed(run, now)}"
        done, total = compact(run.processed), compact(run.total)
        variants = (
            (6, took, f" {done}/{total}"),
            (3, took, f" {done}/{total}"),
            (3, "", f" {done}/{total}"),
            (3, "", f" {done}"),
            (3, "", ""),
        )
        fits = [
            (bar, took_text, frames, text)
            for bar, took_text, frames in variants
            for text in labels
            if room is None or bar + 1 + len(text) + len(took_text) + len(frames) <= room
        ]
        bar, took_text, frames, label = fits[0] if fits else (*variants[-1], labels[-1])
        return Text.assemble(
            (progress_bar(run.progress, bar), style), " ", (label, style), (f"{took_text}{frames}", "dim")
        )

    def _live_line(self, run: RunView, room: int | None) -> Text:
        if not run.is_active:
            style = theme_style(self, FINISHED_STYLE.get(run.status, "foreground"))
            return Text(run.status, style=style)
        if run.last_tick is None or run.price is None:
            waiting = Text("waiting for a tick", style="dim")
            if room:
                waiting.truncate(room, overflow="ellipsis")
            return waiting
        at = hms(run.last_tick)
        nxt = hms(run.last_tick + engine.TICK_TTL)
        live = theme_style(self, "error", bold=True)
        variants = (
            ("● ", f" · tick {at} · next {nxt}"),
            ("● ", f" tick {at} next {nxt}"),
            ("", f" tick {at} next {nxt}"),
            ("", f" {at[:5]}→{nxt[:5]}"),
            ("", f" {at[:5]}"),
            ("", ""),
        )
        value = price(run.price)
        for dot, ticks in variants:
            if room is None or len(dot) + len(value) + len(ticks) <= room:
                break
        return Text.assemble((dot, live), (value, "bold"), (ticks, "dim"))


def hms(ms: int) -> str:
    """A live tick's wall time (UTC), to the second: ticks come a minute apart."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S")


class PositionsPane(TablePane):
    COLUMNS = (
        ("symbol", "Symbol"),
        ("strategy", "Strategy"),
        ("side", "Side"),
        ("entry", "Entry"),
        ("last", "Last"),
        ("pnl", "PnL%"),
        ("to_tp", "to TP"),
        ("to_sl", "to SL"),
        ("age", "Age"),
        ("tp", "TP"),
        ("sl", "SL"),
    )
    """What a trader reads first comes first."""
    QUANTITY = (*COLUMNS, ("qty", "Qty"))
    """With live positions that traded: the base amount the entry filled (README "Orders and
    accounts"), last so the columns a backtest shows keep their places; never dropped."""
    DROP = ("strategy", "tp", "sl", "entry", "age", "last", "side")
    """A narrow pane loses these first (issue 14 item 4); PnL and the distances to TP and SL stay."""

    def __init__(self) -> None:
        super().__init__("Open positions", "No open positions.", id="positions")

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        rows = {}
        saved = 0
        shown = state.positions_of(None)
        with_qty = any(p.quantity is not None for p in shown)
        self.COLUMNS = PositionsPane.QUANTITY if with_qty else type(self).COLUMNS
        qty = (lambda p: (quantity(p.quantity),)) if with_qty else (lambda p: ())
        for p in shown:
            if p.saved:  # no price until a live run of the pair ticks: levels, no PnL
                saved += 1
                dim = theme_style(self, "text-muted")
                rows[f"{p.run}|{p.signal_id}"] = (
                    p.symbol,
                    p.strategy,
                    p.side.upper(),
                    price(p.entry),
                    Text("saved", style=dim),
                    Text("N/A", style=dim),
                    Text("—", style=dim),
                    Text("—", style=dim),
                    minutes(p.now - p.opened_at),
                    price(p.take_profit),
                    price(p.stop_loss),
                    *qty(p),
                )
                continue
            rows[f"{p.run}|{p.signal_id}"] = (
                p.symbol,
                p.strategy,
                p.side.upper(),
                price(p.entry),
                price(p.last_price),
                signed_text(self, p.pnl),
                distance(p.take_profit, p.last_price),
                distance(p.stop_loss, p.last_price),
                minutes(p.now - p.opened_at),
                price(p.take_profit),
                price(p.stop_loss),
                *qty(p),
            )
        self.set_title(f"Open positions · {saved} saved, not trading (l starts live)" if saved else "Open positions")
        self.sync(rows)


class ScheduledPane(TablePane):
    """Limit entries waiting to fill (distance from the price, time left before the timeout),
    then the latest cancellations with their reason."""

    COLUMNS = (
        ("symbol", "Symbol"),
        ("strategy", "Strategy"),
        ("side", "Side"),
        ("entry", "Limit"),
        ("distance", "Distance"),
        ("left", "Time left"),
    )
    DROP = ("strategy", "entry", "side")
    """A narrow pane keeps the distance and the time left, or the ``✗ timeout`` that tells a
    cancelled entry from a waiting one (issue 14 item 4)."""

    def __init__(self) -> None:
        super().__init__("Scheduled", "No limit entries waiting.", id="scheduled")

    def refresh_from(self, state: DashboardState, run: str | None) -> None:
        """The selected run's waiting entries and cancellations (every run's when none is
        selected); entries saved by an earlier live process stay listed until a run takes them."""
        rows: dict[str, tuple] = {}
        shown = [s for s in state.scheduled_of(None) if run is None or s.run == run or s.run.startswith("saved:")]
        for s in shown:
            rows[f"{s.run}|{s.signal_id}"] = (
                s.symbol,
                s.strategy,
                s.side.upper(),
                price(s.entry),
                distance(s.entry, s.last_price),
                minutes(state.time_left(s) * 60_000),
            )
        dim = theme_style(self, "text-muted")
        warn = theme_style(self, "warning")
        for c in reversed(state.cancelled_of(run)):
            key = f"{c.run}|{c.signal_id}|x"
            if key not in rows:
                rows[key] = (
                    Text(c.symbol, style=dim),
                    Text(c.strategy, style=dim),
                    Text(c.side.upper(), style=dim),
                    Text(price(c.entry), style=dim),
                    Text(distance(c.entry, c.last_price), style=dim),
                    Text(f"✗ {c.reason}", style=warn),
                )
        waiting = sum(1 for k in rows if not k.endswith("|x"))
        self.set_title(f"Scheduled · {waiting} waiting" if waiting else "Scheduled")
        self.sync(rows, ordered=True)  # waiting first, then cancellations newest first


def quantity(value: float | None) -> str:
    """A base amount (0.0125 BTC) with the digits it needs; ``—`` before its entry filled."""
    return "—" if value is None else f"{value:.6g}"


def distance(target: float, last: float) -> str:
    """How far the price must move to reach ``target`` (a limit, a TP or an SL), in percent."""
    return f"{(target - last) / last * 100:+.2f}%" if last else "n/a"


_DETAIL = attrgetter("detail")


class SignalsPane(LogPane):
    """The signal log, newest at the bottom; it keeps the last lines the state keeps."""

    # the pane's title names the run, so its lines need no symbol or strategy column
    COLUMNS = (("time", "Time"), ("kind", "Event"), ("side", "Side"), ("detail", "Detail"), ("pnl", "PnL"))
    KIND_STYLE = {
        "OPENED": "primary",
        "CLOSED": "foreground",
        "SCHED": "secondary",
        "CANCEL": "warning",
        "ERROR": "error",
        "RESTORED": "accent",
        "FILL": "success",
        "ORDER": "secondary",
    }

    FIXED = {"time": 11, "kind": 8, "side": 5, "pnl": 8}
    """Every column but the detail has a fixed width (its longest value: a time, RESTORED, SHORT,
    -100.00%); the detail is as wide as the longest detail in the log, cut to the room they leave
    (a DataTable's auto width only ever grew, so one long error detail used to push PnL out of
    the pane for the rest of the session)."""
    FLEX = "detail"
    LEAST = len("Detail")

    class TradePicked(Message):
        """The cursor of the focused Signals log is on a line about this signal: the candle chart
        shows its trade (issue 14 "Charts": they follow the selected trade)."""

        def __init__(self, signal_id: str) -> None:
            super().__init__()
            self.signal_id = signal_id

    def __init__(self) -> None:
        super().__init__("Signals", "Opens, closes and cancellations appear here.", id="signals")
        self._run: str | None = None

    @property
    def _lines(self) -> list[LogLine]:
        return self.table.lines

    def refresh_from(self, state: DashboardState, run: str | None = None) -> None:
        chosen = state.runs.get(run) if run else None
        self.set_title(f"Signals · {chosen.symbol} {chosen.name}" if chosen else "Signals")
        self._run = run
        self.show_lines(state.log_of(run))

    def line_count(self, state: DashboardState, run: str | None) -> int:
        return state.signal_log.shown(run)

    def widths(self, lines: list[LogLine]) -> tuple[int, ...]:
        # only the detail's width varies (the others are fixed), measured at C speed: a fast
        # run's end measures its 500 newest lines here
        return (0, 0, 0, max(map(cell_len, map(_DETAIL, lines))), 0)

    def log_focused(self) -> None:
        """A row cursor while the log has the focus (Tab), on the newest line: the arrows pick a
        line and so a trade. Without the focus the log has no cursor, as before."""
        view = self.table
        view.show_cursor = True
        view.cursor_row = None
        view.move_cursor(view.row_count - 1)

    @on(events.DescendantBlur)
    def _cursor_off(self) -> None:
        view = self.table
        view.show_cursor = False
        view.refresh()

    @on(LogView.Highlighted)
    def _line_picked(self, event: LogView.Highlighted) -> None:
        event.stop()
        if not self.table.has_focus:
            return
        if event.line.signal_id:
            self.post_message(self.TradePicked(event.line.signal_id))

    def cells(self, line: LogLine) -> tuple:
        kind = Text(line.kind, style=theme_style(self, self.KIND_STYLE[line.kind], bold=True))
        pnl = signed_text(self, line.pnl) if line.pnl is not None else ""
        return (hhmm(line.time), kind, line.side.upper(), line.detail, pnl)

    def restyle(self, state: DashboardState, run: str | None = None) -> None:
        """After a theme change the coloured cells are drawn again."""
        self.restyle_lines()


class EquityPane(Pane):
    """Cumulative PnL (sum of net PnL %) over the closed trades of the selected run, charted with
    its value axis, a zero line, the area coloured by sign and, when the pane is tall enough, the
    drawdown under it (issue 14 item 14: the unlabelled sparkline coloured by height drew an
    all-negative curve in green). It has no table, so the pane itself takes the focus (Tab reaches
    it, z zooms it).

    ``v`` turns it into the candle chart of the selected run's market with its entries and exits
    marked, and the TP, SL and entry of the trade picked in the Signals log (issue 14 "Charts":
    both charts follow the selected run and the selected trade); ``v`` again shows the equity.
    The PnL line under the chart stays in both (issue 14 item 4). Candles and trades are read
    from the app's ``TradeReader`` (console/trade_reader.py: this engine, or an attached console's
    daemon) in a worker, at most once per ``CANDLES_EVERY_S`` and only when the run's trades, its
    state or the picked trade moved, so a busy run is not slowed by a chart nobody changed."""

    can_focus = True
    NOTE_IN_BODY = True

    CANDLES = 240
    """The most candles asked for (a wide pane's columns); fewer are merged to fit."""

    CANDLES_EVERY_S = 1.0

    def __init__(self) -> None:
        super().__init__("Equity (cum. PnL %)", "Select a run with closed trades.", id="equity")
        self.border_subtitle = "i: every trade"  # (v: candles is in the help and the palette)
        self.view = "equity"
        self.trade_id: str | None = None  # the signal picked in the Signals log
        self._run: str | None = None
        self._want: tuple[object, ...] | None = None  # what the candle chart should show
        self._drawn: tuple[object, ...] | None = None  # what it shows (or is being read)
        self._source: TradeSource | None = None
        self._last_read = float("-inf")
        self.reads = 0  # candle reads done (tests wait on it)
        self.trades: list[Trade] = []
        self.picked: Trade | None = None
        self._curve: tuple[list[float], int] = ([], 0)
        self._total = Text("")  # what the total line under the chart shows

    def compose_body(self) -> ComposeResult:
        yield EquityChart(id="equity-line")
        yield CandleChart(id="equity-candles")
        yield Static("", id="equity-total")

    def on_mount(self) -> None:
        self.set_empty(True)
        self.set_interval(self.CANDLES_EVERY_S, self._read_if_wanted, name="candles")

    def shows(self, child: Widget) -> bool:
        """The chart of the view chosen (``v``), and the total under it."""
        if isinstance(child, EquityChart):
            return self.view == "equity"
        if isinstance(child, CandleChart):
            return self.view == "candles"
        return True

    def refresh_from(self, state: DashboardState, run_id: str | None) -> None:
        if run_id != self._run:  # another run: no trade of it is picked yet
            self._run, self.trade_id, self.picked = run_id, None, None
        shown = state.equity_of(run_id)
        line = self.query_one(EquityChart)
        total = self.query_one("#equity-total", Static)
        run = state.runs.get(run_id) if run_id else None
        if run is None or ((shown is None or not shown[1]) and self.view == "equity"):
            self.set_empty(True)
            self.set_title("Equity (cum. PnL %)" if self.view == "equity" else "Candles")
            self._total = Text("")
            total.update(self._total, layout=False)  # one row high (themes/btk.tcss): no layout needed
            self._want = None
            return
        self.set_empty(False)
        label, curve, trades, wins, total_pnl = shown if shown is not None else (run.name, [], 0, 0, 0.0)
        if self.view == "equity":
            walker = run.mode == "walker"
            self.set_title(f"Equity · {label}" if walker else "Equity (cum. PnL %)")
            self._curve = (curve, trades)
            marker = self.picked.number if self.picked is not None and len(curve) == trades else None
            line.show(cumulative_curve([0.0, *curve]), marker)
            if self.trade_id is not None:  # the picked trade's place on the curve is read
                self._source = source_of(state, run)
                self._want = ("equity", run.id, self._source.strategy, trades, self.trade_id)
                self._read_if_wanted()
        else:
            self._source = source_of(state, run)
            self._want = (run.id, self._source.strategy, trades, run.status, self.trade_id)
            self._read_if_wanted()
        win_rate = wins / trades * 100 if trades else 0.0
        text = signed_text(self, total_pnl)
        text.append(f"  {trades} trades, win {win_rate:.1f}%", style="dim")
        if text != self._total:  # an update repaints the line even when it reads the same
            self._total = text
            total.update(text, layout=False)

    def toggle_view(self, state: DashboardState, run_id: str | None) -> str:
        """Equity to candles and back; returns the view now shown."""
        self.view = "candles" if self.view == "equity" else "equity"
        self.border_subtitle = "i: every trade" if self.view == "equity" else "v: equity"
        self.set_class(self.view == "candles", "-candles")  # a taller pane (themes/btk.tcss)
        self._drawn = None  # drawn afresh for what is selected now
        self.refresh_from(state, run_id)
        return self.view

    def pick_trade(self, signal_id: str, state: DashboardState, run_id: str | None) -> None:
        """The Signals log's cursor is on a line of this signal: chart its trade."""
        if signal_id != self.trade_id:
            self.trade_id = signal_id
            self.refresh_from(state, run_id)

    def _read_if_wanted(self) -> None:
        want = self._want
        if want is None or want == self._drawn:
            return
        if time.monotonic() - self._last_read < self.CANDLES_EVERY_S:
            return  # the interval comes back for it
        self._drawn, self._last_read = want, time.monotonic()
        source = self._source
        self.run_worker(self._read(source, want), exclusive=True, group="equity-candles", exit_on_error=False)

    async def _read(self, source: TradeSource, want: tuple[object, ...]) -> None:
        chart = self.query_one(CandleChart)
        reader = reader_of(self.app)  # this engine, or an attached console's daemon
        try:
            got = await reader.trades(source)
        except Exception as exc:  # the pane says why; the dashboard goes on
            chart.show(None, (), None, f"No trades: {type(exc).__name__}: {exc}")
            self.reads += 1
            return
        trades = got.trades
        picked = next((t for t in trades if t.signal_id == self.trade_id), None)
        window = trade_window(picked) if picked is not None else got.window
        self.trades, self.picked = trades, picked
        if self.view == "equity":  # only the picked trade's mark on the equity curve
            curve, count = self._curve
            marker = picked.number if picked is not None and len(curve) == count else None
            self.query_one(EquityChart).show(cumulative_curve([0.0, *curve]), marker)
            self.reads += 1
            return
        if window is None:
            chart.show(None, trades, None, "No trades and no frame: nothing to chart yet.")
            self.reads += 1
            return
        try:
            columns = await reader.candles(source.exchange, source.symbol, *window, self.CANDLES)
        except Exception as exc:  # the pane says why; the dashboard goes on
            chart.show(None, trades, None, f"No candles: {type(exc).__name__}: {exc}")
            self.reads += 1
            return
        if self._want != want and self._drawn != want:
            return  # something else was asked for meanwhile: its read draws
        what = f"trade #{picked.number}" if picked is not None else "whole run"
        self.set_title(f"Candles · {source.symbol} {columns.interval} · {what}")
        candles = Candles(columns.time, columns.open, columns.high, columns.low, columns.close)
        chart.show(candles, trades, picked, "No candles in this period.")
        self.reads += 1
