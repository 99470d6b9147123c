"""``Optimizer.get_code``: the program that registers the generated strategies and ranks them.

SPEC 13.2 asks for a runnable script with, in order: a banner and imports, helpers, an exchange
``<prefix>_exchange``, one 1m frame per training range ``<prefix>_train_frame-<i>``, a test frame
``<prefix>_test_frame``, one strategy per entry ``<prefix>_strategy-<i>``, a walker over them on
the test frame and a launcher; ``prefix`` is random. The text is ``templates/program.py.tmpl``
with the values filled in; the entries (conversation and answer of each) are embedded as Python
literals so the program carries its own trace.
"""

from __future__ import annotations

import pprint
import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from .data import OptimizerEntry
from .schema import OptimizerSchema

__all__ = ["render_program"]


def _exchange_call(exchange: Any) -> str:
    kind = exchange["kind"]
    if kind == "synthetic":
        return f"engine.add_synthetic_exchange(EXCHANGE, seed={int(exchange.get('seed', 42))})"
    if kind == "csv":
        return f"engine.add_csv_exchange(EXCHANGE, {exchange['path']!r})"
    if kind == "catalog":
        return f"engine.add_catalog_exchange(EXCHANGE, {exchange['path']!r}, exchange={exchange.get('exchange')!r})"
    return f"engine.add_ccxt_exchange(EXCHANGE, {exchange['exchange_id']!r})"


def random_prefix() -> str:
    """A letter then five hex digits, as the original's random prefix: two programs never collide."""
    return "p" + secrets.token_hex(3)[:5]


def render_program(
    schema: OptimizerSchema, symbol: str, entries: Sequence[OptimizerEntry], prefix: str | None = None
) -> str:
    template = string.Template(resources.files(__package__).joinpath("templates/program.py.tmpl").read_text("utf-8"))
    tpl = schema.template
    prefix = prefix or tpl.prefix or random_prefix()
    train = [(r.start_date.isoformat(), r.end_date.isoformat(), r.note) for r in schema.range_train]
    test = schema.range_test
    return template.substitute(
        symbol=symbol,
        symbol_literal=repr(symbol),
        optimizer_name=schema.optimizer_name,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        strategy_kind=tpl.strategy_kind,
        strategy_kind_literal=repr(tpl.strategy_kind),
        prefix=prefix,
        prefix_literal=repr(prefix),
        metric_literal=repr(tpl.metric),
        interval_literal=repr(tpl.interval),
        candle_count=int(tpl.candles),
        entries=pprint.pformat([e.as_dict() for e in entries], width=110, sort_dicts=False),
        exchange_call=_exchange_call(tpl.exchange),
        train_ranges=pprint.pformat(train, width=100),
        test_start=repr(test.start_date.isoformat()),
        test_end=repr(test.end_date.isoformat()),
    )
