"""End to end: synthetic-feed sources, two training ranges, a test range, a model on the loopback
Ollama server, the generated program written and run in a subprocess, its leaderboard checked."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from ollama_server import FakeOllama

import engine
from engine.llm import LlmSettings, OllamaClient
from engine.optimizer import CODE_INSTRUCTION, candle_source

ROOT = Path(__file__).resolve().parents[2]
RANGES = [
    {"start_date": "2024-03-01", "end_date": "2024-03-02", "note": "train 1"},
    {"start_date": "2024-03-02", "end_date": "2024-03-03", "note": "train 2"},
]
TEST = {"start_date": "2024-03-03T00:00:00Z", "end_date": "2024-03-03T06:00:00Z"}

GOOD = """Here is the strategy.
```python
def get_signal(candles, price):
    closes = [c["close"] for c in candles]
    mean = sum(closes) / len(closes)
    if price > mean:
        return {"position": "long", "price_take_profit": price * 1.01, "price_stop_loss": price * 0.99,
                "minute_estimated_time": 60}
    return None
```"""
RAISES = "```python\ndef get_signal(candles, price):\n    return 1 / 0\n```"
BROKEN = "```python\ndef get_signal(candles, price)\n    return None\n```"
INVALID = "```python\ndef get_signal(candles, price):\n    return {'position': 'sideways'}\n```"


async def run_program(path: Path, url: str, safety_s: float = 300) -> tuple[int, str, str]:
    env = {**os.environ, "OLLAMA_HOST": url, "BTK_LLM_MODEL": "test-model", "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(path),
        cwd=path.parent,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), safety_s)  # a generous safety net only
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


def leaderboard(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("leaderboard-json: "))
    return json.loads(line.removeprefix("leaderboard-json: "))


@pytest.fixture
async def server():
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


async def test_code_strategies_written_run_and_ranked_with_their_errors(server, tmp_path):
    answers = iter([GOOD, RAISES, BROKEN, INVALID])
    asked: list[list] = []

    def answer(messages):
        asked.append(messages)
        return next(answers)

    server.fallback = answer
    feed = engine.SyntheticFeed(7)
    client = OllamaClient(LlmSettings(host=server.url, model="test-model"))
    engine.add_optimizer(
        "gen",
        RANGES,
        TEST,
        [candle_source("hourly", feed, "1h"), candle_source("quarter", feed, "15m")],
        engine.llm_prompt(client, CODE_INSTRUCTION),
        template={"strategy_kind": "code", "exchange": {"kind": "synthetic", "seed": 7}, "prefix": "t", "candles": 12},
    )
    try:
        path = await engine.Optimizer.dump("BTCUSDT", "gen", tmp_path)
    finally:
        await client.aclose()
    assert path.name == "gen_BTCUSDT.py"
    # the conversations: a range's second source sees the first one's messages, then the instruction
    assert [len(m) for m in asked] == [3, 5, 3, 5]
    assert asked[0][-1]["content"] == CODE_INSTRUCTION.format(symbol="BTCUSDT")
    assert len(json.loads(asked[1][2]["content"].split("\n\n", 1)[1])) == 96  # 15m candles of one day, 4 pages
    text = path.read_text()
    assert "PREFIX = 't'" in text
    for name in ('f"{PREFIX}_exchange"', 'f"{PREFIX}_train_frame-{i}"', 'f"{PREFIX}_test_frame"', 'f"{PREFIX}_walker"'):
        assert name in text
    assert "1 / 0" in text  # the model's answers are in the program, for tracing

    code, out, err = await run_program(path, server.url)
    assert code == 0, err
    board = leaderboard(out)
    rows = {r["strategy"]: r for r in board["rows"]}
    assert set(rows) == {f"t_strategy-{i}" for i in range(4)}
    assert rows["t_strategy-0"]["signals"] > 0 and rows["t_strategy-0"]["errors"] == 0
    assert rows["t_strategy-0"]["rank"] == 1
    errors = board["errors"]
    assert errors["t_strategy-1"][0] == "raised ZeroDivisionError: division by zero"
    assert errors["t_strategy-2"][0].startswith("the generated code does not load: SyntaxError")
    assert errors["t_strategy-3"][0] == "position must be long, short or wait, got 'sideways'"
    assert "error: t_strategy-2: the generated code does not load" in out
    assert rows["t_strategy-1"]["signals"] == rows["t_strategy-2"]["signals"] == 0


async def test_strategies_that_ask_the_model_trade_on_its_answers(server, tmp_path):
    feed = engine.SyntheticFeed(3)

    def answer(messages):
        if messages[0]["role"] == "system":  # the generated program asking for a signal
            price = float(messages[1]["content"].split("current price ")[1].split(".")[0])
            if "SHORT" in messages[0]["content"]:
                return (
                    f'{{"position": "short", "price_take_profit": {price * 0.99}, "price_stop_loss": {price * 1.01}}}'
                )
            return "I think we should wait."  # no JSON: recorded as an error, not a crash
        return "Go SHORT when asked." if len(messages) == 3 else "Always wait."

    server.fallback = answer
    client = OllamaClient(LlmSettings(host=server.url, model="test-model"))
    engine.add_optimizer(
        "ask",
        RANGES[:1],
        TEST,
        [candle_source("hourly", feed, "1h"), candle_source("four-hourly", feed, "4h")],
        engine.llm_prompt(client),
        template={"exchange": {"kind": "synthetic", "seed": 3}, "prefix": "a"},
    )
    try:
        path = await engine.Optimizer.dump("ETHUSDT", "ask", tmp_path)
    finally:
        await client.aclose()
    code, out, err = await run_program(path, server.url)
    assert code == 0, err
    board = leaderboard(out)
    rows = {r["strategy"]: r for r in board["rows"]}
    assert rows["a_strategy-0"]["signals"] > 0 and rows["a_strategy-0"]["errors"] == 0, out
    assert rows["a_strategy-1"]["signals"] == 0
    assert board["errors"]["a_strategy-1"][0].startswith("ValueError: no JSON object in the answer")
    assert board["errors"]["a_strategy-1"][-1] == "stopped asking the model after 3 failures in a row"
