"""Strategy parameters: what a strategy declares at registration and how a parameter set is checked.

A strategy registered with ``params={"tp": FloatParam(0.5, 3.0, step=0.5), ...}`` gets the values
of one parameter set through a ``params`` argument of its ``get_signal``. A parameter set is a plain
dict ``{"tp": 1.5, ...}``; values the set leaves out take the declared default. Nothing here runs
per candle: the set is checked once, when it is bound to the strategy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "Choice",
    "FloatParam",
    "IntParam",
    "Param",
    "ParamError",
    "check_declared",
    "check_params",
    "grid",
    "grid_size",
    "sample",
]


class ParamError(ValueError):
    """A declared parameter range or a parameter set is wrong; the message names the strategy and key."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True, slots=True)
class IntParam:
    """Integers ``low, low + step, ... <= high`` (both ends included)."""

    low: int
    high: int
    step: int = 1
    default: int | None = None

    def problem(self) -> str | None:
        if not (_is_int(self.low) and _is_int(self.high) and _is_int(self.step)):
            return f"IntParam needs integer low, high and step, got {self.low!r}, {self.high!r}, {self.step!r}"
        if self.step <= 0:
            return f"IntParam step must be > 0, got {self.step}"
        if self.high < self.low:
            return f"IntParam high {self.high} is below low {self.low}"
        if self.default is not None and self.check(self.default) is not None:
            return f"IntParam default {self.default!r}: {self.check(self.default)}"
        return None

    def values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def default_value(self) -> int:
        return self.low if self.default is None else self.default

    def check(self, value: Any) -> str | None:
        if not _is_int(value):
            return f"expected an integer, got {value!r}"
        if not self.low <= value <= self.high:
            return f"{value} is outside [{self.low}, {self.high}]"
        if (value - self.low) % self.step:
            return f"{value} is not on the grid {self.low} + k*{self.step}"
        return None

    def sample(self, rng: random.Random) -> int:
        return self.low + self.step * rng.randrange((self.high - self.low) // self.step + 1)


def _decimals(x: float) -> int:
    """Decimal places of ``x`` as written (0.25 -> 2): grid points are rounded to the step's places
    plus the low's, so ``0.1 + 2*0.1`` is stored as 0.3, not 0.30000000000000004."""
    exponent = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return max(0, -int(exponent)) if isinstance(exponent, int) else 0


@dataclass(frozen=True, slots=True)
class FloatParam:
    """Floats in ``[low, high]``; with ``step`` only ``low + k*step`` (a grid needs a step)."""

    low: float
    high: float
    step: float | None = None
    default: float | None = None

    def problem(self) -> str | None:
        if not (_is_number(self.low) and _is_number(self.high)):
            return f"FloatParam needs finite numbers low and high, got {self.low!r}, {self.high!r}"
        if self.high < self.low:
            return f"FloatParam high {self.high} is below low {self.low}"
        if self.step is not None and (not _is_number(self.step) or self.step <= 0):
            return f"FloatParam step must be a number > 0 or None, got {self.step!r}"
        if self.default is not None and self.check(self.default) is not None:
            return f"FloatParam default {self.default!r}: {self.check(self.default)}"
        return None

    def _places(self) -> int:
        return max(_decimals(self.low), _decimals(self.step or 1.0))

    def _count(self) -> int:
        assert self.step is not None
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def values(self) -> tuple[float, ...]:
        if self.step is None:
            raise ParamError(f"FloatParam({self.low}, {self.high}) has no step: a grid needs one")
        places = self._places()
        return tuple(round(self.low + k * self.step, places) for k in range(self._count()))

    def default_value(self) -> float:
        return float(self.low if self.default is None else self.default)

    def check(self, value: Any) -> str | None:
        if not _is_number(value):
            return f"expected a finite number, got {value!r}"
        tol = 1e-9 * max(1.0, abs(self.high), abs(self.low))
        if not self.low - tol <= value <= self.high + tol:
            return f"{value} is outside [{self.low}, {self.high}]"
        if self.step is not None:
            k = (value - self.low) / self.step
            if abs(k - round(k)) > 1e-6:
                return f"{value} is not on the grid {self.low} + k*{self.step}"
        return None

    def sample(self, rng: random.Random) -> float:
        if self.step is None:
            return rng.uniform(self.low, self.high)
        return round(self.low + self.step * rng.randrange(self._count()), self._places())


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a few fixed values (strings, numbers, booleans)."""

    options: tuple[Any, ...]
    default: Any = None

    def __init__(self, *options: Any, default: Any = None) -> None:
        if len(options) == 1 and isinstance(options[0], list | tuple):
            options = tuple(options[0])
        object.__setattr__(self, "options", tuple(options))
        object.__setattr__(self, "default", default)

    def problem(self) -> str | None:
        if not self.options:
            return "Choice needs at least one option"
        bad = [o for o in self.options if not isinstance(o, str | int | float | bool) and o is not None]
        if bad:
            return f"Choice options must be strings, numbers or booleans (stored as JSON), got {bad!r}"
        if len(set(map(repr, self.options))) != len(self.options):
            return f"Choice options repeat: {self.options!r}"
        if self.default is not None and self.check(self.default) is not None:
            return f"Choice default {self.default!r} is not one of the options"
        return None

    def values(self) -> tuple[Any, ...]:
        return self.options

    def default_value(self) -> Any:
        return self.options[0] if self.default is None else self.default

    def check(self, value: Any) -> str | None:
        if not any(type(value) is type(o) and value == o for o in self.options):
            return f"{value!r} is not one of {list(self.options)!r}"
        return None

    def sample(self, rng: random.Random) -> Any:
        return self.options[rng.randrange(len(self.options))]


Param = IntParam | FloatParam | Choice


def check_declared(strategy: str, declared: Any) -> dict[str, Param]:
    """The ``params=`` of ``add_strategy``: a mapping of names to IntParam/FloatParam/Choice."""
    if not isinstance(declared, Mapping):
        raise ParamError(f"strategy {strategy}: params must be a dict of name -> IntParam/FloatParam/Choice")
    out: dict[str, Param] = {}
    for key, spec in declared.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ParamError(f"strategy {strategy}: parameter name {key!r} must be an identifier")
        if not isinstance(spec, IntParam | FloatParam | Choice):
            raise ParamError(
                f"strategy {strategy}: parameter {key} must be IntParam, FloatParam or Choice, got {spec!r}"
            )
        why = spec.problem()
        if why:
            raise ParamError(f"strategy {strategy}: parameter {key}: {why}")
        out[key] = spec
    return out


def check_params(strategy: str, declared: Mapping[str, Param], values: Any) -> dict[str, Any]:
    """A parameter set checked against the declared ranges, defaults filled in, in declared order."""
    if not isinstance(values, Mapping):
        raise ParamError(f"strategy {strategy}: a parameter set must be a dict, got {values!r}")
    unknown = sorted(set(values) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        names = ", ".join(map(str, unknown))
        raise ParamError(f"strategy {strategy}: unknown parameter(s) {names} (declared: {known})")
    out: dict[str, Any] = {}
    for key, spec in declared.items():
        if key not in values:
            out[key] = spec.default_value()
            continue
        value = values[key]
        if isinstance(spec, FloatParam) and _is_int(value):
            value = float(value)
        why = spec.check(value)
        if why:
            raise ParamError(f"strategy {strategy}: parameter {key}: {why}")
        out[key] = value
    return out


def grid_size(declared: Mapping[str, Param]) -> int:
    n = 1
    for spec in declared.values():
        n *= len(spec.values())
    return n


def grid(declared: Mapping[str, Param]) -> Iterator[dict[str, Any]]:
    """Every combination, the last declared parameter varying fastest."""
    keys = list(declared)
    axes = [declared[k].values() for k in keys]

    def walk(i: int, acc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if i == len(keys):
            yield dict(acc)
            return
        for v in axes[i]:
            acc[keys[i]] = v
            yield from walk(i + 1, acc)

    yield from walk(0, {})


def sample(declared: Mapping[str, Param], rng: random.Random) -> dict[str, Any]:
    return {k: spec.sample(rng) for k, spec in declared.items()}
