"""The generated program's text (get_code), dump's write errors, llm_prompt, and the Ollama client
called from inside a running backtest's get_signal."""

from __future__ import annotations

import ast
import re

import pytest
from ollama_server import FakeOllama

import engine
from engine.llm import LlmSettings, Message, OllamaClient

R1 = {"start_date": "2024-01-01", "end_date": "2024-01-02"}
R2 = {"start_date": "2024-01-02", "end_date": "2024-01-03"}
TEST = {"start_date": "2024-01-03", "end_date": "2024-01-04"}


def one_row(**kw):
    return [{"id": 1, "close": 1.0}]


@pytest.fixture
async def server():
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize(
    ("exchange", "call"),
    [
        ({"kind": "synthetic", "seed": 9}, "engine.add_synthetic_exchange(EXCHANGE, seed=9)"),
        ({"kind": "csv", "path": "data/btc.csv"}, "engine.add_csv_exchange(EXCHANGE, 'data/btc.csv')"),
        ({"kind": "ccxt", "exchange_id": "binance"}, "engine.add_ccxt_exchange(EXCHANGE, 'binance')"),
        (
            {"kind": "catalog", "path": "data", "exchange": "binance"},
            "engine.add_catalog_exchange(EXCHANGE, 'data', exchange='binance')",
        ),
    ],
)
async def test_the_program_is_valid_python_with_the_sections_of_spec_13_2(exchange, call):
    engine.add_optimizer(
        "o",
        [R1, R2],
        TEST,
        [one_row, {"name": "b", "fetch": one_row}],
        lambda symbol, messages: 'a strategy with """quotes""" and \\ backslashes',
        template={"exchange": exchange, "metric": "win_rate"},
    )
    code = await engine.Optimizer.get_code("BTCUSDT", "o")
    tree = ast.parse(code)  # compiles: the model's text is embedded as literals, whatever it holds
    assert call in code
    prefix = re.search(r"^PREFIX = '(p[0-9a-f]{5})'$", code, re.M)
    assert prefix, "a random prefix: a letter and five hex digits"
    entries = next(
        n.value for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ENTRIES"
    )
    values = ast.literal_eval(entries)
    assert [e["name"] for e in values] == ["unknown", "b", "unknown", "b"]
    assert values[3]["strategy"] == 'a strategy with """quotes""" and \\ backslashes'
    assert [len(e["messages"]) for e in values] == [2, 4, 2, 4]
    assert "METRIC = 'win_rate'" in code and "SIGNAL_INTERVAL = '5m'" in code
    sections = re.findall(r"^# -+ (exchange|frames \(1m\)|strategies|walker|launcher)$", code, re.M)
    assert sections == ["exchange", "frames (1m)", "strategies", "walker", "launcher"]


async def test_dump_raises_write_errors_and_calls_no_on_dump(tmp_path):
    dumped: list = []
    engine.add_optimizer("o", [R1], TEST, [one_row], lambda s, m: "x", callbacks={"on_dump": dumped.append})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        await engine.Optimizer.dump("BTCUSDT", "o", blocker)
    assert dumped == []


async def test_llm_prompt_asks_with_the_conversation_and_streams_tokens(server):
    server.fallback = lambda messages: f"strategy after {len(messages)} messages"
    replies: list = []
    tokens: list = []
    async with OllamaClient(LlmSettings(host=server.url, model="test-model")) as client:
        engine.add_optimizer(
            "o",
            [R1],
            TEST,
            [one_row],
            engine.llm_prompt(client, "Now the strategy for {symbol}.", on_token=tokens.append, replies=replies),
        )
        entries = await engine.Optimizer.get_data("SOLUSDT", "o")
    assert entries[0].strategy == "strategy after 3 messages"
    assert "".join(tokens) == "strategy after 3 messages"
    assert replies[0].messages[-1] == Message("user", "Now the strategy for SOLUSDT.")
    assert replies[0].messages[:2] == entries[0].messages


async def test_a_strategy_can_ask_the_model_inside_a_backtest(server):
    """The engine resumes a suspended get_signal in a task of its own; the client copes."""
    server.fallback = lambda messages: "wait"
    answers: list[str] = []
    client = OllamaClient(LlmSettings(host=server.url, model="test-model"))

    async def get_signal(symbol, when, price):
        reply = await client.chat([Message("user", f"{symbol} at {price}?")])
        answers.append(reply.content)
        return None

    engine.add_synthetic_exchange("sim", seed=1)
    engine.add_frame("f", "1m", "2024-01-01T00:00:00Z", "2024-01-01T00:30:00Z")
    engine.add_strategy("asks", "5m", get_signal)
    errors: list = []
    engine.listen_error(errors.append)
    try:
        async for _ in engine.Backtest.run("BTCUSDT", strategy_name="asks", exchange_name="sim", frame_name="f"):
            pass
    finally:
        await client.aclose()
    assert errors == []
    assert answers == ["wait"] * 7  # m0, m5, ..., m30


async def test_dump_writes_a_markdown_trace_the_reports_browser_lists(tmp_path):
    from console.screens.reports import report_files

    engine.add_optimizer(
        "o",
        [{**R1, "note": "calm"}],
        TEST,
        [{"name": "feed", "fetch": one_row}],
        lambda s, m: "answer with ``` inside",
        template={"prefix": "q"},
    )
    program = await engine.Optimizer.dump("BTCUSDT", "o", tmp_path / "dump" / "optimizer")
    trace = program.with_suffix(".md")
    text = trace.read_text()
    assert text.startswith("# Optimizer o on BTCUSDT")
    assert "## q_strategy-0: source feed, 2024-01-01 00:00 .. 2024-01-02 00:00 (calm)" in text
    assert "````\nanswer with ``` inside\n````" in text  # a fence longer than the answer's own
    assert "**user**" in text and "**assistant**" in text
    assert "```python\n#!/usr/bin/env python3" in text and text.rstrip().endswith("```")
    assert trace in report_files(tmp_path / "dump")
