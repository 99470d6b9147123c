"""The sweep report (markdown, like the other reports): a leaderboard, the constraints, the overfitting
guard and a parameter heat map; the folds and the stitched out-of-sample result for a walk-forward.

Everything is read back from the results table, so a report can be written for a finished, resumed or
still-running sweep. A parameter set's row on the leaderboard is the mean of its rows over symbols and
(train) windows, as the sweep ranks it. The guard:

- the deflated Sharpe ratio of the best set, counting every set the table holds (all the sweep
  tried), from the per-day Sharpe ratio of its daily pnl and the variance of the per-day Sharpe
  ratios of all sets (``analysis.deflated_sharpe``);
- the probability of backtest overfitting from CSCV over the sets' daily pnl (``analysis.pbo``) when
  there are at least 2 sets and 4 days;

and a plain verdict: when the deflated Sharpe ratio is below 0.95 (or PBO above 0.5) the report says
the best result is not distinguishable from luck.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..reports.format import to_fixed
from ..reports.markdown import Column, escape_cell, render_table, write_report
from . import charts as chart_lib
from .analysis import MonteCarlo, Pbo, deflated_sharpe, moments, monte_carlo, pbo
from .charts import CHARTS_HINT
from .sweep import Sweep
from .table import ResultRow, ResultsTable, SweepError

__all__ = [
    "Guard",
    "TrialSummary",
    "best_daily",
    "guard",
    "heat_grid",
    "leaderboard",
    "ranked",
    "render_sweep_report",
    "set_monte_carlo",
    "trial_summaries",
    "write_charts",
    "write_sweep_report",
]

DSR_CONFIDENCE = 0.95
"""The deflated Sharpe ratio a best set needs to count as more than luck (Bailey & López de Prado's 95 %)."""
LEADERBOARD_ROWS = 20
MONTE_CARLO_PATHS = 1000
_COUNTS = frozenset({"trades", "cancelled", "total_signals", "win_count", "loss_count"})
_SHOWN = ("trades", "win_rate", "total_pnl", "sharpe_ratio", "max_drawdown")


@dataclass(frozen=True, slots=True)
class TrialSummary:
    """One parameter set: the mean of its statistics over its symbols and (train) windows."""

    trial: int
    params: Mapping[str, Any]
    stats: Mapping[str, float | None]
    feasible: bool
    complete: bool
    """Every (symbol, window) of the set has a row (a running sweep has incomplete sets)."""
    daily: np.ndarray
    """Daily pnl % over the windows one after another (mean over symbols)."""

    def value(self, metric: str) -> float | None:
        return self.stats.get(metric)


@dataclass(frozen=True, slots=True)
class Guard:
    trials: int
    best: TrialSummary | None
    sharpe: float | None
    """Per-day Sharpe ratio of the best set's daily pnl."""
    days: int
    sharpe_variance: float | None
    dsr: float | None
    pbo: Pbo | None

    @property
    def lucky(self) -> bool:
        """True when the best result is not distinguishable from luck (or cannot be told apart)."""
        if self.dsr is None or math.isnan(self.dsr) or self.dsr < DSR_CONFIDENCE:
            return True
        return self.pbo is not None and self.pbo.pbo > 0.5


def _mean(values: Sequence[Any]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def trial_summaries(sweep: Sweep, rows: Sequence[ResultRow]) -> list[TrialSummary]:
    """Each set's mean over its non-test rows, in trial order."""
    searched = [i for i, w in enumerate(sweep.windows) if w.role != "test"]
    by: dict[int, dict[tuple[int, str], ResultRow]] = {}
    for r in rows:
        if r.window in searched:
            by.setdefault(r.trial, {})[(r.window, r.symbol)] = r
    out = []
    for trial, cells in sorted(by.items()):
        got = list(cells.values())
        complete = len(got) == len(searched) * len(sweep.symbols)
        stats = {k: _mean([r.stats.get(k) for r in got]) for k in got[0].stats}
        parts = []
        for w in searched:
            per_symbol = [cells[(w, s)].daily for s in sweep.symbols if (w, s) in cells]
            if per_symbol and all(len(d) == len(per_symbol[0]) for d in per_symbol):
                parts.append(np.mean(per_symbol, axis=0))
        daily = np.concatenate(parts) if parts else np.zeros(0)
        feasible = complete and all(r.feasible for r in got)
        out.append(TrialSummary(trial, got[0].params, stats, feasible, complete, daily))
    return out


def ranked(summaries: Sequence[TrialSummary], metric: str) -> list[TrialSummary]:
    """Feasible sets first, then by ``metric`` (higher first; no value last), ties to the lower trial."""

    def key(s: TrialSummary) -> tuple[int, int, float, int]:
        v = s.value(metric)
        return (0 if s.feasible else 1, 0 if v is not None else 1, -(v if v is not None else 0.0), s.trial)

    return sorted(summaries, key=key)


def leaderboard(sweep: Sweep, rows: Sequence[ResultRow]) -> list[TrialSummary]:
    """The sets of a table's rows as the report ranks them (feasible first, then the first metric)."""
    return ranked(trial_summaries(sweep, rows), sweep.metric[0])


def guard(summaries: Sequence[TrialSummary], metric: str, trials: int | None = None) -> Guard:
    """The deflated Sharpe ratio of the best feasible set (counting ``trials`` sets, default every set
    in ``summaries``) and PBO over the complete sets' daily pnl."""
    n = trials if trials is not None else len(summaries)
    order = ranked(summaries, metric)
    best = order[0] if order and order[0].feasible and order[0].value(metric) is not None else None
    complete = [s for s in summaries if s.complete and len(s.daily) >= 2]
    srs = [moments(s.daily.tolist())[0] for s in complete]
    variance = float(np.var(srs, ddof=1)) if len(srs) >= 2 else None
    sharpe = dsr = None
    days = 0
    if best is not None and len(best.daily) >= 2 and variance is not None:
        sharpe, skew, kurt = moments(best.daily.tolist())
        days = len(best.daily)
        dsr = deflated_sharpe(sharpe, days, n, variance, skew, kurt)
    p = None
    lengths = {len(s.daily) for s in complete}
    if len(complete) >= 2 and len(lengths) == 1:
        rows = lengths.pop()
        splits = 8 if rows >= 8 else 4
        p = pbo(np.column_stack([s.daily for s in complete]), splits=splits)
    return Guard(n, best, sharpe, days, variance, dsr, p)


def _num(x: float | None, digits: int = 2) -> str:
    return "N/A" if x is None or (isinstance(x, float) and not math.isfinite(x)) else to_fixed(x, digits)


def _value(v: Any) -> str:
    return str(v)


def heat_grid(
    summaries: Sequence[TrialSummary], metric: str, x: str, y: str
) -> tuple[list[Any], list[Any], list[list[float | None]]]:
    """``(xs, ys, grid)``: ``grid[i][j]`` is the best ``metric`` of the feasible sets with
    ``y = ys[i]`` and ``x = xs[j]`` (over every value of the other parameters), None when none."""
    xs = sorted({s.params[x] for s in summaries}, key=_sortable)
    ys = sorted({s.params[y] for s in summaries}, key=_sortable)
    best: dict[tuple[Any, Any], float] = {}
    for s in summaries:
        v = s.value(metric)
        if not s.feasible or v is None:
            continue
        k = (s.params[y], s.params[x])
        best[k] = max(best.get(k, -math.inf), v)
    return xs, ys, [[best.get((yv, xv)) for xv in xs] for yv in ys]


def heat_map(summaries: Sequence[TrialSummary], metric: str, x: str, y: str) -> str:
    """Rows: values of ``y``; columns: values of ``x``; a cell: the best ``metric`` of the feasible
    sets with those two values (over every value of the other parameters); ``-`` when none."""
    xs, ys, grid = heat_grid(summaries, metric, x, y)
    cells = {(yv, xv): grid[i][j] for i, yv in enumerate(ys) for j, xv in enumerate(xs)}

    def cell(yv: Any, xv: Any) -> str:
        v = cells.get((yv, xv))
        return "-" if v is None else _num(v)

    cols = [Column("y", f"{y} \\ {x}", lambda yv, _i: _value(yv))]
    cols += [Column(f"x{xv}", _value(xv), lambda yv, _i, xv=xv: cell(yv, xv)) for xv in xs]
    return render_table(cols, ys)


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))


