"""The Research tab: one sweep's progress, its sets ranked (sortable), the parameter heat map, the
walk-forward folds, the Monte Carlo bands of the best set and the overfitting verdict, all read
from the sweep's results table.

The sweep runs in its own process (``runner.py``); its messages arrive here as ``SweepUpdate``
(posted from the reader thread: Textual's ``post_message`` is thread-safe). Progress comes from the
messages; everything else is read back from the table, throttled while rows arrive and once more
at the end, so what the tab shows at the end is a function of the table alone.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Static

import engine

from ..state import Part
from ..widgets.base import Pane, scaled_text
from .runner import SweepDone, SweepJob, SweepMessage, SweepProcess

VIEWS = (("board", "Sets"), ("heat", "Heat map"), ("folds", "Walk-forward"))
SHOWN = ("trades", "win_rate", "total_pnl", "sharpe_ratio", "max_drawdown")
"""The statistics the sets table shows after the sweep's own metric(s) (the report's, too)."""
LOWER_IS_BETTER = frozenset({"max_drawdown"})
LABELS = {
    "trades": "Trades",
    "win_rate": "Win %",
    "total_pnl": "PnL %",
    "sharpe_ratio": "Sharpe",
    "max_drawdown": "Max DD",
    "annualized_sharpe_ratio": "Ann. Sharpe",
    "certainty_ratio": "Certainty",
    "avg_pnl": "Avg PnL",
    "expected_yearly_returns": "Yearly ret.",
}
RELOAD_EVERY_S = 0.5
"""While rows arrive, the table is read again at most this often (a 1,000-set sweep sends 1,000
messages; reading it each time would cost more than the sweep's progress is worth)."""
DSR_CONFIDENCE = 0.95  # the report's threshold (engine/research/report.py DSR_CONFIDENCE)


class SweepUpdate(Message):
    """A message of the sweep process, moved to the app's loop."""

    def __init__(self, msg: SweepMessage) -> None:
        super().__init__()
        self.msg = msg


def _num(v: float | None, digits: int = 2) -> str:
    return "N/A" if v is None or (isinstance(v, float) and not math.isfinite(v)) else engine.to_fixed(v, digits)


def _params(params: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in (params or {}).items())


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))


