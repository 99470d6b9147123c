"""Indicator columns: computed once over the candle store, read at "now" without look-ahead (issue 13).

Why: a strategy computing an RSI inside ``get_signal`` recomputes it over its history window at
every call, although each value depends only on candles that do not change. A strategy may instead
declare indicator columns::

    btk.add_strategy("rsi", "15m", get_signal, indicators={"rsi": lambda c: talib.RSI(c.close, 14)})

and read them inside ``get_signal`` with ``await btk.indicator("rsi")`` (the value at "now") or
``await btk.indicator("rsi", 3)`` (the last three values, a read-only numpy view). The function
gets a ``CandleWindow`` over the whole range of the store the run needs (in a backtest: from
``history`` candles before the frame's start to the frame's end, and further as far as the store
holds candles) and returns one value per candle. It runs once per range, not once per call.

Which value is "at now": the one of the newest candle ``get_candles(symbol, interval, n)`` would
return at that moment (SPEC 4.1: the candle opening at or before "now"; see README "Behaviour worth
knowing" for the one-candle quirk this inherits). Values of later candles are computed but never
served. That is only sound if the function is causal (each value depends on the candles up to it,
as every TA-Lib function is), and a function over the whole store could easily look ahead (a
centred moving average, ``shift(-1)``). So the engine checks: after computing over the whole range
it recomputes over a few prefixes (cut at 1/5, 1/2, 4/5 of the candles and one before the end)
and compares the values each prefix has; any difference refuses the indicator with
``IndicatorError``, naming the indicator, the strategy and the first candle that differs.

Caching: per candle store and indicator. A backtest's range is final (its candles never change),
so it is computed once per run range. A live run recomputes when the store has changed (a new "now"
or a new fetch), over every candle since its first tick's history: still one call per tick, not a
per-candle loop. For indicators whose value depends on a bounded number of past candles (SMA, MAX,
Bollinger bands, ...) the values equal those computed inside ``get_signal`` over
``get_candles(symbol, interval, history)``; for recursive ones (RSI, EMA, ATR) they are computed
over a longer history, which is what their warm-up period asks for anyway.

``IndicatorError`` is a ``SourceError``: a declaration that cannot be served fails every call the
same way, so a backtest fails at once with that one error and a live run reports it once, as an
unreadable CSV file does.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from . import config, registry
from .candles import ABSENT, PRESENT, CandleStore, SourceError, exchange_client, iso
from .context import _execution, execution_context, method_context
from .model import CANDLE_INTERVALS
from .registry import FrameSchema
from .window import CandleWindow, read_only

__all__ = ["Indicator", "IndicatorError", "Signals", "indicator", "vectorised"]

_MAX_RANGES = 4
"""Ranges kept per (store, indicator): concurrent backtests of one strategy over different frames
share a store, and recomputing at every call because they alternate would be quadratic."""
_RTOL = 1e-9
"""How closely a prefix must agree: causal functions give the same bits on a prefix; the tolerance
only forgives summation-order noise of implementations that vectorise differently by length."""


class IndicatorError(SourceError):
    """A declared indicator that cannot be served: unknown name, bad output, or it looks ahead."""


@dataclass(frozen=True, slots=True, eq=False)
class Indicator:
    """One indicator column: ``fn(candles) -> one value per candle``, over candles of ``interval``.

    ``history`` is how many candles before the first moment the indicator is read it should see
    (its warm-up): the backtest computes from ``history - 1`` candles before the frame's first
    candle, so the first value served was computed over the same candles as
    ``get_candles(symbol, interval, history)`` at that moment. A plain callable in ``indicators=``
    means ``Indicator(fn)``: 1m candles, 1000 candles of history.
    """

    fn: Callable[[CandleWindow], Any]
    interval: str = "1m"
    history: int = 1000


@dataclass(frozen=True, slots=True, eq=False)
class Signals:
    """A vectorised signal function: ``fn(candles) -> {column: array}``, entry signals for every
    candle of the range at once (see ``engine.indicators`` "Vectorised signals").

    ``fn`` gets the same ``CandleWindow`` an indicator of this ``interval`` and ``history`` gets and
    returns a mapping with ``side`` (+1 long, -1 short, 0 nothing; one per candle) and
    ``price_take_profit``, ``price_stop_loss``, ``minute_estimated_time`` and optionally
    ``price_open`` (a limit entry; NaN for a market entry), each one per candle or one scalar for
    all. A plain callable in ``add_strategy(..., signals=fn)`` means ``Signals(fn)``.
    """

    fn: Callable[[CandleWindow], Any]
    interval: str = "1m"
    history: int = 1000


def vectorised(fn: Callable[[CandleWindow], Any], interval: str = "1m", history: int = 1000) -> Signals:
    """``Signals(fn, interval, history)``: spelled as a verb for ``add_strategy(..., signals=...)``."""
    return Signals(fn, interval, history)


def _check_spec(where: str, spec: Indicator | Signals) -> None:
    if not callable(spec.fn):
        raise registry.SchemaError(f"{where} must be a function of the candles, got {type(spec.fn).__name__}")
    if spec.interval not in CANDLE_INTERVALS:
        raise registry.SchemaError(
            f"{where}: interval must be one of {', '.join(CANDLE_INTERVALS)}; got {spec.interval!r}"
        )
    if not isinstance(spec.history, int) or isinstance(spec.history, bool) or spec.history < 1:
        raise registry.SchemaError(f"{where}: history must be a positive integer, got {spec.history!r}")


def declare(strategy_name: str, indicators: Any) -> Mapping[str, Indicator]:
    """``add_strategy``'s ``indicators=``, checked: names to ``Indicator``s (read-only mapping)."""
    where = f"strategy {strategy_name}: indicators"
    if indicators is None:
        return MappingProxyType({})
    if not isinstance(indicators, Mapping):
        raise registry.SchemaError(
            f"{where} must be a mapping of names to functions, e.g. "
            f'{{"rsi": lambda c: talib.RSI(c.close, 14)}}; got {type(indicators).__name__}'
        )
    out: dict[str, Indicator] = {}
    for name, value in indicators.items():
        if not isinstance(name, str) or not name:
            raise registry.SchemaError(f"{where}: every name must be a non-empty string, got {name!r}")
        spec = value if isinstance(value, Indicator) else Indicator(value)
        if not callable(spec.fn):
            raise registry.SchemaError(
                f"{where}[{name!r}] must be a function of the candles (or btk.Indicator), got {type(spec.fn).__name__}"
            )
        _check_spec(f"{where}[{name!r}]", spec)
        out[name] = spec
    return MappingProxyType(out)


