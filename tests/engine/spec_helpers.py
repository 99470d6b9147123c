"""A small DSL for the SPEC 16 acceptance tests: candles by minute, a scripted strategy, one backtest.

    out = await backtest(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=10)])
    [closed] = out.yielded
    assert minute(closed.close_timestamp) == 9

- Candles are a function of the minute ``k`` after T0 (2024-01-01T00:00Z) returning
  ``(open, high, low, close, volume)`` or ``None`` (no candle there); a dict maps symbol -> function.
- Signals are a *script*: the k-th ``get_signal`` call of a symbol returns ``script[k]`` (None past its
  end), so ``[dto]`` is SPEC 16's "once". A callable ``fn(k, price)`` (sync or async) also works, and a
  dict maps symbol -> script.
- ``backtest`` runs once with every stream and callback recorded (which makes the engine visit every
  frame), then, unless ``quiet_check=False``, again from a clean engine with nobody listening (the fast
  path that skips idle frames) and checks that the yielded results and the errors are the same.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import engine as e
from engine.model import CANDLE_INTERVALS
from engine.testing import reset_engine

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
M = 60_000
SYMBOL = "BTCUSDT"
STRATEGY, EXCHANGE, FRAME, RISK = "s", "x", "f", "r"

TEST_PROFILE = {
    "CC_PERCENT_SLIPPAGE": 0.1,
    "CC_PERCENT_FEE": 0.1,
    "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": 0,
    "CC_MIN_STOPLOSS_DISTANCE_PERCENT": 0,
    "CC_MAX_STOPLOSS_DISTANCE_PERCENT": 100,
    "CC_MAX_SIGNAL_LIFETIME_MINUTES": 999999,
    "CC_GET_CANDLES_RETRY_COUNT": 1,
    "CC_GET_CANDLES_RETRY_DELAY_MS": 100,
}


def use_test_profile(**overrides: Any) -> None:
    """SPEC 2's test profile (set with ``unsafe``, as upstream does), plus ``overrides``."""
    e.set_config({**TEST_PROFILE, **overrides}, unsafe=True)


def m(k: float) -> int:
    """Timestamp of minute ``k`` after T0."""
    return T0 + int(k * M)


def minute(ts: int) -> int:
    """Inverse of ``m``, for readable assertions."""
    return (ts - T0) // M


def F(p: float) -> tuple[float, float, float, float, float]:
    """SPEC 16's 1-minute candle: open = close = p, high p + 100, low p - 100, volume 100."""
    return (p, p + 100, p - 100, p, 100)


def flat(p: float) -> tuple[float, float, float, float, float]:
    return (p, p, p, p, 100)


def sig(position: str, *, tp: float, sl: float, met: float = 60, open_: float | None = None, **extra) -> dict:
    """A signal DTO; ``open_`` becomes ``price_open`` (a limit entry) when given."""
    dto = {"position": position, "price_take_profit": tp, "price_stop_loss": sl, "minute_estimated_time": met}
    if open_ is not None:
        dto["price_open"] = open_
    return {**dto, **extra}


CandleFn = Callable[[int], Sequence[float] | None]