def _varying(summaries: Sequence[TrialSummary]) -> list[str]:
    if not summaries:
        return []
    names = list(summaries[0].params)
    return [k for k in names if len({repr(s.params.get(k)) for s in summaries}) > 1]


def render_sweep_report(
    sweep: Sweep,
    table: str | os.PathLike,
    *,
    heat: tuple[str, str] | None = None,
    top: int = LEADERBOARD_ROWS,
    images: Mapping[str, str] | None = None,
    charts_missing: bool = False,
) -> str:
    """The markdown report of the sweep whose results are in ``table``. ``heat`` names the two
    parameters of the heat map (default: the first two that vary). ``images`` maps a section
    (``heat``, ``monte_carlo``, ``oos``) to the PNG written for it beside the report;
    ``charts_missing`` (charts asked for, matplotlib not installed) says how to get them instead."""
    hint = charts_missing
    with ResultsTable(table) as t:
        rows = list(t.rows())
    metric = sweep.metric[0]
    summaries = trial_summaries(sweep, rows)
    params = list(summaries[0].params) if summaries else []
    _check_heat(sweep, params, heat)
    symbols = ", ".join(sweep.symbols)
    lines = [f"# Sweep: {sweep.strategy} on {symbols}", ""]
    lines.append(
        f"Method {sweep.method}, ranked by {', '.join(sweep.metric)} (higher is better), seed {sweep.seed}, "
        f"exchange {sweep.exchange}, {len(sweep.windows)} window(s). {len(summaries)} parameter set(s) tried, "
        f"{len(rows)} row(s) in `{Path(table).name}`."
    )
    lines.append("")
    c = sweep.constraints
    dd = "none" if c.max_drawdown is None else f"{to_fixed(c.max_drawdown, 2)}%"
    feasible = sum(1 for s in summaries if s.feasible)
    lines += [
        "## Constraints",
        "",
        f"Minimum trades: {c.min_trades}. Maximum drawdown: {dd}. "
        f"{feasible} of {len(summaries)} set(s) meet them; the others never rank as best.",
        "",
    ]
    if not summaries:
        lines += ["No parameter set has finished yet."]
        return "\n".join(lines) + "\n"

    order = ranked(summaries, metric)
    lines += ["## Leaderboard", ""]
    cols = [Column("rank", "Rank", lambda s, i: str(i + 1)), Column("trial", "Set", lambda s, _i: str(s.trial))]
    cols += [Column(f"p:{k}", k, lambda s, _i, k=k: escape_cell(_value(s.params.get(k)))) for k in params]
    shown = [*sweep.metric, *(m for m in _SHOWN if m not in sweep.metric)]
    cols += [
        Column(
            f"m:{m}",
            m if m not in sweep.metric else f"**{m}**",
            lambda s, _i, m=m: _num(s.value(m), 0 if m in _COUNTS else 2),
        )
        for m in shown
    ]
    cols.append(Column("ok", "Feasible", lambda s, _i: "yes" if s.feasible else ("no" if s.complete else "running")))
    lines.append(render_table(cols, order[:top]))
    if len(order) > top:
        lines += ["", f"*The top {top} of {len(order)} sets.*"]
    lines.append("")

    g = guard(summaries, metric)
    lines += ["## Is the best result more than luck?", ""]
    if g.best is None:
        lines.append("No set meets the constraints with a value of the metric: there is no best result to judge.")
    else:
        lines.append(
            f"Best: set {g.best.trial} ({', '.join(f'{k}={v}' for k, v in g.best.params.items())}), "
            f"{metric} {_num(g.best.value(metric))}."
        )
        lines.append("")
        lines.append(_guard_lines(g)[0])
    lines += ["", _guard_lines(g)[1], ""]
    if g.best is not None:
        if g.lucky:
            why = []
            if g.dsr is None or math.isnan(g.dsr) or g.dsr < DSR_CONFIDENCE:
                why.append(f"deflated Sharpe ratio below {DSR_CONFIDENCE}")
            if g.pbo is not None and g.pbo.pbo > 0.5:
                why.append("PBO above 0.5")
            lines.append(
                f"**Verdict: the best result is not distinguishable from luck** ({'; '.join(why)}): "
                f"with {g.trials} sets tried, a result this good is what chance alone would give."
            )
        else:
            lines.append(
                f"**Verdict: the best result is unlikely to be luck** (deflated Sharpe ratio "
                f"{_num(g.dsr, 3)} >= {DSR_CONFIDENCE} counting {g.trials} sets"
                + (f"; PBO {_num(g.pbo.pbo, 3)}" if g.pbo is not None else "")
                + ")."
            )
        lines.append("")

    pair = heat or tuple(_varying(summaries)[:2])
    if len(pair) == 2:
        lines += [
            f"## Heat map: {pair[0]} x {pair[1]}",
            "",
            f"The best {metric} of the feasible sets with each pair of values (over the other parameters).",
            "",
            heat_map(summaries, metric, pair[0], pair[1]),
            "",
            *_image(images, hint, "heat", "heat map"),
        ]

    if g.best is not None and (mc := set_monte_carlo(sweep, rows, g.best.trial)) is not None:
        lines += _monte_carlo(g.best.trial, mc, sweep.seed)
        lines += _image(images, hint, "monte_carlo", "Monte Carlo fan")

    if any(w.role == "test" for w in sweep.windows):
        lines += _walk_forward(sweep, table)
        lines += _image(images, hint, "oos", "stitched out-of-sample equity")
    return "\n".join(lines).rstrip("\n") + "\n"


