"""``btk-console optimize`` in a subprocess against the loopback Ollama server: a btk.toml project
whose module registers an optimizer, progress on stderr, the program written, --run's leaderboard."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from ollama_server import FakeOllama

from console.cli import main

ROOT = Path(__file__).resolve().parents[2]

PROJECT = """\
[project]
name = "opt"
modules = ["gen.py"]

[exchanges.sim]
kind = "synthetic"

[frames.day]
interval = "1m"
start = 2024-03-03T00:00:00Z
end = 2024-03-03T06:00:00Z

[llm]
model = "test-model"
attempts = 1
"""

MODULE = """\
import engine

async def never(symbol, when):
    return None

engine.add_strategy("placeholder", "5m", never)
engine.add_optimizer(
    "writer",
    [{"start_date": "2024-03-01", "end_date": "2024-03-02"}, {"start_date": "2024-03-02", "end_date": "2024-03-03"}],
    {"start_date": "2024-03-03T00:00:00Z", "end_date": "2024-03-03T04:00:00Z"},
    [engine.candle_source("hourly", engine.SyntheticFeed(1), "1h")],
    engine.llm_prompt(lambda: engine.OllamaClient(), engine.optimizer.CODE_INSTRUCTION),
    template={"strategy_kind": "code", "prefix": "cli"},
)
"""

CODE = """```python
def get_signal(candles, price):
    if price > candles[0]["close"]:
        return {"position": "long", "price_take_profit": price * 1.01, "price_stop_loss": price * 0.99,
                "minute_estimated_time": 30}
    return None
```"""


@pytest.fixture
async def server():
    fake = FakeOllama(fallback=lambda messages: CODE)
    await fake.start()
    yield fake
    await fake.stop()


async def cli(args: list[str], cwd: Path, url: str) -> tuple[int, str, str]:
    env = {**os.environ, "OLLAMA_HOST": url, "PYTHONPATH": str(ROOT)}
    env.pop("BTK_LLM_MODEL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.cli",
        "optimize",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)  # a generous safety net only
    return proc.returncode, out.decode(), err.decode()


def project(tmp_path: Path) -> Path:
    (tmp_path / "btk.toml").write_text(PROJECT)
    (tmp_path / "gen.py").write_text(MODULE)
    return tmp_path


async def test_optimize_writes_the_program_and_runs_it_when_asked(server, tmp_path):
    root = project(tmp_path)
    code, out, err = await cli(["--symbol", "BTCUSDT", "--run"], root, server.url)
    assert code == 0, err
    assert "[1/2] range 2024-03-01 00:00..2024-03-02 00:00 source hourly" in err
    assert "[2/2] all sources read" in err
    # the answers were streamed to the CLI (the module's llm_prompt has no callback of its own)
    streamed = [int(m) for m in re.findall(r"the model answered \((\d+) tokens streamed\)", err)]
    assert len(streamed) == 2 and min(streamed) > 0, err
    assert server.requests and all(r.get("stream") for r in server.requests)
    program = root / "dump" / "optimizer" / "writer_BTCUSDT.py"
    assert f"program written: {program}" in out
    assert program.with_suffix(".md").is_file()
    assert "cli_walker on BTCUSDT, ranked by sharpe_ratio" in out
    assert "cli_strategy-0" in out and "cli_strategy-1" in out
    assert {r["model"] for r in server.requests} == {"test-model"}  # [llm] model from btk.toml


async def test_without_run_the_program_is_only_written(server, tmp_path):
    root = project(tmp_path)
    code, out, err = await cli(["--symbol", "BTCUSDT", "--dump", "gen-out"], root, server.url)
    assert code == 0, err
    assert (root / "gen-out" / "writer_BTCUSDT.py").is_file()
    assert "review it, then run it with" in out and "ranked by" not in out


async def test_an_unreachable_model_is_one_error_line(tmp_path):
    root = project(tmp_path)
    code, _out, err = await cli(["--symbol", "BTCUSDT"], root, "http://127.0.0.1:9")
    assert code == 1
    assert "error: optimizer writer on BTCUSDT: ollama at http://127.0.0.1:9, model test-model:" in err
    assert "Traceback" not in err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    root = project(tmp_path)
    assert main(["optimize", "--config", str(root), "--symbol", "BTCUSDT", "--optimizer", "nope"]) == 2
    assert "unknown optimizer 'nope' (available: writer)" in capsys.readouterr().err
    assert main(["optimize", "--config", str(root), "--symbol", "btc"]) == 2
    assert "--symbol must look like BTCUSDT" in capsys.readouterr().err
    (root / "btk.toml").write_text(PROJECT.replace("attempts = 1", "atempts = 1"))
    assert main(["optimize", "--config", str(root), "--symbol", "BTCUSDT"]) == 2
    assert "[llm]" in capsys.readouterr().err


def test_a_failing_source_is_one_error_line(tmp_path, capsys):
    root = project(tmp_path)
    failing = MODULE.replace(
        'engine.candle_source("hourly", engine.SyntheticFeed(1), "1h")',
        '{"name": "db", "fetch": lambda **kw: (_ for _ in ()).throw(RuntimeError("db down"))}',
    )
    (root / "gen.py").write_text(failing)
    assert main(["optimize", "--config", str(root), "--symbol", "BTCUSDT"]) == 1
    assert "error: optimizer writer on BTCUSDT: RuntimeError: db down" in capsys.readouterr().err
