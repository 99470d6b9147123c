"""The engine's logger hook (``set_logger``). Silent by default, like the original."""

from __future__ import annotations

from typing import Any

from .scope import active

__all__ = ["Silent", "get_logger", "set_logger", "warnings_wanted"]


class Silent:
    def log(self, *args: Any, **kwargs: Any) -> None: ...
    def debug(self, *args: Any, **kwargs: Any) -> None: ...
    def info(self, *args: Any, **kwargs: Any) -> None: ...
    def warning(self, *args: Any, **kwargs: Any) -> None: ...


def set_logger(logger: Any) -> None:
    """Use ``logger`` for the engine's messages: any object with ``debug``, ``info`` and ``warning``
    methods taking a message string (a stdlib ``logging.Logger`` works). ``None`` silences it again."""
    if logger is None:
        active().logger = Silent()
        return
    missing = [m for m in ("debug", "info", "warning") if not callable(getattr(logger, m, None))]
    if missing:
        raise TypeError(f"set_logger: the logger lacks {', '.join(missing)}(); got {logger!r}")
    active().logger = logger


def get_logger() -> Any:
    """The active engine's logger."""
    return active().logger


def warnings_wanted() -> bool:
    """Would a warning reach anyone? Hot paths ask before formatting one (the default logger is
    silent, and formatting a message nobody reads cost 5 % of a demo backtest)."""
    logger = active().logger
    if type(logger) is Silent:
        return False
    enabled = getattr(logger, "isEnabledFor", None)
    return enabled(30) if callable(enabled) else True  # 30: logging.WARNING
