"""LLM clients for the optimizer (SPEC 13.2): an interface, its settings and the Ollama implementation.

``OllamaClient`` imports the ``ollama`` package when it is made, so ``import engine`` stays light.
"""

from __future__ import annotations

from .client import LlmClient, LlmError, LlmReply, Message, TokenCallback, streaming_tokens_to, token_listener
from .settings import LlmSettings, get_llm_settings, load_llm_settings, set_llm_settings

__all__ = [
    "LlmClient",
    "LlmError",
    "LlmReply",
    "LlmSettings",
    "Message",
    "OllamaClient",
    "OpenAICompatibleClient",
    "TokenCallback",
    "get_llm_settings",
    "load_llm_settings",
    "make_client",
    "set_llm_settings",
    "streaming_tokens_to",
    "token_listener",
]


def make_client(settings: LlmSettings | None = None) -> LlmClient:
    """The client ``settings.api`` names (default: the current settings)."""
    settings = settings or get_llm_settings()
    if settings.api == "openai":
        from .openai_client import OpenAICompatibleClient

        return OpenAICompatibleClient(settings)
    from .ollama_client import OllamaClient

    return OllamaClient(settings)


def __getattr__(name: str) -> object:
    if name == "OllamaClient":  # imports ollama (httpx, pydantic): only when somebody asks for it
        from .ollama_client import OllamaClient

        return OllamaClient
    if name == "OpenAICompatibleClient":
        from .openai_client import OpenAICompatibleClient

        return OpenAICompatibleClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
