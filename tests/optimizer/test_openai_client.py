"""engine.llm.OpenAICompatibleClient against the loopback server's /v1 endpoints (which Ollama serves too)."""

from __future__ import annotations

import pytest
from ollama_server import FakeOllama

import engine
from engine.llm import LlmError, LlmSettings, Message, make_client


@pytest.fixture
async def server():
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


def settings(url: str, **kw) -> LlmSettings:
    return LlmSettings(host=url, model="test-model", api="openai", **kw)


async def test_make_client_picks_the_api_and_chat_answers(server):
    server.answer_for("hi", "hello there")
    client = make_client(settings(server.url + "/v1"))
    assert type(client).__name__ == "OpenAICompatibleClient"
    async with client:
        reply = await client.chat([Message("user", "hi")])
        assert await client.models() == ["test-model"]
    assert reply.content == "hello there" and reply.messages == (Message("user", "hi"),)
    assert server.requests[0]["stream"] is False


async def test_streaming_tokens_in_order(server):
    server.answer_for("go", "a b c")
    tokens: list[str] = []
    async with make_client(settings(server.url)) as client:
        reply = await client.chat([Message("user", "go")], on_token=tokens.append)
    assert tokens == ["a ", "b ", "c"] and reply.content == "a b c"


async def test_retries_on_the_engine_clock_then_gives_up_naming_the_server(server):
    clock = engine.SimulatedClock(0, speed=0)
    engine.set_clock(clock)
    server.answer_for("x", "ok")
    server.fail_next = 1
    async with make_client(settings(server.url, backoff_ms=500.0)) as client:
        assert (await client.chat([Message("user", "x")])).attempts == 2
        assert clock.now() == 500
        server.fail_next = 9
        with pytest.raises(
            LlmError, match=r"OpenAI-compatible server at .*/v1, model test-model: HTTP 503.*gave up after 3"
        ):
            await client.chat([Message("user", "x")])


async def test_an_unknown_model_is_not_retried(server):
    async with make_client(LlmSettings(host=server.url, model="nope", api="openai")) as client:
        with pytest.raises(LlmError, match="HTTP 404"):
            await client.chat([Message("user", "x")])
    assert len(server.requests) == 1


def test_api_must_be_known():
    with pytest.raises(ValueError, match=r"\[llm\] api: expected one of ollama, openai, got 'gpt'"):
        LlmSettings(api="gpt")