def _check_heat(sweep: Sweep, params: Sequence[str], heat: tuple[str, str] | None) -> None:
    if heat is None:
        return
    unknown = [p for p in heat if p not in params]
    if unknown or heat[0] == heat[1]:
        raise SweepError(
            f"sweep report: the heat map needs two different parameters of {sweep.strategy} "
            f"({', '.join(params) or 'none'}); got {', '.join(heat)}"
        )


def _image(images: Mapping[str, str] | None, hint: bool, key: str, what: str) -> list[str]:
    if hint:
        return [f"*{what}: {CHARTS_HINT}.*", ""]
    name = (images or {}).get(key)
    return [f"![{what}]({name})", ""] if name else []


def best_daily(sweep: Sweep, rows: Sequence[ResultRow], trial: int) -> np.ndarray:
    """The daily pnl % of set ``trial`` over its train windows in time order (mean over symbols):
    the series the Monte Carlo section resamples."""
    parts = []
    for i, w in enumerate(sweep.windows):
        if w.role == "test":
            continue
        mine = [r.daily for r in rows if r.trial == trial and r.window == i and r.daily.size]
        if mine:
            parts.append(np.mean(mine, axis=0))
    return np.concatenate(parts) if parts else np.zeros(0)


def set_monte_carlo(sweep: Sweep, rows: Sequence[ResultRow], trial: int) -> MonteCarlo | None:
    """The Monte Carlo bands of set ``trial``: its daily pnl (``best_daily``) resampled into
    ``MONTE_CARLO_PATHS`` paths with the sweep's seed; None when it has no day of results. The
    report's section and the console's Research tab both show this."""
    daily = best_daily(sweep, rows, trial)
    return monte_carlo(daily.tolist(), paths=MONTE_CARLO_PATHS, seed=sweep.seed) if daily.size else None


