"""``btk-console optimize``: strategies written by a local LLM from the project's data (SPEC 13.2).

    optimize --optimizer NAME --symbol X [--dump DIR] [--run] [--config btk.toml]

The project (``--config``, else ./btk.toml, else the demo) registers its optimizers in its
modules with ``engine.add_optimizer``. The model comes from ``[llm]`` of the btk.toml with
OLLAMA_HOST / BTK_LLM_MODEL on top. Progress per range and source goes to stderr (with how many
tokens the model streamed, when its ``get_prompt`` is an ``llm_prompt``: ``streaming_llm_tokens_to``); the path of the
generated program to stdout. The program is only run with ``--run``, and then in a subprocess
(it executes what the model wrote: never in this process); its leaderboard is printed as it comes.
Exit codes: 0 done, 1 the optimizer or the program failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import engine
from engine import LlmError, load_llm_settings, set_llm_settings

from .project import ProjectError, load_project

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,30}$")


class OptimizeUsageError(Exception):
    """A bad command line: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise OptimizeUsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="btk-console optimize", description="write strategies with a local LLM and rank them")
    p.add_argument("--config", default=None, help="a btk.toml project (default: ./btk.toml, else the demo)")
    p.add_argument("--optimizer", default=None, help="an optimizer the project registers (default: its first)")
    p.add_argument("--symbol", required=True, help="the symbol to write strategies for")
    p.add_argument("--dump", default=None, metavar="DIR", help="where the program goes (default: <dump>/optimizer)")
    p.add_argument("--run", action="store_true", help="run the generated program (a subprocess) and show its result")
    return p


class _Tokens:
    """Counts the streamed pieces of the model's answer to the source being asked (an
    ``llm_prompt`` streams to it through ``engine.llm.streaming_tokens_to``); the progress line of
    the next source says how long the last answer was, so a slow local model shows it is working."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _piece: str) -> None:
        self.count += 1

    def said(self) -> str:
        count, self.count = self.count, 0
        return f"    the model answered ({count} tokens streamed)\n" if count else ""


def _progress_printer(schema: engine.OptimizerSchema, err: TextIO, tokens: _Tokens | None = None):
    per_range = len(schema.sources)

    def show(event: engine.OptimizerProgressEvent) -> None:
        if tokens is not None:
            err.write(tokens.said())
        if event.processed_sources >= event.total_sources:
            err.write(f"[{event.total_sources}/{event.total_sources}] all sources read\n")
            return
        i = event.processed_sources
        rng = schema.range_train[i // per_range]
        source = schema.sources[i % per_range]
        err.write(
            f"[{i + 1}/{event.total_sources}] range {rng.start_date:%Y-%m-%d %H:%M}..{rng.end_date:%Y-%m-%d %H:%M}"
            f" source {source.name}: fetching, then asking for a strategy\n"
        )
        err.flush()

    return show


async def run_program(path: Path, out: TextIO, err: TextIO) -> int:
    """The generated program in a fresh interpreter, its output passed through line by line."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("engine")
    root = str(Path(spec.origin).resolve().parents[1]) if spec and spec.origin else os.getcwd()  # the same engine
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(path), cwd=str(path.parent), env=env, stdout=asyncio.subprocess.PIPE, stderr=None
    )
    assert proc.stdout is not None
    async for line in proc.stdout:
        out.write(line.decode("utf-8", "replace"))
        out.flush()
    return await proc.wait()


async def optimize(name: str, symbol: str, folder: Path, run: bool, out: TextIO, err: TextIO) -> int:
    schema = next(s for s in engine.list_optimizers() if s.optimizer_name == name)
    tokens = _Tokens()
    unlisten = engine.listen_optimizer_progress(_progress_printer(schema, err, tokens))
    try:
        with engine.streaming_llm_tokens_to(tokens):
            path = await engine.Optimizer.dump(symbol, name, folder)
    except (LlmError, engine.OptimizerDataError) as exc:
        err.write(f"error: optimizer {name} on {symbol}: {exc}\n")
        return EXIT_FAILED
    except Exception as exc:  # the project's own fetch, formatter or get_prompt failed
        err.write(f"error: optimizer {name} on {symbol}: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
    finally:
        unlisten()
    out.write(f"program written: {path}\n")
    out.write(f"its trace (each strategy's conversation and answer): {path.with_suffix('.md')}\n")
    if not run:
        out.write(f"review it, then run it with: python {path}  (or add --run)\n")
        return EXIT_OK
    out.write(f"running {path.name}\n")
    out.flush()
    code = await run_program(path, out, err)
    if code != 0:
        err.write(f"error: the generated program exited with code {code}\n")
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(list(argv))
        if not _SYMBOL.match(args.symbol):
            raise OptimizeUsageError(
                f"--symbol must look like BTCUSDT (capital letters and digits), got {args.symbol!r}"
            )
        project = load_project(args.config)
        names = [s.optimizer_name for s in engine.list_optimizers()]
        if not names:
            raise OptimizeUsageError(
                "the project registers no optimizer: call engine.add_optimizer(...) in a [project] modules file"
            )
        name = args.optimizer or names[0]
        if name not in names:
            raise OptimizeUsageError(f"unknown optimizer {name!r} (available: {', '.join(names)})")
        try:
            set_llm_settings(load_llm_settings(project.source))
        except ValueError as exc:
            raise OptimizeUsageError(str(exc)) from None
        folder = Path(args.dump) if args.dump is not None else project.dump_dir / "optimizer"
    except (OptimizeUsageError, ProjectError) as exc:
        err.write(f"btk-console optimize: error: {exc}\n")
        return EXIT_USAGE
    try:
        return asyncio.run(optimize(name, args.symbol, folder, args.run, out, err))
    except KeyboardInterrupt:
        err.write("btk-console optimize: interrupted\n")
        return 130
