"""``settlement.span_extremes`` and the "no touch" proof ``scan_store_position`` draws from it: the
highest high and lowest low of every span equal a plain max/min (NaNs passed over), and a lifetime
whose extremes stay strictly inside its levels is exactly one where ``first_touch`` finds nothing:
equal prices touch, one ulp short does not, from either side."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.settlement import first_touch, span_extremes

values = st.one_of(st.floats(1.0, 1.0e6), st.just(math.nan), st.sampled_from([100.0, 100.5, 99.5]))


def _plain(a: np.ndarray, span: int, pick) -> list[float]:
    out = []
    for k in range(len(a) - span + 1):
        real = [v for v in a[k : k + span] if not math.isnan(v)]
        out.append(pick(real) if real else math.nan)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(values, values), min_size=1, max_size=70), st.integers(1, 75))
def test_span_extremes_are_the_plain_max_and_min(rows, span):
    high = np.array([h for h, _ in rows])
    low = np.array([lo for _, lo in rows])
    highest, lowest = span_extremes(high, low, span)
    if span > len(rows):
        assert len(highest) == len(lowest) == 0
        return
    np.testing.assert_array_equal(highest, _plain(high, span, max))  # NaN where a span holds only NaN
    np.testing.assert_array_equal(lowest, _plain(low, span, min))


def _proof(high, low, k0, k1, up, down) -> bool:
    highest, lowest = span_extremes(high, low, k1 - k0)
    return highest.item(k0) < up and lowest.item(k0) > down


@pytest.mark.parametrize("at", [0, 3, 9])
@pytest.mark.parametrize("ulps", [-1, 0, 1])
@pytest.mark.parametrize("side", ["high", "low"])
def test_an_equal_price_touches_and_one_ulp_short_does_not(at, ulps, side):
    up, down = 101.0, 99.0
    high, low = np.full(10, 100.0), np.full(10, 100.0)
    if side == "high":
        high[at] = up + ulps * math.ulp(up)  # reaches up when >= up
        touches = ulps >= 0
    else:
        low[at] = down - ulps * math.ulp(down)  # reaches down when <= down
        touches = ulps >= 0
    for k0, k1 in [(0, 10), (0, at + 1), (at, at + 1), (min(at, 5), 10)]:
        inside = k0 <= at < k1
        found = first_touch(high, low, k0, k1, up, down)
        assert (found == at) == (touches and inside)
        assert _proof(high, low, k0, k1, up, down) == (found < 0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(values, values), min_size=1, max_size=40),
    st.data(),
    st.sampled_from([99.5, 100.0, 100.5]),
    st.sampled_from([99.5, 100.0, 100.5]),
)
def test_the_proof_holds_exactly_when_first_touch_finds_nothing(rows, data, up, down):
    high = np.array([h for h, _ in rows])
    low = np.array([lo for _, lo in rows])
    k0 = data.draw(st.integers(0, len(rows) - 1))
    k1 = data.draw(st.integers(k0 + 1, len(rows)))
    found = first_touch(high, low, k0, k1, up, down)
    proof = _proof(high, low, k0, k1, up, down)
    if proof:
        assert found == -1
    else:  # no proof: a touch, or a span of NaNs only (the mask then decides)
        all_nan = np.isnan(high[k0:k1]).all() or np.isnan(low[k0:k1]).all()
        assert found >= 0 or all_nan
