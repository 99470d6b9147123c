"""The optimizer (SPEC 13.2): strategies written by a language model from the user's data.

``add_optimizer`` registers (engine/optimizer/schema.py); ``Optimizer.get_data`` builds the
conversations and asks ``get_prompt`` for a strategy per training range and source (data.py);
``Optimizer.get_code`` writes the program that registers them and ranks them with a walker
(code.py); ``Optimizer.dump`` saves it. The generated program is never run by the engine.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from ..llm.settings import LlmSettings, get_llm_settings
from ..registry import regs
from .code import random_prefix, render_program
from .data import PAGE_SIZE, OptimizerDataError, OptimizerEntry, OptimizerProgressEvent, collect
from .prompt import CODE_INSTRUCTION, STRATEGY_INSTRUCTION, llm_prompt
from .report import render_markdown
from .schema import (
    OptimizerCallbacks,
    OptimizerRange,
    OptimizerSchema,
    OptimizerSource,
    OptimizerTemplate,
    add_optimizer,
    list_optimizers,
)
from .sources import candle_source

__all__ = [
    "CODE_INSTRUCTION",
    "PAGE_SIZE",
    "STRATEGY_INSTRUCTION",
    "Optimizer",
    "OptimizerCallbacks",
    "OptimizerDataError",
    "OptimizerEntry",
    "OptimizerProgressEvent",
    "OptimizerRange",
    "OptimizerSchema",
    "OptimizerSource",
    "OptimizerTemplate",
    "add_optimizer",
    "candle_source",
    "list_optimizers",
    "llm_prompt",
]


async def _await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class OptimizerFacade:
    """``Optimizer``: get_data, get_code, dump (SPEC 13.2), by optimizer name."""

    async def get_data(
        self, symbol: str, optimizer_name: str, *, settings: LlmSettings | None = None
    ) -> list[OptimizerEntry]:
        """One entry per training range and source: the conversation and ``get_prompt``'s answer."""
        schema: OptimizerSchema = regs().optimizers.get(optimizer_name, "Optimizer.get_data")
        return await collect(schema, symbol, settings or get_llm_settings())

    async def _generate(
        self, symbol: str, optimizer_name: str, source: str, settings: LlmSettings | None, prefix: str | None
    ) -> tuple[OptimizerSchema, list[OptimizerEntry], str, str]:
        schema: OptimizerSchema = regs().optimizers.get(optimizer_name, source)
        entries = await collect(schema, symbol, settings or get_llm_settings())
        prefix = prefix or schema.template.prefix or random_prefix()
        code = render_program(schema, symbol, entries, prefix)
        if schema.callbacks.on_code is not None:
            await _await(schema.callbacks.on_code(symbol, code))
        return schema, entries, code, prefix

    async def get_code(
        self, symbol: str, optimizer_name: str, *, settings: LlmSettings | None = None, prefix: str | None = None
    ) -> str:
        """The program's text (get_data first, then ``on_code``)."""
        return (await self._generate(symbol, optimizer_name, "Optimizer.get_code", settings, prefix))[2]

    async def dump(
        self,
        symbol: str,
        optimizer_name: str,
        path: str | os.PathLike[str] = "./",
        *,
        settings: LlmSettings | None = None,
        prefix: str | None = None,
    ) -> Path:
        """Write ``<optimizer_name>_<symbol>.py`` under ``path`` and return its path; then ``on_dump``.
        Beside it ``<optimizer_name>_<symbol>.md``: each strategy's conversation and answer, and the
        program (the console's reports browser lists it). Write errors are raised (SPEC 13.2)."""
        schema, entries, code, prefix = await self._generate(symbol, optimizer_name, "Optimizer.dump", settings, prefix)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{optimizer_name}_{symbol}.py"
        target.write_text(code, encoding="utf-8")
        target.with_suffix(".md").write_text(
            render_markdown(schema, symbol, entries, code, target, prefix), encoding="utf-8"
        )
        if schema.callbacks.on_dump is not None:
            await _await(schema.callbacks.on_dump(symbol, str(target)))
        return target


Optimizer = OptimizerFacade()
