"""A loopback server speaking the part of Ollama's REST API that ``engine.llm.OllamaClient`` uses.

Real HTTP on 127.0.0.1 (aiohttp), so the real ``ollama`` package is what the tests exercise:
``POST /api/chat`` (streamed NDJSON or one JSON object), ``POST /api/generate`` and
``GET /api/tags``. Answers are deterministic: the key is the SHA-256 of the last message's
content (``prompt_key``), looked up in ``answers``; without an entry, ``fallback(messages)`` answers
if given, else the server replies 404 "no answer for prompt <key>" so a test never gets a made-up
answer silently.

On demand: ``fail_next`` makes the next N chat requests answer 503; ``hold`` (an ``asyncio.Event``)
makes a chat request wait until it is set (a "slow" model, for timeouts); an unknown model gets
Ollama's own 404 "model ... not found".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def prompt_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class FakeOllama:
    models: tuple[str, ...] = ("test-model",)
    answers: dict[str, str] = field(default_factory=dict)
    fallback: Callable[[list[dict[str, Any]]], str] | None = None
    fail_next: int = 0
    hold: asyncio.Event | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def answer_for(self, prompt: str, answer: str) -> None:
        self.answers[prompt_key(prompt)] = answer

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/v1/chat/completions", self._openai_chat)  # Ollama serves this API too
        app.router.add_get("/v1/models", self._openai_models)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ handlers

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [{"model": m, "name": m, "size": 1, "digest": "0"} for m in self.models]})

    def _reply(self, body: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[int, str]:
        if body.get("model") not in self.models:
            return 404, f"model '{body.get('model')}' not found"
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503, "server busy (on demand)"
        last = messages[-1]["content"] if messages else ""
        key = prompt_key(last)
        if key in self.answers:
            return 200, self.answers[key]
        if self.fallback is not None:
            return 200, self.fallback(messages)
        return 404, f"no answer for prompt {key}"

    async def _respond(self, request: web.Request, body: dict[str, Any], messages, shape) -> web.StreamResponse:
        self.requests.append(body)
        if self.hold is not None:
            await self.hold.wait()
        status, text = self._reply(body, messages)
        if status != 200:
            return web.json_response({"error": text}, status=status)
        if body.get("stream", True) is False:
            return web.json_response(shape(text, True))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        pieces = [p for p in text.split(" ")]
        for i, piece in enumerate(pieces):
            chunk = piece if i == len(pieces) - 1 else piece + " "
            await response.write((json.dumps(shape(chunk, False)) + "\n").encode())
        await response.write((json.dumps(shape("", True)) + "\n").encode())
        await response.write_eof()
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = body.get("model")

        def shape(text: str, done: bool) -> dict[str, Any]:
            return {
                "model": model,
                "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text},
                "done": done,
            }

        return await self._respond(request, body, body.get("messages") or [], shape)

    async def _openai_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.hold is not None:
            await self.hold.wait()
        status, text = self._reply(body, body.get("messages") or [])
        if status != 200:
            return web.json_response({"error": {"message": text}}, status=status)
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            return web.json_response({"object": "chat.completion", "choices": [{"index": 0, "message": message}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = text.split(" ")
        for i, piece in enumerate(pieces):
            chunk = piece if i == len(pieces) - 1 else piece + " "
            event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": chunk}}]}
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = body.get("model")

        def shape(text: str, done: bool) -> dict[str, Any]:
            return {"model": model, "created_at": "2024-01-01T00:00:00Z", "response": text, "done": done}

        return await self._respond(request, body, [{"role": "user", "content": body.get("prompt", "")}], shape)
