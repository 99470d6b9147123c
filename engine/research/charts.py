"""PNG charts beside a sweep report, where a picture reads better than a table: the parameter heat
map, the equity of the stitched out-of-sample periods with its drawdown, and the Monte Carlo fan.

matplotlib is the optional extra ``btk[charts]`` (it is heavy, and a trader on a server may not
want it); without it the report says how to get the charts and is otherwise the same. Only the
object API is used (``Figure`` and the Agg canvas, never ``pyplot``): no global state, no display
needed on a server, and nothing changes in a user's own matplotlib session.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CHARTS_HINT", "available", "equity_png", "heat_map_png", "monte_carlo_fan_png"]

CHARTS_HINT = 'PNG charts need matplotlib: pip install "btk[charts]"'
_SIZE = (8.0, 4.5)  # inches at 100 dpi: 800x450 pixels
_DPI = 100


def available() -> bool:
    """Whether matplotlib can be imported (the ``charts`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(rows: int = 1, ratios: Sequence[int] | None = None) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    kw = {"height_ratios": list(ratios)} if ratios else {}
    axes = fig.subplots(rows, 1, sharex=rows > 1, gridspec_kw=kw, squeeze=False)[:, 0]
    return fig, list(axes)


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write the PNG through the engine's atomic write (a killed report never leaves half an image)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ..persist.atomic import write_atomic

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: same data, same bytes
    out = Path(path)
    write_atomic(out, buf.getvalue())
    return out


def heat_map_png(
    grid: Sequence[Sequence[float | None]],
    xs: Sequence[Any],
    ys: Sequence[Any],
    x: str,
    y: str,
    metric: str,
    path: str | os.PathLike[str],
) -> Path:
    """``grid[i][j]``: the best ``metric`` with ``y = ys[i]`` and ``x = xs[j]`` (None: no feasible set),
    drawn as coloured cells with their values; a missing cell stays blank."""
    data = np.array([[math.nan if v is None else float(v) for v in row] for row in grid], dtype=np.float64)
    fig, (ax,) = _figure()
    finite = data[np.isfinite(data)]
    span = float(np.max(np.abs(finite))) if finite.size else 1.0
    image = ax.imshow(data, cmap="RdYlGn", vmin=-span, vmax=span, aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"best {metric} per ({x}, {y})")
    if data.size <= 400:  # values in the cells while they stay readable
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                if math.isfinite(data[i, j]):
                    ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label=metric)
    return _save(fig, path)


def equity_png(daily: Sequence[float], start_ms: int, path: str | os.PathLike[str], title: str) -> Path:
    """The running sum of daily PNL % (axes in days and percent, a zero line) with its drawdown
    from the running peak underneath."""
    pnl = np.asarray(daily, dtype=np.float64)
    level = np.concatenate([[0.0], np.cumsum(pnl)])
    peak = np.maximum.accumulate(level)
    days = np.arange(level.size)
    fig, (top, bottom) = _figure(2, (3, 1))
    top.plot(days, level, color="tab:blue", linewidth=1.2)
    top.axhline(0.0, color="grey", linewidth=0.8)
    top.set_ylabel("PNL % (summed)")
    top.set_title(title)
    bottom.fill_between(days, level - peak, 0.0, color="tab:red", alpha=0.4, step=None)
    bottom.set_ylabel("drawdown %")
    from datetime import UTC, datetime

    first = datetime.fromtimestamp(start_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
    bottom.set_xlabel(f"days from {first}")
    return _save(fig, path)


def monte_carlo_fan_png(
    pnls: Sequence[float], path: str | os.PathLike[str], *, paths: int = 1000, seed: int = 0, unit: str = "trade"
) -> Path:
    """Bootstrap ``paths`` sequences of ``pnls`` (numpy PCG64 seeded by ``seed``, as ``monte_carlo``)
    and draw the 5/50/95 percentile bands of the running sum at each step, with the actual path."""
    p = np.asarray(pnls, dtype=np.float64)
    if p.size == 0:
        raise ValueError("monte_carlo_fan_png: no PNL values to resample")
    rng = np.random.Generator(np.random.PCG64(seed))
    drawn = np.cumsum(p[rng.integers(0, p.size, size=(paths, p.size))], axis=1)
    lo, mid, hi = np.percentile(drawn, [5, 50, 95], axis=0)
    steps = np.arange(1, p.size + 1)
    fig, (ax,) = _figure()
    ax.fill_between(steps, lo, hi, color="tab:blue", alpha=0.25, label="5-95 %")
    ax.plot(steps, mid, color="tab:blue", linewidth=1.0, label="median")
    ax.plot(steps, np.cumsum(p), color="black", linewidth=1.0, label="actual")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"{unit}s")
    ax.set_ylabel("PNL % (summed)")
    ax.set_title(f"Monte Carlo: {paths} resampled sequences of {p.size} {unit}s (seed {seed})")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)