def exchange_from(candles: CandleFn | dict[str, CandleFn]) -> Callable:
    """An async ``get_candles`` serving absolute candles (each depends only on its own time)."""

    async def get_candles(symbol, interval, since, limit):
        fn = candles[symbol] if isinstance(candles, dict) else candles
        step = CANDLE_INTERVALS[interval] * M
        t0 = int(since.timestamp() * 1000)
        out = []
        for i in range(limit):
            t = t0 + i * step
            c = fn((t - T0) // M)
            if c is not None:
                o, h, lo, cl, v = c
                out.append({"timestamp": t, "open": o, "high": h, "low": lo, "close": cl, "volume": v})
        return out

    return get_candles


@dataclass
class Outcome:
    """Everything one backtest produced. Callbacks are ``(name, *args)`` as the engine called them."""

    yielded: list = field(default_factory=list)
    signals: list = field(default_factory=list)  # the signal_backtest stream
    errors: list = field(default_factory=list)
    callbacks: list = field(default_factory=list)
    progress: list = field(default_factory=list)
    risk: list = field(default_factory=list)
    calls: list = field(default_factory=list)  # minute of every get_signal call
    prices: list = field(default_factory=list)  # current_price handed to get_signal

    def actions(self) -> list[str]:
        return [r.action for r in self.signals]

    def of(self, action: str) -> list:
        return [r for r in self.signals if r.action == action]

    def cb(self, name: str) -> list[tuple]:
        """Arguments of every call of callback ``name``, without the leading symbol and trailing mode."""
        return [c[2:-1] for c in self.callbacks if c[0] == name]

    def messages(self) -> list[str]:
        return [str(x) for x in self.errors]


CALLBACKS = (
    "on_tick",
    "on_open",
    "on_active",
    "on_idle",
    "on_close",
    "on_schedule",
    "on_cancel",
    "on_write",
    "on_partial_profit",
    "on_partial_loss",
)


class Harness:
    """Registers exchange ``x``, frame ``f`` (minutes ``start..end``), strategy ``s`` (and risk ``r``).

    ``risk`` is the validation list of risk ``r``, bound as the strategy's ``risk_name``. For other
    set-ups, ``risks`` registers more profiles (name -> validation list, or a dict of ``add_risk``
    keywords) and ``risk_name`` / ``risk_list`` bind the strategy to them.
    """

    def __init__(
        self,
        candles: CandleFn | dict[str, CandleFn],
        signals: Sequence[dict | None] | Callable | dict | None = None,
        *,
        start: int = 0,
        end: int = 20,
        frame_interval: str = "1m",
        interval: str = "1m",
        risk: Sequence[Any] | None = None,
        record: bool = True,
        frame_callbacks: Any = None,
        risks: Mapping[str, Any] | None = None,
        risk_name: str | None = None,
        risk_list: Sequence[str] = (),
    ) -> None:
        self.out = Outcome()
        self.signals = signals
        self.counts: dict[str, int] = {}
        e.add_exchange(EXCHANGE, exchange_from(candles))
        e.add_frame(FRAME, frame_interval, m(start), m(end), callbacks=frame_callbacks)
        if risk is not None:
            e.add_risk(RISK, validations=risk)
        for name, spec in (risks or {}).items():
            e.add_risk(name, **spec) if isinstance(spec, Mapping) else e.add_risk(name, validations=spec)
        if risk_name is None and risk is not None:
            risk_name = RISK
        cbs = None
        if record:
            cbs = {name: self._recorder(name) for name in CALLBACKS}
            e.listen_signal_backtest(lambda r: self.out.signals.append(r))
            e.listen_backtest_progress(lambda p: self.out.progress.append(p))
            e.listen_risk(lambda r: self.out.risk.append(r))
        e.listen_error(lambda x: self.out.errors.append(x))
        e.add_strategy(
            STRATEGY, interval, self._get_signal, risk_name=risk_name, risk_list=tuple(risk_list), callbacks=cbs
        )

    def _recorder(self, name: str) -> Callable:
        return lambda *args: self.out.callbacks.append((name, *args))

    async def _get_signal(self, symbol, when, current_price):
        k = minute(int(when.timestamp() * 1000))
        self.out.calls.append(k)
        self.out.prices.append(current_price)
        n = self.counts.get(symbol, 0)
        self.counts[symbol] = n + 1
        script = self.signals.get(symbol) if isinstance(self.signals, dict) else self.signals
        if script is None:
            return None
        if callable(script):
            dto = script(k, current_price)
            return await dto if inspect.isawaitable(dto) else dto
        dto = script[n] if n < len(script) else None
        return dict(dto) if isinstance(dto, dict) else dto

    async def run(self, symbol: str = SYMBOL) -> Outcome:
        self.out = Outcome()
        async for r in e.Backtest.run(symbol, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME):
            self.out.yielded.append(r)
        for r in self.out.yielded + self.out.signals:  # every result says where it comes from
            assert (r.symbol, r.strategy_name, r.exchange_name, r.backtest) == (symbol, STRATEGY, EXCHANGE, True)
        for c in self.out.callbacks:  # callbacks get (symbol, ..., backtest)
            assert (c[1], c[-1]) == (symbol, True), c
        return self.out


def restart() -> None:
    """A clean engine (registrations, listeners, stores) that keeps the current config and clock."""
    cfg, clock = e.get_config(), e.get_clock()
    reset_engine()
    e.set_config(cfg, unsafe=True)
    e.set_clock(clock)


async def backtest(candles, signals=None, *, symbol: str = SYMBOL, quiet_check: bool = True, **kw) -> Outcome:
    """Run one backtest recording everything; then re-run it quietly (see the module docstring)."""
    out = await Harness(candles, signals, **kw).run(symbol)
    if quiet_check:
        restart()
        quiet = await Harness(candles, signals, record=False, **kw).run(symbol)
        assert quiet.yielded == out.yielded, "the quiet (fast) path yielded different results"
        assert quiet.messages() == out.messages(), "the quiet (fast) path reported different errors"
    return out


# --------------------------------------------------------------------------- report access
# Shorthands for the public report facades (SPEC 12.4, 12.6, 12.7) with the DSL's default names.


def schedule_stats(symbol: str = SYMBOL, strategy: str = STRATEGY, backtest: bool = True):
    return e.Schedule.get_data(symbol, strategy, backtest)


def risk_stats(symbol: str = SYMBOL, strategy: str = STRATEGY, backtest: bool = True):
    return e.Risk.get_data(symbol, strategy, backtest)


def heat_stats(strategy: str = STRATEGY, backtest: bool = True):
    return e.Heat.get_data(strategy, backtest)


def heat_report(strategy: str = STRATEGY, backtest: bool = True, columns=None) -> str:
    return e.Heat.get_report(strategy, backtest, columns=columns)


async def within(awaitable: Any, seconds: float = 30) -> Any:
    """Await something that waits on other tasks (gates, background runs), failing instead of hanging
    forever if a regression deadlocks it. A safety net only: no test relies on the timeout."""
    return await asyncio.wait_for(awaitable, seconds)


def is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)