def declare_signals(strategy_name: str, signals: Any) -> tuple[Signals, Callable[..., Any]]:
    """``add_strategy``'s ``signals=``, checked: the spec and the get_signal generated for it."""
    spec = signals if isinstance(signals, Signals) else Signals(signals)
    where = f"strategy {strategy_name}: signals"
    if not callable(spec.fn):
        raise registry.SchemaError(
            f"{where} must be a function of the candles (or btk.Signals), got {type(spec.fn).__name__}"
        )
    _check_spec(where, spec)
    return spec, signal_function(strategy_name, spec)


# --------------------------------------------------------------------------- computed ranges


@dataclass(slots=True)
class _Range:
    """Values of one indicator over the candles of store slots ``[lo, hi)``.

    ``slots`` is None when every slot of the range holds a candle (value ``k`` is slot ``lo + k``),
    else the slot of each value. Slots before ``final_hi`` are final: any moment in
    ``[lo, final_hi)`` is served from here. A later moment (live) is served only while the store
    is unchanged (``stamp``)."""

    origin: int  # the first slot the run asked for (``lo`` is where the known candles start)
    lo: int
    hi: int
    final_hi: int
    slots: np.ndarray | None
    values: np.ndarray
    stamp: tuple[int, int, int, int]


@dataclass(slots=True, weakref_slot=True)
class _Cache:
    """What one store knows of one indicator: computed ranges by origin, and the live origin."""

    store: weakref.ref[CandleStore]
    step_ms: int
    ranges: dict[int, _Range]
    first_origin: int | None = None


