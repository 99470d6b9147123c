"""Number, price and time formatting that prints exactly what the original (JavaScript) prints.

Python's own ``format`` rounds ties to even on the binary value and switches to exponent
notation at different thresholds than JavaScript, so reports would differ from the original in
the last digit now and then. Everything a report prints goes through these helpers instead.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal

__all__ = [
    "NA",
    "fmt_fixed",
    "fmt_iso",
    "fmt_percent",
    "fmt_price",
    "fmt_signed_percent",
    "iso_ms",
    "js_number",
    "js_round",
    "printf",
    "signed_fixed",
    "to_fixed",
]

NA = "N/A"
"""What every report prints for a missing or null value."""

# Enough precision that quantize never runs out of digits: the largest value to_fixed formats
# in full is just under 1e21 and JavaScript allows at most 100 fraction digits.
_CTX = Context(prec=200)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)  # UTC by convention: only iso_ms formats it


def to_fixed(x: float, digits: int = 0) -> str:
    """JavaScript ``Number.prototype.toFixed``.

    The sign comes from ``x < 0`` (so ``-0.0`` prints ``0.00`` but ``-0.001`` prints ``-0.00``) and
    the magnitude is rounded half away from zero on the exact binary value of the double, which
    is what ``Decimal(x)`` holds. Values of 1e21 and more print as JavaScript's ``String(x)``.
    """
    # The common case first: a finite float of ordinary size that is not a tie (below), where the
    # sign Python's "f" formatting prints is the one JavaScript prints (``x < 0``); -0.0 and ties
    # (0.0 among them) take the path below. Runs ~5 times per report row.
    if (
        type(x) is float
        and -1e21 < x < 1e21
        and type(digits) is int
        and 0 <= digits <= 100
        and not (x * _TIE_SCALE[digits]).is_integer()
    ):
        return format(x, _FIXED[digits])
    if not 0 <= digits <= 100:
        raise ValueError(f"to_fixed digits must be within 0..100, got {digits}")
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if abs(x) >= 1e21:
        return js_number(x)
    sign = "-" if x < 0 else ""
    ax = abs(x)
    if not (ax * _TIE_SCALE[digits]).is_integer():
        # Not a tie: Python's own "f" formatting is correctly rounded on the exact binary value,
        # and away from a tie half-even and half-up agree, so it prints what JavaScript prints
        # (the report renders ~5 of these per row; Decimal's quantize cost ~2 µs each).
        return sign + format(ax, _FIXED[digits])
    return sign + _to_fixed_exact(ax, digits)


def _to_fixed_exact(ax: float, digits: int) -> str:
    """``ax`` (finite, >= 0) rounded half away from zero on its exact binary value by Decimal.

    The reference for ``to_fixed``: its fast path leaves only values that may be exact ties here.
    A tie at ``digits`` decimals means ``ax * 10**digits`` is k + 1/2 exactly, so ``ax`` times
    ``2**(digits+1)`` is an integer (the 5s of 10**digits cannot cancel a power of two): values
    where that product is not an integer are never ties, and the product is exact in binary."""
    quantum = Decimal(1).scaleb(-digits)
    rounded = Decimal(ax).quantize(quantum, rounding=ROUND_HALF_UP, context=_CTX)
    return format(rounded, "f")


_FIXED = tuple(f".{d}f" for d in range(101))
_TIE_SCALE = tuple(float(2 ** (d + 1)) for d in range(101))


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: the nearest integer, ties towards +infinity.

    Written as ``floor(x)`` plus a comparison of the exact fractional part, which equals
    ``floor(x + 0.5)`` everywhere except where ``x + 0.5`` itself would round (for example
    0.49999999999999994), and there it matches what JavaScript engines return.
    """
    if not math.isfinite(x):
        raise ValueError(f"js_round needs a finite number, got {x!r}")
    f = math.floor(x)
    return f + 1 if x - f >= 0.5 else f


def js_number(x: float | int) -> str:
    """JavaScript ``String(x)`` for a number: shortest round-trip digits, JS exponent rules.

    Integers print without ``.0``; exponent notation is used below 1e-6 and from 1e21 on.
    """
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        if abs(x) < 10**21:
            return str(x)
        x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.<digits> * 10**n
    point = len(whole) + (int(exp_text) if exp_text else 0)
    leading_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    point -= leading_zeros
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        body = digits + "0" * (point - k)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * (-point) + digits
    else:
        e = point - 1
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + body


def signed_fixed(x: float, digits: int = 2) -> str:
    """``+`` before strictly positive values, then ``to_fixed`` (which supplies any ``-``)."""
    return ("+" if x > 0 else "") + to_fixed(x, digits)


def fmt_fixed(x: float | None, digits: int = 2, suffix: str = "") -> str:
    """``to_fixed`` with a suffix, or ``N/A`` for a missing value."""
    return NA if x is None else to_fixed(x, digits) + suffix


def fmt_percent(x: float | None, digits: int = 2) -> str:
    """Unsigned percentage such as ``66.67%``; ``N/A`` for a missing value."""
    return fmt_fixed(x, digits, "%")