def _monte_carlo(trial: int, mc: MonteCarlo, seed: int) -> list[str]:
    r, d = mc.total_return, mc.max_drawdown
    return [
        "## Monte Carlo of the best set",
        "",
        f"Set {trial}'s {mc.trades} daily PNL values resampled with replacement into {mc.paths} sequences "
        f"(seed {seed}; days rather than trades, since the results table keeps each row's daily PNL):",
        "",
        f"- total PNL (summed %): 5th percentile {_num(r.p5)}, median {_num(r.p50)}, 95th percentile {_num(r.p95)}",
        f"- maximum drawdown (summed %): 5th percentile {_num(d.p5)}, median {_num(d.p50)}, "
        f"95th percentile {_num(d.p95)}",
        f"- probability of a loss over the period: {_num(mc.p_loss * 100, 1)}%",
        "",
    ]


def _guard_lines(g: Guard) -> tuple[str, str]:
    """The deflated Sharpe ratio's line and PBO's line (N/A with the reason when not computable)."""
    dsr = (
        "Deflated Sharpe ratio: N/A (needs at least 2 days of results and 2 complete sets)."
        if g.dsr is None
        else f"Deflated Sharpe ratio: **{_num(g.dsr, 3)}** (Bailey & López de Prado; per-day Sharpe ratio "
        f"{_num(g.sharpe, 3)} over {g.days} days, counting all {g.trials} sets tried, variance of "
        f"their Sharpe ratios {_num(g.sharpe_variance, 4)}): the probability that the best set's true "
        "Sharpe ratio is above the best that many tries without an edge would show."
    )
    overfit = (
        "Probability of backtest overfitting: N/A (CSCV needs at least 2 complete sets and 4 days)."
        if g.pbo is None
        else f"Probability of backtest overfitting: **{_num(g.pbo.pbo, 3)}** (CSCV, {g.pbo.splits} blocks, "
        f"{g.pbo.combinations} combinations): how often the set best in sample ranks in the bottom half "
        "out of sample."
    )
    return dsr, overfit


