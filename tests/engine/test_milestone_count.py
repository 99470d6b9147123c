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
