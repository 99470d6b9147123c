"""``Optimizer.get_data``: sources -> conversations -> one strategy entry per range and source.

The counting rules are SPEC 13.2's (docs/behaviour.md 13.2): every training range starts a fresh
message list; every source of it is fetched in pages of 25 until a short page, de-duplicated by
``id`` (the first row with an id wins), turned into a user message and an assistant message, and
then ``get_prompt`` sees the range's list so far. So there are ``len(range_train) * len(source)``
entries, progress is published before each source and once more at 1.0, and the callbacks are
awaited in order.

Prompt bounds (``[llm] max_rows_per_source``, ``max_message_chars``, engine/llm/settings.py): the
default user message shows at most that many rows (and says how many were left out) and every
message is cut to that many characters, with a note saying so, so a long range cannot build a
prompt no local model accepts.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import events
from ..llm.client import Message
from ..llm.settings import LlmSettings
from .schema import OptimizerRange, OptimizerSchema, OptimizerSource

__all__ = ["PAGE_SIZE", "OptimizerDataError", "OptimizerEntry", "OptimizerProgressEvent", "collect"]

PAGE_SIZE = 25
DEFAULT_USER_LINE = "Read the market data below and answer OK."
DEFAULT_ASSISTANT = "OK"


class OptimizerDataError(ValueError):
    """A source returned something that is not a list of rows with ids."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimizerProgressEvent:
    """``progress_optimizer``: published before each source and once at the end (1.0)."""

    optimizer_name: str
    symbol: str
    total_sources: int
    processed_sources: int
    progress: float


@dataclass(frozen=True, slots=True)
class OptimizerEntry:
    """One generated strategy: the conversation that led to it and ``get_prompt``'s answer."""

    symbol: str
    name: str
    messages: tuple[Message, ...]
    strategy: str
    range: OptimizerRange

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "name": self.name,
            "range": {
                "start_date": self.range.start_date.isoformat(),
                "end_date": self.range.end_date.isoformat(),
                "note": self.range.note,
            },
            "messages": [m.as_dict() for m in self.messages],
            "strategy": self.strategy,
        }


async def _value(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def fetch_all(schema: OptimizerSchema, source: OptimizerSource, symbol: str, rng: OptimizerRange) -> list[Any]:
    """Every row of ``source`` for ``rng``: pages of 25 until a short one, duplicates by id dropped."""
    where = f"optimizer {schema.optimizer_name}: source {source.name}"
    rows: list[Any] = []
    seen: set[Hashable] = set()
    offset = 0
    while True:
        page = await _value(
            source.fetch(
                symbol=symbol, start_date=rng.start_date, end_date=rng.end_date, limit=PAGE_SIZE, offset=offset
            )
        )
        if page is None:
            page = []
        if isinstance(page, str | bytes | Mapping) or not isinstance(page, Sequence):
            raise OptimizerDataError(f"{where}: fetch must return a list of rows, got {type(page).__name__}")
        fresh = 0
        for n, row in enumerate(page):
            if not isinstance(row, Mapping) or "id" not in row:
                raise OptimizerDataError(f"{where}: row {offset + n} is not a mapping with an 'id': {row!r:.120}")
            key = row["id"]
            if not isinstance(key, Hashable):
                raise OptimizerDataError(f"{where}: row {offset + n} has an id that cannot be compared: {key!r:.80}")
            if key not in seen:
                seen.add(key)
                rows.append(row)
                fresh += 1
        if len(page) < PAGE_SIZE:
            return rows
        if fresh == 0:  # a fetch that ignores offset would page forever
            raise OptimizerDataError(
                f"{where}: the full page at offset {offset} held only rows already seen; does fetch honour offset?"
            )
        offset += PAGE_SIZE


def _bounded(text: Any, settings: LlmSettings, where: str) -> str:
    if not isinstance(text, str):
        raise OptimizerDataError(f"{where} must return a string, got {type(text).__name__}")
    limit = settings.max_message_chars
    if len(text) <= limit:
        return text
    note = f"\n[cut: {limit} of {len(text)} characters shown]"
    return text[: max(limit - len(note), 0)] + note


def default_user_message(symbol: str, rows: list[Any], name: str, max_rows: int) -> str:
    shown = rows[:max_rows]
    more = f"\n({len(rows) - len(shown)} more rows left out)" if len(rows) > len(shown) else ""
    return f"{DEFAULT_USER_LINE}\n\n{json.dumps(shown, default=str, ensure_ascii=False)}{more}"


async def collect(schema: OptimizerSchema, symbol: str, settings: LlmSettings) -> list[OptimizerEntry]:
    """SPEC 13.2 get_data for one registered optimizer."""
    cb = schema.callbacks
    total = len(schema.range_train) * len(schema.sources)
    done = 0
    entries: list[OptimizerEntry] = []

    async def progress() -> None:
        await events.progress_optimizer.emit(
            OptimizerProgressEvent(
                optimizer_name=schema.optimizer_name,
                symbol=symbol,
                total_sources=total,
                processed_sources=done,
                progress=done / total if total else 1.0,
            )
        )

    for rng in schema.range_train:
        messages: list[Message] = []
        for source in schema.sources:
            await progress()
            rows = await fetch_all(schema, source, symbol, rng)
            if cb.on_source_data is not None:
                await _value(cb.on_source_data(symbol, source.name, rows, rng.start_date, rng.end_date))
            where = f"optimizer {schema.optimizer_name}: source {source.name}"
            user_fn = source.user or schema.template.user_message
            assistant_fn = source.assistant or schema.template.assistant_message
            if user_fn is not None:
                user = await _value(user_fn(symbol, rows, source.name))
            else:
                user = default_user_message(symbol, rows, source.name, settings.max_rows_per_source)
            assistant = DEFAULT_ASSISTANT
            if assistant_fn is not None:
                assistant = await _value(assistant_fn(symbol, rows, source.name))
            messages.append(Message("user", _bounded(user, settings, f"{where} user message")))
            messages.append(Message("assistant", _bounded(assistant, settings, f"{where} assistant message")))
            conversation = tuple(messages)
            strategy = await _value(schema.get_prompt(symbol, conversation))
            if not isinstance(strategy, str):
                raise OptimizerDataError(
                    f"optimizer {schema.optimizer_name}: get_prompt must return a string, got {type(strategy).__name__}"
                )
            entries.append(OptimizerEntry(symbol, source.name, conversation, strategy, rng))
            done += 1
    await progress()
    if cb.on_data is not None:
        await _value(cb.on_data(symbol, entries))
    return entries