_caches: weakref.WeakKeyDictionary[CandleStore, dict[Indicator, _Cache]] = weakref.WeakKeyDictionary()
"""The computed ranges live as long as their store: ``clear_candle_cache`` frees both."""
_routes: dict[tuple, tuple] = {}
"""(strategy, exchange, frame, backtest, symbol, indicator) -> the cache a call reads: for the run
that made it (its method context, the last item), and for another run while its schemas are the
registered ones. A call served from a computed range then costs a few dictionary reads instead
of finding the schemas, the exchange client, its store and the cache again (a 1m strategy may read
several indicators per candle)."""
_MAX_ROUTES = 4096


def _stamp(st: CandleStore, when_slot: int) -> tuple[int, int, int, int]:
    return (when_slot, st.fetched_at, st.base, st.size)


def _serve(rng: _Range, slot: int, n: int | None) -> float | np.ndarray:
    """The value of the newest candle at or before ``slot`` (or the last ``n`` values up to it)."""
    if rng.slots is None:
        k = slot - rng.lo + 1  # values[:k] are the candles up to "now"
    else:
        k = int(np.searchsorted(rng.slots, slot, side="right"))
    if n is None:
        return float(rng.values[k - 1]) if k > 0 else math.nan
    return rng.values[max(0, k - n) : k]


def _find(cache: _Cache, st: CandleStore, slot: int, origin: int | None) -> _Range | None:
    """A computed range that may serve ``slot`` for a run whose range starts at ``origin``."""
    for rng in cache.ranges.values():
        if (origin is None or rng.origin == origin) and (
            rng.lo <= slot < rng.final_hi or (slot < rng.hi and rng.stamp == _stamp(st, slot))
        ):
            return rng
    return None


def _frame_origin(frame: FrameSchema | None, spec: Indicator, step_ms: int) -> int | None:
    """A backtest's range starts ``history - 1`` candles before its frame's first one, whatever else
    has run on the store before: the values a run sees never depend on the runs before it."""
    if frame is None:
        return None
    return frame.start_ms // step_ms - spec.history + 1


async def indicator(name: str, n: int | None = None) -> float | np.ndarray:
    """The value of indicator ``name`` at "now" (a float; NaN while it warms up or before any
    candle), or with ``n`` its last ``n`` values up to "now" as a read-only numpy view (fewer when
    fewer candles exist). Only inside ``get_signal`` (or a callback) during a run."""
    ctx = execution_context()
    method = ctx.method or method_context()
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise IndicatorError(f"indicator {name!r}: n must be a positive integer, got {n!r}")
    frame_name = method.frame_name if ctx.backtest else ""
    route_key = (method.strategy_name, method.exchange_name, frame_name, ctx.backtest, ctx.symbol, name)
    route = _routes.get(route_key)
    strategy = None
    if route is not None and route[5] is not method:  # another run made it: are its schemas still ours?
        strategy, schema, frame_name, frame = _run_schemas(ctx, method, "indicator")
        if not (route[0] is strategy and route[1] is schema and route[2] is frame):
            route = None
    if route is not None:  # made by this run (its method context), or for the schemas it runs
        cache = route[4]()
        st = cache.store() if cache is not None else None
        if st is not None:
            slot = ctx.when // cache.step_ms
            origin = route[3] if route[3] is not None and route[3] <= slot else None
            rng = _find(cache, st, slot, origin)
            if rng is not None:
                return _serve(rng, slot, n)
    if strategy is None:
        strategy, schema, frame_name, frame = _run_schemas(ctx, method, "indicator")
    spec = strategy.indicators.get(name)
    if spec is None:
        declared = ", ".join(repr(k) for k in strategy.indicators) or "none"
        raise IndicatorError(f"strategy {strategy.strategy_name}: no indicator {name!r} (declared: {declared})")
    rng, slot = await _locate(ctx, strategy, schema, frame, route_key, name, spec)
    if rng is None:
        return math.nan if n is None else np.empty(0)
    return _serve(rng, slot, n)


