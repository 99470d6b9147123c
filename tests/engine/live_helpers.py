"""Live runs on a frozen simulated clock: every ``sleep(TICK_TTL)`` moves time on by 60.001 s and
returns at once, so a day of ticks takes a fraction of a second and never reads the wall clock.

    out = await live(lambda k: F(42000), [sig("long", tp=43000, sl=41000)], until=30)

runs strategy ``s`` on exchange ``x`` from minute 0 until the first tick at or after minute
``until`` (then ``Live.stop``), recording what was yielded, every signal_live result, errors and
callbacks. The engine's live state goes to ``dump/data`` under the test's working directory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spec_helpers import CALLBACKS, EXCHANGE, STRATEGY, SYMBOL, CandleFn, exchange_from, m, minute

import engine as e


@dataclass
class LiveOutcome:
    yielded: list = field(default_factory=list)
    ticks: list = field(default_factory=list)  # every signal_live result
    errors: list = field(default_factory=list)
    callbacks: list = field(default_factory=list)
    restored: list = field(default_factory=list)
    calls: list = field(default_factory=list)  # minute of every get_signal call

    def cb(self, name: str) -> list[tuple]:
        return [c[2:-1] for c in self.callbacks if c[0] == name]

    def names(self) -> list[str]:
        return [c[0] for c in self.callbacks]


def _recorder(out: LiveOutcome, name: str) -> Callable[..., None]:
    return lambda *args: out.callbacks.append((name, *args))


def register(
    candles: CandleFn, signals: Sequence[dict | None] | Callable | None = None, *, risk_name: str | None = None
) -> LiveOutcome:
    """Exchange ``x`` and strategy ``s`` (1m) whose n-th get_signal call returns ``signals[n]``."""
    out = LiveOutcome()
    calls = {"n": 0}

    async def get_signal(symbol, when, price):
        out.calls.append(minute(int(when.timestamp() * 1000)))
        n = calls["n"]
        calls["n"] += 1
        if callable(signals):
            return signals(n, price)
        return dict(signals[n]) if signals is not None and n < len(signals) and signals[n] else None

    e.add_exchange(EXCHANGE, exchange_from(candles))
    cbs = {name: _recorder(out, name) for name in CALLBACKS}
    e.add_strategy(STRATEGY, "1m", get_signal, callbacks=cbs, risk_name=risk_name)
    e.listen_signal_live(lambda r: out.ticks.append(r))
    e.listen_error(lambda x: out.errors.append(x))
    return out


async def run_live(out: LiveOutcome, *, start: float = 0, until: float = 30, symbol: str = SYMBOL) -> LiveOutcome:
    """Tick from minute ``start`` until the first tick at or after minute ``until``, then stop."""
    clock = e.SimulatedClock(m(start), speed=0)
    e.set_clock(clock)

    def stop_when_due(_result: Any) -> None:
        if clock.now() >= m(until):
            e.Live.stop(symbol, STRATEGY)

    unsubscribe = e.listen_signal_live(stop_when_due)
    handle = e.Live.run(symbol, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    try:
        async for result in handle:
            out.yielded.append(result)
            if len(out.yielded) > 1000:
                raise AssertionError("the live loop did not stop")
    finally:
        unsubscribe()
    out.restored = handle.restored
    return out


async def live(candles: CandleFn, signals=None, *, until: float = 30, start: float = 0, **kw) -> LiveOutcome:
    return await run_live(register(candles, signals, **kw), start=start, until=until)


def state_file(domain: str, name: str) -> Path:
    """``dump/data/<domain>/<symbol>_<strategy>/<name>.json`` of the default pair."""
    return Path("dump") / "data" / domain / f"{SYMBOL}_{STRATEGY}" / f"{name}.json"