def fmt_signed_percent(x: float | None, digits: int = 2) -> str:
    """Signed percentage such as ``+1.98%`` / ``-2.79%`` / ``0.00%``; ``N/A`` when missing."""
    return NA if x is None else signed_fixed(x, digits) + "%"


def fmt_price(x: float | None) -> str:
    """A price as the reports print it: 8 decimals and `` USD``."""
    return NA if x is None else to_fixed(x, 8) + " USD"


def iso_ms(ms: int | float) -> str:
    """JavaScript ``new Date(ms).toISOString()`` for UTC milliseconds since the epoch.

    Fractional milliseconds are truncated towards zero as JavaScript's time clip does. Only the
    years 0001..9999 are supported (Python's ``datetime`` range).
    """
    if type(ms) is int and _MS_YEAR_1000 <= ms < _MS_YEAR_10000:
        # the same text from the day's date (cached) and the time of day's pieces: a report
        # prints two timestamps per row, and building a datetime for each cost ~4x this
        day, rem = divmod(ms, _DAY_MS)
        date_text = _DAY_TEXT.get(day)
        if date_text is None:
            if len(_DAY_TEXT) >= _DAY_TEXT_MAX:
                _DAY_TEXT.clear()
            date_text = _DAY_TEXT[day] = (_EPOCH_NAIVE + timedelta(days=day)).date().isoformat()
        minute, rem = divmod(rem, 60_000)
        second, milli = divmod(rem, 1000)
        return date_text + _HOUR_MINUTE[minute] + _SECOND[second] + _MILLI[milli]
    whole = math.trunc(ms)
    moment = _EPOCH_NAIVE + timedelta(milliseconds=whole)  # naive: isoformat then adds no offset
    if moment.year >= 1000:  # isoformat pads years to 4 digits, strftime's %Y does not (kept as it was)
        return moment.isoformat(timespec="milliseconds") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_DAY_MS = 86_400_000
_MS_YEAR_1000 = (datetime(1000, 1, 1) - _EPOCH_NAIVE) // timedelta(milliseconds=1)
_MS_YEAR_10000 = (datetime(9999, 12, 31) - _EPOCH_NAIVE) // timedelta(milliseconds=1) + _DAY_MS
_DAY_TEXT: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DD"
_DAY_TEXT_MAX = 4096  # a long run's reports print a few thousand distinct days at most
_HOUR_MINUTE = tuple(f"T{m // 60:02d}:{m % 60:02d}:" for m in range(1440))  # the pieces, joined: 4x
_SECOND = tuple(f"{s:02d}." for s in range(60))  # faster than one format string
_MILLI = tuple(f"{m:03d}Z" for m in range(1000))


def fmt_iso(ms: int | float | None) -> str:
    """``iso_ms`` or ``N/A`` for a missing timestamp."""
    return NA if ms is None else iso_ms(ms)


_SPEC = re.compile(r"%(?P<flags>[-+ 0]*)(?P<width>\d+)?(?:\.(?P<prec>\d+))?(?P<conv>[fdis%])")


def printf(fmt: str, *args: object) -> str:
    """A small C-style ``printf`` whose ``%f`` rounds like JavaScript's ``toFixed``.

    Supports ``%%``, ``%s``, ``%d``/``%i`` and ``%f`` with the flags ``-``, ``+``, space and ``0``,
    a width and a precision (``%f`` defaults to 6 digits). The sign rule follows ``to_fixed``:
    ``-`` only when the value is below zero, so ``printf("%+.2f", -0.0)`` is ``+0.00`` and
    ``printf("%+.2f", -0.001)`` is ``-0.00``. The heatmap uses it for ``%+.2f%%``, ``%.2f`` and
    ``%.1f%%``.
    """
    values = list(args)
    out: list[str] = []
    pos = 0
    for m in _SPEC.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        conv = m.group("conv")
        if conv == "%":
            out.append("%")
            continue
        if not values:
            raise ValueError(f"printf: not enough arguments for {fmt!r}")
        value = values.pop(0)
        flags = m.group("flags")
        width = int(m.group("width") or 0)
        if conv == "s":
            body, sign = str(value), ""
        else:
            number = float(value)  # type: ignore[arg-type]
            if conv == "f":
                prec = int(m.group("prec")) if m.group("prec") is not None else 6
                text = to_fixed(number, prec)
            else:
                text = str(math.trunc(number)) if math.isfinite(number) else js_number(number)
            if text.startswith("-"):
                sign, body = "-", text[1:]
            else:
                sign = "+" if "+" in flags else (" " if " " in flags else "")
                body = text
        pad = width - len(sign) - len(body)
        if pad <= 0:
            out.append(sign + body)
        elif "-" in flags:
            out.append(sign + body + " " * pad)
        elif "0" in flags and conv != "s":
            out.append(sign + "0" * pad + body)
        else:
            out.append(" " * pad + sign + body)
    out.append(fmt[pos:])
    if values:
        raise ValueError(f"printf: too many arguments for {fmt!r}")
    return "".join(out)
