"""The fast engine against the literal reference implementation (tests/reference), on random markets.

Each example draws a market (a random walk with optional zero-volume candles, gaps in the middle
and a truncated end), a strategy (a script of DTOs: market and limit entries, both sides, tight and
wide TP/SL, short and long lifetimes, some invalid), a frame, a signal interval, a config and a
"now" (sometimes inside the data, so fast-forwards come back empty). The engine runs twice:

- with every listener and callback attached (the per-frame path): every emitted tick result, every
  callback, milestone and error must equal the reference's, in order;
- with every listener but no callback (the per-frame path of a quiet strategy: ``tick_quiet`` and
  ``settle_quiet`` with somebody listening): the same, less the callbacks;
- with nobody listening (the fast path that skips idle frames): the yielded results, the get_signal
  calls, the milestones, the error count and the statistics must still be identical.

Any difference is a bug in one of the two.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference.backtest_ref import RefConfig, run_reference_backtest
from spec_helpers import use_test_profile

import engine as e
from engine.model import Candle
from engine.reports import stores
from engine.testing import reset_engine

M = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


# --------------------------------------------------------------------------- scenario


@dataclass
class Scenario:
    seed: int
    minutes: int  # data from T0-400 to T0+minutes (before truncation)
    truncate_at: int | None  # no candle at or after this minute
    gaps: frozenset[int]  # minutes without a candle
    zero_volume: frozenset[int]
    frame_minutes: int
    frame_step: int  # minutes
    interval: str
    dtos: list[dict | None]
    await_minutes: int
    window: int
    profile: str  # "test" or "strict"
    now_minute: int | None
    chunk: int


def _market(s: Scenario) -> dict[int, tuple[float, float, float, float, float]]:
    rng = random.Random(s.seed)
    out = {}
    price = 42000.0
    vol = rng.choice([0.0005, 0.001, 0.003])
    end = s.truncate_at
    if s.now_minute is not None:  # no exchange has candles from the future: data ends at "now"
        end = s.now_minute + 1 if end is None else min(end, s.now_minute + 1)
    for m in range(-400, s.minutes + 1):
        if end is not None and m >= end:
            break
        o = price
        c = round(o * (1 + rng.gauss(0, vol)), 2)
        h = round(max(o, c) * (1 + abs(rng.gauss(0, vol / 2))), 2)
        lo = round(min(o, c) * (1 - abs(rng.gauss(0, vol / 2))), 2)
        v = 0.0 if m in s.zero_volume else round(rng.uniform(1, 100), 3)
        price = c
        if m not in s.gaps:
            out[T0 + m * M] = (o, h, lo, c, v)
    return out


@st.composite
def dto_script(draw, n: int) -> list[dict | None]:
    out: list[dict | None] = []
    for k in range(n):
        kind = draw(st.sampled_from(["none", "none", "market", "market", "limit", "limit_reached", "invalid"]))
        if kind == "none":
            out.append(None)
            continue
        side = draw(st.sampled_from(["long", "short"]))
        tp_pct = draw(st.sampled_from([0.0004, 0.001, 0.003, 0.01, 0.05]))
        sl_pct = draw(st.sampled_from([0.0004, 0.001, 0.003, 0.01, 0.05]))
        met = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 15, 60, 240, 1500]))
        dto: dict = {"kind": kind, "side": side, "tp": tp_pct, "sl": sl_pct, "met": met, "id": f"s{k}"}
        if kind in ("limit", "limit_reached"):
            dto["entry"] = draw(st.sampled_from([0.0003, 0.001, 0.004, 0.02]))
        out.append(dto)
    return out


def _make_dto(spec: dict | None, price: float) -> dict | None:
    """Turn a script entry into a DTO for the current price (same function for both engines)."""
    if spec is None:
        return None
    side, tp, sl = spec["side"], spec["tp"], spec["sl"]
    sign = 1 if side == "long" else -1
    if spec["kind"] == "market":
        base = price
        dto = {}
    elif spec["kind"] == "invalid":
        return {
            "position": side,
            "price_take_profit": round(price * (1 - sign * tp), 2),
            "price_stop_loss": round(price * (1 - sign * sl), 2),
            "minute_estimated_time": spec["met"],
            "id": spec["id"],
        }
    else:
        off = spec["entry"] * (-1 if spec["kind"] == "limit_reached" else 1)
        base = round(price * (1 - sign * off), 2)
        dto = {"price_open": base}
    dto.update(
        position=side,
        price_take_profit=round(base * (1 + sign * tp), 2),
        price_stop_loss=round(base * (1 - sign * sl), 2),
        minute_estimated_time=spec["met"],
        id=spec["id"],
        note="n",
    )
    return dto


@st.composite
def scenarios(draw) -> Scenario:
    frame_minutes = draw(st.integers(5, 420))
    frame_step = draw(st.sampled_from([1, 1, 1, 3, 5, 15]))
    minutes = frame_minutes + draw(st.sampled_from([0, 30, 200, 2000]))
    truncate = draw(st.one_of(st.none(), st.integers(frame_minutes // 2, minutes)))
    n_gaps = draw(st.sampled_from([0, 0, 0, 1, 3, 12]))
    gaps = frozenset(draw(st.lists(st.integers(-10, minutes), min_size=n_gaps, max_size=n_gaps)))
    zero_volume = frozenset(draw(st.lists(st.integers(-10, minutes), max_size=draw(st.sampled_from([0, 0, 4, 40])))))
    return Scenario(
        seed=draw(st.integers(0, 2**31)),
        minutes=minutes,
        truncate_at=truncate,
        gaps=gaps,
        zero_volume=zero_volume,
        frame_minutes=frame_minutes,
        frame_step=frame_step,
        interval=draw(st.sampled_from(["1m", "3m", "5m", "15m"])),
        dtos=draw(dto_script(40)),
        await_minutes=draw(st.sampled_from([3, 10, 30, 120])),
        window=draw(st.sampled_from([5, 5, 5, 3, 2])),
        profile=draw(st.sampled_from(["test", "test", "strict"])),
        now_minute=draw(st.one_of(st.none(), st.none(), st.integers(0, minutes + 100))),
        chunk=draw(st.sampled_from([1000, 97, 7])),
    )


# --------------------------------------------------------------------------- the two runs

INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15}


def run_ref(s: Scenario):
    market = _market(s)
    calls = [0]

    def get_signal(when: int, price: float):
        k = calls[0]
        calls[0] += 1
        return _make_dto(s.dtos[k % len(s.dtos)], price)

    cfg = RefConfig.test_profile() if s.profile == "test" else RefConfig()
    cfg.schedule_await_minutes = s.await_minutes
    cfg.avg_price_candles_count = s.window
    return run_reference_backtest(
        candle_at=market.get,
        get_signal=get_signal,
        frame_start_ms=T0,
        frame_end_ms=T0 + s.frame_minutes * M,
        frame_step_minutes=s.frame_step,
        signal_interval_minutes=INTERVALS[s.interval],
        config=cfg,
        now_ms=T0 + s.now_minute * M if s.now_minute is not None else 2**62,
        strategy_name="s",
        exchange_name="x",
    )


def _row(r) -> dict | None:
    return None if r is None else r.to_dict()


def _as_ref_dict(r) -> dict:
    d = {
        "action": r.action,
        "symbol": r.symbol,
        "current_price": r.current_price,
        "backtest": r.backtest,
        "signal": _row(r.signal),
    }
    if r.action == "closed":
        d.update(
            close_reason=r.close_reason,
            close_timestamp=r.close_timestamp,
            pnl_percentage=r.pnl.pnl_percentage,
            pnl_price_open=r.pnl.price_open,
            pnl_price_close=r.pnl.price_close,
        )
    elif r.action == "cancelled":
        d.update(close_timestamp=r.close_timestamp, cancel_reason=r.cancel_reason)
    elif r.action == "active":
        d.update(percent_tp=r.percent_tp, percent_sl=r.percent_sl)
    return d


def _normalise_ref(d: dict) -> dict:
    out = dict(d)
    if out.get("signal") is not None:
        sig = dict(out["signal"])
        for k in ("price_open", "price_take_profit", "price_stop_loss"):
            sig[k] = float(sig[k])
        out["signal"] = sig
    return out


def recording_callbacks(log: list[tuple]) -> dict:
    """Every strategy callback, recording its call into ``log`` the way the reference records it."""
    return {
        "on_open": lambda sym, row, p, bt: log.append(("on_open", row.id, p, row.pending_at)),
        "on_close": lambda sym, row, p, bt: log.append(("on_close", row.id, p)),
        "on_schedule": lambda sym, row, p, bt: log.append(("on_schedule", row.id, p)),
        "on_cancel": lambda sym, row, p, bt: log.append(("on_cancel", row.id, p)),
        "on_write": lambda sym, row, bt: log.append(("on_write", row.id if row else None)),
        "on_idle": lambda sym, p, bt: log.append(("on_idle", p)),
        "on_tick": lambda sym, r, bt: log.append(("on_tick", r.action)),
        "on_partial_profit": lambda sym, row, p, pct, bt: log.append(("on_partial_profit", row.id, p, pct)),
        "on_partial_loss": lambda sym, row, p, pct, bt: log.append(("on_partial_loss", row.id, p, pct)),
    }


async def run_engine(s: Scenario, *, listen: bool, callbacks: bool = True) -> dict:
    reset_engine()
    if s.profile == "test":
        use_test_profile()  # its candle-retry keys are set again just below
    e.set_config(
        CC_SCHEDULE_AWAIT_MINUTES=s.await_minutes,
        CC_AVG_PRICE_CANDLES_COUNT=s.window,
        CC_GET_CANDLES_RETRY_COUNT=1,
        CC_GET_CANDLES_RETRY_DELAY_MS=0,
        CC_MAX_CANDLES_PER_REQUEST=s.chunk,
        unsafe=True,
    )
    if s.now_minute is not None:
        e.set_clock(e.SimulatedClock(T0 + s.now_minute * M, speed=0))
    market = _market(s)

    async def get_candles(symbol, interval, since, limit):
        t0 = int(since.timestamp() * 1000)
        out = []
        for k in range(limit):
            c = market.get(t0 + k * M)
            if c is not None:
                out.append(Candle(t0 + k * M, *c))
        return out

    calls: list[int] = []

    async def get_signal(symbol, when, price):
        calls.append(int(when.timestamp() * 1000))
        return _make_dto(s.dtos[(len(calls) - 1) % len(s.dtos)], price)

    log: list[tuple] = []
    cbs = recording_callbacks(log) if listen and callbacks else None
    e.add_exchange("x", get_candles)
    e.add_strategy("s", s.interval, get_signal, callbacks=cbs)
    e.add_frame("f", f"{s.frame_step}m", T0, T0 + s.frame_minutes * M)
    emitted: list[dict] = []
    errors: list[BaseException] = []
    partial_events: list[tuple] = []
    progress: list[tuple] = []
    if listen:
        e.listen_signal_backtest(lambda r: emitted.append(_as_ref_dict(r)))
        e.listen_backtest_progress(lambda p: progress.append((p.processed_frames, p.total_frames, p.progress)))
    e.listen_error(errors.append)
    if listen:
        e.listen_partial_profit(
            lambda ev: partial_events.append(("profit", ev.data.id, ev.level, ev.current_price, ev.timestamp))
        )
        e.listen_partial_loss(
            lambda ev: partial_events.append(("loss", ev.data.id, ev.level, ev.current_price, ev.timestamp))
        )
    yielded = [
        _as_ref_dict(r) async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
    ]
    if not listen:  # nobody subscribed: the milestones must still reach the report store, in order
        stored = stores.partial_of("BTCUSDT", "s", True).items(all_=True)
        partial_events = [(r.action, r.signal_id, r.level, r.current_price, r.timestamp) for r in reversed(stored)]
    return {
        "yielded": yielded,
        "emitted": emitted,
        "callbacks": log,
        "partial_events": partial_events,
        "errors": errors,
        "calls": calls,
        "progress": progress,
        "stats": e.Backtest.get_data("BTCUSDT", "s"),
    }


def _same(a, b) -> bool:
    """Equality that treats NaN as equal to NaN (a NaN VWAP can appear in both)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if not _same(x, y):
            return f"first difference at {i}:\n engine:    {x}\n reference: {y}"
    return f"lengths differ: engine {len(a)} vs reference {len(b)}"


