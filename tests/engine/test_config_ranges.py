"""Issue 20 item 8: every numeric config key has a range that keeps runs sane.

``set_config`` refuses a value outside it with a message naming the key, the value and the
range; ``unsafe=True`` still bypasses the ranges (as the README documents).
"""

from __future__ import annotations

import math

import pytest

import engine as e
from engine.config import _BOOL_KEYS, RANGES

# Values that sit exactly at an end of a range but break a rule between keys are set together
# with a partner that makes them consistent (SPEC 3.4: TP covers costs, min SL < max SL).
PARTNERS = {
    ("CC_PERCENT_SLIPPAGE", "high"): {"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": 100, "CC_PERCENT_FEE": 0},
    ("CC_PERCENT_FEE", "high"): {"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT": 100, "CC_PERCENT_SLIPPAGE": 0},
    ("CC_MIN_TAKEPROFIT_DISTANCE_PERCENT", "low"): {"CC_PERCENT_SLIPPAGE": 0, "CC_PERCENT_FEE": 0},
    ("CC_MIN_STOPLOSS_DISTANCE_PERCENT", "high"): {"CC_MAX_STOPLOSS_DISTANCE_PERCENT": 100},
    ("CC_MIN_STOPLOSS_DISTANCE_PERCENT", "low"): {},
    ("CC_MAX_STOPLOSS_DISTANCE_PERCENT", "low"): {"CC_MIN_STOPLOSS_DISTANCE_PERCENT": 1e-9},
}


def test_every_numeric_key_has_a_range() -> None:
    numeric = set(e.get_default_config()) - _BOOL_KEYS
    assert set(RANGES) == numeric


def test_the_defaults_are_inside_their_ranges() -> None:
    e.set_config(e.get_default_config())
    assert e.get_config() == e.get_default_config()


def _ends(key: str) -> list[tuple[str, float]]:
    r = RANGES[key]
    low = r.low + 1e-6 if r.low_open and not r.integer else r.low  # just above an excluded end
    return [("low", low), ("high", r.high)]


def _beyond(key: str) -> list[float]:
    r = RANGES[key]
    step = 1 if r.integer else 1e-6
    out = [r.low if r.low_open else r.low - step, r.high + step, math.inf]
    if r.integer:
        out.append(r.low + 0.5)
    return out


@pytest.mark.parametrize(("key", "end", "value"), [(k, end, v) for k in RANGES for end, v in _ends(k)])
def test_a_value_at_either_end_is_accepted(key: str, end: str, value: float) -> None:
    partners = PARTNERS.get((key, end), {})
    if key == "CC_MIN_STOPLOSS_DISTANCE_PERCENT" and end == "high":
        value = 100 - 1e-9  # must stay below the maximum (at most 100)
    e.set_config({**partners, key: value})
    assert e.get_config()[key] == value


@pytest.mark.parametrize(("key", "value"), [(k, v) for k in RANGES for v in _beyond(k)])
def test_a_value_beyond_either_end_is_refused_naming_key_value_and_range(key: str, value: float) -> None:
    before = e.get_config()
    with pytest.raises(e.ConfigError) as info:
        e.set_config({key: value})
    r = RANGES[key]
    [line] = [p for p in info.value.problems if p.startswith(f"{key} must be {r.describe()}")]
    assert repr(value if not (r.integer and float(value).is_integer()) else int(value)) in line
    assert e.get_config() == before  # nothing changed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CC_AVG_PRICE_CANDLES_COUNT", 10**9),  # issue 20: died allocating 7.5 GiB
        ("CC_AVG_PRICE_CANDLES_COUNT", 10**6),  # issue 20: a 2-hour backtest took minutes
        ("CC_GET_CANDLES_PRICE_ANOMALY_THRESHOLD_FACTOR", 1),  # every candle "anomalous"
        ("CC_MAX_GET_CANDLES_LIMIT", 1_000_000),
    ],
)
def test_the_values_of_the_issue_are_refused_and_unsafe_still_bypasses(key: str, value: int) -> None:
    with pytest.raises(e.ConfigError, match=key):
        e.set_config({key: value})
    e.set_config({key: value}, unsafe=True)
    assert e.get_config()[key] == value
