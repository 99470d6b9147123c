"""The optimizer's schema and ``add_optimizer``: checked at registration like every other schema.

SPEC 13.2 (docs/behaviour.md 13.2): a name, training ranges, one test range, sources (a fetch
function or ``{name, fetch, user?, assistant?, note?}``), ``get_prompt(symbol, messages)`` and
optional template overrides and callbacks. Every problem is raised here, naming the optimizer, the
field and what was expected, so a typo fails at ``add_optimizer`` and not an hour into fetching.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..model import SIGNAL_INTERVALS
from ..registry import (
    WALKER_METRICS,
    DuplicateError,
    SchemaError,
    _callbacks,
    _require_callable,
    _require_name,
    regs,
    to_datetime,
    to_ms,
)

__all__ = [
    "EXCHANGE_KINDS",
    "STRATEGY_KINDS",
    "OptimizerCallbacks",
    "OptimizerRange",
    "OptimizerSchema",
    "OptimizerSource",
    "OptimizerTemplate",
    "add_optimizer",
    "list_optimizers",
]

STRATEGY_KINDS = ("ask_llm", "code")
"""``ask_llm``: each generated strategy asks the model for a signal (the original's design);
``code``: the model's answer is Python defining ``get_signal(candles, price)``, embedded as is."""

EXCHANGE_KINDS = {"synthetic": ("seed",), "csv": ("path",), "ccxt": ("exchange_id",), "catalog": ("path", "exchange")}
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$")


@dataclass(frozen=True, slots=True)
class OptimizerCallbacks:
    """All awaited, in this order during a run: on_source_data (per source), on_data, on_code, on_dump."""

    on_source_data: Callable[..., Any] | None = None
    on_data: Callable[..., Any] | None = None
    on_code: Callable[..., Any] | None = None
    on_dump: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class OptimizerRange:
    start_date: datetime
    end_date: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class OptimizerSource:
    """``fetch(symbol=, start_date=, end_date=, limit=, offset=) -> list of rows`` (sync or async);
    every row is a mapping with an ``id``. ``user``/``assistant`` format the source's two messages:
    ``(symbol, rows, name) -> str``."""

    name: str
    fetch: Callable[..., Any]
    user: Callable[..., Any] | None = None
    assistant: Callable[..., Any] | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class OptimizerTemplate:
    """What the generated program and the messages look like, where the defaults will not do."""

    user_message: Callable[..., Any] | None = None
    assistant_message: Callable[..., Any] | None = None
    strategy_kind: str = "ask_llm"
    exchange: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({"kind": "synthetic", "seed": 42}))
    metric: str = "sharpe_ratio"
    interval: str = "5m"
    candles: int = 24
    """How many recent candles of ``interval`` a generated strategy looks at per decision."""
    prefix: str | None = None
    """Names' prefix in the program (random when not given, as in the original)."""


@dataclass(frozen=True, slots=True)
class OptimizerSchema:
    optimizer_name: str
    range_train: tuple[OptimizerRange, ...]
    range_test: OptimizerRange
    sources: tuple[OptimizerSource, ...]
    get_prompt: Callable[..., Any]
    template: OptimizerTemplate = field(default_factory=OptimizerTemplate)
    callbacks: OptimizerCallbacks = field(default_factory=OptimizerCallbacks)
    note: str | None = None


def _range(name: str, where: str, value: Any) -> OptimizerRange:
    if isinstance(value, OptimizerRange):
        start, end, note = value.start_date, value.end_date, value.note
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - {"start_date", "end_date", "note"})
        if unknown:
            raise SchemaError(f"optimizer {name}: {where} has unknown key(s) {', '.join(unknown)}")
        if "start_date" not in value or "end_date" not in value:
            raise SchemaError(f"optimizer {name}: {where} needs start_date and end_date, got {dict(value)!r}")
        start, end, note = value["start_date"], value["end_date"], value.get("note")
    elif isinstance(value, tuple | list) and len(value) in (2, 3):
        start, end, note = (*value, None)[:3]
    else:
        raise SchemaError(
            f"optimizer {name}: {where} must be {{start_date, end_date, note?}} or (start, end), got {value!r}"
        )
    try:
        start_dt, end_dt = to_datetime(to_ms(start)), to_datetime(to_ms(end))
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"optimizer {name}: {where} dates must be datetimes, dates or ISO strings: {exc}") from None
    if end_dt <= start_dt:
        raise SchemaError(
            f"optimizer {name}: {where} ends ({end_dt.isoformat()}) before it starts ({start_dt.isoformat()})"
        )
    if note is not None and not isinstance(note, str):
        raise SchemaError(f"optimizer {name}: {where} note must be a string, got {note!r}")
    return OptimizerRange(start_dt, end_dt, note)


def _source(name: str, n: int, value: Any) -> OptimizerSource:
    where = f"source[{n}]"
    if isinstance(value, OptimizerSource):
        return value
    if callable(value):
        return OptimizerSource(name="unknown", fetch=value)
    if not isinstance(value, Mapping):
        raise SchemaError(
            f"optimizer {name}: {where} must be a fetch function or {{name, fetch, user?, assistant?, note?}}, "
            f"got {type(value).__name__}"
        )
    unknown = sorted(set(value) - {"name", "fetch", "user", "assistant", "note"})
    if unknown:
        raise SchemaError(
            f"optimizer {name}: {where} has unknown key(s) {', '.join(unknown)}; "
            "expected any of name, fetch, user, assistant, note"
        )
    source_name = value.get("name", "unknown")
    if not isinstance(source_name, str) or not source_name.strip():
        raise SchemaError(f"optimizer {name}: {where} name must be a non-empty string, got {source_name!r}")
    if "fetch" not in value:
        raise SchemaError(f"optimizer {name}: {where} ({source_name}) has no fetch function")
    for key in ("fetch", "user", "assistant"):
        if value.get(key) is not None:
            _require_callable("optimizer", name, f"{where} ({source_name}) {key}", value[key])
    return OptimizerSource(source_name, value["fetch"], value.get("user"), value.get("assistant"), value.get("note"))