class ResearchPane(Pane):
    """A sweep's progress line, three views (``v``), the best set's Monte Carlo line and the verdict
    line; ``o`` sorts the sets by the next column, Enter backtests the set under the cursor, ``R``
    opens the sweep's report, ``x`` stops the sweep (it resumes when started again). ``S`` (the
    app's command) starts one."""

    BINDINGS = [
        Binding("v", "next_view", "View"),
        Binding("o", "sort", "Sort"),
        Binding("R", "open_report", "Report"),
        Binding("x", "stop_sweep", "Stop sweep"),
    ]

    DEFAULT_CSS = """
    ResearchPane > #research-status, ResearchPane > #research-monte, ResearchPane > #research-verdict {
        height: auto; padding: 0 1;
    }
    ResearchPane > ContentSwitcher { height: 1fr; }
    ResearchPane DataTable { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__(
            "Research", "No sweep yet: press S to sweep a strategy's parameters.", id="research", classes="pane"
        )
        self.job: SweepJob | None = None
        self.process: SweepProcess | None = None
        self.status = "idle"  # running, done, failed
        self.tick: engine.SweepProgress | None = None
        self.done: SweepDone | None = None
        self.error: str | None = None
        self.sets: list[Any] = []  # engine.SweepSet, ranked as the sweep ranks them
        self.guard: Any = None
        self.monte: engine.SweepMonteCarlo | None = None  # the best set's bands, once the sweep ended
        self.folds: Any = None
        self.sort_by: str | None = None  # None: the sweep's own ranking
        self.view = 0
        self._loaded_at = -math.inf

    def compose_body(self) -> ComposeResult:
        yield Static("", id="research-status", markup=False)
        with ContentSwitcher(initial="research-board"):
            yield DataTable(id="research-board", cursor_type="row", zebra_stripes=False)
            yield DataTable(id="research-heat", cursor_type="none", show_cursor=False)
            yield DataTable(id="research-folds", cursor_type="none", show_cursor=False)
        yield Static("", id="research-monte", markup=False)
        yield Static("", id="research-verdict", markup=False)

    def on_mount(self) -> None:
        self.set_empty(True)

    # ------------------------------------------------------------------ the sweep
    @property
    def running(self) -> bool:
        return self.status == "running"

    def start(self, job: SweepJob) -> None:
        """Start ``job`` in its own process; the caller checked no sweep is running."""
        self.job, self.status, self.tick, self.done, self.error = job, "running", None, None, None
        self.sets, self.guard, self.monte, self.folds, self.sort_by = [], None, None, None, None
        self._loaded_at = -math.inf
        self.process = SweepProcess(job, lambda msg: self.post_message(SweepUpdate(msg)))
        self.process.start()
        self.render_all()

    def on_sweep_update(self, event: SweepUpdate) -> None:
        event.stop()
        self.receive(event.msg)

    def receive(self, msg: SweepMessage) -> None:
        if isinstance(msg, engine.SweepProgress):
            self.tick = msg
            now = time.monotonic()
            if now - self._loaded_at >= RELOAD_EVERY_S:
                self._loaded_at = now
                self.load()
            self.render_all()
            return
        if isinstance(msg, SweepDone):
            self.status, self.done = "done", msg
            self.app.notify(f"{msg.trials} set(s) tried; report: {msg.report}", title="Sweep done", markup=False)
        else:
            self.status, self.error = "failed", msg.message
            self.app.notify(msg.message, title="Sweep stopped", severity="warning", timeout=10, markup=False)
        self.load()
        self.render_all()

    def load(self) -> None:
        """Read the results table again (a read that meets the writer's lock waits for the next)."""
        job = self.job
        if job is None or not job.table.exists():
            return
        try:
            rows = engine.load_sweep_rows(job.table)
            self.sets = engine.rank_sweep_sets(job.sweep, rows)
            if self.status != "running":  # the guard and the folds judge a finished sweep
                self.guard = engine.sweep_guard(self.sets, job.sweep.metric[0]) if self.sets else None
                best = None if self.guard is None else self.guard.best
                self.monte = None if best is None else engine.sweep_monte_carlo(job.sweep, rows, best.trial)
                walk_forward = any(w.role == "test" for w in job.sweep.windows)
                self.folds = engine.walk_forward_summary(job.sweep, job.table) if walk_forward else None
        except sqlite3.Error:
            return

    def on_unmount(self) -> None:
        if self.process is not None and self.process.running:
            self.process.stop()

    # ------------------------------------------------------------------ keys
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a set: a normal backtest of it on the sweep's first symbol, exchange and frame,
        so its trades show in the other panes (issue 18). The strategy keeps that set in this
        session (``engine.use_params``) until another is chosen."""
        event.stop()
        job = self.job
        if job is None or event.data_table.id != "research-board" or event.row_key.value is None:
            return
        chosen = next((s for s in self.sets if str(s.trial) == event.row_key.value), None)
        if chosen is None:
            return
        sweep = job.sweep
        try:
            engine.use_params(sweep.strategy, chosen.params)
        except Exception as exc:  # the strategy changed under the sweep: say so, keep the app up
            self.app.notify(str(exc), title="Cannot backtest this set", severity="error", markup=False)
            return
        symbol = sweep.symbols[0]
        if self.app.start_backtest(symbol, sweep.strategy, sweep.exchange, job.frame):
            self.app.notify(
                f"Backtesting set {chosen.trial} ({_params(chosen.params)}) of {sweep.strategy} on {symbol}; "
                f"{sweep.strategy} keeps these params in this session",
                markup=False,
            )
            self.app.dashboard.show(Part.ALL)

    def action_next_view(self) -> None:
        self.view = (self.view + 1) % len(VIEWS)
        self.render_all()

    def action_sort(self) -> None:
        keys = [None, *self._stat_columns()]
        at = keys.index(self.sort_by) if self.sort_by in keys else 0
        self.sort_by = keys[(at + 1) % len(keys)]
        self.render_all()

    def action_stop_sweep(self) -> None:
        if self.process is None or not self.running:
            self.app.notify("No sweep is running.", severity="warning", markup=False)
            return
        self.app.notify("Stopping the sweep (the workers finish the backtest each holds)…", markup=False)
        self.process.stop(wait=False)

    def action_open_report(self) -> None:
        from .report_screen import open_report

        report = self.done.report if self.done is not None else None
        if report is None or not report.exists():
            self.app.notify("The report is written when the sweep ends.", severity="warning", markup=False)
            return
        open_report(self.app, report)

    # ------------------------------------------------------------------ drawing
    def _stat_columns(self) -> list[str]:
        if self.job is None:
            return []
        metric = list(self.job.sweep.metric)
        return [*metric, *(m for m in SHOWN if m not in metric)]

    def _per_set(self) -> int:
        assert self.job is not None
        sweep = self.job.sweep
        return max(1, len(sweep.symbols) * sum(1 for w in sweep.windows if w.role != "test"))

    def render_all(self) -> None:
        if not self.is_mounted:
            return
        job = self.job
        if job is None:
            self.set_empty(True)
            return
        self.set_empty(False)
        name, label = VIEWS[self.view]
        by = "" if self.sort_by is None else f" · by {LABELS.get(self.sort_by, self.sort_by)}"
        self.set_title(f"Research · {label}{by if name == 'board' else ''} (v: view, o: sort, R: report)")
        self.query_one("#research-status", Static).update(self._status_text())
        self.query_one(ContentSwitcher).current = f"research-{name}"
        self._draw_board()
        self._draw_heat()
        self._draw_folds()
        self.query_one("#research-monte", Static).update(self._monte_text())
        self.query_one("#research-verdict", Static).update(self._verdict_text())

    def _status_text(self) -> str:
        job = self.job
        assert job is not None
        sweep = job.sweep
        head = f"{sweep.method} · {sweep.strategy} on {', '.join(sweep.symbols)} · by {sweep.metric[0]}"
        per = self._per_set()
        best = self._best_text()
        if self.status == "running":
            t = self.tick
            if t is None:
                return f"{head} · starting the sweep process…"
            total = max(t.total, t.done)
            eta = t.elapsed_s / t.computed * (total - t.done) if t.computed else None
            eta_text = "" if eta is None else f" · ETA {eta:.0f}s"
            return f"{head} · sets {t.done // per}/{total // per}{eta_text} · {best}"
        if self.status == "done" and self.done is not None:
            return f"{head} · done: {self.done.trials} sets, {self.done.rows} rows · {best}"
        return f"{head} · {self.error} · {len(self.sets)} set(s) in the table"

    def _best_text(self) -> str:
        metric = self.job.sweep.metric[0] if self.job else ""
        if self.status == "running" and self.tick is not None:
            t = self.tick
            if t.best_trial is None:
                return "best: none yet"
            return f"best: set {t.best_trial} {metric} {_num(t.best_value)} ({_params(t.best_params)})"
        top = self.sets[0] if self.sets and self.sets[0].feasible else None
        if top is None:
            return "best: none"
        return f"best: set {top.trial} {metric} {_num(top.value(metric))} ({_params(top.params)})"

    def _monte_text(self) -> str:
        if self.status == "running":
            return "Monte Carlo of the best set: when the sweep ends."
        mc, g = self.monte, self.guard
        if mc is None or g is None or g.best is None:
            return "Monte Carlo: no best set with days of results to resample."
        r, d = mc.total_return, mc.max_drawdown
        return (
            f"Monte Carlo, set {g.best.trial} ({mc.paths} resamplings of its {mc.trades} days): "
            f"PnL % 5/50/95: {_num(r.p5)} / {_num(r.p50)} / {_num(r.p95)} · "
            f"max DD % 5/50/95: {_num(d.p5)} / {_num(d.p50)} / {_num(d.p95)} · P(loss) {_num(mc.p_loss * 100, 1)}%"
        )

    def _verdict_text(self) -> str:
        if self.status == "running":
            return "Verdict (deflated Sharpe ratio, PBO): when the sweep ends."
        g = self.guard
        if g is None or g.best is None:
            return "Verdict: no set meets the constraints with a value of the metric; nothing to judge."
        dsr = "N/A" if g.dsr is None or math.isnan(g.dsr) else _num(g.dsr, 3)
        pbo = "" if g.pbo is None else f", PBO {_num(g.pbo.pbo, 3)}"
        if g.lucky:
            return (
                f"Verdict: set {g.best.trial} is NOT distinguishable from luck "
                f"(deflated Sharpe {dsr} < {DSR_CONFIDENCE} over {g.trials} sets{pbo})."
            )
        return f"Verdict: set {g.best.trial} is unlikely to be luck (deflated Sharpe {dsr} over {g.trials} sets{pbo})."

    def _ordered(self) -> list[Any]:
        if self.sort_by is None:
            return list(self.sets)
        key = self.sort_by
        sign = 1 if key in LOWER_IS_BETTER else -1

        def order(s: Any) -> tuple[int, float, int]:
            v = s.value(key)
            return (1 if v is None else 0, 0.0 if v is None else sign * v, s.trial)

        return sorted(self.sets, key=order)

    def _draw_board(self) -> None:
        table = self.query_one("#research-board", DataTable)
        names = list(self.sets[0].params) if self.sets else []
        stats = self._stat_columns()
        keep = table.cursor_row
        table.clear(columns=True)
        table.add_column("#", key="rank")
        table.add_column("Set", key="set")
        for n in names:
            table.add_column(n, key=f"p:{n}")
        for m in stats:
            label = LABELS.get(m, m)
            table.add_column(f"{label}{'▼' if m == self.sort_by else ''}", key=f"m:{m}")
        table.add_column("OK", key="ok")
        rank = {s.trial: i for i, s in enumerate(self.sets, start=1)}
        for s in self._ordered():
            cells: list[Any] = [Text(str(rank[s.trial]), justify="right"), Text(str(s.trial), justify="right")]
            cells += [Text(str(s.params[n])) for n in names]
            cells += [Text(_num(s.value(m), 0 if m == "trades" else 2), justify="right") for m in stats]
            cells.append(Text("yes" if s.feasible else ("no" if s.complete else "…")))
            table.add_row(*cells, key=str(s.trial))
        if self.sets:
            table.move_cursor(row=min(keep, len(self.sets) - 1))

    def _heat_pair(self) -> tuple[str, str] | None:
        if self.job is not None and self.job.heat is not None:
            return self.job.heat
        if not self.sets:
            return None
        varying = [k for k in self.sets[0].params if len({repr(s.params.get(k)) for s in self.sets}) > 1]
        return (varying[0], varying[1]) if len(varying) >= 2 else None

    def _draw_heat(self) -> None:
        table = self.query_one("#research-heat", DataTable)
        table.clear(columns=True)
        pair = self._heat_pair()
        if pair is None or self.job is None:
            table.add_column("Heat map")
            table.add_row(Text("needs two parameters that vary across the sets", style="dim"))
            return
        x, y = pair
        metric = self.job.sweep.metric[0]
        xs = sorted({s.params[x] for s in self.sets}, key=_sortable)
        ys = sorted({s.params[y] for s in self.sets}, key=_sortable)
        best: dict[tuple[Any, Any], float] = {}
        for s in self.sets:
            v = s.value(metric)
            if s.feasible and v is not None:
                k = (s.params[y], s.params[x])
                best[k] = max(best.get(k, -math.inf), v)
        scale = max((abs(v) for v in best.values()), default=0.0) or 1.0
        table.add_column(f"{y} \\ {x}", key="y")
        for xv in xs:
            table.add_column(str(xv), key=f"x{xv}")
        for yv in ys:
            cells: list[Any] = [Text(str(yv), style="bold")]
            for xv in xs:
                v = best.get((yv, xv))
                if v is None:
                    cells.append(Text("-", style="dim", justify="right"))
                else:
                    cell = scaled_text(self, _num(v), abs(v) / scale, good=v >= 0)
                    cell.justify = "right"
                    cells.append(cell)
            table.add_row(*cells)

    def _draw_folds(self) -> None:
        table = self.query_one("#research-folds", DataTable)
        table.clear(columns=True)
        job = self.job
        if job is None or not any(w.role == "test" for w in job.sweep.windows):
            table.add_column("Walk-forward")
            table.add_row(Text("not a walk-forward sweep (start one with Walk-forward TRAIN/TEST/STEP)", style="dim"))
            return
        s = self.folds
        metric = job.sweep.metric[0]
        pnl = metric != "total_pnl"  # a separate PnL column unless the metric is it
        columns = [
            ("fold", "Fold"),
            ("set", "Set"),
            ("params", "Parameters"),
            ("train", f"Train {LABELS.get(metric, metric)}"),
            ("test", f"Test {LABELS.get(metric, metric)}"),
            *([("pnl", "Test PnL %")] if pnl else []),
            ("trades", "Test trades"),
        ]
        for key, label in columns:
            table.add_column(label, key=key)
        if s is None:
            table.add_row(Text("the folds are judged when the sweep ends", style="dim"), *[""] * (len(columns) - 1))
            return

        def stat(d: Any, k: str, digits: int = 2) -> Text:
            return Text("N/A" if d is None else _num(d.get(k), digits), justify="right")

        for f in s.folds:
            table.add_row(
                Text(str(f.fold)),
                Text("none" if f.trial is None else str(f.trial)),
                Text("-" if f.params is None else _params(f.params)),
                stat(f.train, metric),
                stat(f.test, metric),
                *([stat(f.test, "total_pnl")] if pnl else []),
                stat(f.test, "trades", 0),
            )
        oos = f"{len(s.oos_daily)} days out of sample: PnL {_num(s.oos_total)}%, max DD {_num(s.oos_max_drawdown)}%"
        table.add_row(
            Text("stitched", style="bold"),
            Text(""),
            Text(f"{oos}, Sharpe/day {_num(s.oos_sharpe, 3)}"),
            Text(""),
            Text(_num(s.oos_total) if metric == "total_pnl" else "", justify="right"),
            *([Text(_num(s.oos_total), justify="right")] if pnl else []),
            Text(str(s.oos_trades), justify="right"),
        )


def sweepable(strategies: Sequence[str]) -> list[str]:
    """The strategies of ``strategies`` that declare parameters (a sweep needs them)."""
    declared = {s.strategy_name for s in engine.list_strategies() if s.params}
    return [name for name in strategies if name in declared]
