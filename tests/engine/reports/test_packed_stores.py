"""The report stores pack what they keep into columns (engine/reports/packed.py, issue 13): what
comes back must be the same objects, field by field and type by type, and every report must read
the same whether its store was packed or not."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine as e
from engine.model import ClosedResult, Pnl, SignalRow
from engine.partial import LazyMilestones
from engine.reports import packed, stores
from engine.testing import add_busy_backtest

IDS = st.one_of(
    st.uuids().map(str),
    st.text(min_size=0, max_size=40),  # ids a restored live row may carry: kept whole
)
PRICES = st.one_of(
    st.floats(min_value=1e-9, max_value=1e12, allow_nan=False),
    st.integers(min_value=1, max_value=10**6),  # not a float: the row is kept whole
)
TIMES = st.integers(min_value=0, max_value=2**62 - 1)


@st.composite
def signal_rows(draw, names=("BTCUSDT", "binance", "s1")) -> SignalRow:
    symbol, exchange, strategy = names if draw(st.integers(0, 9)) else ("ETHUSDT", "other", "s2")
    return SignalRow(
        id=draw(IDS),
        position=draw(st.sampled_from(("long", "short"))),
        price_open=draw(PRICES),
        price_take_profit=draw(PRICES),
        price_stop_loss=draw(PRICES),
        minute_estimated_time=draw(st.integers(min_value=1, max_value=10**9)),
        symbol=symbol,
        exchange_name=exchange,
        strategy_name=strategy,
        scheduled_at=draw(TIMES),
        pending_at=draw(st.one_of(st.none(), TIMES)),
        is_scheduled=draw(st.booleans()),
        note=draw(st.one_of(st.just(""), st.text(max_size=20))),
    )


@st.composite
def closed_results(draw) -> ClosedResult:
    row = draw(signal_rows())
    return ClosedResult(
        signal=row,
        current_price=draw(PRICES),
        strategy_name=row.strategy_name,
        exchange_name=row.exchange_name,
        symbol=row.symbol,
        backtest=draw(st.booleans()),
        close_reason=draw(st.sampled_from(("take_profit", "stop_loss", "time_expired"))),
        close_timestamp=draw(TIMES),
        pnl=Pnl(draw(st.floats(allow_nan=False, allow_infinity=False)), draw(PRICES), draw(PRICES)),
    )


def _typed(obj: object) -> object:
    """A value with the type of every field spelled out, so 1 and 1.0 compare unequal."""
    if hasattr(obj, "__dataclass_fields__"):
        return (type(obj), tuple(_typed(getattr(obj, f)) for f in obj.__dataclass_fields__))
    return (type(obj), obj)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(closed_results(), min_size=1, max_size=40))
def test_closed_results_come_back_identical(results: list[ClosedResult]) -> None:
    back = packed.pack_closed(results).unpack()
    assert [_typed(r) for r in back] == [_typed(r) for r in results]


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.lists(signal_rows(), min_size=1, max_size=30), st.integers(0, 2**31))
def test_lazy_batches_come_back_with_the_same_milestones(rows: list[SignalRow], seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = [(rng.uniform(1, 200, 300), None), (rng.uniform(1, 200, 300), np.arange(300, dtype=np.int64) * 7)]
    batches = []
    for i, drawn in enumerate(rows):
        up = 1.0 if drawn.position == "long" else -1.0
        po = rng.uniform(50, 150)  # a valid signal around the VWAP column's prices
        row = replace(drawn, price_open=po, price_take_profit=po * (1 + 0.2 * up), price_stop_loss=po * (1 - 0.2 * up))
        vw, ts = columns[i % 2]
        k0 = int(rng.integers(0, 250))
        batches.append(
            LazyMilestones(row, vw, 1_700_000_000_000 + i, ts, k0, k0 + int(rng.integers(0, 50)), i % 3 == 0)
        )
    pack = packed.pack_lazy(batches)
    assert pack is not None
    back = pack.unpack()
    assert [_typed(b.row) for b in back] == [_typed(b.row) for b in batches]
    assert [b.events() for b in back] == [b.events() for b in batches]


def test_lazy_batches_take_their_rows_from_the_closed_chunk_only_when_every_one_is_there() -> None:
    def row(i: int) -> SignalRow:
        return SignalRow(
            id=f"{i:036d}", position="long", price_open=100.0 + i, price_take_profit=110.0 + i,
            price_stop_loss=90.0, minute_estimated_time=60, symbol="BTCUSDT", exchange_name="x",
            strategy_name="s", scheduled_at=i, pending_at=i, is_scheduled=False,
        )  # fmt: skip

    def closed(k: int, r: SignalRow) -> ClosedResult:
        return ClosedResult(
            signal=r, current_price=101.0, strategy_name="s", exchange_name="x", symbol="BTCUSDT", backtest=True,
            close_reason="time_expired", close_timestamp=100 + k, pnl=Pnl(0.5, 100.0, 101.0),
        )  # fmt: skip

    rows = [row(i) for i in range(6)]
    results = [closed(k, r) for k, r in enumerate(rows)]
    chunk = packed.pack_closed(results)
    vw = np.linspace(100, 109, 40)
    batches = [LazyMilestones(rows[k], vw, 0, None, k, k + 30, True) for k in (4, 1, 2)]  # some, any order
    shared = packed.pack_lazy(batches, (chunk.rows, results))
    assert type(shared.rows) is packed._RowsRef
    back = shared.unpack()
    assert [_typed(b.row) for b in back] == [_typed(b.row) for b in batches]
    assert [b.events() for b in back] == [b.events() for b in batches]
    equal_not_same = replace(rows[3])  # an equal row that is another object: packed on its own
    fresh = [LazyMilestones(rows[k], vw, 0, None, k, k + 30, True) for k in (4, 1, 2)]  # the others were read
    more = [*fresh, LazyMilestones(equal_not_same, vw, 0, None, 3, 33, True)]
    alone = packed.pack_lazy(more, (chunk.rows, results))
    assert type(alone.rows) is packed._Rows
    assert [_typed(b.row) for b in alone.unpack()][-1] == _typed(rows[3])


def test_a_batch_already_read_is_kept_as_it_is() -> None:
    row = SignalRow(
        id="x" * 36,
        position="long",
        price_open=100.0,
        price_take_profit=110.0,
        price_stop_loss=90.0,
        minute_estimated_time=60,
        symbol="BTCUSDT",
        exchange_name="x",
        strategy_name="s",
        scheduled_at=0,
        pending_at=0,
        is_scheduled=False,
    )
    batch = LazyMilestones(row, np.linspace(100, 109, 20), 0, None, 0, 20, True)
    batch.events()  # realised: its candles are let go
    assert packed.pack_lazy([batch]) is None


@settings(max_examples=30, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("backtest_timeframe", "backtest_signal", "backtest_total", "live_tick")),
            TIMES,
            st.one_of(st.none(), TIMES),
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
            st.integers(min_value=1, max_value=500),
        ),
        max_size=3000,
    )
)
def test_timing_rows_read_the_same_packed(rows: list[tuple]) -> None:
    plain, packed_log = stores.PerformanceLog(), stores.PerformanceLog()
    for row in rows:
        plain.append(row)  # the bound list append: never packed
        packed_log.add_raw(*row)
    packed_log.tidy(final=True)
    assert packed_log.seen == plain.seen
    a = plain.store("BTCUSDT", "s", True)
    b = packed_log.store("BTCUSDT", "s", True)
    assert a.seen == b.seen
    assert a.statistics("s") == b.statistics("s")


def _run(days: int) -> tuple[str, object, str, str]:
    """A backtest with well over ``CHUNK`` trades; its reports as text and its statistics."""
    add_busy_backtest(days, seed=7)

    async def main() -> None:
        async for _ in e.Backtest.run("BTCUSDT", strategy_name="many", exchange_name="synthetic", frame_name="f"):
            pass

    asyncio.run(main())
    return (
        e.Backtest.get_report("BTCUSDT", "many"),
        e.Backtest.get_data("BTCUSDT", "many"),
        e.Partial.get_report("BTCUSDT", "many", True),
        e.Heat.get_report("many", True),
    )


def test_reports_read_the_same_from_packed_stores(monkeypatch) -> None:
    e.set_config(CC_MAX_REPORT_EVENTS=100_000)  # every trade is read back, packed or not
    report, data, partial, heat = _run(12)
    assert data.total_signals > 3 * packed.CHUNK  # several chunks were packed
    assert stores.backtest_store.get(("BTCUSDT", "many")).packed.tail == []  # the run's end packed the rest
    # the lazy milestone batches folded with the closed results and reuse their packed rows
    chunks = stores.partial_store[("BTCUSDT", "many", True)].items_
    assert len(chunks) > 3 and all(type(c.rows) is packed._RowsRef for c in chunks)
    from engine.testing import reset_engine

    reset_engine()
    e.set_config(CC_MAX_REPORT_EVENTS=100_000)
    monkeypatch.setattr(stores, "CHUNK", 10**9)
    monkeypatch.setattr(stores, "pack_run", lambda *a: None)
    monkeypatch.setattr(stores, "pack_lazy", lambda *a: None)  # lazy batches stay objects
    assert _run(12) == (report, data, partial, heat)


def test_the_heatmap_reads_the_same_from_a_packed_store_uncapped(monkeypatch) -> None:
    """Uncapped (btk's default) a backtest's heat row is its backtest store, whose packed view
    gives the PnL column without building the results (engine/reports/heat.py ``heat_row``)."""
    _, data, _, heat = _run(12)
    assert data.total_signals > 3 * packed.CHUNK
    assert stores.backtest_store.get(("BTCUSDT", "many")).items().packed_view
    from engine.testing import reset_engine

    reset_engine()
    monkeypatch.setattr(stores, "CHUNK", 10**9)
    monkeypatch.setattr(stores, "pack_run", lambda *a: None)
    assert _run(12)[3] == heat


def test_a_capped_store_keeps_the_newest(monkeypatch) -> None:
    e.set_config(CC_MAX_REPORT_EVENTS=300)
    report, data, _, _ = _run(12)
    assert data.total_signals == 300
    assert data.seen_signals > 3 * packed.CHUNK
    from engine.testing import reset_engine

    reset_engine()
    e.set_config(CC_MAX_REPORT_EVENTS=300)
    monkeypatch.setattr(stores, "CHUNK", 10**9)
    monkeypatch.setattr(stores, "pack_run", lambda *a: None)
    again, data2, _, _ = _run(12)
    assert (again, data2) == (report, data)


@settings(max_examples=20, derandomize=True, deadline=None)
@given(st.lists(closed_results(), min_size=0, max_size=30), st.integers(1, 7), st.one_of(st.none(), st.integers(0, 40)))
def test_a_view_reads_like_the_tuple_it_stands_for(results, chunk, cap) -> None:
    """Statistics keep a store's packed view as their ``signal_list``: newest first, capped, equal
    to the tuple, indexable from both ends, reversible, not hashable (like a list of results)."""
    store = packed.PackedList(packed.pack_closed)
    for i, r in enumerate(results):
        store.append(r)
        if (i + 1) % chunk == 0:
            store.fold()
    view = store.view(cap)
    expected = tuple(reversed(results))[:cap]
    assert view == expected and expected == view and len(view) == len(expected)
    assert tuple(reversed(view)) == tuple(reversed(expected))
    assert all(view[i] == expected[i] and view[-i - 1] == expected[-i - 1] for i in range(len(expected)))
    assert view[1:3] == expected[1:3]
    store.append(results[0] if results else None)  # the store moves on; the view does not
    assert view == expected
    with pytest.raises(TypeError):
        hash(view)


EDGES = (0, 2**62 - 1, 2**62, -(2**62) + 1, -(2**62), 2**63 - 1, -(2**63), 2**63, 2**70, -(2**70))


@pytest.mark.parametrize("field", ["minute_estimated_time", "scheduled_at", "pending_at", "close_timestamp"])
def test_whole_numbers_at_and_past_the_column_range_come_back_identical(field: str) -> None:
    """Whole numbers stay in int64 columns only strictly inside +-2**62 (the pending sentinel is
    -2**63); every value at or past that edge, or past int64 itself, keeps its row whole."""
    base = SignalRow(
        id=str(uuid.UUID(int=7)), position="long", price_open=100.0, price_take_profit=110.0,
        price_stop_loss=90.0, minute_estimated_time=60, symbol="BTCUSDT", exchange_name="binance",
        strategy_name="s1", scheduled_at=5, pending_at=6, is_scheduled=False, note="",
    )  # fmt: skip
    results = []
    for k, value in enumerate(EDGES):
        row = base if field == "close_timestamp" else replace(base, **{field: value})
        stamp = value if field == "close_timestamp" else k
        closed = ClosedResult(
            signal=row, current_price=101.0, strategy_name="s1", exchange_name="binance", symbol="BTCUSDT",
            backtest=True, close_reason="take_profit", close_timestamp=stamp, pnl=Pnl(1.0, 100.0, 101.0),
        )  # fmt: skip
        results.append(closed)
    back = packed.pack_closed(results).unpack()
    assert [_typed(r) for r in back] == [_typed(r) for r in results]
    rows = [r.signal for r in results]
    assert [_typed(r) for r in packed._pack_rows(rows).unpack()] == [_typed(r) for r in rows]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # huge random PNLs, both paths alike
@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.lists(closed_results(), min_size=1, max_size=40), st.integers(1, 9), st.one_of(st.none(), st.integers(1, 50)))
def test_statistics_read_off_packed_columns_equal_those_over_the_objects(results, chunk, cap) -> None:
    """``Backtest.get_data`` reads PNL and durations straight off packed chunks (issue 13: building
    every object only to add two fields was half of a report); it must equal the same statistics
    over the results as objects, with rows kept whole, rows without ``pending_at``, a tail and a cap."""
    from engine.reports.statistics import backtest_statistics

    store = packed.PackedList(packed.pack_closed)
    for i, r in enumerate(results):
        store.append(r)
        if (i + 1) % chunk == 0:
            store.fold()
    view = store.view(cap)
    objects = tuple(view)
    fast, slow = backtest_statistics(view, len(results)), backtest_statistics(objects, len(results))
    assert repr(replace(fast, signal_list=())) == repr(replace(slow, signal_list=()))  # repr: NaN == NaN
    assert tuple(fast.signal_list) == slow.signal_list


_OTHER_PROCESS = """
import pickle, sys
from engine.reports import stores
for name in ("zz_first_here", "live_tick"):  # codes in another order than the reader's
    stores._code_of(name)
log = stores.PerformanceLog()
names = ("backtest_signal", "live_tick", "backtest_total")
for i in range(2500):
    log.add_raw(names[i % 3], 1000 + i, None if i % 7 else i, i / 8, 1 + i % 4)
sys.stdout.buffer.write(pickle.dumps((list(log.packed), list(log.rows), log.trimmed_seen)))
"""


def test_timing_samples_packed_in_another_process_read_the_same_here() -> None:
    """The console's worker sends a run's timings packed (console/host/child.py ``_timings``): the
    metric codes are per process, so the columns travel with the names of their codes."""
    import pickle
    import subprocess
    import sys

    stores._code_of("backtest_total")  # this process met the names in yet another order
    raw = subprocess.run([sys.executable, "-c", _OTHER_PROCESS], capture_output=True, check=True).stdout
    packed_samples, rows, trimmed = pickle.loads(raw)
    assert packed_samples and rows  # both parts travel: 2 packs of 1,024 and 452 rows
    log = stores.PerformanceLog()
    log.add_raw("backtest_total", 1, None, 0.5, 1)  # already here: stays the oldest
    log.take(packed_samples, rows, trimmed)
    expected = [("backtest_total", 1, None, 0.5, 1)] + [
        (("backtest_signal", "live_tick", "backtest_total")[i % 3], 1000 + i, None if i % 7 else i, i / 8, 1 + i % 4)
        for i in range(2500)
    ]
    assert list(log.all_rows()) == expected
    assert log.seen == sum(r[4] for r in expected)


# ------------------------------------------------------------------ a report read off the columns
# The backtest report renders a packed chunk column by column (``_Closed.column`` and each default
# column's ``column``): it must print exactly what formatting the objects prints.

NUMBERS = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.integers(-(10**9), 10**9).map(lambda k: k / 1024),  # exact ties of the 2 and 8 decimals printed
    st.sampled_from([0.0, -0.0, 0.125, -0.005, 1e21, 5e-9]),
)


@st.composite
def fitting_results(draw) -> ClosedResult:
    """Closed results of one run that the columns hold (most of them), with awkward values."""
    row = SignalRow(
        id=str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        position=draw(st.sampled_from(("long", "short"))),
        price_open=draw(NUMBERS),
        price_take_profit=draw(NUMBERS),
        price_stop_loss=draw(NUMBERS),
        minute_estimated_time=draw(st.integers(1, 10**6)),
        symbol="BTCUSDT",
        exchange_name="binance",
        strategy_name="s1",
        scheduled_at=draw(TIMES),
        pending_at=draw(st.one_of(st.none(), st.integers(0, 253_402_300_799_999))),
        is_scheduled=False,
        note=draw(st.one_of(st.just(""), st.just(""), st.text(max_size=8), st.just("a|b\nc"))),
    )
    if draw(st.integers(0, 30)) == 0:  # now and then one the columns cannot hold: its chunk is read whole
        row = replace(row, price_open=7)
    return ClosedResult(
        signal=row,
        current_price=draw(NUMBERS),
        strategy_name="s1",
        exchange_name="binance",
        symbol="BTCUSDT",
        backtest=True,
        close_reason=draw(st.sampled_from(("take_profit", "stop_loss", "time_expired"))),
        close_timestamp=draw(st.integers(0, 253_402_300_799_999)),
        pnl=Pnl(draw(NUMBERS), draw(NUMBERS), draw(NUMBERS)),
    )


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(fitting_results(), min_size=1, max_size=40))
def test_closed_columns_hold_what_the_objects_hold(results: list[ClosedResult]) -> None:
    from operator import attrgetter

    chunk = packed.pack_closed(results)
    whole = bool(chunk.whole or chunk.rows.whole)
    for name in packed.CLOSED_COLUMNS:
        got = chunk.column(name)
        if whole:
            assert got is None
        else:
            assert [_typed(v) for v in got] == [_typed(attrgetter(name)(r)) for r in results], name


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    st.lists(fitting_results(), min_size=2, max_size=70),
    st.lists(st.integers(2, 70), min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(1, 80)),
    st.booleans(),
)
def test_a_packed_view_renders_as_its_objects(
    results: list[ClosedResult], folds: list[int], limit: int | None, note: bool
) -> None:
    """Chunks folded at random points (some holding a result whole), a capped view that ends
    inside a chunk, the Note column shown or not: the table is the one the objects give."""
    from engine import config
    from engine.reports.columns import get_default_columns
    from engine.reports.markdown import render_table

    config.set_config(CC_REPORT_SHOW_SIGNAL_NOTE=note)
    plist = packed.PackedList(packed.pack_closed)
    for i, r in enumerate(results):
        plist.append(r)
        if i + 1 in folds:
            plist.fold()
    view = plist.view(limit)
    columns = get_default_columns()["backtest_columns"]
    assert render_table(columns, view) == render_table(columns, list(view))


def _plain(i: int) -> ClosedResult:
    row = SignalRow(
        id=str(uuid.UUID(int=i + 1)), position="long", price_open=100.0 + i, price_take_profit=101.0 + i,
        price_stop_loss=99.0, minute_estimated_time=60, symbol="BTCUSDT", exchange_name="x", strategy_name="s",
        scheduled_at=1_700_000_000_000 + i, pending_at=1_700_000_000_000 + i, is_scheduled=False,
    )  # fmt: skip
    return ClosedResult(
        signal=row, current_price=100.5, strategy_name="s", exchange_name="x", symbol="BTCUSDT", backtest=True,
        close_reason="time_expired", close_timestamp=1_700_000_060_000 + i, pnl=Pnl(0.25, 100.0, 100.5),
    )  # fmt: skip


def test_the_backtest_report_reads_whole_chunks_off_their_columns(monkeypatch) -> None:
    """The columns are what the report reads: a packed chunk is never unpacked for it."""
    results = [_plain(i) for i in range(packed.CHUNK + 7)]
    plist = packed.PackedList(packed.pack_closed)
    for r in results[: packed.CHUNK]:
        plist.append(r)
    plist.fold()
    for r in results[packed.CHUNK :]:
        plist.append(r)
    unpacked = []
    monkeypatch.setattr(packed._Closed, "unpack", lambda self, f=packed._Closed.unpack: unpacked.append(1) or f(self))
    from engine.reports.columns import get_default_columns
    from engine.reports.markdown import render_table

    table = render_table(get_default_columns()["backtest_columns"], plist.view())
    assert unpacked == []  # the packed chunk was never turned back into objects
    assert table.count("\n") == len(results) + 1
    lines = table.splitlines()
    assert lines[2].startswith(f"| {results[-1].signal.id} | BTCUSDT | LONG |")  # the newest: the tail
    assert lines[9].startswith(f"| {results[packed.CHUNK - 1].signal.id} |")  # then the chunk, newest first
    assert lines[-1].startswith(f"| {results[0].signal.id} |")


def test_a_lazy_batch_pickles_as_it_is_read_or_not() -> None:
    """A console's worker sends a ``LazyMilestones`` per trade (``__reduce__``: its fields as a
    tuple): one not read yet comes back with its stretch of candles, one read with its events."""
    import pickle

    row = SignalRow(
        id="a" * 36, position="long", price_open=100.0, price_take_profit=110.0, price_stop_loss=90.0,
        minute_estimated_time=60, symbol="BTCUSDT", exchange_name="x", strategy_name="s", scheduled_at=0,
        pending_at=0, is_scheduled=False,
    )  # fmt: skip
    vw = np.array([100.0, 103.0, 101.0, 96.0, 107.5, 95.0])
    fresh = LazyMilestones(row, vw, 1_700_000_000_000, None, 1, 6, True)
    back = pickle.loads(pickle.dumps(fresh))
    assert back.count() == fresh.count() > 0 and back.events() == fresh.events()
    read = LazyMilestones(row, vw, 1_700_000_000_000, np.arange(6) * 60_000, 0, 6, False)
    events = read.events()
    again = pickle.loads(pickle.dumps(read))
    assert again.vw is None and again.events() == events and again.count() == len(events)
