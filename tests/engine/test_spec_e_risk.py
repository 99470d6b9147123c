"""SPEC 16 part E (cases 49-53): risk profiles, MergeRisk, shared positions and the Risk report (SPEC 9, 12.6).

Case 54 (PersistRiskAdapter) is not here: persistence adapters belong to a later issue (live/persistence).

In a backtest a position is opened and settled within one frame, so two runs only hold positions at the same
time if something keeps one open: ``Gate`` does that deterministically (an async ``opened`` listener waits)
instead of relying on how the event loop happens to interleave runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from spec_helpers import (
    EXCHANGE,
    FRAME,
    RISK,
    STRATEGY,
    SYMBOL,
    F,
    Harness,
    exchange_from,
    m,
    minute,
    restart,
    risk_stats,
    sig,
    use_test_profile,
    within,
)

import engine as e
from engine.risk import RiskCheckArgs

LONG = sig("long", tp=43000, sl=41000, met=10)  # at 42000: closes time_expired at m9


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def flat42(k):
    return F(42000)


def recorder(log: list, name: str, *, fail: bool = False, exc: type[BaseException] = RuntimeError):
    """A validation that appends ``name`` to ``log`` (and raises when ``fail``)."""

    def validate(payload):
        log.append(name)
        if fail:
            raise exc(f"{name} rejects")

    return validate


def always():
    """Every call returns a fresh copy of ``LONG`` (a signal at every throttle slot)."""

    def script(k, price):
        return dict(LONG)

    return script


# --------------------------------------------------------------------------- 49: order inside a riskList


async def test_case_49_validations_run_in_order_and_stop_at_the_first_failure():
    calls: list[str] = []
    h = Harness(
        flat42,
        [LONG],
        risks={
            "r1": [recorder(calls, "r1.a"), recorder(calls, "r1.b")],
            "r2": [recorder(calls, "r2.a"), recorder(calls, "r2.b", fail=True), recorder(calls, "r2.c")],
        },
        risk_list=["r1", "r2"],
    )
    out = await h.run()
    assert [c for c in calls if c.startswith("r1")] == ["r1.a", "r1.b"]
    assert [c for c in calls if c.startswith("r2")] == ["r2.a", "r2.b"]  # r2.c never runs
    assert out.yielded == [] and out.of("opened") == []
    [rejection] = out.risk
    assert rejection.comment == "N/A" and rejection.strategy_name == STRATEGY
    assert rejection.pending_signal == LONG  # check #1 sees the raw DTO
    assert rejection.current_price == 42000 and rejection.active_position_count == 0


# --------------------------------------------------------------------------- 50: AND logic, riskName first


@pytest.mark.parametrize("rejecting", [None, "a", "b", "c"])
async def test_case_50_every_child_must_allow(rejecting):
    calls: list[str] = []
    risks = {name: [recorder(calls, name, fail=name == rejecting)] for name in ("a", "b", "c")}
    out = await Harness(flat42, [LONG], risks=risks, risk_name="a", risk_list=["b", "c"]).run()
    if rejecting is None:
        [closed] = out.yielded
        assert closed.close_reason == "time_expired"
        assert calls == ["a", "b", "c", "a", "b", "c"]  # two checks, riskName first each time
        assert out.risk == []
    else:
        assert out.yielded == [] and out.of("opened") == []
        assert calls == ["a", "b", "c"]  # the one check (#1) consulted every child
        assert [r.comment for r in out.risk] == ["N/A"]


class Gate:
    """Keeps the positions of ``holders`` ((symbol, strategy) pairs) open until ``last`` has had its first
    tick, by holding each holder's ``opened`` result in a listener. ``last`` should
    ``await gate.all_open.wait()`` in its get_signal.

    Calls of one async listener never overlap (SPEC 1.8), so each holder has its own listener, and a listener
    returns a coroutine (which takes the listener's lock) only for its own holder's result."""

    def __init__(
        self, holders: list[tuple[str, str]], last: tuple[str, str], hold_on: tuple[str, ...] = ("opened",)
    ) -> None:
        self.all_open = asyncio.Event()
        self.released = asyncio.Event()
        self.opened: list[tuple[str, str]] = []

        def release(r) -> None:
            if (r.symbol, r.strategy_name) == last:
                self.released.set()

        e.listen_signal_backtest(release, actions=("idle", "opened"))
        for key in holders:
            e.listen_signal_backtest(self._hold(key, len(holders)), actions=hold_on)

    def _hold(self, key: tuple[str, str], n: int):
        def hold(r):
            if (r.symbol, r.strategy_name) != key:
                return None
            self.opened.append(key)
            if len(self.opened) == n:
                self.all_open.set()
            return self.released.wait()

        return hold


async def run_together(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], list]:
    """Start every (symbol, strategy) backtest first (each start resets the shared risk instances, SPEC 6.2),
    then drive them concurrently."""
    handles = [
        e.Backtest.run(symbol, strategy_name=name, exchange_name=EXCHANGE, frame_name=FRAME) for symbol, name in pairs
    ]

    async def drain(handle) -> list:
        return [r async for r in handle]

    results = await within(asyncio.gather(*(drain(h) for h in handles)))
    return dict(zip(pairs, results, strict=True))


async def test_case_50_both_risks_of_a_shared_risk_list_see_the_same_positions():
    seen: dict[str, list[tuple[str, int]]] = {"ra": [], "rb": []}

    def watch(name):
        def validate(p):
            seen[name].append((p.symbol, p.active_position_count))

        return validate

    gate = Gate([("AAA", STRATEGY)], ("BBB", STRATEGY))

    async def bbb(k, price):
        if k == 0:
            await gate.all_open.wait()
            return dict(LONG)
        return None

    Harness(
        flat42,
        {"AAA": [LONG], "BBB": bbb},
        risks={"ra": [watch("ra")], "rb": [watch("rb")]},
        risk_list=["ra", "rb"],
        record=False,
    )
    out = await run_together([("AAA", STRATEGY), ("BBB", STRATEGY)])
    assert seen["ra"] == seen["rb"] == [("AAA", 0), ("AAA", 0), ("BBB", 1), ("BBB", 1)]
    assert [len(v) for v in out.values()] == [1, 1]


# --------------------------------------------------------------------------- 51: comments


class NoteObject:
    note = "object note"

    def validate(self, payload):
        raise ValueError("object form rejects")


@pytest.mark.parametrize(
    ("validation", "comment"),
    [
        ({"validate": recorder([], "dict", fail=True), "note": "dict note"}, "dict note"),
        (NoteObject(), "object note"),
        (recorder([], "fn", fail=True), "N/A"),
        ({"validate": recorder([], "no note", fail=True)}, "N/A"),
        ({"validate": recorder([], "empty note", fail=True), "note": ""}, "N/A"),
    ],
    ids=["dict", "object", "function", "dict-without-note", "empty-note"],
)
async def test_case_51_comment_is_the_failing_items_note(validation, comment):
    rejected, allowed = [], []
    callbacks = {"on_rejected": lambda sym, args: rejected.append((sym, args)), "on_allowed": allowed.append}
    h = Harness(flat42, [LONG], risks={RISK: {"validations": [validation], "callbacks": callbacks}}, risk_name=RISK)
    out = await h.run()
    [event] = out.risk
    assert event.comment == comment
    assert (event.symbol, event.strategy_name, event.exchange_name, event.backtest) == (SYMBOL, STRATEGY, "x", True)
    [(sym, args)] = rejected
    assert sym == SYMBOL and args.pending_signal == LONG and args.active_position_count == 0
    assert allowed == []
    assert risk_stats().total_rejections == 1


async def test_case_51_no_risk_event_for_allowed_signals():
    allowed = []
    h = Harness(
        flat42,
        [LONG],
        risks={RISK: {"validations": [lambda p: None], "callbacks": {"on_allowed": lambda s, a: allowed.append(a)}}},
        risk_name=RISK,
    )
    out = await h.run()
    assert len(out.yielded) == 1 and out.risk == []
    assert [type(a.pending_signal).__name__ for a in allowed] == ["dict", "SignalRow"]  # checks #1 and #2
    assert risk_stats().total_rejections == 0


# --------------------------------------------------------------------------- 52: max positions as a validation


def cap(n: int):
    def validate(p):
        if p.active_position_count >= n:
            raise RuntimeError(f"{p.active_position_count} positions")

    return {"validate": validate, "note": f"max {n} positions"}


async def test_case_52_a_cap_of_zero_rejects_everything():
    out = await Harness(flat42, always(), risk=[cap(0)], end=4).run()
    assert out.yielded == [] and out.of("opened") == []
    assert len(out.risk) == 5 and {r.comment for r in out.risk} == {"max 0 positions"}
    st = risk_stats()
    assert (st.total_rejections, st.by_symbol, st.by_strategy) == (5, {SYMBOL: 5}, {STRATEGY: 5})


def three_strategies(risk_spec: dict, gate: Gate) -> None:
    """Strategies s1, s2, s3 on BTCUSDT sharing risk ``r``; s3 asks for its signal once s1 and s2 are open."""
    e.add_exchange(EXCHANGE, exchange_from(flat42))
    e.add_frame(FRAME, "1m", m(0), m(20))
    e.add_risk(RISK, **risk_spec)

    def once(name: str, wait: bool):
        async def get_signal(symbol, when, price):
            if when.minute != 0:
                return None
            if wait:
                await gate.all_open.wait()
            return dict(LONG)

        return get_signal

    for name in ("s1", "s2", "s3"):
        e.add_strategy(name, "1m", once(name, name == "s3"), risk_name=RISK)


async def shared_cap_scenario(risk_spec: dict) -> tuple[list[tuple], dict]:
    risk_events: list = []
    e.listen_risk(risk_events.append)
    gate = Gate([(SYMBOL, "s1"), (SYMBOL, "s2")], (SYMBOL, "s3"))
    three_strategies(risk_spec, gate)
    out = await run_together([(SYMBOL, "s1"), (SYMBOL, "s2"), (SYMBOL, "s3")])
    events = [(r.strategy_name, r.comment, r.active_position_count, r.current_price) for r in risk_events]
    closed = {
        name: [(r.signal.pending_at, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage) for r in results]
        for (_, name), results in out.items()
    }
    return events, closed


async def test_case_52_three_strategies_sharing_a_cap_of_two():
    events, closed = await shared_cap_scenario({"validations": [cap(2)]})
    assert events == [("s3", "max 2 positions", 2, 42000)]
    assert [len(closed[name]) for name in ("s1", "s2", "s3")] == [1, 1, 0]
    st = e.Risk.get_data(SYMBOL, "s3", True)
    assert st.total_rejections == 1 and st.event_list[0].active_position_count == 2
    assert e.Risk.get_data(SYMBOL, "s1", True).total_rejections == 0


async def test_max_concurrent_positions_behaves_exactly_like_the_validation():
    """SPEC 9.5 / 17 #6: the convenience field may exist only if it is that validation, comment = its note."""
    note = "max concurrent positions (2) reached"
    field = await shared_cap_scenario({"max_concurrent_positions": 2})
    restart()
    explicit = await shared_cap_scenario({"validations": [{**cap(2), "note": note}]})
    assert field == explicit
    assert field[0] == [("s3", note, 2, 42000)]

    for n in (0, 1):  # and on one symbol with a signal at every minute: same accept/reject sequence
        runs = []
        for spec in (
            {"max_concurrent_positions": n},
            {"validations": [{**cap(n), "note": f"max concurrent positions ({n}) reached"}]},
        ):
            restart()
            out = await Harness(flat42, always(), risks={RISK: spec}, risk_name=RISK, end=30).run()
            runs.append(
                (
                    out.actions(),
                    [(r.comment, r.active_position_count) for r in out.risk],
                    [(r.close_timestamp, r.pnl.pnl_percentage) for r in out.yielded],
                )
            )
        assert runs[0] == runs[1]
        assert ("opened" in runs[0][0]) == (n > 0)
    with pytest.raises(e.SchemaError, match="max_concurrent_positions"):
        e.add_risk("bad", max_concurrent_positions=-1)


async def test_max_concurrent_positions_runs_after_the_users_validations():
    calls: list[str] = []
    out = await Harness(
        flat42,
        [LONG],
        risks={RISK: {"validations": [recorder(calls, "mine")], "max_concurrent_positions": 0}},
        risk_name=RISK,
    ).run()
    assert calls == ["mine"]
    assert [r.comment for r in out.risk] == ["max concurrent positions (0) reached"]


async def test_a_scheduled_signal_waiting_for_its_price_is_not_a_position():
    """SPEC 9.2: while s1's limit entry waits (held at its ``scheduled`` result), s2's checks count 0 positions."""
    seen: list[tuple[str, int]] = []
    gate = Gate([(SYMBOL, "s1")], (SYMBOL, "s2"), hold_on=("scheduled",))
    e.add_exchange(EXCHANGE, exchange_from(flat42))
    e.add_frame(FRAME, "1m", m(0), m(20))
    e.add_risk(RISK, validations=[lambda p: seen.append((p.strategy_name, p.active_position_count))])

    async def s1(symbol, when, price):
        return sig("long", open_=41000, tp=43000, sl=40000, met=10) if when.minute == 0 else None

    async def s2(symbol, when, price):
        if when.minute != 0:
            return None
        await gate.all_open.wait()
        return dict(LONG)

    e.add_strategy("s1", "1m", s1, risk_name=RISK)
    e.add_strategy("s2", "1m", s2, risk_name=RISK)
    out = await run_together([(SYMBOL, "s1"), (SYMBOL, "s2")])
    assert seen == [("s1", 0), ("s2", 0), ("s2", 0)]
    assert [r.action for r in out[(SYMBOL, "s1")]] == ["cancelled"]  # never reached 41000
    assert [r.action for r in out[(SYMBOL, "s2")]] == ["closed"]


async def test_a_risk_without_validations_allows_everything():
    out = await Harness(flat42, always(), risks={"empty": {}}, risk_name="empty", end=30).run()
    assert [minute(r.signal.pending_at) for r in out.yielded] == [0, 10, 20, 30]  # every signal opened
    assert out.risk == []


# --------------------------------------------------------------------------- 53: internal access


def _args(symbol: str = SYMBOL) -> RiskCheckArgs:
    return RiskCheckArgs(
        symbol=symbol, pending_signal=dict(LONG), strategy_name="s", exchange_name="x", current_price=1.0, timestamp=0
    )


async def test_case_53_positions_are_counted_per_strategy_symbol_key_and_per_risk():
    counts: dict[str, list[int]] = {"r1": [], "r2": []}
    for name in counts:
        e.add_risk(name, validations=[lambda p, name=name: counts[name].append(p.active_position_count)])
    r1 = e.risk_instance("r1")  # live mode, as the original's internal access defaults to
    assert e.risk_instance("r1") is r1 and e.risk_instance("r1", True) is not r1
    await r1.add_signal("BTCUSDT", "s1")
    await r1.add_signal("ETHUSDT", "s1")
    await r1.add_signal("BTCUSDT", "s2")
    assert await r1.check(_args()) is True
    await r1.remove_signal("ETHUSDT", "s1")
    assert await r1.check(_args()) is True
    await r1.add_signal("BTCUSDT", "s1")  # the same strategy:symbol again: still one position
    assert await r1.check(_args()) is True
    assert await e.risk_instance("r2").check(_args()) is True
    assert await e.risk_instance("r1", True).check(_args()) is True
    assert counts == {"r1": [3, 2, 2, 0], "r2": [0]}
    assert sorted(r1.positions) == ["s1:BTCUSDT", "s2:BTCUSDT"]
    with pytest.raises(e.NotFoundError, match="risk nope not found"):
        e.risk_instance("nope")


# --------------------------------------------------------------------------- MergeRisk: every child runs


async def test_merged_risk_runs_every_child_and_each_rejecting_child_emits_its_own_event():
    calls: list[str] = []
    verdicts: list[tuple[str, str]] = []

    def spec(name, *validations):
        return {
            "validations": list(validations),
            "callbacks": {
                "on_rejected": lambda sym, a: verdicts.append((name, "rejected")),
                "on_allowed": lambda sym, a: verdicts.append((name, "allowed")),
            },
        }

    risks = {
        "a": spec("a", recorder(calls, "a1"), recorder(calls, "a2")),
        "b": spec("b", {"validate": recorder(calls, "b1", fail=True), "note": "b says no"}, recorder(calls, "b2")),
        "c": spec("c", recorder(calls, "c1"), {"validate": recorder(calls, "c2", fail=True), "note": "c says no"}),
        "d": spec("d", recorder(calls, "d1")),
    }
    out = await Harness(flat42, [LONG], risks=risks, risk_name="a", risk_list=["b", "c", "d"]).run()
    assert out.yielded == [] and out.of("opened") == []
    assert sorted(calls) == ["a1", "a2", "b1", "c1", "c2", "d1"]  # a rejection does not stop the siblings
    assert sorted(r.comment for r in out.risk) == ["b says no", "c says no"]  # allowed children emit nothing
    assert sorted(verdicts) == [("a", "allowed"), ("b", "rejected"), ("c", "rejected"), ("d", "allowed")]
    assert risk_stats().total_rejections == 2


# --------------------------------------------------------------------------- what a validation may raise


class Veto(BaseException):
    """Not an ``Exception``: the Python counterpart of JavaScript throwing a non-Error value."""


async def test_a_validation_raising_a_non_exception_object_is_a_rejection():
    veto = Veto("no")
    validation_errors: list[BaseException] = []
    e.listen_validation(validation_errors.append)

    def validate(p):
        raise veto

    out = await Harness(flat42, [LONG], risk=[{"validate": validate, "note": "vetoed"}]).run()
    assert out.yielded == [] and out.of("opened") == []
    assert validation_errors == [veto]
    assert [r.comment for r in out.risk] == ["vetoed"]
    assert out.errors == []  # a rejection, not a failure


async def test_validation_errors_reach_listen_validation_once_per_rejection():
    errors: list[BaseException] = []
    e.listen_validation(errors.append)
    out = await Harness(flat42, always(), risk=[cap(0)], end=2).run()
    assert len(errors) == len(out.risk) == 3
    assert all(isinstance(x, RuntimeError) and str(x) == "0 positions" for x in errors)


@pytest.mark.parametrize(("exc", "merged"), [(KeyboardInterrupt, False)], ids=["keyboard-interrupt"])
async def test_interrupts_raised_by_a_validation_propagate(exc, merged):
    """Ctrl-C stops the run. (A validation's own CancelledError is a veto like any failure: it
    awaited something somebody cancelled; tests/engine/test_strategy_cancelled.py.)"""
    calls: list[str] = []
    validation_errors: list = []
    e.listen_validation(validation_errors.append)
    risks = {"a": [recorder(calls, "a", fail=True, exc=exc)], "b": [recorder(calls, "b")]}
    h = Harness(flat42, [LONG], risks=risks, risk_name="a", risk_list=["b"] if merged else ())
    with pytest.raises(exc):
        await h.run()
    assert "a" in calls
    assert h.out.risk == [] and validation_errors == []  # not treated as a rejection
    assert h.out.of("opened") == []


# --------------------------------------------------------------------------- 12.6: report


RISK_HEADER = (
    "| Symbol | Strategy | Signal ID | Position | Exchange | Open Price | Take Profit | Stop Loss | Current Price "
    "| Active Positions | Reason | Timestamp |"
)


async def test_risk_report_data_and_dump():
    def script(k, price):
        if k == 0:
            return dict(LONG)  # rejected at check #1 (raw DTO: no id, no priceOpen)
        if k == 1:
            return {**LONG, "price_open": 41900, "id": "limit-1"}  # a limit entry, rejected too
        return None

    h = Harness(flat42, script, risk=[cap(0)])
    assert "No risk rejections recorded yet." in e.Risk.get_report(SYMBOL, STRATEGY, True)
    await h.run()
    st = e.Risk.get_data(SYMBOL, STRATEGY, True)
    assert (st.total_rejections, st.by_symbol, st.by_strategy) == (2, {SYMBOL: 2}, {STRATEGY: 2})
    assert [r.pending_signal.get("id") for r in st.event_list] == ["limit-1", None]  # newest first
    assert e.Risk.get_data(SYMBOL, STRATEGY, False).total_rejections == 0

    lines = e.Risk.get_report(SYMBOL, STRATEGY, True).split("\n")
    assert lines[0] == "# Risk Rejection Report: BTCUSDT:s"
    table = lines.index(RISK_HEADER)
    assert lines[table + 1] == "|" + " --- |" * 12
    assert lines[table + 2].startswith(
        "| BTCUSDT | s | limit-1 | LONG | x | 41900.00000000 USD | 43000.00000000 USD | 41000.00000000 USD "
        "| 42000.00000000 USD | 0 | max 0 positions | "
    )
    assert lines[table + 3].startswith("| BTCUSDT | s | N/A | LONG | x | N/A | 43000.00000000 USD |")
    tail = lines[lines.index("**Total rejections:** 2") :]
    assert tail[:7] == [
        "**Total rejections:** 2",
        "",
        "## Rejections by Symbol",
        "- BTCUSDT: 2",
        "",
        "## Rejections by Strategy",
        "- s: 2",
    ]
    written = e.Risk.dump(SYMBOL, STRATEGY, True)
    target = Path("dump/risk/BTCUSDT_s.md")
    assert written is not None and Path(written).resolve() == target.resolve()
    assert target.read_text() == e.Risk.get_report(SYMBOL, STRATEGY, True)


async def test_risk_events_carry_the_wall_clock_time_and_the_mode():
    clock = e.SimulatedClock(m(10_000), speed=0)  # frozen: now() is exact
    e.set_clock(clock)
    out = await Harness(flat42, [LONG], risk=[cap(0)]).run()
    [event] = out.risk
    assert event.timestamp == clock.now()  # wall-clock now, even in a backtest (SPEC 9.2)
    assert event.backtest is True


# --------------------------------------------------------------------------- several symbols at once


SYMBOLS = ("AAA", "BBB", "CCC")


def wave(base: float, period: int):
    """A triangle wave around ``base``: prices move enough to hit TP/SL both ways."""

    def candles(k):
        phase = k % (2 * period)
        offset = phase if phase < period else 2 * period - phase
        return F(base * (1 + 0.002 * (offset - period / 2)))

    return candles


CANDLES = {"AAA": wave(42000, 7), "BBB": wave(3000, 11), "CCC": wave(150, 5)}


def alternating(k, price):
    if (k // 10) % 2:
        return sig("long", tp=price * 1.004, sl=price * 0.996, met=25)
    return sig("short", tp=price * 0.996, sl=price * 1.004, met=25)


async def _suspending(k, price):
    await asyncio.sleep(0)  # really suspends, so the concurrent runs interleave
    return alternating(k, price)


def _key(r) -> tuple:
    return (
        r.action,
        r.signal.position,
        r.signal.price_open,
        r.signal.pending_at,
        r.close_timestamp,
        getattr(r, "close_reason", None),
        r.current_price,
        r.pnl.pnl_percentage if r.action == "closed" else None,
    )


async def test_background_on_three_symbols_equals_each_symbol_alone():
    checks: list[str] = []

    def watch(p):  # a shared risk with no binding rule
        checks.append(p.symbol)

    alone: dict[str, list] = {}
    for symbol in SYMBOLS:
        restart()
        out = await Harness(CANDLES, alternating, end=600, risk=[watch], record=False).run(symbol)
        alone[symbol] = [_key(r) for r in out.yielded]
        assert len(alone[symbol]) > 10, symbol

    restart()
    checks.clear()
    Harness(CANDLES, _suspending, end=600, risk=[watch], record=False)
    together: dict[str, list] = {s: [] for s in SYMBOLS}
    e.listen_signal_backtest(lambda r: together[r.symbol].append(_key(r)), actions=("closed", "cancelled"))
    finished: list[str] = []
    done = asyncio.Event()

    def on_done(d) -> None:
        finished.append(d.symbol)
        if len(finished) == len(SYMBOLS):
            done.set()

    e.listen_done_backtest(on_done)
    for symbol in SYMBOLS:
        e.Backtest.background(symbol, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await within(done.wait())
    assert sorted(finished) == list(SYMBOLS)
    for symbol in SYMBOLS:
        assert together[symbol] == alone[symbol], symbol
        got = [_key(r) for r in reversed(e.Backtest.get_data(symbol, STRATEGY).signal_list)]
        closed = [k for k in alone[symbol] if k[0] == "closed"]
        assert got == closed, symbol  # the report keeps every closed signal (no cap by default)
    assert set(checks) == set(SYMBOLS)  # the one shared risk was consulted for every symbol ...
    assert len(set(checks[:6])) > 1  # ... while the runs interleaved


async def test_runs_started_together_share_one_client_risk_across_symbols():
    counts: list[tuple[str, int]] = []
    snapshot: list[list[str]] = []
    gate = Gate([("AAA", STRATEGY), ("BBB", STRATEGY)], ("CCC", STRATEGY))

    async def ccc(k, price):
        if k == 0:
            await gate.all_open.wait()
            snapshot.append(sorted(e.risk_instance(RISK, True).positions))
            return dict(LONG)
        return None

    Harness(
        flat42,
        {"AAA": [LONG], "BBB": [LONG], "CCC": ccc},
        risk=[lambda p: counts.append((p.symbol, p.active_position_count))],
        record=False,
    )
    for symbol in SYMBOLS:
        e.Backtest.background(symbol, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    tasks = [e.Backtest.board.tasks[(symbol, STRATEGY)].task for symbol in SYMBOLS]
    await within(asyncio.gather(*tasks))
    assert snapshot == [["s:AAA", "s:BBB"]]
    assert counts == [("AAA", 0), ("AAA", 0), ("BBB", 1), ("BBB", 1), ("CCC", 2), ("CCC", 2)]
    assert e.risk_instance(RISK, True).positions == {}  # every position was removed at its close
    for symbol in SYMBOLS:
        [closed] = e.Backtest.get_data(symbol, STRATEGY).signal_list
        assert closed.close_reason == "time_expired" and minute(closed.close_timestamp) == 9
