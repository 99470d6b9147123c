"""The sweep report: leaderboard order, constraints, the overfitting guard's numbers and verdict, heat map."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from strategies import START, setup

from engine.research.analysis import deflated_sharpe, moments
from engine.research.evaluate import Constraints
from engine.research.report import guard, render_sweep_report, trial_summaries, write_sweep_report
from engine.research.sweep import Sweep, Window, run_sweep
from engine.research.table import STAT_COLUMNS, ResultRow, ResultsTable, SweepError

T0 = int(START.timestamp() * 1000)
DAY = 86_400_000


def _hand_table(path, dailies, feasible=None):
    """One row per set on one window; every statistic from its daily pnl (total_pnl = their sum)."""
    feasible = feasible or [True] * len(dailies)
    with ResultsTable(path) as t:
        for trial, (daily, ok) in enumerate(zip(dailies, feasible)):
            stats = dict.fromkeys(STAT_COLUMNS, 0.0)
            stats.update(trades=len(daily), total_pnl=float(np.sum(daily)), sharpe_ratio=moments(daily)[0])
            t.add(
                ResultRow(
                    trial, "BTCUSDT", 0, {"a": trial % 2, "b": trial // 2}, T0, T0 + len(daily) * DAY - 60_000,
                    stats, ok, None, 0, "0.1.0", np.asarray(daily, dtype=np.float64),
                )
            )  # fmt: skip
    return Sweep("s", "x", ("BTCUSDT",), (Window(T0, T0 + len(dailies[0]) * DAY - 60_000),), metric=("total_pnl",))


def test_noise_is_called_luck_and_the_dsr_counts_every_set(tmp_path):
    rng = np.random.Generator(np.random.PCG64(1))
    dailies = [rng.normal(0.0, 1.0, 64).tolist() for _ in range(6)]
    sweep = _hand_table(tmp_path / "t.sqlite", dailies)
    text = render_sweep_report(sweep, tmp_path / "t.sqlite")
    best = max(range(6), key=lambda i: sum(dailies[i]))
    srs = [moments(d)[0] for d in dailies]
    sr, skew, kurt = moments(dailies[best])
    expected = deflated_sharpe(sr, 64, 6, float(np.var(srs, ddof=1)), skew, kurt)
    assert f"Deflated Sharpe ratio: **{expected:.3f}**" in text and "counting all 6 sets tried" in text
    assert "**Verdict: the best result is not distinguishable from luck**" in text
    first = text.split("## Leaderboard")[1].splitlines()[4]
    assert first.startswith(f"| 1 | {best} |")
    assert "Probability of backtest overfitting: **" in text and "(CSCV, 8 blocks, 70 combinations)" in text


def test_a_steady_edge_is_not_called_luck(tmp_path):
    rng = np.random.Generator(np.random.PCG64(2))
    dailies = [rng.normal(0.0, 1.0, 64).tolist() for _ in range(5)]
    dailies.append((1.0 + rng.normal(0.0, 0.3, 64)).tolist())  # about 3 standard deviations a day
    sweep = _hand_table(tmp_path / "t.sqlite", dailies)
    text = render_sweep_report(sweep, tmp_path / "t.sqlite")
    assert "**Verdict: the best result is unlikely to be luck**" in text
    assert guard(trial_summaries(sweep, _rows(tmp_path / "t.sqlite")), "total_pnl").best.trial == 5


def _rows(path):
    with ResultsTable(path) as t:
        return list(t.rows())


def test_an_infeasible_set_never_ranks_first(tmp_path):
    dailies = [[1.0, 1.0, 1.0, 1.0], [0.5, 0.0, 0.1, 0.2], [-1.0, 0.0, 0.0, 0.0]]
    sweep = _hand_table(tmp_path / "t.sqlite", dailies, feasible=[False, True, True])
    text = render_sweep_report(sweep, tmp_path / "t.sqlite")
    board = text.split("## Leaderboard")[1].splitlines()
    assert board[4].startswith("| 1 | 1 |") and board[6].startswith("| 3 | 0 |") and board[6].endswith("| no |")
    assert "Best: set 1 (a=1, b=0)" in text
    assert "1 of 3" not in text and "2 of 3 set(s) meet them" in text


def test_the_heat_map_holds_the_best_value_of_each_pair(tmp_path):
    setup()
    sweep = Sweep.over(
        "tpsl", "synthetic", "BTCUSDT", START, START + timedelta(days=3), metric="total_pnl",
        constraints=Constraints(min_trades=78),
    )  # fmt: skip
    run_sweep(sweep, tmp_path / "g.sqlite", workers=1)
    path = write_sweep_report(sweep, tmp_path / "g.sqlite", tmp_path / "sweep.md", heat=("tp", "sl"))
    text = path.read_text()
    rows = _rows(tmp_path / "g.sqlite")
    heat = text.split("## Heat map: tp x sl")[1].splitlines()
    assert heat[4] == "| sl \\ tp | 0.6 | 1.1 | 1.6 |"
    for line, sl in zip(heat[6:9], (0.6, 0.9, 1.2)):
        cells = [
            max((r.stats["total_pnl"] for r in rows if r.params["tp"] == tp and r.params["sl"] == sl and r.feasible),
                default=None)
            for tp in (0.6, 1.1, 1.6)
        ]  # fmt: skip
        assert line == "| " + " | ".join([str(sl), *("-" if c is None else f"{c:.2f}" for c in cells)]) + " |"
    assert heat[8].endswith("| - | - |")  # sl 1.2 with tp 1.1 or 1.6: no set makes 78 trades
    assert "## Constraints" in text and "Minimum trades: 78." in text
    with pytest.raises(SweepError, match=r"heat map needs two different parameters of tpsl .*got tp, nope"):
        render_sweep_report(sweep, tmp_path / "g.sqlite", heat=("tp", "nope"))


def test_charts_are_drawn_beside_the_report_and_shown_in_it(tmp_path):
    image = pytest.importorskip("matplotlib.image", reason="the charts extra (matplotlib) is not installed")

    rng = np.random.Generator(np.random.PCG64(3))
    dailies = [rng.normal(0.1 * i, 1.0, 40).tolist() for i in range(6)]
    sweep = _hand_table(tmp_path / "t.sqlite", dailies)
    report = write_sweep_report(sweep, tmp_path / "t.sqlite", tmp_path / "out" / "t.md")
    text = report.read_text()
    heat, fan = tmp_path / "out" / "t-heat.png", tmp_path / "out" / "t-monte-carlo.png"
    assert "![heat map](t-heat.png)" in text and "![Monte Carlo fan](t-monte-carlo.png)" in text
    for png in (heat, fan):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert image.imread(png).shape[:2] == (450, 800)
    first = (heat.read_bytes(), fan.read_bytes())
    write_sweep_report(sweep, tmp_path / "t.sqlite", tmp_path / "out" / "t.md")
    assert (heat.read_bytes(), fan.read_bytes()) == first  # same results, same pictures, byte for byte
    dailies[0] = [d + 5.0 for d in dailies[0]]  # another table draws another heat map
    other = _hand_table(tmp_path / "u.sqlite", dailies)
    write_sweep_report(other, tmp_path / "u.sqlite", tmp_path / "out" / "u.md")
    assert (tmp_path / "out" / "u-heat.png").read_bytes() != heat.read_bytes()
    plain = write_sweep_report(sweep, tmp_path / "t.sqlite", tmp_path / "plain" / "t.md", charts=False)
    assert list(plain.parent.glob("*.png")) == [] and "![" not in plain.read_text() and "matplotlib" not in text


def test_the_monte_carlo_section_resamples_the_best_sets_days(tmp_path):
    from engine.research.analysis import monte_carlo

    rng = np.random.Generator(np.random.PCG64(4))
    dailies = [rng.normal(0.2 * i, 1.0, 30).tolist() for i in range(4)]
    sweep = _hand_table(tmp_path / "t.sqlite", dailies)
    text = render_sweep_report(sweep, tmp_path / "t.sqlite")
    best = max(range(4), key=lambda i: sum(dailies[i]))
    mc = monte_carlo(dailies[best], paths=1000, seed=sweep.seed)
    section = text.split("## Monte Carlo of the best set")[1]
    assert f"Set {best}'s 30 daily PNL values resampled with replacement into 1000 sequences" in section
    r = mc.total_return
    assert f"5th percentile {r.p5:.2f}, median {r.p50:.2f}, 95th percentile {r.p95:.2f}" in section
    assert f"probability of a loss over the period: {mc.p_loss * 100:.1f}%" in section


def test_without_matplotlib_the_report_says_how_to_get_the_charts(tmp_path, monkeypatch):
    import engine.research.charts as charts

    monkeypatch.setattr(charts, "available", lambda: False)  # as on a machine without the extra
    sweep = _hand_table(tmp_path / "t.sqlite", [[1.0, -0.5, 0.2]] * 2 + [[0.3, 0.3, 0.3]] * 2)
    report = write_sweep_report(sweep, tmp_path / "t.sqlite", tmp_path / "t.md")
    assert 'PNG charts need matplotlib: pip install "btk[charts]"' in report.read_text()
    assert list(tmp_path.glob("*.png")) == []
