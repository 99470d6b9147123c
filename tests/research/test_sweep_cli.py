"""``btk-console sweep`` end to end, in subprocesses, on a tiny btk.toml project."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

STRATEGY = """
import engine


async def get_signal(symbol, when, price, params):
    up, down = 1 + params["tp"] / 100, 1 - params["sl"] / 100
    return {"position": "long", "price_take_profit": price * up, "price_stop_loss": price * down,
            "minute_estimated_time": 180}


async def plain(symbol, when, price):
    return None


engine.add_strategy(
    "tpsl", "15m", get_signal,
    params={"tp": engine.FloatParam(1.0, 2.0, step=0.5), "sl": engine.FloatParam(0.5, 1.0, step=0.5)},
)
engine.add_strategy("plain", "15m", plain)
"""

TOML = """
[project]
name = "tiny"
modules = ["strategies/tpsl.py"]

[exchanges.sim]
kind = "synthetic"

[frames.short]
interval = "1m"
start = 2024-01-01T00:00:00Z
end = 2024-01-04T23:59:00Z
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "tpsl.py").write_text(STRATEGY)
    (tmp_path / "btk.toml").write_text(TOML)
    return tmp_path


def sweep(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())", "sweep", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def _rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT * FROM results ORDER BY trial, symbol, window"))


def test_a_grid_sweep_prints_the_leaderboard_and_paths_then_resumes(project: Path) -> None:
    args = ("--strategy", "tpsl", "--symbol", "BTCUSDT", "--metric", "total_pnl", "--workers", "2")
    first = sweep(project, *args)
    assert first.returncode == 0, first.stderr
    table, report = project / "dump" / "sweep" / "tpsl-grid.sqlite", project / "dump" / "sweep" / "tpsl-grid.md"
    assert f"table: {table}\n" in first.stdout and f"report: {report}\n" in first.stdout
    assert first.stdout.splitlines()[0].split() == ["Rank", "Set", "sl", "tp", "total_pnl", "Trades", "Feasible"]
    assert "6 set(s) tried, 6 row(s) computed now, 6 in the table" in first.stdout
    assert "sweep: 6/6 rows" in first.stderr and "best: set " in first.stderr  # not a terminal: plain lines
    assert "\x1b[" not in first.stdout + first.stderr
    text = report.read_text()
    assert text.startswith("# Sweep: tpsl on BTCUSDT") and "## Heat map: sl x tp" in text and "**Verdict:" in text
    rows = _rows(table)
    again = sweep(project, *args)
    assert again.returncode == 0, again.stderr
    assert "6 set(s) tried, 0 row(s) computed now, 6 in the table" in again.stdout  # resumed: nothing recomputed
    assert _rows(table) == rows


def test_a_walk_forward_random_sweep_reports_its_folds(project: Path) -> None:
    res = sweep(
        project, "--strategy", "tpsl", "--symbol", "BTCUSDT", "--method", "random", "--trials", "3",
        "--walk-forward", "2/1/1", "--workers", "1", "--table", "wf.sqlite", "--heat", "tp,sl",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "report: wf.md" in res.stdout
    text = (project / "wf.md").read_text()
    assert "## Walk-forward" in text and "## Heat map: tp x sl" in text
    folds = text.split("## Walk-forward")[1].splitlines()
    assert folds[2].startswith("| Fold | Set |") and folds[4].startswith("| 0 |") and folds[5].startswith("| 1 |")
    assert len(_rows(project / "wf.sqlite")) == 3 * 2 + 2  # 3 sets x 2 train windows + each fold's winner on test


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--walk-forward", "2x1"), "--walk-forward must be TRAIN/TEST/STEP in whole days, e.g. 20/10/10; got '2x1'"),
        (("--metric", "profit"), "metric must be one or two of"),
        (("--method", "random"), "method random needs trials >= 1"),
        (("--heat", "tp"), "--heat must name two parameters, e.g. tp,sl; got 'tp'"),
        (("--frame", "long"), "unknown frame 'long' (available: short)"),
        (("--walk-forward", "3/2/1"), "walk-forward: 3 train + 2 test days do not fit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project: Path, args: tuple[str, ...], message: str) -> None:
    res = sweep(project, "--strategy", "tpsl", "--symbol", "BTCUSDT", "--workers", "1", *args)
    assert res.returncode == 2
    assert res.stderr.startswith("btk-console sweep: error: ") and res.stderr.count("\n") == 1
    assert message in res.stderr
    assert not (project / "dump" / "sweep" / "tpsl-grid.md").exists()


def test_a_strategy_without_params_or_unknown_is_refused(project: Path) -> None:
    res = sweep(project, "--strategy", "plain", "--symbol", "BTCUSDT")
    assert res.returncode == 2 and "strategy plain declares no params" in res.stderr
    res = sweep(project, "--strategy", "nope", "--symbol", "BTCUSDT")
    assert res.returncode == 2 and "unknown strategy 'nope' (available: tpsl, plain)" in res.stderr


def test_the_ray_backend_from_the_command_line(project: Path) -> None:
    pytest.importorskip("ray", reason='the Ray backend is an extra: pip install "btk[ray]" (CI installs it)')
    local = sweep(project, "--strategy", "tpsl", "--symbol", "BTCUSDT", "--workers", "1", "--table", "local.sqlite")
    on_ray = sweep(project, "--strategy", "tpsl", "--symbol", "BTCUSDT", "--backend", "ray", "--table", "ray.sqlite")
    assert local.returncode == 0 and on_ray.returncode == 0, on_ray.stderr
    assert _rows(project / "ray.sqlite") == _rows(project / "local.sqlite")
