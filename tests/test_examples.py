"""The README's examples run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` as a user would (its own process, a fresh working directory)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_sma_cross_example_runs_and_writes_its_report(tmp_path: Path) -> None:
    proc = run_example("sma_cross.py", tmp_path)
    summary = proc.stdout.strip().splitlines()[-2]
    assert summary.startswith("320 trades: win rate")  # every trade counts (no newest-250 window)
    assert "compounded" in summary and "max drawdown" in summary
    assert (tmp_path / "dump" / "backtest" / "sma-cross.md").read_text().startswith("# Backtest Report: sma-cross")


def test_walker_example_ranks_three_strategies_and_writes_its_report(tmp_path: Path) -> None:
    proc = run_example("walker_compare.py", tmp_path)
    lines = proc.stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in lines[:3]] == ["1/3", "2/3", "3/3"]
    best = next(line for line in lines if line.startswith("best: ")).split()[1]
    assert best in {"sma-3h", "sma-6h", "sma-12h"}
    refused = next(line for line in lines if line.startswith("signals the risk profile refused"))
    assert int(refused.rsplit(" ", 1)[1]) > 0  # January 2024 has weekends
    report = (tmp_path / "dump" / "walker" / "sma-variants.md").read_text()
    assert report.startswith("# Walker Comparison Report: sma-variants") and f"## Best Strategy: {best}" in report
