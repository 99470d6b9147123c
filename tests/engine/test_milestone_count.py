"""``settlement.milestone_count`` (what the console counts for a lazy milestone batch) against
the milestones themselves: it reads the move's extremes off the prices instead of building the
move, which must give the same levels to the bit, NaN and exact level prices included."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs

from engine.settlement import milestone_count, milestones

# prices on a grid that hits the 10 % levels of both brackets exactly, a few off it, and NaN
# (a VWAP window without volume)
_PRICE = hs.one_of(
    hs.integers(80, 125).map(lambda k: 100.0 + (k - 100) * 0.5),
    hs.floats(90.0, 110.0, allow_nan=False),
    hs.just(math.nan),
)


@settings(max_examples=1500, derandomize=True)
@given(
    hs.lists(_PRICE, min_size=0, max_size=12),
    hs.sampled_from(["long", "short"]),
    hs.sampled_from([(100.0, 105.0, 97.5), (100.0, 110.0, 90.0), (99.99, 100.5, 99.5), (0.1, 0.1 * 1.01, 0.1 * 0.99)]),
    hs.integers(0, 3),
)
def test_the_count_is_the_number_of_milestones(prices: list[float], position: str, levels, k0: int) -> None:
    price_open, up, down = levels
    if price_open < 1:  # the tiny-price bracket: scale the grid to it
        prices = [p / 1000 for p in prices]
    tp, sl = (up, down) if position == "long" else (down, up)
    vw = np.array([price_open] * k0 + prices, dtype=np.float64)
    k1 = len(vw)
    prices_kw = {"position": position, "price_open": price_open, "take_profit": tp, "stop_loss": sl}
    assert milestone_count(vw, k0, k1, **prices_kw) == len(milestones(vw, k0, k1, **prices_kw))


def test_the_levels_a_move_reaches_at_and_around_each_level() -> None:
    """``levels_reached`` (a fast-forward's move and one evaluation alike) finds the levels by
    bisection: a progress exactly at a level reaches it, one
    ulp under does not, from both sides of every level; NaN reaches none and infinity all; a level
    already done is left out wherever it sits."""
    from engine.settlement import PARTIAL_LEVELS, levels_reached

    def by_rule(progress: float, done: frozenset[int]) -> list[int]:  # SPEC 10, written out
        return [lv for lv in PARTIAL_LEVELS if lv <= progress and lv not in done]

    probes = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5.0, 1e300]
    for lv in PARTIAL_LEVELS:
        probes += [float(lv), math.nextafter(lv, -math.inf), math.nextafter(lv, math.inf)]
    for done in (frozenset(), frozenset({10}), frozenset({30, 100}), frozenset(PARTIAL_LEVELS), {20, 50}):
        for p in probes:
            assert levels_reached(p, done) == by_rule(p, done), (p, done)
    assert levels_reached(30.0, frozenset()) == [10, 20, 30]
    assert levels_reached(math.nextafter(30.0, 0.0), frozenset()) == [10, 20]


@settings(max_examples=300, derandomize=True)
@given(
    hs.lists(
        hs.tuples(
            hs.lists(_PRICE, min_size=0, max_size=8),
            hs.sampled_from(["long", "short"]),
            hs.sampled_from(
                [(100.0, 105.0, 97.5), (100.0, 110.0, 90.0), (99.99, 100.5, 99.5), (100.0, math.inf, 90.0)]
            ),
            hs.integers(0, 2),
        ),
        min_size=0,
        max_size=12,
    )
)
def test_counting_many_at_once_gives_each_ones_count(signals) -> None:
    """``milestone_counts`` (the console counts a fold's batches together) against
    ``milestone_count`` of each: exact level prices from both sides, NaN, a stretch with no
    candles, an infinite bracket (a progress of 0)."""
    from engine.settlement import milestone_counts

    spans, positions, opens, tps, sls, one_by_one = [], [], [], [], [], []
    for prices, position, (price_open, up, down), k0 in signals:
        tp, sl = (up, down) if position == "long" else (down, up)
        vw = np.array([price_open] * k0 + prices, dtype=np.float64)
        spans.append((vw, k0, len(vw)))
        positions.append(position)
        opens.append(price_open)
        tps.append(tp)
        sls.append(sl)
        kw = {"position": position, "price_open": price_open, "take_profit": tp, "stop_loss": sl}
        one_by_one.append(milestone_count(vw, k0, len(vw), **kw))
    assert milestone_counts(spans, positions, opens, tps, sls) == one_by_one


def test_counting_many_at_once_at_each_level_and_a_bracket_of_no_width() -> None:
    """Each level's exact price, one ulp either side, long and short; a bracket of zero width
    fails as the count of that signal alone does (a division by zero), not with a number."""
    from engine.settlement import PARTIAL_LEVELS, milestone_counts

    spans, positions, opens, tps, sls, expected = [], [], [], [], [], []
    for position in ("long", "short"):
        tp, sl = (110.0, 95.0) if position == "long" else (90.0, 105.0)
        for lv in PARTIAL_LEVELS:
            for side in (-math.inf, 0, math.inf):  # under, at, over the level's price
                for toward in (tp, sl):
                    exact = 100.0 + (toward - 100.0) * lv / 100
                    price = exact if side == 0 else math.nextafter(exact, side)
                    vw = np.array([100.0, price], dtype=np.float64)
                    spans.append((vw, 0, 2))
                    positions.append(position)
                    opens.append(100.0)
                    tps.append(tp)
                    sls.append(sl)
                    kw = {"position": position, "price_open": 100.0, "take_profit": tp, "stop_loss": sl}
                    expected.append(milestone_count(vw, 0, 2, **kw))
    assert milestone_counts(spans, positions, opens, tps, sls) == expected
    assert len(set(expected)) > 5  # the probes reach different numbers of levels

    flat = np.array([100.0, 101.0], dtype=np.float64)
    try:
        milestone_count(flat, 0, 2, position="long", price_open=100.0, take_profit=100.0, stop_loss=95.0)
    except ZeroDivisionError:
        pass
    else:  # pragma: no cover - the scalar rule is what the batch must follow
        raise AssertionError("the scalar count no longer divides by the bracket's width")
    import pytest

    with pytest.raises(ZeroDivisionError):
        milestone_counts([(flat, 0, 2)], ["long"], [100.0], [100.0], [95.0])


@settings(max_examples=400, derandomize=True)
@given(
    hs.lists(_PRICE, min_size=1, max_size=24),
    hs.lists(
        hs.tuples(
            hs.integers(0, 24),
            hs.integers(0, 24),
            hs.sampled_from(["long", "short"]),
            hs.sampled_from(
                [(100.0, 105.0, 97.5), (100.0, 110.0, 90.0), (99.99, 100.5, 99.5), (100.0, math.inf, 90.0)]
            ),
        ),
        min_size=0,
        max_size=12,
    ),
)
def test_counting_stretches_of_one_column_gives_each_ones_count(prices, signals) -> None:
    """``milestone_counts_in`` (a batch of trades as columns: every stretch in one column) against
    ``milestone_count`` of each: stretches in any order, overlapping, empty, ending at the
    column's last candle; exact level prices, NaN, an infinite bracket."""
    from engine.settlement import milestone_counts_in

    vw = np.array(prices, dtype=np.float64)
    k0s, k1s, longs, opens, tps, sls, one_by_one = [], [], [], [], [], [], []
    for a, b, position, (price_open, up, down) in signals:
        k0, k1 = min(a, b, len(vw)), min(max(a, b), len(vw))
        tp, sl = (up, down) if position == "long" else (down, up)
        k0s.append(k0)
        k1s.append(k1)
        longs.append(position == "long")
        opens.append(price_open)
        tps.append(tp)
        sls.append(sl)
        kw = {"position": position, "price_open": price_open, "take_profit": tp, "stop_loss": sl}
        one_by_one.append(milestone_count(vw, k0, k1, **kw))
    arrays = [np.array(x, dtype=t) for x, t in ((k0s, np.int64), (k1s, np.int64), (longs, bool))]
    floats = [np.array(x, dtype=np.float64) for x in (opens, tps, sls)]
    assert milestone_counts_in(vw, *arrays, *floats) == one_by_one


def test_counting_stretches_of_one_column_at_each_level_and_a_bracket_of_no_width() -> None:
    """Each level's exact price, one ulp either side, long and short, all in one column, each
    stretch ending at the column's end or not; a bracket of zero width raises as its count alone does."""
    import pytest

    from engine.settlement import PARTIAL_LEVELS, milestone_counts_in

    column, k0s, longs, opens, tps, sls = [], [], [], [], [], []
    for position in ("long", "short"):
        tp, sl = (110.0, 95.0) if position == "long" else (90.0, 105.0)
        for lv in PARTIAL_LEVELS:
            for side in (-math.inf, 0, math.inf):
                for toward in (tp, sl):
                    exact = 100.0 + (toward - 100.0) * lv / 100
                    k0s.append(len(column))
                    column += [100.0, exact if side == 0 else math.nextafter(exact, side)]
                    longs.append(position == "long")
                    opens.append(100.0)
                    tps.append(tp)
                    sls.append(sl)
    vw = np.array(column, dtype=np.float64)
    k0 = np.array(k0s, dtype=np.int64)
    expected = [
        milestone_count(vw, a, a + 2, position="long" if lg else "short", price_open=p, take_profit=t, stop_loss=s)
        for a, lg, p, t, s in zip(k0s, longs, opens, tps, sls)
    ]
    floats = [np.array(x, dtype=np.float64) for x in (opens, tps, sls)]
    assert milestone_counts_in(vw, k0, k0 + 2, np.array(longs), *floats) == expected
    assert len(set(expected)) > 5
    # backwards, and the last one reaching the column's end
    back = slice(None, None, -1)
    rev = milestone_counts_in(vw, k0[back], k0[back] + 2, np.array(longs)[back], *(f[back] for f in floats))
    assert rev == expected[::-1]

    flat = np.array([100.0, 101.0], dtype=np.float64)
    one = [np.array([x], dtype=np.float64) for x in (100.0, 100.0, 95.0)]
    with pytest.raises(ZeroDivisionError):
        milestone_counts_in(flat, np.array([0]), np.array([2]), np.array([True]), *one)
