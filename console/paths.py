"""Names made safe as one path component (reports and the run history are keyed by names)."""

from __future__ import annotations

__all__ = ["safe_part"]

_UNSAFE = str.maketrans({"/": "-", "\\": "-", ":": "-", "\0": "-"})


def safe_part(name: str) -> str:
    """A name usable as one path component: a symbol such as ``BTC/USDT`` becomes ``BTC-USDT``,
    and a leading dot (a hidden file, or ``..``) is prefixed with ``_``."""
    part = name.translate(_UNSAFE).strip() or "_"
    return "_" + part if part.startswith(".") else part