def _walk_forward(sweep: Sweep, table: str | os.PathLike) -> list[str]:
    from .walkforward import walk_forward_summary

    s = walk_forward_summary(sweep, table)
    metric = sweep.metric[0]

    def stat(d: Mapping[str, Any] | None, k: str) -> str:
        return "N/A" if d is None else _num(d.get(k))

    cols = [
        Column("fold", "Fold", lambda f, _i: str(f.fold)),
        Column("set", "Set", lambda f, _i: "none" if f.trial is None else str(f.trial)),
        Column(
            "params",
            "Parameters",
            lambda f, _i: "-" if f.params is None else escape_cell(", ".join(f"{k}={v}" for k, v in f.params.items())),
        ),
        Column("train", f"Train {metric}", lambda f, _i: stat(f.train, metric)),
        Column("test", f"Test {metric}", lambda f, _i: stat(f.test, metric)),
        Column("tpnl", "Test total PNL", lambda f, _i: stat(f.test, "total_pnl")),
        Column("ttr", "Test trades", lambda f, _i: "N/A" if f.test is None else _num(f.test.get("trades"), 0)),
    ]
    return [
        "## Walk-forward",
        "",
        render_table(cols, s.folds),
        "",
        f"Stitched out of sample ({len(s.oos_daily)} days): total PNL {_num(s.oos_total)}%, maximum drawdown "
        f"{_num(s.oos_max_drawdown)}% (summed), per-day Sharpe ratio {_num(s.oos_sharpe, 3)}, {s.oos_trades} trades.",
        "",
    ]


def write_sweep_report(
    sweep: Sweep,
    table: str | os.PathLike,
    path: str | os.PathLike,
    *,
    heat: tuple[str, str] | None = None,
    top: int = LEADERBOARD_ROWS,
    charts: bool = True,
) -> Path:
    """Render the report of ``table`` and write it (atomically) to ``path``; with ``charts`` and
    matplotlib installed, the PNG charts go beside it (``<report>-heat.png``, ``-monte-carlo.png``,
    ``-oos-equity.png``) and the report shows them."""
    drawn = charts and chart_lib.available()
    images = write_charts(sweep, table, Path(path), heat) if drawn else None
    text = render_sweep_report(sweep, table, heat=heat, top=top, images=images, charts_missing=charts and not drawn)
    return write_report(path, text)


def write_charts(sweep: Sweep, table: str | os.PathLike, report: Path, heat: tuple[str, str] | None) -> dict[str, str]:
    """Draw the report's charts beside ``report``; returns section -> file name."""
    with ResultsTable(table) as t:
        rows = list(t.rows())
    summaries = trial_summaries(sweep, rows)
    metric = sweep.metric[0]
    _check_heat(sweep, list(summaries[0].params) if summaries else [], heat)
    report.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}

    def name(suffix: str) -> Path:
        return report.with_name(f"{report.stem}-{suffix}.png")

    pair = heat or tuple(_varying(summaries)[:2])
    if len(pair) == 2:
        xs, ys, grid = heat_grid(summaries, metric, pair[0], pair[1])
        if any(v is not None for row in grid for v in row):
            out["heat"] = chart_lib.heat_map_png(grid, xs, ys, pair[0], pair[1], metric, name("heat")).name
    best = guard(summaries, metric).best
    daily = best_daily(sweep, rows, best.trial) if best is not None else np.zeros(0)
    if daily.size:
        path = chart_lib.monte_carlo_fan_png(
            daily.tolist(), name("monte-carlo"), paths=MONTE_CARLO_PATHS, seed=sweep.seed, unit="day"
        )
        out["monte_carlo"] = path.name
    if any(w.role == "test" for w in sweep.windows):
        from .walkforward import walk_forward_summary

        s = walk_forward_summary(sweep, table)
        if s.oos_daily.size:
            first = min(w.start_ms for w in sweep.windows if w.role == "test")
            title = f"{sweep.strategy}: stitched out-of-sample periods ({len(s.folds)} folds)"
            out["oos"] = chart_lib.equity_png(s.oos_daily.tolist(), first, name("oos-equity"), title).name
    return out
