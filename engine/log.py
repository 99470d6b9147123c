"""The engine's logger hook (``set_logger``). Silent by default, like the original."""

from __future__ import annotations

from typing import Any

__all__ = ["get_logger", "set_logger"]


class _Silent:
    def log(self, *args: Any, **kwargs: Any) -> None: ...
    def debug(self, *args: Any, **kwargs: Any) -> None: ...
    def info(self, *args: Any, **kwargs: Any) -> None: ...
    def warning(self, *args: Any, **kwargs: Any) -> None: ...


_logger: Any = _Silent()


def set_logger(logger: Any) -> None:
    """Use ``logger`` for the engine's messages: any object with ``debug``, ``info`` and ``warning``
    methods taking a message string (a stdlib ``logging.Logger`` works). ``None`` silences it again."""
    global _logger
    if logger is None:
        _logger = _Silent()
        return
    missing = [m for m in ("debug", "info", "warning") if not callable(getattr(logger, m, None))]
    if missing:
        raise TypeError(f"set_logger: the logger lacks {', '.join(missing)}(); got {logger!r}")
    _logger = logger


def get_logger() -> Any:
    return _logger
