"""The markdown beside a dumped program: what each strategy was asked and answered, and the code.

The console's reports browser reads the markdown files under the dump folder, so writing this
next to ``<optimizer>_<symbol>.py`` puts the generated program and its trace there without the
console knowing about optimizers; a reader sees why each strategy looks as it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .data import OptimizerEntry
from .schema import OptimizerSchema

__all__ = ["render_markdown"]


def _fence(text: str, lang: str = "") -> str:
    """A code fence longer than any run of backticks inside ``text``."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def render_markdown(
    schema: OptimizerSchema, symbol: str, entries: Sequence[OptimizerEntry], code: str, program: Path, prefix: str
) -> str:
    lines = [
        f"# Optimizer {schema.optimizer_name} on {symbol}",
        "",
        f"**Program:** `{program}` (not run: run it with `python {program.name}` or `btk-console optimize --run`)",
        f"**Strategy kind:** {schema.template.strategy_kind}",
        f"**Test range:** {schema.range_test.start_date.isoformat()} .. {schema.range_test.end_date.isoformat()}",
        "",
    ]
    for i, entry in enumerate(entries):
        rng = entry.range
        note = f" ({rng.note})" if rng.note else ""
        when = f"{rng.start_date:%Y-%m-%d %H:%M} .. {rng.end_date:%Y-%m-%d %H:%M}{note}"
        lines += [
            f"## {prefix}_strategy-{i}: source {entry.name}, {when}",
            "",
            "### Answer",
            "",
            _fence(entry.strategy),
            "",
            f"### Conversation ({len(entry.messages)} messages)",
            "",
        ]
        for m in entry.messages:
            shown = m.content if len(m.content) <= 2000 else m.content[:2000] + f"\n[... {len(m.content)} characters]"
            lines += [f"**{m.role}**", "", _fence(shown), ""]
    lines += ["## Program", "", _fence(code, "python"), ""]
    return "\n".join(lines)
