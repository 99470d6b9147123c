"""JavaScript-compatible formatting. Expected strings are derived from the exact binary value of
each double (shown with ``Decimal(x)``), not from Python's own formatting."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.reports.format import (
    fmt_iso,
    fmt_percent,
    fmt_price,
    fmt_signed_percent,
    iso_ms,
    js_number,
    js_round,
    printf,
    signed_fixed,
    to_fixed,
)


def test_ties_follow_the_exact_binary_value() -> None:
    # 1.005 is stored as 1.00499999999999989...: below the tie, so it rounds down.
    x = 1.005
    assert Decimal(x) < Decimal("1.005")
    assert to_fixed(1.005, 2) == "1.00"
    # 2.675 is 2.67499999999999982...: also below.
    x = 2.675
    assert Decimal(x) < Decimal("2.675")
    assert to_fixed(2.675, 2) == "2.67"
    # 8.335 is 8.33500000000000085...: above, rounds up.
    x = 8.335
    assert Decimal(x) > Decimal("8.335")
    assert to_fixed(8.335, 2) == "8.34"
    # 1.45 is 1.44999999999999995...
    assert to_fixed(1.45, 1) == "1.4"


def test_exact_ties_round_half_away_from_zero() -> None:
    # 0.125, 2.5 and 0.5 are exact in binary; Python's format would give 0.12 / 2 / 0.
    assert format(0.125, ".2f") == "0.12"
    assert to_fixed(0.125, 2) == "0.13"
    assert to_fixed(-0.125, 2) == "-0.13"
    assert to_fixed(2.5, 0) == "3"
    assert to_fixed(-2.5, 0) == "-3"
    assert to_fixed(0.5, 0) == "1"
    assert to_fixed(1.25, 1) == "1.3"


def test_sign_of_zero_and_tiny_values() -> None:
    assert to_fixed(-0.0, 2) == "0.00"
    assert to_fixed(-0.001, 2) == "-0.00"
    assert to_fixed(0.0, 0) == "0"
    assert to_fixed(1e-7, 2) == "0.00"
    # 1e-7 is 9.99999999999999954748e-08: ten digits still round to 0.0000001000.
    assert to_fixed(1e-7, 10) == "0.0000001000"
    assert to_fixed(5e-324, 2) == "0.00"


def test_large_values_and_specials() -> None:
    x = 1.2345678901234568e20
    assert Decimal(x) == Decimal(123456789012345683968)
    assert to_fixed(x, 2) == "123456789012345683968.00"
    assert to_fixed(x, 8) == "123456789012345683968.00000000"  # beyond 28 significant digits
    assert to_fixed(1e21, 2) == "1e+21"
    assert to_fixed(-1.5e300, 2) == "-1.5e+300"
    assert to_fixed(math.nan, 2) == "NaN"
    assert to_fixed(math.inf, 2) == "Infinity"
    assert to_fixed(-math.inf, 2) == "-Infinity"
    assert to_fixed(42_000, 8) == "42000.00000000"
    with pytest.raises(ValueError):
        to_fixed(1.0, 101)


def test_js_round_is_math_round() -> None:
    assert js_round(2.5) == 3
    assert js_round(-2.5) == -2
    assert js_round(-0.5) == 0
    assert js_round(1.4999999999999998) == 1
    assert js_round(0.49999999999999994) == 0  # floor(x + 0.5) would give 1
    assert js_round(4503599627370497.0) == 4503599627370497  # 2**52 + 1 stays put
    assert js_round(540_000 / 60_000) == 9
    assert js_round(-7.5) == -7
    with pytest.raises(ValueError):
        js_round(math.nan)


def test_js_number() -> None:
    assert js_number(5) == "5"
    assert js_number(2.0) == "2"
    assert js_number(123.456) == "123.456"
    assert js_number(0.001) == "0.001"
    assert js_number(0.000001) == "0.000001"
    assert js_number(1e-7) == "1e-7"
    assert js_number(1.5e-7) == "1.5e-7"
    assert js_number(1e16) == "10000000000000000"
    assert js_number(1e21) == "1e+21"
    assert js_number(1.5e300) == "1.5e+300"
    assert js_number(-5e-324) == "-5e-324"
    assert js_number(0.1 + 0.2) == "0.30000000000000004"
    assert js_number(-0.0) == "0"
    assert js_number(math.nan) == "NaN"


def test_signed_and_unit_helpers() -> None:
    assert signed_fixed(1.9763950335379084) == "+1.98"
    assert signed_fixed(-2.7859192525859022) == "-2.79"
    assert signed_fixed(0.0) == "0.00"
    assert signed_fixed(-0.001) == "-0.00"
    assert fmt_signed_percent(0.40238850178925145) == "+0.40%"
    assert fmt_signed_percent(None) == "N/A"
    assert fmt_percent(66.66666666666666) == "66.67%"
    assert fmt_price(42_000) == "42000.00000000 USD"
    assert fmt_price(0.123456785) == "0.12345678 USD"  # 0.12345678499999999...
    assert fmt_price(None) == "N/A"


def test_iso_timestamps() -> None:
    t0 = 1_704_067_200_000
    assert iso_ms(t0 + 5 * 60_000) == "2024-01-01T00:05:00.000Z"
    assert iso_ms(t0 + 123) == "2024-01-01T00:00:00.123Z"
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(-1) == "1969-12-31T23:59:59.999Z"
    assert iso_ms(t0 + 0.9) == "2024-01-01T00:00:00.000Z"
    assert fmt_iso(None) == "N/A"


def test_printf() -> None:
    assert printf("%+.2f%%", 1.2071655053677544) == "+1.21%"
    assert printf("%+.2f%%", -3.2836524915160497) == "-3.28%"
    assert printf("%+.2f%%", 0.0) == "+0.00%"
    assert printf("%+.2f%%", -0.0) == "+0.00%"
    assert printf("%.2f%%", -0.769229528170154) == "-0.77%"
    assert printf("%.2f%%", -0.0) == "0.00%"
    assert printf("%.1f%%", 66.66666666666666) == "66.7%"
    assert printf("%.2f", 0.125) == "0.13"
    assert printf("%f", 1.5) == "1.500000"
    assert printf("%8.2f|", 3.14159) == "    3.14|"
    assert printf("%-8.2f|", 3.14159) == "3.14    |"
    assert printf("%05.1f", -2.25) == "-02.3"
    assert printf("% .1f", 2.0) == " 2.0"
    assert printf("%s has %d trades", "BTCUSDT", 3.9) == "BTCUSDT has 3 trades"
    assert printf("100%%") == "100%"
    with pytest.raises(ValueError):
        printf("%d %d", 1)
    with pytest.raises(ValueError):
        printf("%d", 1, 2)


# The fast paths (issue 13: rendering a report row cost ~29 µs, most of it Decimal and strftime)
# must print what the exact paths print, on random doubles and at the ties they hand over.


def _exact_to_fixed(x: float, digits: int) -> str:
    """The definition, written out: half away from zero on the exact binary value, sign from x < 0."""
    from decimal import ROUND_HALF_UP, Context

    rounded = Decimal(abs(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=Context(prec=200))
    return ("-" if x < 0 else "") + format(rounded, "f")


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=-1e20, max_value=1e20, allow_nan=False, allow_infinity=False),
        st.integers(min_value=-(10**12), max_value=10**12).map(lambda k: k / 1024),  # many exact ties
        st.integers(min_value=-(10**9), max_value=10**9).map(lambda k: k / 10**8),  # prices' last digit
    ),
    st.integers(min_value=0, max_value=12),
)
def test_to_fixed_fast_path_equals_the_exact_rounding(x: float, digits: int) -> None:
    assert to_fixed(x, digits) == _exact_to_fixed(x, digits)


@pytest.mark.parametrize("digits", [0, 1, 2, 8, 20, 100])
def test_to_fixed_at_ties_and_near_them(digits: int) -> None:
    for k in range(-40, 41):
        tie = (k + 0.5) / 2 ** min(digits + 1, 60)  # a dyadic value: an exact tie whenever it has few bits
        for x in (tie, math.nextafter(tie, math.inf), math.nextafter(tie, -math.inf)):
            assert to_fixed(x, digits) == _exact_to_fixed(x, digits), (x, digits)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))  # years 0001..9999
def test_iso_ms_equals_the_strftime_path(ms: int) -> None:
    from datetime import UTC, datetime, timedelta

    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert iso_ms(ms) == expected


def test_iso_ms_fast_path_at_its_edges() -> None:
    """The day-and-clock path covers int milliseconds of the years 1000..9999; its edges, a float
    (truncated by the general path) and more distinct days than its cache keeps print as the
    datetime path does."""
    from datetime import UTC, datetime, timedelta

    from engine.reports import format as fmt

    def expected(ms: int) -> str:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    low, high = fmt._MS_YEAR_1000, fmt._MS_YEAR_10000
    assert expected(low) == "1000-01-01T00:00:00.000Z"
    assert expected(high - 1) == "9999-12-31T23:59:59.999Z"
    for ms in (low - 1, low, low + 1, -1, 0, 1, high - 2, high - 1):
        assert iso_ms(ms) == expected(ms), ms
    assert iso_ms(1_704_067_200_999.9) == "2024-01-01T00:00:00.999Z"
    for day in range(fmt._DAY_TEXT_MAX + 10):  # the cache empties itself and goes on
        ms = day * 86_400_000 + day % 86_400_000
        assert iso_ms(ms) == expected(ms)
    assert len(fmt._DAY_TEXT) <= fmt._DAY_TEXT_MAX


def test_to_fixed_fast_path_keeps_the_checks() -> None:
    """Only plain floats with valid digits take the fast path: digits out of range still raise,
    and other number types print as before."""
    import numpy as np

    for digits in (-1, 101):
        with pytest.raises(ValueError):
            to_fixed(1.2345, digits)
    assert to_fixed(np.float64(1.2345), 2) == to_fixed(1.2345, 2) == "1.23"
    assert to_fixed(3, 2) == "3.00"
    assert to_fixed(-0.0, 2) == "0.00"
    assert to_fixed(-0.001, 2) == "-0.00"