def _template(name: str, value: Any) -> OptimizerTemplate:
    if value is None:
        return OptimizerTemplate()
    if isinstance(value, OptimizerTemplate):
        items: dict[str, Any] = {k: getattr(value, k) for k in OptimizerTemplate.__dataclass_fields__}
    elif isinstance(value, Mapping):
        known = list(OptimizerTemplate.__dataclass_fields__)
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise SchemaError(
                f"optimizer {name}: template has unknown key(s) {', '.join(unknown)}; "
                f"expected any of {', '.join(known)}"
            )
        items = {**{k: getattr(OptimizerTemplate(), k) for k in known}, **dict(value)}
    else:
        raise SchemaError(f"optimizer {name}: template must be a mapping, got {type(value).__name__}")
    for key in ("user_message", "assistant_message"):
        if items[key] is not None:
            _require_callable("optimizer", name, f"template {key}", items[key])
    if items["strategy_kind"] not in STRATEGY_KINDS:
        raise SchemaError(
            f"optimizer {name}: template strategy_kind must be one of {', '.join(STRATEGY_KINDS)}; "
            f"got {items['strategy_kind']!r}"
        )
    if items["metric"] not in WALKER_METRICS:
        raise SchemaError(
            f"optimizer {name}: template metric must be one of {', '.join(WALKER_METRICS)}; got {items['metric']!r}"
        )
    if items["interval"] not in SIGNAL_INTERVALS:
        raise SchemaError(
            f"optimizer {name}: template interval must be one of {', '.join(SIGNAL_INTERVALS)}; "
            f"got {items['interval']!r}"
        )
    candles = items["candles"]
    if isinstance(candles, bool) or not isinstance(candles, int) or not 1 <= candles <= 1000:
        raise SchemaError(f"optimizer {name}: template candles must be a whole number from 1 to 1000, got {candles!r}")
    prefix = items["prefix"]
    if prefix is not None and (not isinstance(prefix, str) or not _PREFIX.match(prefix)):
        raise SchemaError(
            f"optimizer {name}: template prefix must be a letter then up to 15 letters or digits, got {prefix!r}"
        )
    items["exchange"] = _exchange(name, items["exchange"])
    return OptimizerTemplate(**items)


def _exchange(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or value.get("kind") not in EXCHANGE_KINDS:
        raise SchemaError(
            f"optimizer {name}: template exchange must be a mapping with kind one of "
            f"{', '.join(EXCHANGE_KINDS)}, got {value!r}"
        )
    kind = value["kind"]
    allowed = EXCHANGE_KINDS[kind]
    unknown = sorted(set(value) - {"kind", *allowed})
    if unknown:
        raise SchemaError(
            f"optimizer {name}: template exchange ({kind}) has unknown key(s) {', '.join(unknown)}; "
            f"expected any of {', '.join(allowed)}"
        )
    if kind in ("csv", "catalog") and not isinstance(value.get("path"), str):
        raise SchemaError(f"optimizer {name}: template exchange ({kind}) needs a path string")
    if kind == "ccxt" and not isinstance(value.get("exchange_id"), str):
        raise SchemaError(f"optimizer {name}: template exchange (ccxt) needs exchange_id, e.g. 'binance'")
    if kind == "synthetic" and not isinstance(value.get("seed", 42), int):
        raise SchemaError(f"optimizer {name}: template exchange (synthetic) seed must be an integer")
    return MappingProxyType(dict(value))


def add_optimizer(
    optimizer_name: str,
    range_train: Iterable[Any],
    range_test: Any,
    source: Iterable[Any],
    get_prompt: Callable[..., Any],
    template: Any = None,
    callbacks: Any = None,
    note: str | None = None,
) -> OptimizerSchema:
    """Register an optimizer (SPEC 13.2). ``get_prompt(symbol, messages) -> str`` (sync or async)
    turns a range's conversation so far into the strategy text a generated strategy follows;
    ``engine.optimizer.llm_prompt(...)`` makes one that asks a model."""
    name = _require_name("optimizer", "optimizer_name", optimizer_name)
    if regs().optimizers.has(name):
        raise DuplicateError(f"optimizer {name} already exist")
    if isinstance(range_train, str | bytes | Mapping) or not isinstance(range_train, Iterable):
        raise SchemaError(f"optimizer {name}: range_train must be a list of ranges, got {range_train!r}")
    ranges = tuple(_range(name, f"range_train[{i}]", r) for i, r in enumerate(range_train))
    if not ranges:
        raise SchemaError(f"optimizer {name}: range_train must not be empty")
    test = _range(name, "range_test", range_test)
    if isinstance(source, str | bytes | Mapping) or not isinstance(source, Iterable) or callable(source):
        raise SchemaError(f"optimizer {name}: source must be a list of sources, got {source!r}")
    sources = tuple(_source(name, i, s) for i, s in enumerate(source))
    if not sources:
        raise SchemaError(f"optimizer {name}: source must not be empty")
    _require_callable("optimizer", name, "get_prompt", get_prompt)
    schema = OptimizerSchema(
        optimizer_name=name,
        range_train=ranges,
        range_test=test,
        sources=sources,
        get_prompt=get_prompt,
        template=_template(name, template),
        callbacks=_callbacks("optimizer", name, OptimizerCallbacks, callbacks),
        note=note,
    )
    regs().optimizers.add(name, schema)
    return schema


def list_optimizers() -> list[OptimizerSchema]:
    return regs().optimizers.list()