def _run_schemas(ctx: Any, method: Any, who: str) -> tuple[Any, Any, str, FrameSchema | None]:
    """The strategy, exchange, frame name and frame (None live, or unregistered) of the running call."""
    r = registry.regs()  # once: a 1m strategy reads indicators on every candle
    strategy = r.strategies.get(method.strategy_name, who)
    schema = r.exchanges.get(method.exchange_name, who)
    frame_name = method.frame_name if ctx.backtest else ""
    frame = r.frames.get(frame_name, who) if frame_name and r.frames.has(frame_name) else None
    return strategy, schema, frame_name, frame


async def _locate(
    ctx: Any, strategy: Any, schema: Any, frame: FrameSchema | None, route_key: tuple, name: str, spec: Any
) -> tuple[_Range | None, int]:
    """The computed range serving "now" for ``spec`` (computing it if none does), and "now"'s slot;
    ``(None, slot)`` when the store holds nothing at "now". Remembers the route for ``indicator``."""
    st = exchange_client(schema, ctx.backtest).store(ctx.symbol, spec.interval)
    slot = ctx.when // st.step_ms
    per_store = _caches.get(st)
    if per_store is None:
        per_store = _caches[st] = {}
    cache = per_store.get(spec)
    if cache is None:
        cache = per_store[spec] = _Cache(weakref.ref(st), st.step_ms, {})
    frame_origin = _frame_origin(frame, spec, st.step_ms)
    if len(_routes) >= _MAX_ROUTES:
        _routes.clear()
    _routes[route_key] = (strategy, schema, frame, frame_origin, weakref.ref(cache), ctx.method)
    origin = frame_origin if frame_origin is not None and frame_origin <= slot else None
    rng = _find(cache, st, slot, origin)
    if rng is not None:
        return rng, slot
    if origin is not None:
        assert frame is not None
        lo, hi = origin, max(slot, frame.end_ms // st.step_ms) + 1
    else:  # live, or a run without a frame: from the first call's history on, up to "now"
        if cache.first_origin is None or cache.first_origin > slot - spec.history + 1:
            cache.first_origin = slot - spec.history + 1
        lo, hi = cache.first_origin, slot + 1
    rng = await _compute(st, spec, name, strategy.strategy_name, slot, lo, hi)
    if rng is None:
        return None, slot
    cache.ranges.pop(lo, None)
    cache.ranges[lo] = rng
    while len(cache.ranges) > _MAX_RANGES:
        del cache.ranges[next(iter(cache.ranges))]
    return rng, slot


async def _compute(
    st: CandleStore, spec: Indicator | Signals, name: str, strategy_name: str, slot: int, lo: int, hi: int
) -> _Range | None:
    """Fetch what ``[lo, hi)`` needs, then compute over the run of known candles around ``slot``.

    The run stops at a slot that failed, is poisoned or is not known yet (live: the future), so the
    function never sees a hole it would take for a missing candle. A failed or poisoned candle
    within ``history`` candles before "now" raises its error, as ``get_candles`` would."""
    await st.ensure(lo, hi, config.current())
    lo_asked = lo
    lo, status = st.known_status(lo)  # a lent store's known-absent edges included (engine/candles.py)
    p = slot - lo
    if not 0 <= p < len(status) or lo > slot:
        return None  # the store holds nothing at "now" (before the data starts, or not fetched yet)
    known = (status == PRESENT) | (status == ABSENT)
    if not known[p]:
        st.present_slice(slot, slot + 1)  # raises for a failed or poisoned candle at "now"
        return None
    before = np.flatnonzero(~known[:p])
    seg_lo = lo + (int(before[-1]) + 1 if len(before) else 0)
    if seg_lo > slot - spec.history + 1 and seg_lo > lo:
        st.present_slice(max(lo, slot - spec.history + 1), slot + 1)  # raises as get_candles would
    after = np.flatnonzero(~known[p + 1 :])
    seg_hi = lo + (p + 1 + int(after[0]) if len(after) else len(status))
    final_hi = seg_lo
    if st.client.backtest:
        final_hi = seg_hi if st.live_edge is None else min(seg_hi, st.live_edge)
    window = st.window(seg_lo, seg_hi)
    values = _evaluate(spec, name, strategy_name, window, len(window))
    _check_causal(spec, name, strategy_name, window, values)
    slots = None if len(window) == seg_hi - seg_lo else window.timestamp // st.step_ms
    return _Range(lo_asked, seg_lo, seg_hi, final_hi, slots, read_only(values), _stamp(st, slot))


def _call(spec: Indicator | Signals, where: str, window: CandleWindow, n: int) -> Any:
    """The user's function over the window; whatever it raises becomes one ``IndicatorError``."""
    try:
        return spec.fn(window)
    except IndicatorError:
        raise
    except Exception as exc:
        raise IndicatorError(f"{where} raised {type(exc).__name__}: {exc} (over {n} {spec.interval} candles)") from exc


def _evaluate(spec: Indicator | Signals, name: str, strategy_name: str, window: CandleWindow, n: int) -> np.ndarray:
    if isinstance(spec, Signals):
        return _evaluate_signals(spec, strategy_name, window, n)
    where = f"indicator {name!r} of strategy {strategy_name}"
    out = _call(spec, where, window, n)
    try:
        values = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise IndicatorError(f"{where} must return numbers, one per candle; got {type(out).__name__} ({exc})") from None
    if values.shape != (n,):
        raise IndicatorError(
            f"{where} must return one value per candle: {n} values, got an array of shape {values.shape}"
        )
    return values


def _cuts(n: int) -> list[int]:
    """Prefix lengths to recompute over: fixed fractions, so a check is the same at every run."""
    return sorted({m for m in (n // 5, n // 2, 4 * n // 5, n - 1) if 1 <= m < n})


def _check_causal(
    spec: Indicator | Signals, name: str, strategy_name: str, window: CandleWindow, values: np.ndarray
) -> None:
    """Refuse a function whose value at a candle changes when later candles are left out.

    Vectorised signals (a row of columns per candle) are compared column by column: a row is the
    same when every column is, and no temporary is larger than one column."""
    cols = [values] if values.ndim == 1 else [values[:, j] for j in range(values.shape[1])]
    top = [np.abs(c[np.isfinite(c)]) for c in cols]
    atol = _RTOL * max((float(t.max()) for t in top if t.size), default=0.0)
    del top
    for m in _cuts(len(window)):
        prefix = _evaluate(spec, name, strategy_name, window[:m], m)
        pcols = [prefix] if prefix.ndim == 1 else [prefix[:, j] for j in range(prefix.shape[1])]
        same = np.isclose(pcols[0], cols[0][:m], rtol=_RTOL, atol=atol, equal_nan=True)
        for p, c in zip(pcols[1:], cols[1:], strict=True):
            same &= np.isclose(p, c[:m], rtol=_RTOL, atol=atol, equal_nan=True)
        del pcols
        if same.all():
            continue
        k = int(np.argmin(same))
        at = iso(int(window.timestamp[k]))
        what = f"indicator {name!r}" if isinstance(spec, Indicator) else "the vectorised signal function"
        full, part = (values[k], prefix[k]) if values.ndim == 1 else (_row_text(values[k]), _row_text(prefix[k]))
        raise IndicatorError(
            f"{what} of strategy {strategy_name} looks ahead: its value for the {spec.interval} "
            f"candle of {at} is {full!r} computed over all {len(window)} candles but {part!r} over the "
            f"{m} candles up to {iso(int(window.timestamp[m - 1]))}; a value may only depend on the candles up "
            f"to its own (a centred moving average or shift(-1) reads the future), so it is refused"
        )


# --------------------------------------------------------------------------- vectorised signals
#
# Why: a strategy asked every minute whose rule is a function of the candles (an SMA cross, the full
# hour) pays for a get_signal call at every candle only to find, almost always, nothing. Written as
# one function over the columns it is computed once per run, like an indicator column (the same
# ranges, the same cache, the same refusal of a function that looks ahead), and the engine asks a
# generated get_signal that reads the row of "now" (the same row ``btk.indicator`` serves) and
# returns None or the signal dict. That get_signal is a plain function, so the quiet idle stretch of
# a backtest calls it without a coroutine; the signal dict it returns goes through exactly the same
# pipeline (validation, throttle, limit entries, settlement, events, reports) as any other.

SIGNAL_COLUMNS = ("side", "price_take_profit", "price_stop_loss", "minute_estimated_time", "price_open")
"""The columns of a vectorised signal function's result, in the order of the stored rows."""
_SIGNALS_NAME = "\x00signals"  # its route key: never a name ``btk.indicator`` could be asked for


def _row_text(row: np.ndarray) -> str:
    return ", ".join(f"{k}={float(v)!r}" for k, v in zip(SIGNAL_COLUMNS, row, strict=True))


def _evaluate_signals(spec: Signals, strategy_name: str, window: CandleWindow, n: int) -> np.ndarray:
    """The function's result as an ``(n, 5)`` float array (rows in ``SIGNAL_COLUMNS`` order),
    refusing anything that could not be served: a clear error names the column and the candle."""
    where = f"the vectorised signal function of strategy {strategy_name}"
    out = _call(spec, where, window, n)
    if not isinstance(out, Mapping):
        raise IndicatorError(
            f"{where} must return a mapping of columns ({', '.join(SIGNAL_COLUMNS)}); got {type(out).__name__}"
        )
    unknown = sorted(str(k) for k in out if k not in SIGNAL_COLUMNS)
    missing = [k for k in SIGNAL_COLUMNS[:4] if k not in out]
    if unknown or missing:
        raise IndicatorError(
            f"{where} returned columns it must not: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
            + f" (expected {', '.join(SIGNAL_COLUMNS)}, price_open optional)"
        )
    rows = np.full((n, len(SIGNAL_COLUMNS)), np.nan)
    for j, key in enumerate(SIGNAL_COLUMNS):
        if key not in out:
            continue
        value = np.asarray(out[key])
        if value.dtype.kind not in "biuf":
            raise IndicatorError(f"{where}: column {key!r} must hold numbers, got dtype {value.dtype}")
        if value.ndim == 0 and key != "side":
            value = np.broadcast_to(value, (n,))
        if value.shape != (n,):
            scalar = "" if key == "side" else " (or one number for all)"
            raise IndicatorError(
                f"{where}: column {key!r} must have one value per candle{scalar}: {n} values, "
                f"got an array of shape {value.shape}"
            )
        rows[:, j] = value
    side = rows[:, 0]
    bad = ~np.isin(side, (-1.0, 0.0, 1.0))
    if bad.any():
        k = int(np.argmax(bad))
        raise IndicatorError(
            f"{where}: side must be +1 (long), -1 (short) or 0 (nothing); got {side[k]!r} for the "
            f"{spec.interval} candle of {iso(int(window.timestamp[k]))}"
        )
    entry = side != 0.0
    for j, key in enumerate(SIGNAL_COLUMNS[1:], start=1):
        col = rows[:, j]
        if key == "price_open":
            bad = entry & np.isinf(col)  # NaN there means a market entry
        elif key == "minute_estimated_time":
            bad = entry & ~(np.isfinite(col) & (col > 0) & (col == np.floor(col)))
        else:
            bad = entry & ~np.isfinite(col)
        if bad.any():
            k = int(np.argmax(bad))
            need = "a positive whole number of minutes" if key == "minute_estimated_time" else "a finite price"
            raise IndicatorError(
                f"{where}: column {key!r} must be {need} on every entry (side != 0); got {col[k]!r} for the "
                f"{spec.interval} candle of {iso(int(window.timestamp[k]))}"
            )
    return rows


def _signal_at(values: np.ndarray, k: int) -> dict | None:
    """Row ``k`` as the dict a get_signal would return, or None where the side is 0."""
    side, tp, sl, met, po = values[k].tolist()
    if side == 0.0:
        return None
    dto = {
        "position": "long" if side > 0.0 else "short",
        "price_take_profit": tp,
        "price_stop_loss": sl,
        "minute_estimated_time": int(met),
    }
    if po == po:  # not NaN: a limit entry
        dto["price_open"] = po
    return dto


def signal_function(strategy_name: str, spec: Signals) -> Callable[..., Any]:
    """The get_signal the engine asks for a strategy registered with ``signals=``.

    It remembers the computed range of the run it last served (by its context object, which a
    backtest run keeps for its whole walk): a call inside the range's final part is a list read,
    and None for a candle without an entry. Anything else (the first call of a run, a range with
    gaps, a live tick) goes through the indicator machinery, which computes or finds the range;
    that path is a coroutine, which only the first call of a backtest run takes."""
    m_ctx: Any = None
    m_step, m_lo, m_n = 1, 0, 0
    m_sides = b""
    m_values = np.empty((0, len(SIGNAL_COLUMNS)))
    step_ms = CANDLE_INTERVALS[spec.interval] * 60_000

    async def slow(ctx: Any) -> dict | None:
        nonlocal m_ctx, m_step, m_lo, m_n, m_sides, m_values
        method = ctx.method or method_context()
        strategy, schema, frame_name, frame = _run_schemas(ctx, method, "get_signal")
        key = (method.strategy_name, method.exchange_name, frame_name, ctx.backtest, ctx.symbol, _SIGNALS_NAME)
        rng, slot = await _locate(ctx, strategy, schema, frame, key, _SIGNALS_NAME, spec)
        if rng is None:
            return None
        if rng.slots is None:
            k = slot - rng.lo
            if rng.final_hi > rng.lo:  # remember the final part: every later call of the run reads it
                m_ctx, m_step, m_lo, m_n = ctx, step_ms, rng.lo, rng.final_hi - rng.lo
                m_values = rng.values
                m_sides = (rng.values[:m_n, 0] != 0.0).tobytes()  # a byte per candle: 1 where it enters
        else:
            k = int(np.searchsorted(rng.slots, slot, side="right")) - 1
        return _signal_at(rng.values, k) if k >= 0 else None

    def get_signal(symbol: str, when: Any, current_price: float) -> Any:
        ctx = _execution.get()
        if ctx is m_ctx:
            k = ctx.when // m_step - m_lo
            if 0 <= k < m_n:
                return _signal_at(m_values, k) if m_sides[k] else None
        if ctx is None:
            execution_context()  # raises the usual error: only during a run
        return slow(ctx)

    def idle_frames(ctx: Any, when: int, step: int, count: int) -> int:
        """How many of the frames ``when, when + step, ...`` (at most ``count``) certainly answer
        None: the stretch of a backtest passes them without a call (``quiet_stretch``). Counted
        only inside the remembered final range, for frames a whole number of candles apart; 0
        sends the caller to ask the frame the usual way (which is always right)."""
        if ctx is not m_ctx or step % m_step:
            return 0
        k = when // m_step - m_lo
        if not 0 <= k < m_n:
            return 0
        stride = step // m_step
        n = min(count, (m_n - k + stride - 1) // stride)  # frames whose candle is remembered
        sides = m_sides[k : k + n * stride : stride] if stride > 1 else m_sides
        at = sides.find(1, 0, n) if stride > 1 else sides.find(1, k, k + n)
        if at < 0:
            return n
        return at if stride > 1 else at - k

    get_signal.__qualname__ = get_signal.__name__ = f"vectorised_signals_of_{strategy_name}"
    get_signal.idle_frames = idle_frames  # type: ignore[attr-defined]
    return get_signal
