"""The README's example strategy runs as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sma_cross_example_runs_and_writes_its_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sma_cross.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "trades (statistics over the newest 250 of" in proc.stdout
    assert (tmp_path / "dump" / "backtest" / "sma-cross.md").read_text().startswith("# Backtest Report: sma-cross")
