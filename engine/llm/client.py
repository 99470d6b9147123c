"""What the optimizer needs from a language model, whoever serves it.

The optimizer and the programs it writes talk to an ``LlmClient``: a chat call that takes the
conversation and returns the answer, optionally streaming tokens to a callback, and a model
listing. ``LlmReply`` keeps the prompt with the answer so a generated strategy can be traced back
to the exact conversation that produced it (SPEC 13.2: entries carry their messages).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from .settings import LlmSettings

__all__ = [
    "ClientLifetime",
    "LlmClient",
    "LlmError",
    "LlmReply",
    "Message",
    "TokenCallback",
    "streaming_tokens_to",
    "token_listener",
]

ROLES = ("system", "user", "assistant")

TokenCallback = Callable[[str], Awaitable[None] | None]
"""Called with each streamed piece of the answer, in order (sync or async)."""

_TOKENS: ContextVar[TokenCallback | None] = ContextVar("btk_llm_tokens", default=None)


@contextmanager
def streaming_tokens_to(callback: TokenCallback) -> Iterator[None]:
    """Hand the streamed tokens of every ``llm_prompt`` asked inside this block (in this task and
    the tasks it starts) to ``callback``, when the prompt was given no ``on_token`` of its own.

    Why: the project's module builds its ``get_prompt`` (and its client); a front end such as
    ``btk-console optimize`` cannot reach in to pass a callback, yet wants to show the model
    answering while it does."""
    token = _TOKENS.set(callback)
    try:
        yield
    finally:
        _TOKENS.reset(token)


def token_listener() -> TokenCallback | None:
    """The callback of the innermost ``streaming_tokens_to`` block, or None."""
    return _TOKENS.get()


class LlmError(RuntimeError):
    """The model could not answer: unreachable host, unknown model, an error status after the
    retries, a timeout. The message says which host, which model and what happened."""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation, in the role/content shape every chat API shares."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError(f"message content must be a string, got {type(self.content).__name__}")

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class LlmReply:
    """The answer with what was asked: the model, the conversation sent and the attempts it took."""

    model: str
    messages: tuple[Message, ...]
    content: str
    attempts: int = 1


@runtime_checkable
class LlmClient(Protocol):
    """A chat model. Implementations retry transient failures themselves and raise ``LlmError``."""

    @property
    def model(self) -> str: ...

    async def chat(self, messages: Sequence[Message], *, on_token: TokenCallback | None = None) -> LlmReply: ...

    async def models(self) -> list[str]: ...


class ClientLifetime:
    """What every client shares: its model name from ``settings`` and ``async with`` closing its
    HTTP connections (``aclose``, which each client implements for its own transport)."""

    settings: LlmSettings

    @property
    def model(self) -> str:
        return self.settings.model

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError
