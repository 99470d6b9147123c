"""What the dashboard shows, as plain data folded from engine events (no Textual in here).

The bridge hands batches of engine events to ``DashboardState.apply``; widgets render from the
state. Keeping this pure makes it testable without a terminal and lets tests feed fake events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Flag, auto
from typing import Any, Literal

import numpy as np

import engine
from engine import (
    AccountSnapshot,
    BreakerEvent,
    Fill,
    OrderReport,
    PartialEvent,
    RiskEvent,
    StateWriteStatus,
    WalkerCompleteEvent,
    WalkerContract,
)

from .logbook import LogBook

RunMode = Literal["backtest", "walker", "live", "optimizer"]
RunStatus = Literal["starting", "running", "stopping", "stopped", "done", "failed"]

LOG_LINES = 500
EQUITY_POINTS = 5000
RECENT_CANCELLATIONS = 5  # shown under the waiting entries in the Scheduled pane


class Part(Flag):
    """A part of the dashboard a change of the state touches: folding events says which parts
    changed, and the dashboard redraws only those (its table maps each part to its pane type)."""

    NONE = 0
    HEADER = auto()
    RUNS = auto()
    PROGRESS = auto()
    POSITIONS = auto()
    SCHEDULED = auto()
    LOG = auto()
    EQUITY = auto()
    WALKER = auto()
    RISK = auto()
    PARTIAL = auto()
    HEATMAP = auto()
    ACCOUNT = auto()
    ALL = HEADER | RUNS | PROGRESS | POSITIONS | SCHEDULED | LOG | EQUITY | WALKER | RISK | PARTIAL | HEATMAP | ACCOUNT


SELECTION = Part.ALL & ~(Part.RUNS | Part.PROGRESS)
"""What a new selection redraws: everything that shows the selected run."""

# What each kind of signal result changes, made once: a fast run folds thousands of results a
# batch, and each ``|`` of two Flag members is a few Python calls
_SCHEDULED_PARTS = Part.SCHEDULED | Part.LOG
_OPENED_PARTS = Part.POSITIONS | Part.SCHEDULED | Part.LOG
_ACTIVE_PARTS = Part.POSITIONS | Part.SCHEDULED
_CLOSED_PARTS = Part.POSITIONS | Part.LOG | Part.EQUITY | Part.RUNS


def run_id(mode: str, symbol: str, name: str) -> str:
    return f"{mode}:{symbol}:{name}"


def saved_id(symbol: str, strategy: str) -> str:
    """The run key of what the live state folder holds for a pair no live run trades yet."""
    return f"saved:{symbol}:{strategy}"


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
    current: str | None = None  # walker: the strategy whose trades trades/equity describe
    last_tick: int | None = None  # live: the engine clock when its latest tick result was folded (ms)
    price: float | None = None  # live: the symbol's price at that tick

    @property
    def is_active(self) -> bool:
        return self.status in ("starting", "running", "stopping")

    def clock_ms(self) -> int | None:
        """The simulated "now" of the run: the frame being processed (backtest) or the last event."""
        if self.mode == "walker":
            return self.sim_time
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
    saved: bool = False  # read from the live state folder; no live run trades it yet (no price)
    quantity: float | None = None  # live: base amount the entry order filled (README "Orders and accounts")


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
class CancelView:
    """A limit entry that never filled, kept a while so the Scheduled pane can say why."""

    run: str
    signal_id: str
    symbol: str
    strategy: str
    side: str
    entry: float
    last_price: float
    reason: str
    at: int


@dataclass(frozen=True, slots=True)
class Milestone:
    """A partial profit/loss event with its direction (the engine has one stream per direction)."""

    kind: Literal["profit", "loss"]
    event: PartialEvent


@dataclass(frozen=True, slots=True)
class MilestoneBatch:
    """The milestones of one signal a run in a worker process fast-forwarded, computed when read
    (``engine`` partial ``LazyMilestones``: ``row``, ``backtest``, ``count()``, ``events()``): the
    dashboard counts them at once and builds the lines of only the newest (console/host/child.py)."""

    batch: Any


@dataclass(frozen=True, slots=True)
class RiskLine:
    key: str
    time: int  # the moment the signal was checked (candle time in a backtest)
    run: str
    symbol: str
    strategy: str
    side: str
    price: float
    reason: str
    active: int


@dataclass(frozen=True, slots=True)
class MilestoneLine:
    key: str
    time: int
    run: str
    symbol: str
    strategy: str
    signal_id: str
    side: str
    kind: Literal["profit", "loss"]
    level: int
    price: float


LeaderStatus = Literal["waiting", "testing", "done", "failed"]


@dataclass(slots=True)
class LeaderRow:
    """One strategy of a walker: its place in the schema, where it is, and its numbers."""

    strategy: str
    order: int
    status: LeaderStatus = "waiting"
    metric: float | None = None
    signals: int = 0
    win_rate: float | None = None
    avg_pnl: float | None = None
    total_pnl: float | None = None
    sharpe: float | None = None
    error: str | None = None


@dataclass(slots=True)
class WalkerView:
    """A walker run's leaderboard, filled as each strategy's contract arrives."""

    run: str
    walker: str
    symbol: str
    metric: str
    rows: dict[str, LeaderRow]
    best: str | None = None
    best_metric: float | None = None
    current_progress: float = 0.0
    complete: bool = False
    curves: dict[str, tuple[list[float], int, int, float]] = field(default_factory=dict)

    def ranked(self) -> list[LeaderRow]:
        """Tested strategies by metric (higher first, no value last, ties in schema order, as the
        walker report ranks them), then the one under test, then failed, then waiting."""
        done = [r for r in self.rows.values() if r.status == "done"]
        done.sort(key=lambda r: (r.metric is None, -(r.metric or 0.0), r.order))
        rest = {"testing": 0, "failed": 1, "waiting": 2}
        others = sorted((r for r in self.rows.values() if r.status != "done"), key=lambda r: (rest[r.status], r.order))
        return done + others

    @property
    def tested(self) -> int:
        return sum(1 for r in self.rows.values() if r.status == "done")


@engine.quick_init  # a fast run's log builds hundreds of lines as it is drawn
@dataclass(frozen=True, slots=True)
class LogLine:
    key: str
    time: int  # ms: when it happened in the run's (simulated) time
    kind: Literal["SCHED", "OPENED", "CLOSED", "CANCEL", "ERROR", "RESTORED", "FILL", "ORDER"]
    run: str
    symbol: str
    strategy: str
    side: str
    detail: str
    pnl: float | None = None
    signal_id: str = ""  # the signal the line is about (the candle chart shows its trade)


LAZY_BOUND = 4
"""Lazy entries a log holds, in multiples of its length, before it settles them unread: what falls
out is dropped unbuilt, so a log not drawn for hours (another screen on top of the dashboard)
keeps no more than a few screens' worth of pending lines and their events."""