def compare(s: Scenario) -> None:
    ref = run_ref(s)
    ref_yielded = [_normalise_ref(d) for d in ref.yielded]
    ref_emitted = [_normalise_ref(d) for d in ref.emitted]
    ref_callbacks = [c for c in ref.callbacks]
    for listen, callbacks in ((True, True), (True, False), (False, False)):
        got = asyncio.run(run_engine(s, listen=listen, callbacks=callbacks))
        mode = ("listening" if callbacks else "listening, no callbacks") if listen else "fast path"
        assert got["calls"] == ref.get_signal_calls, f"[{mode}] get_signal calls differ: {s}"
        assert _same(got["yielded"], ref_yielded), f"[{mode}] yielded: " + _first_difference(
            got["yielded"], ref_yielded
        )
        assert _same(got["partial_events"], ref.partial_events), f"[{mode}] partial: " + _first_difference(
            got["partial_events"], ref.partial_events
        )
        assert len(got["errors"]) == len(ref.errors), (
            f"[{mode}] errors: engine {[str(x).splitlines()[0] for x in got['errors']]} vs reference {ref.errors}"
        )
        closed = [d for d in ref_emitted if d["action"] == "closed"]
        assert got["stats"].total_signals == min(len(closed), 250)
        if listen:
            assert _same(got["emitted"], ref_emitted), "emitted: " + _first_difference(got["emitted"], ref_emitted)
            if callbacks:
                assert _same(got["callbacks"], ref_callbacks), "callbacks: " + _first_difference(
                    got["callbacks"], ref_callbacks
                )
            assert got["progress"] == ref.progress


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    derandomize=True,
)
@given(scenarios())
def test_engine_matches_reference(s: Scenario) -> None:
    compare(s)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_engine_matches_reference_many(s: Scenario) -> None:
    compare(s)
