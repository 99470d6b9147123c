"""The candle store keeps a catalog file's mapped 1m columns instead of copying them (issue 15, "no
copy on the hot path"; engine/candles.py ``_adopt``), and answers every question exactly as the
copying store does: at the first and last candle, with a gap at either edge of a request, and after
a later fetch next to, or over, the lent columns (which copies them first).

Two exchanges read the same catalog folder: ``lend`` as registered, ``copy`` with the feed's
``lends_columns`` turned off (the path every other feed takes). Both are asked the same things in
the same order, and everything a run reads of a store is compared after every step."""

from __future__ import annotations

import mmap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import engine as e
from engine.candles import CandleError, CandleStore, ExchangeClient, exchange_client
from engine.data.catalog import Catalog
from engine.exchanges.synthetic import SyntheticFeed
from engine.model import MINUTE_MS, CandleColumns
from tests.bench import strategies
from tests.data.test_catalog import DAY, T0, signal

W = 5  # CC_AVG_PRICE_CANDLES_COUNT's default: the VWAP window
M0 = T0 // MINUTE_MS  # the catalog's first minute, as a slot


def write(root: Path, minutes: range, drop: tuple[int, ...] = ()) -> None:
    """Synthetic candles of the slots ``minutes`` (less ``drop``) as the catalog file of ``x``."""
    cols = SyntheticFeed(42).columns("BTCUSDT", "1m", minutes.start * MINUTE_MS, minutes.stop * MINUTE_MS)
    keep = ~np.isin(cols.timestamp // MINUTE_MS, np.array(drop, dtype=np.int64))
    cols = CandleColumns(*(getattr(cols, f)[keep] for f in CandleColumns.__slots__))
    span = (minutes.start * MINUTE_MS, minutes.stop * MINUTE_MS)
    Catalog(root).write("x", "BTCUSDT", cols, source="test", spans=[span])


def clients(root: Path) -> tuple[ExchangeClient, ExchangeClient]:
    lend = e.add_catalog_exchange("lend", root, exchange="x")
    copy = e.add_catalog_exchange("copy", root, exchange="x")
    copy.columns.lends_columns = False  # this feed's store copies, as for every other feed
    return ExchangeClient(lend, backtest=True), ExchangeClient(copy, backtest=True)


def mapped(a: np.ndarray) -> bool:
    """``a`` is a read-only view whose memory is the catalog file's mapping (no array of its own)."""
    base = a
    while isinstance(base, np.ndarray):
        if base.flags.owndata:
            return False
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return not a.flags.writeable and isinstance(base, mmap.mmap)


async def answers(client: ExchangeClient, probes: list[tuple[int, int]]) -> list:
    """Everything a run reads of the 1m store over each probe range of slots, asked as a run asks:
    the range fetched first (``ensure``), then read."""
    st = client.store("BTCUSDT", "1m")
    out: list = []
    cfg = e.config.GLOBAL_CONFIG
    for lo, hi in probes:
        try:
            await st.ensure(lo, hi, cfg)
            out.append(("ensure", lo - M0, hi - M0, ""))
        except CandleError as exc:
            out.append(("ensure", lo - M0, hi - M0, f"{type(exc).__name__}: {exc}"))
        for what, read in (
            ("window", lambda lo=lo, hi=hi: _window(st, lo, hi)),
            ("price", lambda hi=hi: _price(client, st, (hi - 1) * MINUTE_MS)),
            ("lane", lambda lo=lo, hi=hi: _lane(st, lo, hi)),
            ("present", lambda lo=lo, hi=hi: st.present_slice(lo, hi).tolist()),
            ("gap_free", lambda lo=lo, hi=hi: st.gap_free(lo, hi, W)),
        ):
            try:
                out.append((what, lo - M0, hi - M0, read()))
            except CandleError as exc:
                out.append((what, lo - M0, hi - M0, f"{type(exc).__name__}: {exc}"))
        # the derived VWAP column at the candles, where ``ok`` says it can be read (elsewhere it is
        # undefined, and ``ok`` itself is a hint: False sends a run the slow way, to the same price)
        vw, ok, _ = st.derived(W)
        got = {s: float(vw[s - st.base]) for s in range(lo, hi) if st.base <= s < st.base + st.size and ok[s - st.base]}
        out.append(("derived", lo - M0, hi - M0, got))
    return out


def _price(client: ExchangeClient, st: CandleStore, when: int) -> float:
    """The VWAP a tick at ``when`` prices with: the derived column's, else the store's slow way."""
    ready = client.vwap_ready("BTCUSDT", when, W)
    return st.vwap(when, W) if ready is None else ready


def _f(x: float) -> float | str:
    return "nan" if x != x else float(x)


def _window(st: CandleStore, lo: int, hi: int) -> tuple:
    w = st.window(lo, hi)
    return (len(w), w.timestamp.tolist(), *(getattr(w, f).tolist() for f in ("open", "high", "low", "close", "volume")))


def _lane(st: CandleStore, lo: int, hi: int) -> tuple | None:
    lane = st.lane(lo, hi, W)
    if lane is None:
        return None
    times = [lane.time(k) for k in range(lane.n)]
    cols = (lane.high, lane.low, lane.close, lane.volume)
    vw = [_f(v) for v in lane.vw[W - 1 : lane.n]]  # valid from the W-th candle on (settlement.Lane)
    return (lane.n, times, *(c[: lane.n].tolist() for c in cols), vw)


async def step(pair: tuple[ExchangeClient, ExchangeClient], op: str, lo: int, hi: int) -> list[str]:
    """Apply ``op`` (reserve or ensure) to both stores; the errors it raised, by store."""
    errors = []
    cfg = e.config.GLOBAL_CONFIG
    for client in pair:
        st = client.store("BTCUSDT", "1m")
        try:
            if op == "reserve":
                st.reserve(lo, hi)
            else:
                await st.ensure(lo, hi, cfg)
            errors.append("")
        except CandleError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


async def same_answers(pair, ops: list[tuple], probes: list[tuple[int, int]]) -> None:
    """Each op ``(op, lo, hi[, lent])`` on both stores, then the probes (which fetch what they read,
    as a run does). ``lent``: whether the lending store still holds the map right after the op."""
    for op, lo, hi, *lent_after in ops:
        raised = await step(pair, op, lo, hi)
        assert raised[0] == raised[1], (op, lo - M0, hi - M0)
        if lent_after:
            assert pair[0].store("BTCUSDT", "1m").lent is lent_after[0], (op, lo - M0, hi - M0)
    lent, copied = await answers(pair[0], probes), await answers(pair[1], probes)
    for a, b in zip(lent, copied, strict=True):
        if a[0] == "derived":
            both = a[3].keys() & b[3].keys()
            a, b = (a[:3], {k: a[3][k] for k in both}), (b[:3], {k: b[3][k] for k in both})
        assert a == b, a[:3]


def around(*slots: int) -> list[tuple[int, int]]:
    """Probe ranges ending at, starting at and straddling each slot (the edges a run reads)."""
    out = []
    for s in slots:
        out += [(s - 8, s + 1), (s, s + 3), (s - 2, s + 2), (s - 1, s), (s + 1, s + 9), (s - 130, s + 1)]
    return out


async def test_first_and_last_candle_of_the_file(tmp_path: Path) -> None:
    """A backtest's own requests on a 2-day file: a day of history reserved before the first
    candle, the frames, a read-ahead past the last candle; then reads at both ends."""
    write(tmp_path, range(M0, M0 + 2 * 1440))
    pair = clients(tmp_path)
    first, last = M0, M0 + 2 * 1440  # the file's first slot, one past its last
    run = [("reserve", first - W + 1 - 1440, last + 300), ("ensure", first - W + 1, last + 300, True)]
    await same_answers(pair, run, around(first, first + W - 1, last - 1, last, last + 299))
    lent = pair[0].store("BTCUSDT", "1m")
    assert lent.lent and (lent.base, lent.size) == (first, last - first)
    assert all(mapped(getattr(lent, f)) for f in ("open", "high", "low", "close", "volume"))
    assert pair[1].store("BTCUSDT", "1m").close.flags.owndata
    # history before the file: both ask the catalog the same minutes and fail with the same error
    await same_answers(pair, [("ensure", first - 99, first + 1, True)], around(first))
    # a second run reserves and asks again: the lent columns stay as they are
    await same_answers(pair, [*run[:1], (*run[1][:3], True)], around(first, last - 1))
    assert all(mapped(getattr(lent, f)) for f in ("open", "high", "low", "close", "volume"))


async def test_a_gap_at_each_edge_of_the_request(tmp_path: Path) -> None:
    """The minutes right at the start and the end of the request are missing from the file: the
    store keeps the contiguous run between them, and the missing edges read as absent."""
    a, b = M0 + 1440, M0 + 2 * 1440
    write(tmp_path, range(M0, M0 + 3 * 1440), drop=(a, a + 1, a + 2, b - 3, b - 2, b - 1))
    pair = clients(tmp_path)
    run = [("reserve", a, b), ("ensure", a, b, True)]
    await same_answers(pair, run, [(a, a + 4), (a + 2, a + 5), (a + 3, a + 9), (b - 9, b - 3), (b - 4, b), (a, b)])
    lent = pair[0].store("BTCUSDT", "1m")
    assert (lent.base, lent.size) == (a + 3, 1440 - 6)
    # reads reaching past the gaps, into minutes the file has: the lent store copies, then places
    await same_answers(pair, [], around(a, a + 3, b - 4, b - 1, b))
    assert not lent.lent and lent.close.flags.owndata


async def test_an_adjacent_later_fetch_and_one_that_overlaps(tmp_path: Path) -> None:
    write(tmp_path, range(M0, M0 + 4 * 1440))
    a, b = M0 + 1440, M0 + 2 * 1440
    for later in [(b, b + 5), (b - 500, b + 500), (a - 1, a + 1), (a - 300, b + 300)]:  # after, over, before
        e.testing.reset_engine()
        pair = clients(tmp_path)
        ops = [("reserve", a, b), ("ensure", a, b, True), ("ensure", *later, False)]
        await same_answers(pair, ops, around(a - 1, a, b - 1, b, later[0], later[1] - 1))


async def test_a_file_extended_after_the_store_took_its_columns(tmp_path: Path) -> None:
    """``data update`` replaces the file while a store holds views of the old one: the old map stays
    valid, and the minutes only the new file has are fetched from it (the store copies first)."""
    write(tmp_path, range(M0, M0 + 2 * 1440))
    pair = clients(tmp_path)
    end = M0 + 2 * 1440
    await same_answers(pair, [("reserve", M0, end), ("ensure", M0, end, True)], around(M0, end - 1))
    write(tmp_path, range(M0, M0 + 3 * 1440))  # a new file (atomic rename): one more day
    await same_answers(pair, [("ensure", end + 1000, end + 1440, False)], around(end - 1, end, end + 1439))


async def test_history_within_the_reserved_day_is_lent_already(tmp_path: Path) -> None:
    """A backtest whose frame starts a day into the file: the store takes the file's run over the
    whole reserved range, so a strategy's history request copies nothing and reads the same."""
    write(tmp_path, range(M0, M0 + 4 * 1440))
    pair = clients(tmp_path)
    a, b = M0 + 1440, M0 + 3 * 1440
    ops = [("reserve", a - W + 1 - 1440, b + 300), ("ensure", a - W + 1, b + 300, True)]
    ops += [("ensure", a - 99, a + 1, True), ("ensure", a - 1444, a + 1, True)]
    await same_answers(pair, ops, [])
    lent = pair[0].store("BTCUSDT", "1m")
    assert (lent.base, lent.size) == (M0, b + 300 - M0)  # the file's run within the reserved slots
    await same_answers(pair, [], around(a - 1440 - W + 1, a - 99, a, b - 1, b + 299))


async def test_a_file_with_a_bad_candle_lends_only_what_was_asked_and_poisons_it(tmp_path: Path) -> None:
    """A file its stamp does not vouch for: the store takes only the response as its columns, SPEC
    3.5's check runs on it as before and poisons the bad candle, with the same error either way."""
    cols = SyntheticFeed(42).columns("BTCUSDT", "1m", T0, T0 + 3 * DAY)
    arrays = [np.array(getattr(cols, f)) for f in CandleColumns.__slots__]
    bad = 1440 + 100
    arrays[2][bad] = arrays[3][bad] - 1.0  # its high below its low
    Catalog(tmp_path).write("x", "BTCUSDT", CandleColumns(*arrays), source="test", spans=[(T0, T0 + 3 * DAY)])
    pair = clients(tmp_path)
    a, b = M0 + 1440, M0 + 2 * 1440
    await same_answers(pair, [("reserve", a - 1440, b + 300), ("ensure", a, b, True)], [(a, b), (M0 + bad, b)])
    lent = pair[0].store("BTCUSDT", "1m")
    assert (lent.base, lent.size) == (a, 1440) and lent.poison
    with pytest.raises(CandleError, match="malformed candle BTCUSDT 1m"):
        lent.window(M0 + bad - 2, M0 + bad + 1)
    # history the file has, outside the lent response: copied, then placed
    await same_answers(pair, [("ensure", a - 50, a + 1, False)], around(a - 50, a, M0 + bad))


# --------------------------------------------------------------------------- backtests, both ways


def result_rows(results) -> list[tuple]:
    return [
        (
            r.action, r.signal.position, r.signal.pending_at, r.signal.price_open, r.signal.price_take_profit,
            r.signal.price_stop_loss, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage,
            r.pnl.price_open, r.pnl.price_close,
        )
        for r in results
    ]  # fmt: skip


async def backtest(root: Path, lend: bool, strategy: str, start_ms: int, end_ms: int) -> tuple[list, CandleStore]:
    e.testing.reset_engine()
    schema = e.add_catalog_exchange("x", root)
    schema.columns.lends_columns = lend
    kinds = {
        "columns": dict(get_signal=strategies.sma_rsi_columns),
        "indicators": dict(get_signal=strategies.sma_rsi_indicators, indicators=strategies.SMA_RSI_INDICATORS),
        "edges": dict(get_signal=signal),
    }
    e.add_strategy("s", "1m" if strategy != "edges" else "15m", **kinds[strategy])
    start, end = (datetime.fromtimestamp(t / 1000, tz=UTC) for t in (start_ms, end_ms))
    e.add_frame("f", "1m", start, end)
    out = [r async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")]
    return result_rows(out), exchange_client(schema, True).store("BTCUSDT", "1m")


@pytest.mark.parametrize(
    ("strategy", "frame"),
    [
        ("columns", (DAY, 3 * DAY)),  # get_candles(100) every minute
        ("indicators", (DAY, 3 * DAY)),  # indicator columns over the store
        ("indicators", (DAY, 4 * DAY - MINUTE_MS)),  # ... up to the file's last candle (absent after it)
        ("columns", (DAY, 4 * DAY - MINUTE_MS)),
        ("edges", (0, 4 * DAY - MINUTE_MS)),  # the frame starts at the first candle and ends at the last
    ],
)
async def test_a_backtest_on_lent_columns_equals_the_copying_one(tmp_path: Path, strategy: str, frame) -> None:
    write(tmp_path, range(M0, M0 + 4 * 1440))
    lent_rows, lent = await backtest(tmp_path, True, strategy, T0 + frame[0], T0 + frame[1])
    assert lent.lent, "the backtest's store holds the file's views"
    assert all(mapped(getattr(lent, f)) for f in ("open", "high", "low", "close", "volume"))
    assert lent.nbytes() < 5 * 8 * lent.size  # its own arrays (status, derived VWAP) are less than one copy
    copy_rows, copied = await backtest(tmp_path, False, strategy, T0 + frame[0], T0 + frame[1])
    assert copied.close.flags.owndata and not copied.lent
    assert len(lent_rows) > 10
    assert lent_rows == copy_rows  # every trade, price and PnL, bit for bit