LazyLines = tuple[str, int, Callable[..., list[Any]], tuple[Any, ...], int]
"""A run's pending lines: (run, how many, the builder, its arguments, how many of the builder's
first lines to leave out) (``RunLog.add_lazy``)."""


class RunLog:
    """Lines of every run in arrival order, and each run's own lines (kept whatever else runs)."""

    def __init__(self, maxlen: int = LOG_LINES) -> None:
        self.maxlen = maxlen
        self.all: deque[Any] = deque(maxlen=maxlen)
        self.runs: dict[str, deque[Any]] = {}
        self.seen: dict[str, int] = {}  # per run: lines ever added (the deque keeps the newest)
        self._lazy: list[LazyLines] = []  # oldest first

    def add(self, line: Any) -> None:
        self._settle()
        self._append(line)
        self.seen[line.run] = self.seen.get(line.run, 0) + 1

    def add_lazy(self, run: str, count: int, build: Callable[..., list[Any]], *args: Any) -> None:
        """``count`` lines of ``run`` that ``build(skip, *args)`` makes, in order, leaving out its
        first ``skip``; built when the log is read, and only those still among the newest lines of
        every run or of their own (a run of trades adds hundreds at once: its oldest are never
        built when newer ones push them out)."""
        if count:
            self._lazy.append((run, count, build, args, 0))
            self.seen[run] = self.seen.get(run, 0) + count
            if len(self._lazy) > LAZY_BOUND * self.maxlen:  # nobody read the log for a long while
                self._lazy = self._needed(self._lazy)

    def _needed(self, pending: list[LazyLines]) -> list[LazyLines]:
        """The entries of ``pending`` (oldest first) whose lines would still be shown once every
        newer one is in: among the newest ``maxlen`` of every run, or of their own run. The others
        would fall out of both windows as soon as the newer lines were added: they are dropped
        unbuilt (building them was a fifth of the console's fold of a fast run)."""
        room_all, room = self.maxlen, {}
        needed: list[LazyLines] = []
        for entry in reversed(pending):
            run, count, build, args, skip = entry
            left = room.get(run, self.maxlen)
            keep = min(count, max(room_all, left))  # its newest lines that one window still shows
            if keep == count:
                needed.append(entry)
            elif keep > 0:
                needed.append((run, keep, build, args, skip + count - keep))
            room_all -= count
            room[run] = left - count
        needed.reverse()
        return needed

    def _settle(self) -> None:
        if not self._lazy:
            return
        pending, self._lazy = self._lazy, []
        for _, _, build, args, skip in self._needed(pending):  # oldest first; what no window shows is not built
            for line in build(skip, *args):
                self._append(line)

    def _append(self, line: Any) -> None:
        self.all.append(line)
        run_lines = self.runs.get(line.run)
        if run_lines is None:
            run_lines = self.runs[line.run] = deque(maxlen=self.maxlen)
        run_lines.append(line)

    def of(self, run: str | None) -> deque[Any]:
        self._settle()
        if run is None:
            return self.all
        return self.runs.get(run, deque())

    def count(self, run: str | None) -> int:
        return sum(self.seen.values()) if run is None else self.seen.get(run, 0)

    def shown(self, run: str | None) -> int:
        """How many lines ``of(run)`` gives, without building the pending ones."""
        held = len(self.all) if run is None else len(self.runs.get(run, ()))
        pending = sum(count for r, count, *_ in self._lazy if run is None or r == run)
        return min(self.maxlen, held + pending)


def _clock_at(now: int | None, when: int) -> int:
    """A run's simulated clock once an event of time ``when`` is folded: it never goes back (no
    time yet, or 0: the event's)."""
    return max(now or when, when)


def _clock_after(now: int | None, opened_at: list[int], closed_at: list[int]) -> int | None:
    """A run's simulated clock after trades that opened and closed at these times, as
    ``_apply_result`` moves it a trade at a time (``_clock_at``, opened then closed): with no
    zero or negative time on the way that is the plain maximum, found at C speed."""
    if opened_at and min(min(opened_at), min(closed_at)) > 0 and (now is None or now > 0):
        latest = max(max(opened_at), max(closed_at))
        return latest if now is None else max(now, latest)
    for opened, closed in zip(opened_at, closed_at):
        now = _clock_at(_clock_at(now, opened), closed)
    return now


