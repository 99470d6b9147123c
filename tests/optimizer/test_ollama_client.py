"""engine.llm.OllamaClient against the loopback Ollama server: the real ``ollama`` package over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from ollama_server import FakeOllama, prompt_key

import engine
from engine.llm import LlmError, LlmSettings, Message, OllamaClient, load_llm_settings


@pytest.fixture
async def server():
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


def settings(url: str, **kw) -> LlmSettings:
    return LlmSettings(host=url, model="test-model", **{"backoff_ms": 1000.0, "attempts": 3, **kw})


async def test_chat_returns_the_answer_keyed_by_the_prompt_with_the_prompt(server):
    server.answer_for("what now?", "buy the dip")
    async with OllamaClient(settings(server.url)) as client:
        reply = await client.chat([Message("system", "be brief"), Message("user", "what now?")])
    assert reply.content == "buy the dip"
    assert reply.model == "test-model"
    assert [m.content for m in reply.messages] == ["be brief", "what now?"]
    assert server.requests[0]["stream"] is False
    assert server.requests[0]["messages"][0] == {"role": "system", "content": "be brief"}


async def test_streaming_hands_every_token_over_in_order(server):
    server.answer_for("go", "one two three")
    tokens: list[str] = []

    async def on_token(piece: str) -> None:
        tokens.append(piece)

    async with OllamaClient(settings(server.url)) as client:
        reply = await client.chat([Message("user", "go")], on_token=on_token)
    assert tokens == ["one ", "two ", "three"]
    assert reply.content == "one two three"
    assert server.requests[0]["stream"] is True


async def test_transient_errors_are_retried_with_doubling_backoff_on_the_engine_clock(server):
    clock = engine.SimulatedClock(0, speed=0)
    engine.set_clock(clock)
    server.answer_for("x", "ok")
    server.fail_next = 2
    async with OllamaClient(settings(server.url)) as client:
        reply = await client.chat([Message("user", "x")])
    assert reply.content == "ok"
    assert reply.attempts == 3
    assert clock.now() == 1000 + 2000  # two pauses, no real waiting


async def test_giving_up_names_host_model_and_attempts(server):
    engine.set_clock(engine.SimulatedClock(0, speed=0))
    server.fail_next = 5
    async with OllamaClient(settings(server.url, attempts=2)) as client:
        with pytest.raises(LlmError, match=r"model test-model: .*503.*gave up after 2 attempts"):
            await client.chat([Message("user", "x")])
    assert len(server.requests) == 2


async def test_an_unknown_model_is_not_retried_and_says_to_pull_it(server):
    async with OllamaClient(LlmSettings(host=server.url, model="nope")) as client:
        with pytest.raises(LlmError, match=r"model nope: .*not found.*ollama pull nope"):
            await client.chat([Message("user", "x")])
    assert len(server.requests) == 1


async def test_a_prompt_the_table_does_not_know_is_an_error_not_an_invented_answer(server):
    async with OllamaClient(settings(server.url)) as client:
        with pytest.raises(LlmError, match=f"no answer for prompt {prompt_key('unknown')}"):
            await client.chat([Message("user", "unknown")])


async def test_a_slow_model_times_out_and_the_error_says_so(server):
    engine.set_clock(engine.SimulatedClock(0, speed=0))
    server.hold = asyncio.Event()  # never set while the client waits
    async with OllamaClient(settings(server.url, timeout_s=0.2, attempts=2)) as client:
        with pytest.raises(LlmError, match=r"no answer within the timeout .*gave up after 2 attempts"):
            await client.chat([Message("user", "x")])
    server.hold.set()


async def test_models_lists_what_the_server_has(server):
    async with OllamaClient(settings(server.url)) as client:
        assert await client.models() == ["test-model"]


async def test_an_unreachable_host_is_an_llm_error_naming_it():
    engine.set_clock(engine.SimulatedClock(0, speed=0))
    async with OllamaClient(LlmSettings(host="http://127.0.0.1:9", model="m", attempts=2)) as client:
        with pytest.raises(LlmError, match=r"ollama at http://127.0.0.1:9, model m: .*gave up after 2"):
            await client.chat([Message("user", "x")])


def test_settings_come_from_btk_toml_then_the_environment(tmp_path):
    toml = tmp_path / "btk.toml"
    toml.write_text('[llm]\nmodel = "from-file"\nmax_rows_per_source = 10\n')
    s = load_llm_settings(toml, env={})
    assert (s.model, s.max_rows_per_source) == ("from-file", 10)
    s = load_llm_settings(toml, env={"BTK_LLM_MODEL": "from-env", "OLLAMA_HOST": "http://h:1"})
    assert (s.model, s.host, s.max_rows_per_source) == ("from-env", "http://h:1", 10)


def test_bad_settings_name_the_key(tmp_path):
    toml = tmp_path / "btk.toml"
    toml.write_text('[llm]\nmodle = "x"\n')
    with pytest.raises(ValueError, match=r"\[llm\]: unknown key\(s\) modle; expected any of host, model"):
        load_llm_settings(toml, env={})
    toml.write_text("[llm]\nattempts = 0\n")
    with pytest.raises(ValueError, match=r"\[llm\] attempts: expected a whole number >= 1, got 0"):
        load_llm_settings(toml, env={})
