"""What the dashboard shows, as plain data folded from engine events (no Textual in here).

The bridge hands batches of engine events to ``DashboardState.apply``; widgets render from the
state. Keeping this pure makes it testable without a terminal and lets tests feed fake events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import engine

RunMode = Literal["backtest", "walker", "live"]
RunStatus = Literal["starting", "running", "stopping", "done", "failed"]

LOG_LINES = 500
EQUITY_POINTS = 5000


def run_id(mode: str, symbol: str, name: str) -> str:
    return f"{mode}:{symbol}:{name}"


@dataclass(slots=True)
class RunView:
    """One run as the console tracks it."""

    id: str
    mode: RunMode
    symbol: str
    name: str  # strategy (or walker) name
    exchange: str
    frame: str = ""
    status: RunStatus = "starting"
    error: str | None = None
    progress: float = 0.0
    processed: int = 0
    total: int = 0
    started: float = 0.0  # wall clock, seconds
    finished: float | None = None
    frame_start: int = 0  # ms, for the simulated clock of a backtest
    frame_step: int = 60_000
    sim_time: int | None = None  # the latest moment an event of this run was about (ms)
    trades: int = 0
    wins: int = 0
    total_pnl: float = 0.0
    equity: list[float] = field(default_factory=list)  # cumulative PnL % after each closed trade
    errors: int = 0

    @property
    def is_active(self) -> bool:
        return self.status in ("starting", "running", "stopping")

    def clock_ms(self) -> int | None:
        """The simulated "now" of the run: the frame being processed (backtest) or the last event."""
        if self.mode == "backtest" and self.total:
            frame = min(self.processed, self.total - 1)
            sim = self.frame_start + frame * self.frame_step
            return max(sim, self.sim_time or sim)
        return self.sim_time


@dataclass(slots=True)
class PositionView:
    run: str
    signal_id: str
    symbol: str
    strategy: str
    side: str
    entry: float
    take_profit: float
    stop_loss: float
    last_price: float
    opened_at: int
    now: int
    pnl: float  # net % at last price (fees and slippage included, as the close would book it)


@dataclass(slots=True)
class ScheduledView:
    run: str
    signal_id: str
    symbol: str
    strategy: str
    side: str
    entry: float
    last_price: float
    scheduled_at: int
    now: int


@dataclass(frozen=True, slots=True)
class LogLine:
    key: str
    time: int  # ms: when it happened in the run's (simulated) time
    kind: Literal["SCHED", "OPENED", "CLOSED", "CANCEL", "ERROR"]
    run: str
    symbol: str
    strategy: str
    side: str
    detail: str
    pnl: float | None = None


class DashboardState:
    """Folds engine results into runs, positions, scheduled entries, a signal log and equity."""

    def __init__(self, slippage: float = 0.1, fee: float = 0.1) -> None:
        self.runs: dict[str, RunView] = {}
        self.positions: dict[tuple[str, str], PositionView] = {}
        self.scheduled: dict[tuple[str, str], ScheduledView] = {}
        self.log: deque[LogLine] = deque(maxlen=LOG_LINES)  # every run, in arrival order
        self.logs: dict[str, deque[LogLine]] = {}  # per run: its own lines, in its own order
        self.slippage = slippage
        self.fee = fee
        self._log_seq = 0

    # -- runs -------------------------------------------------------------------------------
    def add_run(self, run: RunView) -> None:
        self.runs[run.id] = run

    def run_of(self, result: Any) -> RunView | None:
        mode = "backtest" if result.backtest else "live"
        return self.runs.get(run_id(mode, result.symbol, result.strategy_name))

    # -- events -----------------------------------------------------------------------------
    def apply(self, events: list[Any]) -> set[str]:
        """Fold a batch of engine events; returns which parts changed (for targeted redraws)."""
        changed: set[str] = set()
        for ev in events:
            action = getattr(ev, "action", None)
            if action is not None:
                changed |= self._apply_result(ev)
            elif isinstance(ev, BaseException):
                changed |= self._apply_error(ev)
        return changed

    def _line(self, **kw: Any) -> LogLine:
        self._log_seq += 1
        return LogLine(key=f"log-{self._log_seq}", **kw)

    def _note(self, kind: str, when: int, rid: str, r: Any, detail: str, pnl: float | None = None) -> None:
        """Log a line about result ``r`` of run ``rid``."""
        self._log(
            self._line(
                time=when,
                kind=kind,
                run=rid,
                symbol=r.symbol,
                strategy=r.strategy_name,
                side=r.signal.position,
                detail=detail,
                pnl=pnl,
            )
        )

    def _log(self, line: LogLine) -> None:
        self.log.append(line)
        run_log = self.logs.get(line.run)
        if run_log is None:
            run_log = self.logs[line.run] = deque(maxlen=LOG_LINES)
        run_log.append(line)

    def log_of(self, run: str | None) -> deque[LogLine]:
        """The selected run's lines (deterministic whatever else runs), or everything."""
        if run is None:
            return self.log
        return self.logs.get(run, deque())

    def _apply_result(self, r: Any) -> set[str]:
        run = self.run_of(r)
        rid = run.id if run else run_id("backtest" if r.backtest else "live", r.symbol, r.strategy_name)
        row = r.signal
        action = r.action
        key = (rid, row.id) if row is not None else None
        when: int | None = None
        if action == "scheduled":
            when = row.scheduled_at
            self.scheduled[key] = ScheduledView(
                rid, row.id, r.symbol, r.strategy_name, row.position, row.price_open, r.current_price, when, when
            )
            self._note("SCHED", when, rid, r, f"limit {row.price_open:,.2f}")
            changed = {"scheduled", "log"}
        elif action == "opened":
            when = row.pending_at or row.scheduled_at
            self.scheduled.pop(key, None)
            self.positions[key] = PositionView(
                rid,
                row.id,
                r.symbol,
                r.strategy_name,
                row.position,
                row.price_open,
                row.price_take_profit,
                row.price_stop_loss,
                r.current_price,
                when,
                when,
                engine.pnl_percentage(row.position, row.price_open, r.current_price, self.slippage, self.fee),
            )
            self._note("OPENED", when, rid, r, f"at {row.price_open:,.2f}")
            changed = {"positions", "scheduled", "log"}
        elif action == "active":
            pos = self.positions.get(key)
            if pos is not None:
                pos.last_price = r.current_price
                pos.pnl = engine.pnl_percentage(pos.side, pos.entry, r.current_price, self.slippage, self.fee)
                if run is not None and run.sim_time is not None:
                    pos.now = run.sim_time
            sched = self.scheduled.get(key)
            if sched is not None:
                sched.last_price = r.current_price
            changed = {"positions", "scheduled"}
        elif action == "closed":
            when = r.close_timestamp
            self.positions.pop(key, None)
            self.scheduled.pop(key, None)  # a limit that filled inside a backtest fast-forward
            pnl = r.pnl.pnl_percentage
            self._note("CLOSED", when, rid, r, r.close_reason, pnl=pnl)
            if run is not None:
                run.trades += 1
                run.wins += pnl > 0
                run.total_pnl += pnl
                if len(run.equity) < EQUITY_POINTS:
                    run.equity.append(run.total_pnl)
                else:  # keep the curve's shape: thin the history, keep the latest point
                    run.equity = run.equity[::2]
                    run.equity.append(run.total_pnl)
            changed = {"positions", "log", "equity", "runs"}
        elif action == "cancelled":
            when = r.close_timestamp
            self.scheduled.pop(key, None)
            reason = "timeout" if r.cancel_reason == "timeout" else "price crossed the stop"
            self._note("CANCEL", when, rid, r, reason)
            changed = {"scheduled", "log"}
        else:
            return set()
        if run is not None and when is not None:
            run.sim_time = max(run.sim_time or when, when)
        return changed

    def _apply_error(self, exc: BaseException) -> set[str]:
        ctx = engine.context_of(exc)
        if ctx is None:
            return set()
        rid = run_id("backtest" if ctx.backtest else "live", ctx.symbol, ctx.strategy_name)
        run = self.runs.get(rid)
        if run is not None:
            run.errors += 1
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._log(
            self._line(
                time=ctx.when or 0,
                kind="ERROR",
                run=rid,
                symbol=ctx.symbol,
                strategy=ctx.strategy_name,
                side="",
                detail=first[:160],
            )
        )
        return {"log", "runs"}

    def finish_run(self, rid: str) -> None:
        """A backtest that ended holds nothing any more: drop what it left in the panes."""
        run = self.runs.get(rid)
        if run is None or run.mode == "live":
            return
        self.positions = {k: v for k, v in self.positions.items() if v.run != rid}
        self.scheduled = {k: v for k, v in self.scheduled.items() if v.run != rid}

    # -- queries ----------------------------------------------------------------------------
    def positions_of(self, run: str | None) -> list[PositionView]:
        return [p for p in self.positions.values() if run is None or p.run == run]

    def scheduled_of(self, run: str | None) -> list[ScheduledView]:
        return [s for s in self.scheduled.values() if run is None or s.run == run]

    def active_live_runs(self) -> list[RunView]:
        return [r for r in self.runs.values() if r.mode == "live" and r.is_active]
