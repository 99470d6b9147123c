"""Where the model is and how hard to try: ``[llm]`` of btk.toml, then the environment.

Precedence (lowest first): the defaults here, the ``[llm]`` table of a btk.toml, the environment
(``OLLAMA_HOST``, the variable the ``ollama`` tools already use, and ``BTK_LLM_MODEL``), so a
one-off ``BTK_LLM_MODEL=qwen2.5-coder btk-console optimize ...`` needs no file edit.

The prompt bounds live here too: a source with a year of rows would otherwise become a message no
local model can take, so each source contributes at most ``max_rows_per_source`` rows and each
message at most ``max_message_chars`` characters (SPEC 13.2 leaves the size open).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..scope import active

__all__ = ["LlmSettings", "get_llm_settings", "load_llm_settings", "set_llm_settings"]

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2"
APIS = ("ollama", "openai")


@dataclass(frozen=True, slots=True)
class LlmSettings:
    host: str = DEFAULT_HOST
    model: str = DEFAULT_MODEL
    timeout_s: float = 120.0
    """One request's limit (connect, read between tokens); a local model on a CPU is slow."""
    attempts: int = 3
    """Tries per request; transient failures (connection, timeout, 429, 5xx) are retried."""
    backoff_ms: float = 1000.0
    """Pause after the first failure, doubled after each further one (on the engine clock)."""
    max_rows_per_source: int = 200
    max_message_chars: int = 20_000
    api: str = "ollama"
    """``ollama`` (its own API, the official client) or ``openai`` (any OpenAI-compatible server)."""

    def __post_init__(self) -> None:
        for key in ("host", "model"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"[llm] {key}: expected a non-empty string, got {value!r}")
        for key, low in (("timeout_s", 0.0), ("backoff_ms", -1e-12)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"[llm] {key}: expected a number, got {value!r}")
            if value <= low:
                raise ValueError(f"[llm] {key}: must be {'> 0' if low == 0 else '>= 0'}, got {value!r}")
        if self.api not in APIS:
            raise ValueError(f"[llm] api: expected one of {', '.join(APIS)}, got {self.api!r}")
        for key in ("attempts", "max_rows_per_source", "max_message_chars"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"[llm] {key}: expected a whole number >= 1, got {value!r}")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "[llm]") -> LlmSettings:
        """Settings from a TOML table; an unknown key is named with the known ones."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected any of {', '.join(known)}")
        try:
            return cls(**dict(table))
        except ValueError as exc:
            raise ValueError(str(exc).replace("[llm]", where, 1)) from None


def get_llm_settings() -> LlmSettings:
    """The settings the optimizer and ``OllamaClient()`` use when given none."""
    return active().llm_settings


def set_llm_settings(settings: LlmSettings) -> None:
    if not isinstance(settings, LlmSettings):
        raise TypeError(f"set_llm_settings needs an LlmSettings, got {type(settings).__name__}")
    active().llm_settings = settings


def load_llm_settings(
    toml_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> LlmSettings:
    """Defaults, then ``[llm]`` of ``toml_path`` (or ./btk.toml if it exists), then the environment."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = Path(toml_path) if toml_path is not None else Path("btk.toml")
    if toml_path is not None or path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the [llm] settings: {exc}") from None
        table = data.get("llm", {})
        if not isinstance(table, Mapping):
            raise ValueError(f"{path} [llm]: expected a table, got {table!r}")
        values.update(dataclasses.asdict(LlmSettings.from_mapping(table, f"{path} [llm]")))
    if env.get("OLLAMA_HOST"):
        values["host"] = env["OLLAMA_HOST"]
    if env.get("BTK_LLM_MODEL"):
        values["model"] = env["BTK_LLM_MODEL"]
    return LlmSettings(**values)
