"""engine.wire: every event the console's bridge listens to crosses the wire and comes back equal.

The events are real: a demo backtest (signals, risk rejections, partial milestones) and the demo
walker (contracts, completion) run with listeners on the streams console/bridge.py subscribes to."""

from __future__ import annotations

import json
import math

import pytest

import engine
from engine import wire
from engine.errors import ErrorContext, annotate


def _round_trip(value):
    text = wire.dumps(value)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    return wire.loads(text)


async def test_every_event_of_a_demo_backtest_and_walker_round_trips() -> None:
    from console.project import load_project

    load_project(None, days=3)
    seen: dict[str, list] = {}

    def keep(name):
        return lambda ev: seen.setdefault(name, []).append(ev)

    stops = [
        engine.listen_signal(keep("signal"), actions=("scheduled", "opened", "active", "closed", "cancelled")),
        engine.listen_risk(keep("risk")),
        engine.listen_partial_profit(keep("partial_profit")),
        engine.listen_partial_loss(keep("partial_loss")),
        engine.listen_walker(keep("walker")),
        engine.listen_walker_complete(keep("walker_complete")),
        engine.listen_done_backtest(keep("done")),
        engine.listen_backtest_progress(keep("progress")),
    ]
    try:
        frame = engine.list_frames()[0].frame_name
        async for _ in engine.Backtest.run(
            "BTCUSDT", strategy_name="demo-breakout", exchange_name="demo-synthetic", frame_name=frame
        ):
            pass
        async for _ in engine.Walker.run("BTCUSDT", walker_name="demo-walker"):
            pass
    finally:
        for stop in stops:
            stop()
    for name in ("signal", "risk", "partial_profit", "walker", "walker_complete"):
        assert seen.get(name), f"the demo produced no {name} event"
    kinds = set()
    for name, events in seen.items():
        for ev in events:
            back = _round_trip(ev)
            assert back == ev, f"{name}: {type(ev).__name__} changed on the wire"
            assert type(back) is type(ev)
            kinds.add(type(ev).__name__)
    assert {"OpenedResult", "ClosedResult", "RiskEvent", "PartialEvent", "WalkerContract"} <= kinds


def test_an_error_keeps_its_context_so_the_console_can_attribute_it() -> None:
    ctx = ErrorContext("BTCUSDT", "demo-trend", False, when=1_700_000_000_000, stage="tick")
    exc = annotate(ValueError("bad price\nsecond line"), ctx, "while ticking")
    back = _round_trip(exc)
    assert isinstance(back, wire.RemoteError) and isinstance(back, Exception)
    assert back.error_type == "ValueError" and str(back) == "bad price\nsecond line"
    assert engine.context_of(back) == ctx
    assert _round_trip(back) == back  # forwarding a remote error keeps its original type name


def test_state_write_status_and_non_finite_numbers() -> None:
    status = engine.StateWriteStatus(False, "/x/data/signal.json", "[Errno 28] No space left on device")
    assert _round_trip(status) == status
    back = _round_trip({"a": math.inf, "b": -math.inf, "c": math.nan, "d": [1, 2.5]})
    assert back["a"] == math.inf and back["b"] == -math.inf and math.isnan(back["c"]) and back["d"] == (1, 2.5)


def test_bad_input_is_refused_with_the_place() -> None:
    with pytest.raises(wire.WireError, match="not JSON"):
        wire.loads("{oops")
    with pytest.raises(wire.WireError, match=r"\$\.x: unknown type 'os.system'"):
        wire.loads('{"x": {"$type": "os.system"}}')
    with pytest.raises(wire.WireError, match=r"\$: bad Pnl"):
        wire.loads('{"$type": "Pnl", "pnl_percentage": 1}')
    with pytest.raises(wire.WireError, match=r"cannot send a builtins\.object"):
        wire.dumps(object())


def test_register_refuses_a_clash_and_a_plain_class() -> None:
    class Pnl:  # same name as the engine's, another class
        pass

    with pytest.raises(TypeError, match="neither a dataclass"):
        wire.register(Pnl)


async def test_the_statistics_of_a_live_run_and_a_walker_round_trip() -> None:
    from console.project import load_project

    load_project(None, days=3)
    async for _ in engine.Walker.run("BTCUSDT", walker_name="demo-walker"):
        pass
    walker = engine.Walker.get_data("BTCUSDT", "demo-walker")
    assert walker.strategy_results
    assert _round_trip(walker) == walker
    live = engine.Live.get_data("BTCUSDT", "demo-trend")
    assert _round_trip(live) == live
