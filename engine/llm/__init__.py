"""LLM clients for the optimizer (SPEC 13.2): an interface, its settings and the Ollama implementation.

``OllamaClient`` imports the ``ollama`` package when it is made, so ``import engine`` stays light.
"""

from __future__ import annotations

from .client import LlmClient, LlmError, LlmReply, Message, TokenCallback
from .settings import LlmSettings, get_llm_settings, load_llm_settings, set_llm_settings

__all__ = [
    "LlmClient",
    "LlmError",
    "LlmReply",
    "LlmSettings",
    "Message",
    "OllamaClient",
    "TokenCallback",
    "get_llm_settings",
    "load_llm_settings",
    "set_llm_settings",
]


def __getattr__(name: str) -> object:
    if name == "OllamaClient":  # imports ollama (httpx, pydantic): only when somebody asks for it
        from .ollama_client import OllamaClient

        return OllamaClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
