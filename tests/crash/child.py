"""One live run for the crash test (tests/crash/test_crash_recovery.py), meant to be SIGKILLed.

    python -m tests.crash.child --dir RUN_DIR [--adapter json|sqlite] [--exchange synthetic]
        [--start-ms T] [--run N] [--pause-write K --pause-phase PHASE]

The run trades two pairs on one exchange, on a stepped simulated clock that starts at
``--start-ms``, with its state in ``RUN_DIR/dump/data`` (JSON files, or ``state.sqlite`` there with
``--adapter sqlite``). Simulated time never follows the wall clock: it stands still while the runs
tick, and moves on to the next tick only once every run is waiting for it (a "step"), so what a
run does at each simulated minute does not depend on the machine's speed. Before each step the
child prints ``{"ev": "parked", "step": n, "now": t}``; with ``--steps FIFO`` it then waits for one
byte from the FIFO (the parent drives the clock and can kill the run between two ticks or during
one), without it it steps on at once.

- ``main`` on BTCUSDT, with risk profile ``desk``: from ``OPEN_AFTER_MINUTES`` after T0 (so a
  kill a step or two after the start comes before the open), a long market entry whose take-profit and
  stop-loss (1 % away) are out of reach on this market, so it crosses a few partial profit (or
  loss) levels and closes by time after ``MAIN_MINUTES``;
- ``limit`` on ETHUSDT: a long limit entry 1 % below the market, which the market never comes
  down to, so it waits ``SCHEDULE_MINUTES`` and is cancelled, some time after the main position
  closed.

Each strategy trades once per run directory: it proposes a signal only while its pair's slot
document (the pending slot for ``main``, the scheduled slot for ``limit``) has never been written.
The engine writes that document, atomically, when the position opens or the entry is scheduled,
and it stays (as ``null``) after the close, so the rule holds across kills and restarts whatever
the clock says. A run stops both pairs once each has traded and its slot is empty again (or at
``--end-ms``, a safety net), then exits 0.

What the run observes is appended to ``RUN_DIR/events.jsonl``, one JSON object per line, written
with O_APPEND and fsync'ed before anything else happens, so the parent can read it after a
SIGKILL: ``started``, ``restored`` (per pair, what the restart put back: pending and scheduled
signal ids, risk positions, partial levels), ``opened`` / ``closed`` / ``scheduled`` /
``cancelled`` (from ``listen_signal_live``), ``partial`` (profit and loss milestones), ``error``,
``paused`` and ``finished`` (with the number of state writes). Every event carries ``run`` and the
simulated ``now``, and is also printed to stdout as it happens (one line, one write). ``RUN_DIR/clock``
holds the simulated time of the last tick (overwritten in place; a SIGKILL keeps what the kernel
has), which the parent uses to restart later in time.

``--fail-writes START:COUNT:ERRNO`` makes signal-state writes number START to START+COUNT-1 fail with
that OS error (28 ENOSPC, 30 EROFS), raised where the store writes, so the engine goes close-only
and retries; the run journals the ``state`` changes it hears (``writable`` false, then true).

``--pause-write K --pause-phase PHASE`` stops the process inside its K-th state write and
announces it (a ``paused`` event), so the parent can kill it exactly there. For the JSON store the
phases are ``temp-half`` (half the document in the temp file, not synced), ``temp-synced`` (the
whole temp file synced, not renamed) and ``renamed`` (renamed over the target, directory not yet
synced); for SQLite ``uncommitted`` (the row replaced inside the open transaction) and
``committed``. The hook is installed here, in the child, by wrapping the store's write; the engine
has no test hooks.

``python -m tests.crash.child --serve [MODULE ...]`` is a fork server for the test: it imports everything once,
then for each JSON argument list read from stdin forks a child that runs it (events on the shared
stdout), printing ``{"spawned": pid}`` and ``{"exited": pid, "code": c}`` around it. A run then costs
a fork instead of an interpreter start, and each run is still its own process, killed for real.

Exchanges: ``--exchange synthetic`` (``engine.add_synthetic_exchange``, offline) or ``--exchange
ccxt --base-url URL``: the real ccxt ``binance`` client pointed at the loopback Binance server of
tests/exchanges/binance_server.py (see ``register_exchange``).

Orders: without ``--broker`` the runs trade on the engine's default paper broker. ``--broker ccxt``
(with ``--exchange ccxt``) sends them through ``CcxtBroker`` to the loopback server, each entry
costing ``QUOTE_AMOUNT``; every ``place`` is journaled first (``placing``, with its client order
id), and ``--pause-place K`` stops the K-th one after its intent is on disk and before the request
leaves, for the parent to kill (tests/crash/orders.py, tests/crash/test_crash_orders.py).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import importlib
import json
import os
import secrets
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import aiofiles.os

import engine as e
import engine.persist.base as persist_base
import engine.runners.live as live_runner
from tests.crash.sqlite_store import SqliteStore, use_sqlite_store

__all__ = ["MAIN", "MINUTE", "PAUSE_PHASES", "RISK", "SAFETY_END", "SCHEDULED", "T0", "main", "run_child", "serve"]

MINUTE = 60_000
T0 = 1_704_931_200_000  # 2024-01-11T00:00:00Z: a calm morning of the synthetic market (seed 42)
SEED = 42
EXCHANGE = "x"
MAIN = ("BTCUSDT", "main")  # (symbol, strategy): the market position
SCHEDULED = ("ETHUSDT", "limit")  # the limit entry that waits and is cancelled
RISK = "desk"
MAIN_MINUTES = 14  # the main position's lifetime: it closes by time (two milestones before)
OPEN_AFTER_MINUTES = 3  # the main strategy proposes its entry from T0 + this (idle ticks before)
SCHEDULE_MINUTES = 24  # CC_SCHEDULE_AWAIT_MINUTES: the limit entry is cancelled after this (after the close)
SAFETY_END = T0 + 24 * 60 * MINUTE  # default --end-ms: stop even if something never closes
PAUSE_PHASES = {"json": ("temp-half", "temp-synced", "renamed"), "sqlite": ("uncommitted", "committed")}
PAUSE_LIMIT_S = 30  # a paused child that nobody kills gives up (exit code PAUSE_EXIT)
PAUSE_EXIT = 3
STEP_LIMIT_S = 120  # a child whose parent stopped driving its clock gives up (exit code PAUSE_EXIT)
EVENTS = "events.jsonl"
CLOCK = "clock"


@dataclass(frozen=True)
class Options:
    run_dir: Path
    adapter: str
    exchange: str
    base_url: str | None
    start_ms: int
    end_ms: int
    run: int
    pause_write: int | None
    pause_phase: str | None
    steps: Path | None = None
    fail_writes: tuple[int, int, int] | None = None
    broker: str | None = None
    pause_place: int | None = None


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m tests.crash.child", description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, type=Path, help="run directory: events.jsonl, clock, dump/data")
    p.add_argument("--adapter", choices=sorted(PAUSE_PHASES), default="json")
    p.add_argument("--exchange", choices=("synthetic", "ccxt"), default="synthetic")
    p.add_argument("--base-url", help="--exchange ccxt: base URL of the loopback Binance server")
    p.add_argument("--start-ms", type=int, default=T0, help="where the simulated clock starts")
    p.add_argument("--end-ms", type=int, default=SAFETY_END, help="stop at the first tick from here regardless")
    p.add_argument("--steps", type=Path, help="FIFO to read one byte from before each clock step")
    p.add_argument("--fail-writes", help="START:COUNT:ERRNO: state writes START.. fail with that OS error")
    p.add_argument("--run", type=int, default=1, help="number of this run in events.jsonl (1, then restarts)")
    p.add_argument("--pause-write", type=int, help="pause inside the K-th state write (1-based)")
    p.add_argument("--pause-phase", help="; ".join(f"{k}: {', '.join(v)}" for k, v in PAUSE_PHASES.items()))
    p.add_argument("--broker", choices=("ccxt",), help="orders through this broker (default: the engine's, paper)")
    p.add_argument("--pause-place", type=int, help="--broker ccxt: stop before sending the K-th order (1-based)")
    a = p.parse_args(argv)
    if a.pause_write is not None and a.pause_phase not in PAUSE_PHASES[a.adapter]:
        p.error(f"--pause-phase must be one of {PAUSE_PHASES[a.adapter]} with --adapter {a.adapter}")
    if a.exchange == "ccxt" and not a.base_url:
        p.error("--exchange ccxt needs --base-url")
    if a.broker == "ccxt" and a.exchange != "ccxt":
        p.error("--broker ccxt needs --exchange ccxt")
    fail = None
    if a.fail_writes:
        try:
            start, count, code = (int(x) for x in a.fail_writes.split(":"))
        except ValueError:
            p.error(f"--fail-writes must be START:COUNT:ERRNO, got {a.fail_writes!r}")
        fail = (start, count, code)
    fields = (a.adapter, a.exchange, a.base_url, a.start_ms, a.end_ms, a.run)
    return Options(a.dir.resolve(), *fields, a.pause_write, a.pause_phase, a.steps, fail, a.broker, a.pause_place)


# --------------------------------------------------------------------------- what the run observes


def announce(item: dict) -> None:
    """One JSON line on stdout in one write(2) (atomic on a pipe: lines stay whole)."""
    os.write(1, (json.dumps(item) + "\n").encode())


class Journal:
    """The durable events log, the announcements to the parent and the clock file."""

    def __init__(self, run_dir: Path, run: int) -> None:
        self.run = run
        self.fd = os.open(run_dir / EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.clock_fd = os.open(run_dir / CLOCK, os.O_WRONLY | os.O_CREAT, 0o644)
        self.now: Callable[[], int] = lambda: 0

    def event(self, ev: str, **fields: Any) -> None:
        item = {"ev": ev, "run": self.run, "now": self.now(), **fields}
        os.write(self.fd, (json.dumps(item) + "\n").encode())  # one write(2): a whole line or none
        os.fsync(self.fd)
        announce(item)

    def tick(self, now: int) -> None:
        os.pwrite(self.clock_fd, f"{now:>20}\n".encode(), 0)  # fixed width, in place


STATE_DOMAINS = ("signal", "schedule", "risk", "partial")


class WriteHook:
    """Counts state writes, fails the chosen ones and stops the process inside the chosen one."""

    def __init__(
        self, journal: Journal, target: int | None, phase: str | None, fail: tuple[int, int, int] | None = None
    ) -> None:
        self.journal, self.target, self.phase, self.fail = journal, target, phase, fail
        self.count = 0
        self.state_count = 0  # writes of the signal state (the state writer's documents)

    def next_is_target(self, path: object) -> bool:
        """Count one write; raise the injected OS error if it is one of the failing ones. Failures
        count the signal state's writes only (signal, schedule, risk, partial: the state writer,
        whose close-only mode the failure phase tests); pauses count every write, the order
        desk's and the paper account's too."""
        self.count += 1
        parts = str(path).split("/")
        domain = parts[-3] if str(path).endswith(".json") else parts[0]
        if domain not in STATE_DOMAINS:
            return self.count == self.target
        self.state_count += 1
        if self.fail is not None and self.fail[0] <= self.state_count < self.fail[0] + self.fail[1]:
            code = self.fail[2]
            raise OSError(code, os.strerror(code), str(path))
        return self.count == self.target

    def pause(self, **detail: Any) -> NoReturn:
        self.journal.event("paused", write=self.count, phase=self.phase, **detail)
        time.sleep(PAUSE_LIMIT_S)  # blocks the event loop on purpose: the write stays unfinished
        os._exit(PAUSE_EXIT)


def install_json_hook(hook: WriteHook) -> None:
    """Wrap PersistBase's atomic write (temp file, fsync, rename, directory fsync) so the target
    write stops at its phase; every other write is the engine's own."""
    original = persist_base.atomic_write_text

    async def atomic_write_text(path: Path, text: str) -> None:
        if not hook.next_is_target(path):
            await original(path, text)
            return
        tmp = path.parent / f"{persist_base.TEMP_PREFIX}{secrets.token_hex(6)}-{path.name}"
        detail = {"path": str(path), "tmp": str(tmp)}
        with open(tmp, "w", encoding="utf-8") as f:  # noqa: ASYNC230  # blocking on purpose: the pause must hold the loop
            if hook.phase == "temp-half":
                f.write(text[: len(text) // 2])
                f.flush()
                hook.pause(**detail)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if hook.phase == "temp-synced":
            hook.pause(**detail)
        os.replace(tmp, path)
        hook.pause(**detail)  # "renamed"

    persist_base.atomic_write_text = atomic_write_text


def pausing_sqlite_store(hook: WriteHook) -> type:
    class PausingSqliteStore(SqliteStore):
        target = False

        async def write_value(self, entity_id: str, value: Any) -> None:
            self.target = hook.next_is_target(f"{self.entity}/{entity_id}")
            await super().write_value(entity_id, value)
            if self.target:
                hook.pause(entity=self.entity, id=entity_id)  # "committed"

        def before_commit(self, entity_id: str) -> None:
            if self.target and hook.phase == "uncommitted":
                hook.pause(entity=self.entity, id=entity_id)

    return PausingSqliteStore


def install_restore_probe(journal: Journal) -> None:
    """Log what each run put back from disk, before its first tick."""
    original = live_runner._LiveRun.restore

    async def restore(self: live_runner._LiveRun) -> None:
        first = not getattr(self, "_restore_done", False)  # restore() runs its body once per run
        await original(self)
        if not first:
            return
        inst = self.instance
        journal.event(
            "restored",
            symbol=self.symbol,
            strategy=inst.strategy_name,
            pending=inst.pending.id if inst.pending is not None else None,
            scheduled=inst.scheduled.id if inst.scheduled is not None else None,
            risk=sorted(e.risk_instance(RISK).positions) if self.strategy.risk_name == RISK else [],
            levels=e.active_engine().partials.live_levels(self.symbol, inst.strategy_name),
        )

    live_runner._LiveRun.restore = restore


QUOTE_AMOUNT = 100.0  # USDT per entry with --broker ccxt (the runs have no sizing)
TEST_KEY = {"BTK_BINANCE_API_KEY": "crash-test-key-0123456789", "BTK_BINANCE_SECRET": "crash-test-secret-9876543210"}


def make_broker(opts: Options, journal: Journal) -> Any:
    """``--broker ccxt``: the ccxt broker on the exchange under test (its keys set in this process's
    environment, as a user's service would), every ``place`` journaled before it is sent
    (``placing``, with the client order id); with ``--pause-place K`` the K-th stops right there
    (after the desk wrote and flushed the intent, before the request leaves) for the parent to
    kill."""
    if opts.broker is None:
        return None
    from engine.brokers.ccxt_broker import CcxtBroker

    os.environ.update(TEST_KEY)
    broker = CcxtBroker(EXCHANGE, quote_amount=QUOTE_AMOUNT, backoff_ms=0, real_money=True)
    original = broker.place
    count = 0

    async def place(intent: Any) -> Any:
        nonlocal count
        count += 1
        fields = {"order": count, "action": intent.action, "symbol": intent.symbol, "coid": intent.client_order_id}
        journal.event("placing", **fields)
        if count == opts.pause_place:
            journal.event("paused", phase="before-send", **fields)
            time.sleep(PAUSE_LIMIT_S)  # noqa: ASYNC251  # blocks the loop on purpose: the order stays unsent
            os._exit(PAUSE_EXIT)
        return await original(intent)

    broker.place = place  # type: ignore[method-assign]
    return broker


# --------------------------------------------------------------------------- the stepped clock


class StepClock:
    """Simulated time that moves only when ``step`` is called: ``now`` stands still while the runs
    tick, and ``sleep(ms)`` waits for the step that reaches its end."""

    def __init__(self, start_ms: int, on_sleep: Callable[[], None] = lambda: None) -> None:
        self.t = start_ms
        self._sleepers: list[tuple[int, asyncio.Future]] = []
        self.on_sleep = on_sleep

    @property
    def sleeping(self) -> int:
        """Sleeps still waiting. A cancelled one (a get_signal timer whose call returned) leaves the
        list only when its task next runs; counting it let the driver step before a run's own
        pause had started its sleep, which then ended a tick late and never again with the others."""
        return sum(not fut.done() for _, fut in self._sleepers)

    def now(self) -> int:
        return self.t

    async def sleep(self, ms: float) -> None:
        if ms <= 0:
            await asyncio.sleep(0)
            return
        entry = (self.t + int(ms), asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        self.on_sleep()
        try:
            await entry[1]
        finally:
            if entry in self._sleepers:  # cancelled (a stop woke the run): forget it
                self._sleepers.remove(entry)

    def step(self) -> None:
        """Move to the earliest end of a sleep and wake every sleep that ends there."""
        waiting = [end for end, fut in self._sleepers if not fut.done()]
        if not waiting:
            return
        self.t = min(waiting)
        due = [entry for entry in self._sleepers if entry[0] <= self.t]
        for entry in due:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)


class Parking:
    """Which live runs wait between two ticks (in ``_LiveRun._pause``), and since which step.

    A run counts as parked for the current step only if it parked after the last step: one that
    was woken by it but has not resumed yet is still in the old step."""

    def __init__(self) -> None:
        self.generation = 0
        self.parked: dict[int, int] = {}  # id(run) -> the step it parked in
        self.active = 0
        self.changed = asyncio.Event()

    def park(self, run: object, parked: bool) -> None:
        if parked:
            self.parked[id(run)] = self.generation
        else:
            self.parked.pop(id(run), None)
        self.changed.set()

    def ended(self) -> None:
        self.active -= 1
        self.changed.set()

    async def all_parked(self, clock: StepClock) -> bool:
        """Wait until every active run waits for the clock (True) or none is left (False)."""
        while self.active and (
            sum(g == self.generation for g in self.parked.values()) < self.active or clock.sleeping < self.active
        ):
            self.changed.clear()
            await self.changed.wait()
        return bool(self.active)

    def stepped(self) -> None:
        self.generation += 1


def install_parking(parking: Parking) -> None:
    original = live_runner._LiveRun._pause

    async def _pause(self: live_runner._LiveRun) -> None:
        parking.park(self, True)
        try:
            await original(self)
        finally:
            parking.park(self, False)

    live_runner._LiveRun._pause = _pause


def wait_for_go(fd: int) -> None:
    """One byte from the parent's FIFO (blocking on purpose: every run is parked)."""
    ready, _, _ = select.select([fd], [], [], STEP_LIMIT_S)
    if not ready or not os.read(fd, 1):
        os._exit(PAUSE_EXIT)  # the parent is gone or stopped driving


async def drive(clock: StepClock, parking: Parking, steps: Path | None) -> None:
    """Step the clock each time every run is parked, announcing the step first."""
    fd = os.open(steps, os.O_RDONLY) if steps is not None else None
    n = 0
    while await parking.all_parked(clock):
        n += 1
        announce({"ev": "parked", "step": n, "now": clock.now()})
        if fd is not None:
            wait_for_go(fd)
        clock.step()
        parking.stepped()


# --------------------------------------------------------------------------- the market and the strategies


def register_exchange(opts: Options) -> None:
    """The hook for the exchange under test."""
    if opts.exchange == "synthetic":
        e.add_synthetic_exchange(EXCHANGE, seed=SEED)
        return
    # "ccxt": the real ccxt client on the loopback Binance server, whose candles are the synthetic
    # market of the same seed (start it with a "now" at or after the last minute a run can reach).
    add_ccxt_exchange = getattr(e, "add_ccxt_exchange", None)
    if add_ccxt_exchange is None:
        raise SystemExit("--exchange ccxt: this engine has no add_ccxt_exchange yet")
    add_ccxt_exchange(EXCHANGE, **loopback_options(opts.base_url))


_LOOPBACK_OPTIONS: dict[str, dict[str, Any]] = {}


def loopback_options(base_url: str) -> dict[str, Any]:
    """``ccxt_options(base_url)``, built once per process (it asks ccxt to describe binance, a
    fifth of a second): the fork server builds it before forking, so its runs inherit it."""
    if base_url not in _LOOPBACK_OPTIONS:
        from tests.exchanges.binance_server import ccxt_options

        _LOOPBACK_OPTIONS[base_url] = ccxt_options(base_url)
    return copy.deepcopy(_LOOPBACK_OPTIONS[base_url])


async def traded(adapter: Any, pair: tuple[str, str]) -> bool:
    """Has the engine ever written this pair's slot document (the trade-once marker)?"""
    symbol, strategy = pair
    store = await adapter.store(f"{symbol}_{strategy}")
    return await store.has_value(symbol)


async def main_signal(symbol: str, when: datetime, price: float) -> dict | None:
    if when.timestamp() * 1000 < T0 + OPEN_AFTER_MINUTES * MINUTE or await traded(e.PersistSignalAdapter, MAIN):
        return None
    return {
        "position": "long",
        "price_take_profit": round(price * 1.01, 2),  # out of reach here; 10 % of the way (0.1 %) is not
        "price_stop_loss": round(price * 0.99, 2),
        "minute_estimated_time": MAIN_MINUTES,
    }


async def limit_signal(symbol: str, when: datetime, price: float) -> dict | None:
    if await traded(e.PersistScheduleAdapter, SCHEDULED):
        return None
    return {
        "position": "long",
        "price_open": round(price * 0.99, 2),
        "price_take_profit": round(price * 1.02, 2),
        "price_stop_loss": round(price * 0.98, 2),
        "minute_estimated_time": MAIN_MINUTES,
    }


def register(opts: Options) -> None:
    register_exchange(opts)
    e.add_risk(RISK, max_concurrent_positions=1)
    e.add_strategy(MAIN[1], "1m", main_signal, risk_name=RISK)
    e.add_strategy(SCHEDULED[1], "1m", limit_signal)


# --------------------------------------------------------------------------- the run


async def _warm_up(opts: Options) -> None:
    """Do the slow first-time work (candle generation, the I/O thread) before the clock starts."""
    await aiofiles.os.path.exists(opts.run_dir)
    if opts.exchange == "synthetic":
        [schema] = e.list_exchanges()
        since = datetime.fromtimestamp((opts.start_ms - 10 * MINUTE) / 1000, tz=UTC)
        for symbol in (MAIN[0], SCHEDULED[0]):
            await schema.get_candles(symbol, "1m", since, 200)


def dump_tasks(parking: Parking | None = None, clock: StepClock | None = None) -> None:
    """SIGUSR1: every asyncio task's stack (and the clock's bookkeeping) to stderr, so a run the
    parent gave up on says where it was waiting."""
    out = sys.stderr
    if clock is not None and parking is not None:
        out.write(
            f"clock t={clock.t} sleepers={sorted(end for end, _ in clock._sleepers)} "
            f"parking generation={parking.generation} parked={sorted(parking.parked.values())} "
            f"active={parking.active}\n"
        )
    for task in asyncio.all_tasks():
        out.write(f"--- {task!r}\n")
        task.print_stack(limit=30, file=out)
    out.flush()
    announce({"ev": "dumped"})


async def run(opts: Options, journal: Journal) -> int:
    e.set_config({"CC_SCHEDULE_AWAIT_MINUTES": SCHEDULE_MINUTES})
    e.set_base_dir(opts.run_dir / "dump" / "data")
    hook = WriteHook(journal, opts.pause_write, opts.pause_phase, opts.fail_writes)
    if opts.adapter == "sqlite":
        use_sqlite_store(pausing_sqlite_store(hook))
    else:
        install_json_hook(hook)
    install_restore_probe(journal)
    register(opts)
    await _warm_up(opts)

    # simulated time stands still while the runs restore and tick; the driver steps it between ticks
    parking = Parking()
    clock = StepClock(opts.start_ms, parking.changed.set)
    e.set_clock(clock)
    journal.now = clock.now
    install_parking(parking)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks, parking, clock)
    markers = {MAIN: e.PersistSignalAdapter, SCHEDULED: e.PersistScheduleAdapter}

    async def on_result(result: Any) -> None:
        now = e.get_clock().now()
        journal.tick(now)
        pair = (result.symbol, result.strategy_name)
        if result.action in ("opened", "closed", "scheduled", "cancelled"):
            fields: dict[str, Any] = {"symbol": pair[0], "strategy": pair[1], "id": result.signal.id}
            if result.action == "closed":
                fields["reason"] = result.close_reason
            elif result.action == "cancelled":
                fields["reason"] = result.cancel_reason
            journal.event(result.action, **fields)
        done = result.action in ("idle", "closed", "cancelled") and await traded(markers[pair], pair)
        if done or now >= opts.end_ms:
            e.Live.stop(*pair)

    def on_partial(kind: str) -> Callable[[Any], None]:
        def log(ev: Any) -> None:
            journal.event(
                "partial", kind=kind, level=ev.level, symbol=ev.symbol, strategy=ev.strategy_name, id=ev.data.id
            )

        return log

    e.listen_signal_live(on_result)
    e.listen_partial_profit(on_partial("profit"))
    e.listen_partial_loss(on_partial("loss"))
    e.listen_error(lambda exc: journal.event("error", message=str(exc)[:500]))
    e.listen_state_write(lambda status: journal.event("state", writable=status.writable, error=status.error))

    journal.event("started", pid=os.getpid(), adapter=opts.adapter, exchange=opts.exchange)
    broker = make_broker(opts, journal)
    extra = {"broker": broker} if broker is not None else {}
    handles = [
        e.Live.run(symbol, strategy_name=strategy, exchange_name=EXCHANGE, **extra) for symbol, strategy in markers
    ]
    for handle in handles:
        await handle.restore()

    async def consume(handle: Any) -> None:
        try:
            async for _ in handle:
                pass
        finally:
            parking.ended()

    parking.active = len(handles)
    await asyncio.gather(drive(clock, parking, opts.steps), *(consume(handle) for handle in handles))
    if broker is not None:
        await broker.close()
    if opts.exchange == "ccxt":
        await e.close_ccxt_exchanges()
    journal.event("finished", writes=hook.count, state_writes=hook.state_count)
    return 0


def run_child(argv: list[str]) -> int:
    """Run once with ``argv``. The process's stderr goes to ``RUN_DIR/stderr-<run>.log``."""
    opts = parse_args(argv)
    opts.run_dir.mkdir(parents=True, exist_ok=True)
    err = os.open(opts.run_dir / f"stderr-{opts.run}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(err, 2)
    os.close(err)
    return asyncio.run(run(opts, Journal(opts.run_dir, opts.run)))


def serve() -> int:
    """The fork server: one run per argument list on stdin, one at a time, until stdin ends.

    A finished child is reported with ``waitid(WNOWAIT)`` and reaped only when the next command
    (or the end of stdin) arrives, so until the parent has moved on its pid cannot be reused and
    the parent may kill it by pid safely."""
    unreaped: int | None = None
    for line in sys.stdin:
        if unreaped is not None:
            os.waitpid(unreaped, 0)
            unreaped = None
        argv = json.loads(line)
        if "--base-url" in argv:
            loopback_options(argv[argv.index("--base-url") + 1])
        pid = os.fork()
        if pid == 0:  # the child: a fresh engine (nothing ran here yet), stdout shared with the server
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                code = run_child(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        announce({"spawned": pid})
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        code = -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status
        announce({"exited": pid, "code": code})
        unreaped = pid
    if unreaped is not None:
        os.waitpid(unreaped, 0)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``--dir ...``: one run. ``--serve [MODULE ...]``: the fork server, importing the modules
    first (e.g. ``ccxt``, so the runs do not each import it)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        for module in argv[1:]:
            importlib.import_module(module)
        return serve()
    return run_child(argv)


if __name__ == "__main__":
    sys.exit(main())
