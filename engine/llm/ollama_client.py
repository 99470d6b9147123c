"""``LlmClient`` over a local Ollama server, through the official ``ollama`` package.

Why these rules: a local model is slow and its server may still be loading the model, so a
request gets a generous timeout and transient failures (no connection, a timeout, 429 or a 5xx
status) are retried with a doubling pause. The pause is the engine clock's (engine/retrying.py),
so tests on a simulated clock wait no real time. A missing model (404) or a bad request is not
retried: the error names the host and the model and says to ``ollama pull`` it.

Streaming: with ``on_token`` the answer is streamed and each piece handed over as it arrives. If
a stream breaks and the request is retried, the callback sees the new attempt's tokens from the
start (the reply is always the complete answer of the attempt that succeeded).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence

import httpx
import ollama

from .client import ClientLifetime, LlmError, LlmReply, Message, TokenCallback
from .retry import describe, llm_retrying
from .settings import LlmSettings, get_llm_settings

__all__ = ["OllamaClient"]


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ollama.ResponseError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, ConnectionError | httpx.TransportError)


class OllamaClient(ClientLifetime):
    """Chat with one model on one Ollama host (settings: ``engine.llm.LlmSettings``)."""

    def __init__(self, settings: LlmSettings | None = None) -> None:
        self.settings = settings or get_llm_settings()
        self._client = ollama.AsyncClient(host=self.settings.host, timeout=httpx.Timeout(self.settings.timeout_s))

    async def aclose(self) -> None:
        await self._client.close()

    def _where(self) -> str:
        return f"ollama at {self.settings.host}, model {self.settings.model}"

    async def _once(self, payload: list[dict[str, str]], on_token: TokenCallback | None) -> str:
        if on_token is None:
            response = await self._client.chat(model=self.settings.model, messages=payload, stream=False)
            return response.message.content or ""
        parts: list[str] = []
        stream = await self._client.chat(model=self.settings.model, messages=payload, stream=True)
        async for chunk in stream:
            piece = chunk.message.content or ""
            if piece:
                parts.append(piece)
                result = on_token(piece)
                if inspect.isawaitable(result):
                    await result
        return "".join(parts)

    def _retrying(self):
        return llm_retrying(self.settings, self._where(), _transient)

    async def chat(self, messages: Sequence[Message], *, on_token: TokenCallback | None = None) -> LlmReply:
        """Send the conversation, return the answer with it. Raises ``LlmError``.

        The request runs in a task of its own: httpx (on anyio) must start and finish a request in
        one task, and the engine may resume a suspended ``get_signal`` in another task than the one
        that started it (engine/strategy.py ``_drive``), so a strategy can call this directly."""
        return await asyncio.ensure_future(self._chat(tuple(messages), on_token))

    async def _chat(self, messages: tuple[Message, ...], on_token: TokenCallback | None) -> LlmReply:
        sent = messages
        if not sent:
            raise LlmError(f"{self._where()}: nothing to send (the conversation is empty)")
        payload = [m.as_dict() for m in sent]
        attempts = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    content = await self._once(payload, on_token)
        except LlmError:
            raise
        except ollama.ResponseError as exc:
            hint = f"; pull it with `ollama pull {self.settings.model}`" if exc.status_code == 404 else ""
            raise LlmError(f"{self._where()}: {exc}{hint}") from exc
        return LlmReply(model=self.settings.model, messages=sent, content=content, attempts=attempts)

    async def models(self) -> list[str]:
        """The models the server has pulled (``ollama list``)."""
        try:
            listing = await self._client.list()
        except (ollama.ResponseError, ConnectionError, httpx.TransportError) as exc:
            raise LlmError(f"ollama at {self.settings.host}: cannot list models: {describe(exc)}") from exc
        return [m.model for m in listing.models if m.model]