def _extended(equity: list[float], points: list[float]) -> list[float]:
    """``equity`` with ``points`` appended one by one, thinned as ``_apply_result`` thins it: each
    time it holds ``EQUITY_POINTS`` before a point comes, every other point is kept (the curve's
    shape, and its latest point)."""
    k = 0
    while k < len(points):
        if len(equity) >= EQUITY_POINTS:
            equity = equity[::2]
        room = max(1, EQUITY_POINTS - len(equity))
        equity.extend(points[k : k + room])
        k += room
    return equity


class DashboardState:
    """Folds engine events into runs, positions, scheduled entries, the signal, risk and
    milestone logs, equity, and walker leaderboards."""

    def __init__(self, slippage: float = 0.1, fee: float = 0.1, schedule_await_minutes: int = 120) -> None:
        self.runs: dict[str, RunView] = {}
        self.positions: dict[tuple[str, str], PositionView] = {}
        self.scheduled: dict[tuple[str, str], ScheduledView] = {}
        self._cancelled: dict[str, deque[CancelView]] = {}  # run id -> its latest cancellations
        self.signal_log = RunLog()
        self.risk_log = RunLog()
        self.milestone_log = RunLog()
        self.walkers: dict[str, WalkerView] = {}  # walker run id -> its leaderboard
        self._walker_of: dict[tuple[str, str], str] = {}  # (symbol, strategy) -> walker run id
        self.slippage = slippage
        self.fee = fee
        self.schedule_await_minutes = schedule_await_minutes
        self.close_only: str | None = None  # live state not writable: what the header says until it clears
        self.live_now: int | None = None  # the engine clock at the latest fold while live runs trade (ms)
        self.accounts: dict[str, AccountSnapshot] = {}  # broker name -> its latest account snapshot
        self.breakers: dict[str, BreakerEvent] = {}  # broker name -> the breaker tripped on it (until cleared)
        self.broker_of: dict[str, str] = {}  # live run id -> the broker its orders go to
        self._quantities: dict[str, float] = {}  # signal id -> base amount its entry filled
        self._order_runs: dict[str, str] = {}  # signal id -> the run whose order desk placed its orders
        self._seq = 0
        self._batches: list[tuple[str, Any]] = []  # (run, lazy milestones) folded, not counted yet
        self._run_memo: dict[tuple[bool, str, str], RunView | None] = {}  # ``run_of`` within one ``apply``
        self.logbook = LogBook()  # every error with its traceback, warnings, live ticks (the log viewer)

    @property
    def log(self) -> deque[LogLine]:
        return self.signal_log.of(None)

    def reset(self) -> None:
        """Forget everything folded so far (an attached console rebuilding from a daemon's snapshot)."""
        self.__init__(self.slippage, self.fee, self.schedule_await_minutes)  # type: ignore[misc]

    # -- runs -------------------------------------------------------------------------------
    def add_run(self, run: RunView) -> None:
        self.runs[run.id] = run
        self._cancelled.pop(run.id, None)  # a new run of the pair: the old one's cancellations went with it
        self.logbook.forget_run(run.id)  # a run started again counts its own errors

    def add_walker(self, run: RunView, metric: str, strategies: list[str]) -> WalkerView:
        """A walker run: its leaderboard starts with every strategy waiting."""
        self.add_run(run)
        view = WalkerView(
            run=run.id,
            walker=run.name,
            symbol=run.symbol,
            metric=metric,
            rows={name: LeaderRow(name, i) for i, name in enumerate(strategies)},
        )
        self.walkers[run.id] = view
        for name in strategies:
            self._walker_of[(run.symbol, name)] = run.id
        return view

    def run_of_pair(self, mode: str, symbol: str, strategy: str) -> RunView | None:
        """The run a (symbol, strategy) event belongs to: its own backtest or live run, or the
        walker testing it; an active run wins over a finished one."""
        own = self.runs.get(run_id(mode, symbol, strategy))
        if mode != "backtest":
            return own
        wid = self._walker_of.get((symbol, strategy))
        walker = self.runs.get(wid) if wid else None
        if walker is not None and walker.is_active and (own is None or not own.is_active):
            return walker
        return own or walker

    def run_of(self, result: Any) -> RunView | None:
        return self.run_of_pair("backtest" if result.backtest else "live", result.symbol, result.strategy_name)

    def _run_in_fold(self, result: Any) -> RunView | None:
        """``run_of`` asked once a pair within one ``apply``, where no run starts, ends or changes
        status: a fast run folds two results a trade, thousands a batch, all of one pair."""
        key = (result.backtest, result.symbol, result.strategy_name)
        try:
            return self._run_memo[key]
        except KeyError:
            run = self._run_memo[key] = self.run_of(result)
            return run

    def _rid(self, backtest: bool, symbol: str, strategy: str) -> str:
        mode = "backtest" if backtest else "live"
        run = self.run_of_pair(mode, symbol, strategy)
        return run.id if run is not None else run_id(mode, symbol, strategy)

    # -- events -----------------------------------------------------------------------------
    def apply(self, events: list[Any]) -> Part:
        """Fold a batch of engine events; returns which parts changed (for targeted redraws).

        The parts are gathered as the members' integer values and made a ``Part`` once: each
        ``|`` of two Flag members is a few Python calls, and a fast run folds two or three results
        a trade (opened, closed, a milestone batch), whose parts differ from one to the next."""
        bits = 0
        self._run_memo.clear()
        for ev in events:
            if getattr(ev, "action", None) is not None:
                part = self._apply_result(ev)
            elif isinstance(ev, MilestoneBatch):
                part = self._apply_milestone_batch(ev)
            elif isinstance(ev, engine.TradeColumns):
                part = self._apply_trades(ev)
            elif isinstance(ev, Milestone):
                part = self._apply_milestone(ev)
            elif isinstance(ev, RiskEvent):
                part = self._apply_risk(ev)
            elif isinstance(ev, WalkerContract):
                part = self._apply_contract(ev)
            elif isinstance(ev, WalkerCompleteEvent):
                part = self._apply_walker_complete(ev)
            elif isinstance(ev, BaseException):
                part = self._apply_error(ev)
            elif isinstance(ev, StateWriteStatus):
                self.close_only = None if ev.writable else f"CLOSE-ONLY: state not writable ({ev.path}: {ev.error})"
                part = Part.HEADER
            elif isinstance(ev, AccountSnapshot):
                part = self._apply_account(ev)
            elif isinstance(ev, BreakerEvent):
                part = self._apply_breaker(ev)
            elif isinstance(ev, OrderReport):
                part = self._apply_order(ev)
            elif isinstance(ev, Fill):
                part = self._apply_fill(ev)
            else:
                continue
            bits |= part._value_
        self._count_batches()
        return Part(bits)

    # -- orders and accounts (README "Orders and accounts") --------------------------------
    def _apply_account(self, snap: AccountSnapshot) -> Part:
        """The account after a change. Its ``breaker`` is the book's word at that moment, so it
        also trips (or clears) the header's breaker: a restart's first snapshot shows one that
        tripped in an earlier process."""
        self.accounts[snap.broker] = snap
        changed = Part.ACCOUNT
        if snap.breaker is not None and snap.broker not in self.breakers:
            self.breakers[snap.broker] = BreakerEvent(snap.broker, snap.breaker, "", snap.equity, snap.timestamp)
            changed |= Part.HEADER
        elif snap.breaker is None and snap.broker in self.breakers:
            del self.breakers[snap.broker]
            changed |= Part.HEADER
        for pos in self.positions.values():  # a restored position learns its quantity from the account
            if pos.quantity is None and not pos.saved and self.broker_of.get(pos.run) == snap.broker:
                same = [p for p in self.positions.values() if p.symbol == pos.symbol and not p.saved]
                held = snap.positions.get(pos.symbol)
                if len(same) == 1 and held:
                    pos.quantity = abs(held)
                    changed |= Part.POSITIONS
        return changed

    def _apply_breaker(self, ev: BreakerEvent) -> Part:
        if ev.breaker is None:
            self.breakers.pop(ev.broker, None)
        else:
            self.breakers[ev.broker] = ev
        account = self.accounts.get(ev.broker)
        if account is not None:
            self.accounts[ev.broker] = _with_breaker(account, ev.breaker)
        return Part.HEADER | Part.ACCOUNT

    def _order_run(self, signal_id: str, symbol: str, strategy: str) -> str:
        rid = self._order_runs.get(signal_id)
        if rid is None:
            rid = self._rid(False, symbol, strategy)
            self._order_runs[signal_id] = rid
        return rid

    def _apply_order(self, report: OrderReport) -> Part:
        """An order's latest word: an entry's filled amount is its position's quantity; a limit
        placed, a refusal and a cancellation are log lines (fills have their own)."""
        intent = report.intent
        rid = self._order_run(intent.signal_id, intent.symbol, intent.strategy_name)
        changed = Part.NONE
        if intent.action == "entry" and report.filled > 0:
            self._quantities[intent.signal_id] = report.filled
            pos = self.positions.get((rid, intent.signal_id))
            if pos is not None:
                pos.quantity = report.filled
                changed |= Part.POSITIONS
        if report.status in ("open", "rejected", "cancelled"):
            what = {"open": "placed", "rejected": "refused", "cancelled": "cancelled"}[report.status]
            where = f" {intent.price:,.2f}" if intent.price is not None else ""
            detail = f"{intent.action} {intent.type}{where} {intent.amount:g} {what}"
            if report.reason:
                detail += f": {report.reason}"
            self._log(
                self._line(
                    time=report.timestamp or intent.created_at,
                    kind="ORDER",
                    run=rid,
                    symbol=intent.symbol,
                    strategy=intent.strategy_name,
                    side=intent.side,
                    detail=detail,
                )
            )
            changed |= Part.LOG
        return changed

    def _apply_fill(self, fill: Fill) -> Part:
        rid = self._order_runs.get(fill.signal_id) or self._rid(False, fill.symbol, "")
        run = self.runs.get(rid)
        self._log(
            self._line(
                time=fill.timestamp,
                kind="FILL",
                run=rid,
                symbol=fill.symbol,
                strategy=run.name if run is not None else "",
                side=fill.side,
                detail=f"{fill.amount:g} at {fill.price:,.2f} · fee {fill.fee:.4g} {fill.fee_currency}",
            )
        )
        return Part.LOG

    def account_of(self, rid: str | None) -> AccountSnapshot | None:
        """The account the Account pane shows: the selected live run's broker's, else the only
        (or first) account the session heard of."""
        broker = self.broker_of.get(rid) if rid else None
        if broker is not None and broker in self.accounts:
            return self.accounts[broker]
        return next(iter(self.accounts.values()), None)

    def alert(self) -> str | None:
        """What the header shows until it clears: the state folder not writable, a tripped
        breaker (until a person clears it: the ``clear_breaker`` command, X)."""
        parts = [self.close_only] if self.close_only else []
        for name, ev in self.breakers.items():
            parts.append(f"CLOSE-ONLY: {name} {ev.breaker} (X clears)")
        return " · ".join(parts) or None

    def _key(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self._seq}"

    def _line(self, **kw: Any) -> LogLine:
        return LogLine(key=self._key("log"), **kw)

    def _note(
        self,
        run: RunView | None,
        kind: str,
        when: int,
        rid: str,
        r: Any,
        detail: str,
        pnl: float | None = None,
        price: float | None = None,
    ) -> None:
        """Log a line about result ``r`` of ``run`` (id ``rid``): ``detail``, then ``price`` if
        given; a walker's lines name their strategy. The line is built when the log is read, if it
        is still among the newest lines: a fast run notes two lines a trade, thousands a batch, and
        the log keeps LOG_LINES of them (so the price is formatted then, too)."""
        walker = run is not None and run.mode == "walker"
        self.signal_log.add_lazy(rid, 1, self._note_line, kind, when, rid, r, detail, pnl, price, walker)

    def _note_line(
        self,
        skip: int,
        kind: str,
        when: int,
        rid: str,
        r: Any,
        detail: str,
        pnl: float | None,
        price: float | None,
        walker: bool,
    ) -> list[LogLine]:
        row = r.signal
        if walker:
            detail = f"{r.strategy_name}: {detail}"
        return [self._signal_line(kind, when, rid, r.symbol, r.strategy_name, row.position, row.id, detail, pnl, price)]

    def _signal_line(
        self,
        kind: str,
        when: int,
        rid: str,
        symbol: str,
        strategy: str,
        side: str,
        signal_id: str,
        detail: str,
        pnl: float | None = None,
        price: float | None = None,
    ) -> LogLine:
        """A Signals line about one signal: ``detail``, then ``price`` if given."""
        if price is not None:
            detail = f"{detail} {price:,.2f}"
        # by position (``_line`` takes keywords): a run's end builds up to LOG_LINES of these at once
        return LogLine(self._key("log"), when, kind, rid, symbol, strategy, side, detail, pnl, signal_id)

    def log_error(self, rid: str, symbol: str, strategy: str, when: int, detail: str) -> None:
        """An ERROR line the engine did not publish on a stream (a live pair refused at its start)."""
        self._log(
            self._line(time=when, kind="ERROR", run=rid, symbol=symbol, strategy=strategy, side="", detail=detail)
        )

    def _log(self, line: LogLine) -> None:
        self.signal_log.add(line)

    def log_of(self, run: str | None) -> deque[LogLine]:
        """The selected run's lines (deterministic whatever else runs), or everything."""
        return self.signal_log.of(run)

    def _apply_result(self, r: Any) -> Part:
        run = self._run_in_fold(r)
        rid = run.id if run else run_id("backtest" if r.backtest else "live", r.symbol, r.strategy_name)
        if run is not None and run.mode == "live":  # a sign of life between events (issue 14 item 11)
            run.last_tick = self.live_now if self.live_now is not None else run.sim_time
            run.price = r.current_price
            what = f"{r.action} {r.signal.position.upper()}" if r.signal is not None else r.action
            tick = f"{r.symbol} {r.strategy_name} {what} at {r.current_price:,.2f}"
            self.logbook.note("TICK", tick, rid, run.last_tick)
            if r.action == "idle":
                return Part.PROGRESS
        if run is not None and run.mode == "walker" and run.current != r.strategy_name:
            self._switch_strategy(run, r.strategy_name)
        row = r.signal
        action = r.action
        key = (rid, row.id) if row is not None else None
        when: int | None = None
        if action in ("scheduled", "opened"):
            self._drop_stale_schedules(rid, r.symbol, r.strategy_name, row.id)
        if action == "scheduled":
            when = row.scheduled_at
            self._track(rid, row, r.current_price, when, waiting=True)
            self._note(run, "SCHED", when, rid, r, "limit", price=row.price_open)
            changed = _SCHEDULED_PARTS
        elif action == "opened":
            when = row.pending_at or row.scheduled_at
            self.scheduled.pop(key, None)
            self._track(rid, row, r.current_price, when, waiting=False)
            self._note(run, "OPENED", when, rid, r, "at", price=row.price_open)
            changed = _OPENED_PARTS
        elif action == "active":
            if key not in self.positions and key not in self.scheduled and run is not None and run.mode == "live":
                # a live run that restored this signal before the console heard of it
                self._track(rid, row, r.current_price, run.sim_time or row.scheduled_at, waiting=row.is_scheduled)
            pos = self.positions.get(key)
            if pos is not None:
                pos.last_price = r.current_price
                pos.pnl = engine.pnl_percentage(pos.side, pos.entry, r.current_price, self.slippage, self.fee)
                if run is not None and run.sim_time is not None:
                    pos.now = run.sim_time
            sched = self.scheduled.get(key)
            if sched is not None:
                sched.last_price = r.current_price
            changed = _ACTIVE_PARTS
        elif action == "closed":
            when = r.close_timestamp
            self.positions.pop(key, None)
            self.scheduled.pop(key, None)  # a limit that filled inside a backtest fast-forward
            pnl = r.pnl.pnl_percentage
            self._note(run, "CLOSED", when, rid, r, r.close_reason, pnl=pnl)
            if run is not None:
                run.trades += 1
                run.wins += pnl > 0
                run.total_pnl += pnl
                run.equity = _extended(run.equity, [run.total_pnl])
            changed = _CLOSED_PARTS
        elif action == "cancelled":
            when = r.close_timestamp
            self.scheduled.pop(key, None)
            reason = "timeout" if r.cancel_reason == "timeout" else "price crossed the stop"
            self._note(run, "CANCEL", when, rid, r, reason)
            self._cancelled.setdefault(rid, deque(maxlen=RECENT_CANCELLATIONS)).append(
                CancelView(
                    rid, row.id, r.symbol, r.strategy_name, row.position, row.price_open, r.current_price, reason, when
                )
            )
            changed = _SCHEDULED_PARTS
        else:
            return Part.NONE
        if run is not None and when is not None:
            run.sim_time = _clock_at(run.sim_time, when)
        return changed

    def _apply_trades(self, trades: engine.TradeColumns) -> Part:
        """A worker's run of backtest trades as columns (console/host/columns.py): the state
        ``_apply_result`` would leave after each trade's opened result, milestone batch and closed
        result, without building them. Each trade opens and closes inside the run, so it leaves
        no position; the log gets its two lines a trade and the milestones lazily, built from the
        columns only if shown; the run's counters and curve add up trade by trade, in order. Where
        the shortcut would not be the same (a walker's or a live run, a waiting limit entry or a
        position the run already shows, a result the columns keep whole), the trades are folded
        one by one as objects."""
        run = self._run_in_fold(trades)
        rid = run.id if run is not None else ""
        opened_at = trades.column("signal.pending_at")
        if (
            run is None
            or run.mode != "backtest"
            or opened_at is None
            or any(s.run == rid for s in self.scheduled.values())
            or any(key[0] == rid for key in self.positions)
        ):
            return self._apply_trades_one_by_one(trades)
        scheduled_at = trades.column("signal.scheduled_at")
        closed_at = trades.column("close_timestamp")
        pnls = trades.column("pnl.pnl_percentage")
        assert scheduled_at is not None and closed_at is not None and pnls is not None
        opened_at = [p or s for p, s in zip(opened_at, scheduled_at)]  # ``row.pending_at or row.scheduled_at``
        self.signal_log.add_lazy(rid, 2 * len(trades), self._trade_lines, rid, trades, opened_at)
        parts = _OPENED_PARTS | _CLOSED_PARTS
        if trades.lazy is not None:
            self._count_batches()  # the batches before them come first in the log
            counts = trades.milestone_counts()
            self.milestone_log.add_lazy(rid, sum(counts), self._trade_milestones, rid, trades, counts)
            parts |= Part.PARTIAL
        # what ``_apply_result`` adds up a trade at a time, a batch at a time (a fast run's
        # thousands of trades were a fifth of the console's fold): the clock, the wins, the
        # running total (``add.accumulate`` adds in order, as ``total += pnl`` does) and the curve
        pnl = np.asarray(pnls, dtype=np.float64)
        totals = np.add.accumulate(np.concatenate(([run.total_pnl], pnl)))
        run.wins += int(np.count_nonzero(pnl > 0))
        run.sim_time, run.total_pnl = _clock_after(run.sim_time, opened_at, closed_at), totals[-1].item()
        run.equity = _extended(run.equity, totals[1:].tolist())
        run.trades += len(trades)
        return parts

    def _apply_trades_one_by_one(self, trades: engine.TradeColumns) -> Part:
        bits = 0
        for opened, lazy, closed in trades.trades():
            bits |= self._apply_result(opened)._value_
            if lazy is not None:
                bits |= self._apply_milestone_batch(MilestoneBatch(lazy))._value_
            bits |= self._apply_result(closed)._value_
        return Part(bits)

    def _trade_lines(self, skip: int, rid: str, trades: engine.TradeColumns, opened_at: list[int]) -> list[LogLine]:
        """The OPENED and CLOSED lines of each trade of ``trades``, from the first ``skip`` on:
        the lines ``_note_line`` makes of the objects."""
        ids = trades.column("signal.id")
        sides = trades.column("signal.position")
        prices = trades.column("signal.price_open")
        closed_at = trades.column("close_timestamp")
        reasons = trades.column("close_reason")
        pnls = trades.column("pnl.pnl_percentage")
        assert ids and sides and prices and closed_at and reasons and pnls
        symbol, strategy = trades.symbol, trades.strategy_name
        line = self._signal_line
        lines = []
        for k in range(skip, 2 * len(ids)):
            i = k >> 1
            side, sid = sides[i], ids[i]
            if k & 1:
                lines.append(line("CLOSED", closed_at[i], rid, symbol, strategy, side, sid, reasons[i], pnls[i]))
            else:
                lines.append(line("OPENED", opened_at[i], rid, symbol, strategy, side, sid, "at", None, prices[i]))
        return lines

    def _trade_milestones(
        self, skip: int, rid: str, trades: engine.TradeColumns, counts: list[int]
    ) -> list[MilestoneLine]:
        """The milestone lines of ``trades``' batches, from the first ``skip`` on (as
        ``_milestone_lines`` makes them of each batch)."""
        lines: list[MilestoneLine] = []
        for batch, count in zip(trades.lazy_batches(), counts):
            if skip >= count:
                skip -= count
                continue
            lines.extend(self._milestone_lines(skip, rid, batch))
            skip = 0
        return lines

    def _track(self, rid: str, row: Any, price: float, now: int, *, waiting: bool) -> None:
        """Show ``row`` as an open position, or as a limit entry ``waiting`` to fill."""
        key = (rid, row.id)
        if waiting:
            self.scheduled[key] = ScheduledView(
                rid, row.id, row.symbol, row.strategy_name, row.position, row.price_open, price, row.scheduled_at, now
            )
            return
        opened = row.pending_at or row.scheduled_at
        self.positions[key] = PositionView(
            rid,
            row.id,
            row.symbol,
            row.strategy_name,
            row.position,
            row.price_open,
            row.price_take_profit,
            row.price_stop_loss,
            price,
            opened,
            max(now, opened),
            engine.pnl_percentage(row.position, row.price_open, price, self.slippage, self.fee),
            quantity=self._quantities.get(row.id),
        )

    def restore(self, rid: str, rows: list[Any], now: int) -> Part:
        """What a live run put back from disk before its first tick: shown at once (priced at
        the entry until the first tick prices it) and logged as RESTORED."""
        run = self.runs.get(rid)
        if run is not None:
            run.sim_time = now
        for row in rows:
            if (rid, row.id) not in self.positions and (rid, row.id) not in self.scheduled:  # a tick was first
                self._track(rid, row, row.price_open, now, waiting=row.is_scheduled)
            what = f"limit {row.price_open:,.2f} waiting" if row.is_scheduled else f"open at {row.price_open:,.2f}"
            self._log(
                self._line(
                    time=now,
                    kind="RESTORED",
                    run=rid,
                    symbol=row.symbol,
                    strategy=row.strategy_name,
                    side=row.position,
                    detail=f"{what} (id {row.id[:8]})",
                )
            )
        return Part.POSITIONS | Part.SCHEDULED | Part.LOG | Part.HEADER if rows else Part.HEADER

    def show_saved(self, rows: list[Any], now: int) -> Part:
        """Positions and limit entries an earlier process saved, listed before any live run
        starts (issue 14 item 11); a live run of the pair replaces them (``forget_saved``)."""
        for row in rows:
            rid = saved_id(row.symbol, row.strategy_name)
            self._track(rid, row, row.price_open, now, waiting=row.is_scheduled)
            pos = self.positions.get((rid, row.id))
            if pos is not None:
                pos.saved = True
        return Part.POSITIONS | Part.SCHEDULED if rows else Part.NONE

    def forget_saved(self, symbol: str, strategy: str) -> None:
        rid = saved_id(symbol, strategy)
        self.positions = {k: v for k, v in self.positions.items() if v.run != rid}
        self.scheduled = {k: v for k, v in self.scheduled.items() if v.run != rid}

    def tick_live(self, now: int) -> None:
        """Live time moves whether or not anything happened: ages and clocks follow the engine's
        clock (``now``), not the last event."""
        live = {r.id for r in self.runs.values() if r.mode == "live" and r.is_active}
        self.live_now = now
        if not live:
            return
        for rid in live:
            self.runs[rid].sim_time = now
        for view in (*self.positions.values(), *self.scheduled.values()):
            if view.run in live:
                view.now = max(view.now, now)

    def _drop_stale_schedules(self, rid: str, symbol: str, strategy: str, keep: str) -> None:
        """A strategy holds one limit entry per symbol at a time: a new signal means an older one
        ended, even if no event said so (e.g. an activation the risk profile refused, which SPEC
        17 reports as an error rather than a cancellation)."""
        for key, s in list(self.scheduled.items()):
            if s.run == rid and s.symbol == symbol and s.strategy == strategy and s.signal_id != keep:
                del self.scheduled[key]

    def _switch_strategy(self, run: RunView, strategy: str) -> None:
        """A walker moved on to its next strategy: keep the finished one's curve, start afresh."""
        view = self.walkers.get(run.id)
        if view is not None and run.current is not None:
            view.curves[run.current] = (run.equity, run.trades, run.wins, run.total_pnl)
        run.current = strategy
        run.equity, run.trades, run.wins, run.total_pnl = [], 0, 0, 0.0
        run.sim_time = None  # the next strategy's backtest starts from the frame's beginning
        if view is not None:
            row = view.rows.get(strategy)
            if row is not None and row.status == "waiting":
                row.status = "testing"

    def _apply_milestone(self, m: Milestone) -> Part:
        ev = m.event
        self._count_batches()  # the batches before it come first in the log
        self.milestone_log.add(self._milestone_line(self._rid(ev.backtest, ev.symbol, ev.strategy_name), m.kind, ev))
        return Part.PARTIAL

    def _apply_milestone_batch(self, m: MilestoneBatch) -> Part:
        batch = m.batch
        row = batch.row
        self._batches.append((self._rid(batch.backtest, row.symbol, row.strategy_name), batch))
        return Part.PARTIAL

    def _count_batches(self) -> None:
        """The milestone batches folded since the last call go into the log, in order, counted
        together (``count_all``: one numpy pass for a fast run's thousands instead of a few
        numpy calls each, which were a tenth of the console's work on the engine benchmark)."""
        if not self._batches:
            return
        pending, self._batches = self._batches, []
        counts = type(pending[0][1]).count_all([batch for _, batch in pending])
        for (run, batch), count in zip(pending, counts):
            self.milestone_log.add_lazy(run, count, self._milestone_lines, run, batch)

    def _milestone_lines(self, skip: int, run: str, batch: Any) -> list[MilestoneLine]:
        return [self._milestone_line(run, kind, ev) for kind, ev in batch.events()[skip:]]

    def _milestone_line(self, run: str, kind: Literal["profit", "loss"], ev: PartialEvent) -> MilestoneLine:
        row = ev.data
        return MilestoneLine(
            key=self._key("ms"),
            time=ev.timestamp,
            run=run,
            symbol=ev.symbol,
            strategy=ev.strategy_name,
            signal_id=row.id,
            side=row.position,
            kind=kind,
            level=ev.level,
            price=ev.current_price,
        )

    def _apply_risk(self, ev: RiskEvent) -> Part:
        signal = ev.pending_signal
        side = signal.get("position", "") if isinstance(signal, dict) else getattr(signal, "position", "")
        self.risk_log.add(
            RiskLine(
                key=self._key("risk"),
                time=ev.when or ev.timestamp,
                run=self._rid(ev.backtest, ev.symbol, ev.strategy_name),
                symbol=ev.symbol,
                strategy=ev.strategy_name,
                side=str(side or ""),
                price=ev.current_price,
                reason=ev.comment,
                active=ev.active_position_count,
            )
        )
        return Part.RISK

    def _walker_view(self, symbol: str, walker: str) -> WalkerView | None:
        view = self.walkers.get(run_id("walker", symbol, walker))
        return view

    def _apply_contract(self, c: WalkerContract) -> Part:
        view = self._walker_view(c.symbol, c.walker_name)
        if view is None:
            return Part.NONE
        stats = c.stats
        row = view.rows.get(c.strategy_name)
        if row is None:
            row = view.rows[c.strategy_name] = LeaderRow(c.strategy_name, len(view.rows))
        row.status = "done"
        row.metric = c.metric_value
        row.signals = stats.total_signals
        row.win_rate, row.avg_pnl, row.total_pnl, row.sharpe = (
            stats.win_rate,
            stats.avg_pnl,
            stats.total_pnl,
            stats.sharpe_ratio,
        )
        view.best, view.best_metric = c.best_strategy, c.best_metric
        return Part.WALKER | Part.RUNS

    def _apply_walker_complete(self, done: WalkerCompleteEvent) -> Part:
        view = self._walker_view(done.symbol, done.walker_name)
        if view is None:
            return Part.NONE
        view.complete = True
        view.best, view.best_metric = done.best_strategy, done.best_metric
        return Part.WALKER

    def equity_of(self, rid: str | None) -> tuple[str, list[float], int, int, float] | None:
        """What the equity pane draws for a run: (label, curve, trades, wins, total PnL). A walker
        shows the strategy under test, and its best strategy once it is over."""
        run = self.runs.get(rid) if rid else None
        if run is None:
            return None
        if run.mode != "walker":
            return (run.name, run.equity, run.trades, run.wins, run.total_pnl)
        view = self.walkers.get(run.id)
        if view is not None and not run.is_active and view.best:
            if view.best == run.current:
                return (run.current, run.equity, run.trades, run.wins, run.total_pnl)
            if view.best in view.curves:
                return (view.best, *view.curves[view.best])
        return (run.current or run.name, run.equity, run.trades, run.wins, run.total_pnl)

    def _apply_error(self, exc: BaseException) -> Part:
        ctx = engine.context_of(exc)
        if ctx is None:  # no run to pin it on: the log viewer still lists it
            self.logbook.error(exc, "", None)
            return Part.NONE
        rid = self._rid(ctx.backtest, ctx.symbol, ctx.strategy_name)
        self.logbook.error(exc, rid, ctx.when)
        run = self.runs.get(rid)
        changed = Part.LOG | Part.RUNS
        if run is not None:
            run.errors += 1
            view = self.walkers.get(rid)
            if view is not None and ctx.stage == "walker":  # the walker skipped this strategy
                row = view.rows.get(ctx.strategy_name)
                if row is not None:
                    row.status = "failed"
                    row.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    changed |= Part.WALKER
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
        return changed

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

    def cancelled_of(self, run: str | None) -> list[CancelView]:
        """The latest cancellations of ``run``, oldest first (of every run when ``None``): the
        Scheduled pane follows the selected run, so a finished backtest's ``✗ timeout`` does not
        sit under a live run's waiting entries."""
        if run is not None:
            return list(self._cancelled.get(run, ()))
        every = sorted((c for d in self._cancelled.values() for c in d), key=lambda c: c.at)
        return every[-RECENT_CANCELLATIONS:]

    def time_left(self, s: ScheduledView) -> int:
        """Minutes until a waiting limit entry is cancelled for timeout (SPEC 5.3), as of the
        run's simulated clock."""
        run = self.runs.get(s.run)
        now = max(s.now, (run.clock_ms() if run else None) or s.now)
        waited = max(0, now - s.scheduled_at) // 60_000
        return max(0, self.schedule_await_minutes - waited)

    def walker_for(self, rid: str | None) -> WalkerView | None:
        """The leaderboard to show: the selected walker run's, else the newest walker's."""
        if rid is not None and rid in self.walkers:
            return self.walkers[rid]
        return next(reversed(self.walkers.values()), None) if self.walkers else None

    def active_live_runs(self) -> list[RunView]:
        return [r for r in self.runs.values() if r.mode == "live" and r.is_active]

    def live_positions(self, strategy: str | None = None) -> list[PositionView]:
        """Open positions of active live runs (of ``strategy`` only, when given): what flatten closes."""
        live = {r.id for r in self.active_live_runs()}
        return [p for p in self.positions.values() if p.run in live and (strategy is None or p.strategy == strategy)]


def _with_breaker(snap: AccountSnapshot, breaker: str | None) -> AccountSnapshot:
    return replace(snap, breaker=breaker)
