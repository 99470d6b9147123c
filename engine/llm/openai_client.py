"""``LlmClient`` for any OpenAI-compatible chat endpoint (``POST /v1/chat/completions``).

llama.cpp's server, vLLM, LM Studio and Ollama itself (under ``/v1``) speak this API, so one small
client reaches them all. ``host`` is the server's base URL (``http://127.0.0.1:8080``; a trailing
``/v1`` is accepted); a key, if the server wants one, comes from ``BTK_LLM_API_KEY`` and never from
a file. Same retry rule as the Ollama client (engine/llm/retry.py); a request runs in a task of its
own for the reason given there (engine/llm/ollama_client.py).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Sequence

import httpx

from .client import ClientLifetime, LlmError, LlmReply, Message, TokenCallback
from .retry import describe, llm_retrying
from .settings import LlmSettings, get_llm_settings

__all__ = ["OpenAICompatibleClient"]


class _Status(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:200]}")
        self.status = status


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, _Status):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, httpx.TransportError)


class OpenAICompatibleClient(ClientLifetime):
    def __init__(self, settings: LlmSettings | None = None) -> None:
        self.settings = settings or get_llm_settings()
        base = self.settings.host.rstrip("/")
        self._base = base if base.endswith("/v1") else base + "/v1"
        key = os.environ.get("BTK_LLM_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.settings.timeout_s), headers=headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _where(self) -> str:
        return f"OpenAI-compatible server at {self._base}, model {self.settings.model}"

    async def _once(self, payload: dict, on_token: TokenCallback | None) -> str:
        url = f"{self._base}/chat/completions"
        if on_token is None:
            response = await self._http.post(url, json=payload)
            if response.status_code != 200:
                raise _Status(response.status_code, response.text)
            return response.json()["choices"][0]["message"].get("content") or ""
        parts: list[str] = []
        async with self._http.stream("POST", url, json={**payload, "stream": True}) as response:
            if response.status_code != 200:
                raise _Status(response.status_code, (await response.aread()).decode("utf-8", "replace"))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                piece = json.loads(data)["choices"][0].get("delta", {}).get("content") or ""
                if piece:
                    parts.append(piece)
                    result = on_token(piece)
                    if inspect.isawaitable(result):
                        await result
        return "".join(parts)

    async def chat(self, messages: Sequence[Message], *, on_token: TokenCallback | None = None) -> LlmReply:
        """Send the conversation, return the answer with it. Raises ``LlmError``."""
        return await asyncio.ensure_future(self._chat(tuple(messages), on_token))

    async def _chat(self, sent: tuple[Message, ...], on_token: TokenCallback | None) -> LlmReply:
        if not sent:
            raise LlmError(f"{self._where()}: nothing to send (the conversation is empty)")
        payload = {"model": self.settings.model, "messages": [m.as_dict() for m in sent], "stream": False}
        attempts = 0
        try:
            async for attempt in llm_retrying(self.settings, self._where(), _transient):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    content = await self._once(payload, on_token)
        except _Status as exc:
            raise LlmError(f"{self._where()}: {exc}") from exc
        except (KeyError, IndexError, ValueError) as exc:
            raise LlmError(f"{self._where()}: an answer not in the chat-completions shape: {exc!r}") from exc
        return LlmReply(model=self.settings.model, messages=sent, content=content, attempts=attempts)

    async def models(self) -> list[str]:
        try:
            response = await self._http.get(f"{self._base}/models")
            if response.status_code != 200:
                raise _Status(response.status_code, response.text)
            return [m["id"] for m in response.json().get("data", [])]
        except (_Status, httpx.TransportError, KeyError, ValueError) as exc:
            raise LlmError(f"{self._where()}: cannot list models: {describe(exc)}") from exc
