"""``LazyMilestones.share``: what a console's worker sends for each fast-forwarded signal. The
batches keep only their own stretches of candles, one array per column they read, and must give
the same milestones at the same times as the batches reading the engine's whole columns."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine.model import MINUTE_MS, SignalRow
from engine.partial import LazyMilestones


def _row(i: int, position: str) -> SignalRow:
    up, down = (104.0, 96.0) if position == "long" else (96.0, 104.0)
    return SignalRow(
        id=f"s{i}", position=position, price_open=100.0, price_take_profit=up, price_stop_loss=down,
        minute_estimated_time=600, symbol="BTCUSDT", exchange_name="x", strategy_name="s",
        scheduled_at=0, pending_at=0, is_scheduled=False,
    )  # fmt: skip


def _specs(seed: int) -> list[tuple[int, int, int, int, bool]]:
    """(row, column, k0, k1, backtest): stretches that overlap, touch, repeat, are empty, or end
    at the column's end, over two columns."""
    rng = np.random.default_rng(seed)
    specs = [(0, 0, 0, 0, True), (1, 0, 390, 400, True), (2, 1, 0, 400, False), (3, 1, 5, 6, True)]
    for i in range(4, 40):
        k0 = int(rng.integers(0, 400))
        specs.append((i, i % 2, k0, min(400, k0 + int(rng.integers(0, 120))), bool(i % 3)))
    return specs


def _columns(seed: int) -> list[tuple[np.ndarray, np.ndarray | None, int]]:
    """A column without gaps (times from t0) and one with gaps (its own times), wandering across
    the brackets' levels; a few NaN (a window without volume)."""
    rng = np.random.default_rng(seed)
    out = []
    for gaps in (False, True):
        vw = 100.0 + np.cumsum(rng.normal(0.0, 0.4, 400))
        vw[rng.integers(0, 400, 5)] = np.nan
        ts = None
        if gaps:
            ts = 1_700_000_000_000 + np.cumsum(rng.integers(1, 4, 400)) * MINUTE_MS
        out.append((vw, ts, 1_700_000_000_000 + 7 * MINUTE_MS))
    return out


def _batches(seed: int) -> list[LazyMilestones]:
    columns = _columns(seed)
    batches = []
    for i, c, k0, k1, backtest in _specs(seed):
        vw, ts, t0 = columns[c]
        batches.append(LazyMilestones(_row(i, "long" if i % 2 else "short"), vw, t0, ts, k0, k1, backtest))
    return batches


def test_shared_batches_give_the_same_milestones_at_the_same_times() -> None:
    for seed in range(4):
        expected = [b.events() for b in _batches(seed)]
        originals = _batches(seed)
        originals[7].events()  # one read already: kept as it is
        shared = LazyMilestones.share(originals)
        assert shared[7] is originals[7]
        assert LazyMilestones.count_all(shared) == [len(e) for e in expected]
        assert [b.events() for b in shared] == expected
        assert sum(len(e) for e in expected) > 100  # the stretches do reach levels


def test_each_column_is_copied_once_and_only_its_stretches() -> None:
    originals = _batches(1)
    shared = LazyMilestones.share(originals)
    specs = _specs(1)
    for c in (0, 1):
        mine = [b for b, s in zip(shared, specs) if s[1] == c]
        arrays = {id(b.vw) for b in mine}
        assert len(arrays) == 1
        span = max(s[3] for s in specs if s[1] == c) - min(s[2] for s in specs if s[1] == c)
        total = sum(s[3] - s[2] for s in specs if s[1] == c)
        assert span <= 2 * total  # these overlap: their span is copied, in one slice
        assert len(mine[0].vw) == span
        assert all((b.ts is None) == (c == 0) for b in mine)
        assert not any(np.shares_memory(b.vw, originals[0].vw) for b in mine)


def _over(column: tuple, stretches: list[tuple[int, int]]) -> list[LazyMilestones]:
    vw, ts, t0 = column
    return [
        LazyMilestones(_row(i, "long" if i % 2 else "short"), vw, t0, ts, k0, k1, True)
        for i, (k0, k1) in enumerate(stretches)
    ]


@pytest.mark.parametrize(
    ("stretches", "copied"),
    [
        ([(0, 10), (300, 310)], 20),  # far apart: the stretches alone
        ([(0, 10), (15, 25), (25, 40)], 40),  # one after another: their span, gaps included
        ([(250, 260), (265, 280), (262, 270)], 30),  # the same further on: candle 250 becomes 0
        ([(0, 10), (30, 40)], 40),  # a span of exactly twice their candles: one slice still
        ([(0, 10), (31, 41)], 20),  # one candle more than twice: the stretches alone
        ([(399, 400), (0, 1)], 2),  # the column's last and first candles, in that order
        ([(7, 7), (9, 9)], 0),  # empty stretches: nothing to copy
    ],
)
def test_a_column_is_copied_as_its_span_when_that_is_at_most_twice_its_stretches(stretches, copied) -> None:
    """``own_stretches``: one slice where the stretches lie close together, else each stretch;
    the same milestones at the same times either way, at the bound from both sides."""
    for column in _columns(3):
        expected = [b.events() for b in _over(column, stretches)]
        shared = LazyMilestones.share(_over(column, stretches))
        assert len(shared[0].vw) == copied
        assert [b.events() for b in shared] == expected


def test_shared_batches_travel_whole() -> None:
    """Pickled together (a worker's message), the batches still share one array, and give the
    same milestones on the other side."""
    expected = [b.events() for b in _batches(2)]
    back = pickle.loads(pickle.dumps(LazyMilestones.share(_batches(2))))
    assert len({id(b.vw) for b in back}) == 2
    assert [b.events() for b in back] == expected
