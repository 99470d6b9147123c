"""How a frame is named where one is picked: its name with its dates and interval, since names
such as ``q1`` or ``demo-30d`` do not say which days they cover (issue 14 item 14)."""

from __future__ import annotations

import engine


def frame_label(name: str) -> str:
    """``demo-30d · 2024-01-01 → 2024-01-30 · 1m``; a frame shorter than two days shows times too.
    A name the engine does not know (not registered yet) is shown as it is."""
    frame = next((f for f in engine.list_frames() if f.frame_name == name), None)
    if frame is None:
        return name
    short = (frame.end_date - frame.start_date).total_seconds() < 2 * 86_400
    fmt = "%Y-%m-%d %H:%M" if short else "%Y-%m-%d"
    return f"{name} · {frame.start_date:{fmt}} → {frame.end_date:{fmt}} · {frame.interval}"
