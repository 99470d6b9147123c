"""Walk-forward: windows, best-on-train scored on test, and no test candle reaching a train window."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from strategies import JUMP_MS, START, setup_jumpy

import engine as e
from engine.research.report import write_sweep_report
from engine.research.sweep import Sweep, Window, run_sweep
from engine.research.table import ResultsTable, SweepError
from engine.research.walkforward import walk_forward_summary, walk_forward_windows

DAY = 86_400_000
T0 = int(START.timestamp() * 1000)


def test_rolling_and_anchored_windows():
    w = walk_forward_windows(START, START + timedelta(days=5), 2, 1)
    assert [(x.role, x.fold, (x.start_ms - T0) // DAY) for x in w] == [
        ("train", 0, 0), ("test", 0, 2), ("train", 1, 1), ("test", 1, 3), ("train", 2, 2), ("test", 2, 4),
    ]  # fmt: skip
    assert all(x.end_ms == y.start_ms - 60_000 and x.until_ms == y.start_ms for x, y in zip(w[::2], w[1::2]))
    anchored = walk_forward_windows(START, START + timedelta(days=5), 2, 1, anchored=True)
    assert {x.start_ms for x in anchored if x.role == "train"} == {T0}
    with pytest.raises(SweepError, match="do not fit"):
        walk_forward_windows(START, START + timedelta(days=2), 2, 1)
    with pytest.raises(SweepError, match="train_days must be an integer >= 1"):
        walk_forward_windows(START, START + timedelta(days=5), 0, 1)


def _wf(exchange: str, windows) -> Sweep:
    return Sweep(
        "tpsl", exchange, ("BTCUSDT",), windows, metric=("total_pnl",),
        space={"tp": e.FloatParam(0.6, 1.6, step=0.5), "minutes": e.IntParam(60, 1440, step=1380)},
    )  # fmt: skip


def _rows(path, role_windows):
    with ResultsTable(path) as t:
        return [(r.trial, r.window, r.stats) for r in t.rows() if r.window in role_windows]


def test_test_window_candles_never_reach_a_train_window(tmp_path):
    setup_jumpy()
    windows = walk_forward_windows(START, START + timedelta(days=4), 2, 1)
    assert windows[1].start_ms == JUMP_MS  # fold 0 tests right where the jumpy market leaps
    exchanges = [x.exchange_name for x in e.list_exchanges()]
    run_sweep(_wf("synthetic", windows), tmp_path / "plain.sqlite", workers=1)
    run_sweep(_wf("jumpy", windows), tmp_path / "jumpy.sqlite", workers=1)
    assert [x.exchange_name for x in e.list_exchanges()] == exchanges  # the windows' cut exchanges are gone
    fold0_train = {0}
    plain, jumpy = _rows(tmp_path / "plain.sqlite", fold0_train), _rows(tmp_path / "jumpy.sqlite", fold0_train)
    assert len(plain) == 6 and plain == jumpy  # the leap after the train window changed nothing in it
    assert _rows(tmp_path / "plain.sqlite", {1}) != _rows(tmp_path / "jumpy.sqlite", {1})  # but the test saw it
    # Without the cut, trades open at the train end settle on test prices and the rows differ:
    # what this test guards against.
    uncut = tuple(dataclasses.replace(w, until_ms=None) for w in windows)
    run_sweep(_wf("synthetic", uncut), tmp_path / "plain2.sqlite", workers=1)
    run_sweep(_wf("jumpy", uncut), tmp_path / "jumpy2.sqlite", workers=1)
    assert _rows(tmp_path / "plain2.sqlite", fold0_train) != _rows(tmp_path / "jumpy2.sqlite", fold0_train)


def test_each_fold_runs_its_train_winner_on_test_and_stitches(tmp_path):
    setup_jumpy()
    windows = walk_forward_windows(START, START + timedelta(days=5), 2, 1)
    sw = _wf("synthetic", windows)
    one = run_sweep(sw, tmp_path / "one.sqlite", workers=1)
    two = run_sweep(sw, tmp_path / "two.sqlite", setup=setup_jumpy, workers=2)
    with ResultsTable(tmp_path / "one.sqlite") as a, ResultsTable(tmp_path / "two.sqlite") as b:
        assert a.dump() == b.dump()
        rows = list(a.rows())
    assert one.rows == 6 * 3 + 3 and two.rows == one.rows  # 6 sets x 3 train windows + 3 test rows
    s = walk_forward_summary(sw, tmp_path / "one.sqlite")
    assert len(s.folds) == 3 and len(s.oos_daily) == 3
    for f, test_idx in zip(s.folds, (1, 3, 5)):
        train_idx = test_idx - 1
        train = [r for r in rows if r.window == train_idx]
        top = max(train, key=lambda r: (r.stats["total_pnl"], -r.trial))
        assert f.trial == top.trial and f.params == top.params
        (test_row,) = [r for r in rows if r.window == test_idx]
        assert test_row.trial == f.trial and f.test["total_pnl"] == test_row.stats["total_pnl"]
    assert s.oos_total == pytest.approx(sum(f.test["total_pnl"] for f in s.folds))
    assert isinstance(windows[0], Window)
    pytest.importorskip("matplotlib", reason="the charts extra (matplotlib) is not installed")
    report = write_sweep_report(sw, tmp_path / "one.sqlite", tmp_path / "wf.md")
    assert "![stitched out-of-sample equity](wf-oos-equity.png)" in report.read_text()
    assert (tmp_path / "wf-oos-equity.png").read_bytes()[:4] == b"\x89PNG"
