"""Sweeps: grid, random and Optuna searches, the results table, constraints, pool == sequential."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from strategies import START, setup
from sweep_child import make_sweep

import engine as e
from engine.research.evaluate import Constraints, max_drawdown
from engine.research.sweep import Sweep, random_sets, run_sweep
from engine.research.table import ResultsTable, SweepError

HERE = Path(__file__).parent


def _sweep(**kw) -> Sweep:
    kw.setdefault("metric", "total_pnl")
    return Sweep.over("tpsl", "synthetic", "BTCUSDT", START, START + timedelta(days=3), **kw)


def _dump(path) -> list:
    with ResultsTable(path) as t:
        return t.dump()


def test_grid_in_a_process_pool_gives_the_same_table_bit_for_bit(tmp_path):
    setup()
    sw = _sweep()
    registered = ([f.frame_name for f in e.list_frames()], [x.exchange_name for x in e.list_exchanges()])
    one = run_sweep(sw, tmp_path / "one.sqlite", workers=1)
    # a sweep in this process leaves no window frames behind for pickers to show
    assert ([f.frame_name for f in e.list_frames()], [x.exchange_name for x in e.list_exchanges()]) == registered
    two = run_sweep(sw, tmp_path / "two.sqlite", setup=setup, workers=2)
    assert one.trials == two.trials == 36 and one.computed == 36
    rows = _dump(tmp_path / "one.sqlite")
    assert rows == _dump(tmp_path / "two.sqlite")
    assert len({r[3] for r in rows}) == 36  # every parameter set once
    assert (one.best_trial, one.best_params) == (two.best_trial, two.best_params)
    assert not list(tmp_path.glob("btk-sweep-*"))  # the shared candle files are removed at the end


def test_a_row_holds_the_walker_statistics_of_a_normal_backtest(tmp_path):
    setup()
    run_sweep(_sweep(), tmp_path / "t.sqlite", workers=1)
    with ResultsTable(tmp_path / "t.sqlite") as t:
        row = next(r for r in t.rows() if r.trial == 5)
    e.add_frame("same", "1m", START, START + timedelta(days=3))
    e.use_params("tpsl", row.params)

    async def go():
        async for _ in e.Backtest.run("BTCUSDT", strategy_name="tpsl", exchange_name="synthetic", frame_name="same"):
            pass

    asyncio.run(go())
    stats = e.Backtest.get_data("BTCUSDT", "tpsl")
    assert stats.total_signals == row.stats["trades"] <= 250  # below the store's cap: the same trades
    for metric in ("win_rate", "total_pnl", "sharpe_ratio", "certainty_ratio", "expected_yearly_returns"):
        assert row.stats[metric] == getattr(stats, metric), metric
    assert row.seed == 0 and row.btk_version == "0.1.0"
    assert row.daily.sum() == pytest.approx(stats.total_pnl)


def test_max_drawdown_by_hand():
    assert max_drawdown([]) == 0.0
    assert max_drawdown([-1.0, 2.0]) == 1.0  # the first loss counts from 0
    assert max_drawdown([1.0, 2.0, -1.5, -1.0, 4.0, -3.0]) == 3.0
    assert max_drawdown([1.0, 1.0]) == 0.0


def test_random_search_is_seeded_and_never_repeats_a_set():
    space = {"a": e.IntParam(1, 10), "b": e.Choice("x", "y")}
    first = random_sets(space, 8, seed=3)
    assert first == random_sets(space, 8, seed=3)
    assert first != random_sets(space, 8, seed=4)
    assert len({tuple(sorted(p.items())) for p in first}) == 8
    assert len(random_sets(space, 50, seed=3)) == 20  # the whole space, once each


def test_random_sweep_tries_the_requested_number_of_sets(tmp_path):
    setup()
    res = run_sweep(_sweep(method="random", trials=5, seed=11), tmp_path / "r.sqlite", workers=1)
    assert res.trials == 5 and res.rows == 5


def test_optuna_is_seeded_and_the_pool_matches_one_process(tmp_path):
    pytest.importorskip("optuna", reason="optuna is a core dependency; missing means a broken install")
    setup()
    sw = _sweep(method="optuna", trials=10, seed=5, batch=4)
    a = run_sweep(sw, tmp_path / "a.sqlite", workers=1)
    run_sweep(sw, tmp_path / "b.sqlite", setup=setup, workers=2)
    assert a.trials == 10 and _dump(tmp_path / "a.sqlite") == _dump(tmp_path / "b.sqlite")


def test_optuna_two_metrics_is_multi_objective(tmp_path):
    setup()
    res = run_sweep(
        _sweep(method="optuna", trials=6, metric=("total_pnl", "win_rate")), tmp_path / "m.sqlite", workers=1
    )
    assert res.rows == 6 and res.best_value is not None and len(res.best_value) == 2


def test_constraints_mark_rows_infeasible_and_keep_them_out_of_the_best(tmp_path):
    setup()
    res = run_sweep(_sweep(constraints=Constraints(min_trades=10_000)), tmp_path / "c.sqlite", workers=1)
    assert res.best_trial is None and res.rows == 36
    with ResultsTable(tmp_path / "c.sqlite") as t:
        assert not any(r.feasible for r in t.rows())
    dd = run_sweep(_sweep(constraints=Constraints(max_drawdown=5.0)), tmp_path / "d.sqlite", workers=1)
    with ResultsTable(tmp_path / "d.sqlite") as t:
        rows = list(t.rows())
    assert all(r.feasible == (r.stats["max_drawdown"] <= 5.0) for r in rows)
    assert dd.best_trial is None or rows[dd.best_trial].feasible


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"method": "annealing"}, "method must be one of grid, random, optuna"),
        ({"metric": "profit"}, "metric must be one or two of"),
        ({"metric": ("total_pnl", "win_rate")}, "two metrics (multi-objective) need method='optuna'"),
        ({"method": "random"}, "method random needs trials >= 1"),
        ({"constraints": Constraints(min_trades=-1)}, "constraints: min_trades must be an integer >= 0"),
        ({"space": {"nope": e.IntParam(1, 2)}}, "space names parameter(s) nope that tpsl does not declare"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, kw, message):
    setup()
    with pytest.raises(SweepError) as info:
        run_sweep(_sweep(**kw), tmp_path / "x.sqlite", workers=1)
    assert message in str(info.value)
    assert not (tmp_path / "x.sqlite").exists() or _dump(tmp_path / "x.sqlite") == []


def test_a_pool_without_setup_is_refused(tmp_path):
    setup()
    with pytest.raises(SweepError, match="need setup="):
        run_sweep(_sweep(), tmp_path / "x.sqlite", workers=2)


def test_a_table_of_another_sweep_is_not_resumed(tmp_path):
    setup()
    run_sweep(_sweep(space={"tp": e.FloatParam(0.6, 1.1, step=0.5)}), tmp_path / "t.sqlite", workers=1)
    with pytest.raises(SweepError, match=r"belongs to another sweep \(differs in: space\)"):
        run_sweep(_sweep(), tmp_path / "t.sqlite", workers=1)


def test_a_narrower_space_keeps_the_other_parameters_at_their_defaults(tmp_path):
    setup()
    res = run_sweep(_sweep(space={"sl": e.FloatParam(0.6, 1.2, step=0.3)}), tmp_path / "n.sqlite", workers=1)
    with ResultsTable(tmp_path / "n.sqlite") as t:
        params = [r.params for r in t.rows()]
    assert res.trials == 3
    assert params == [{"tp": 1.1, "sl": sl, "minutes": 60, "side": "long"} for sl in (0.6, 0.9, 1.2)]


@pytest.mark.parametrize("method", ["grid", "optuna"])
def test_a_killed_sweep_resumes_to_the_same_table_without_recomputing(tmp_path, method):
    whole, killed = tmp_path / "whole.sqlite", tmp_path / "killed.sqlite"
    child = [sys.executable, str(HERE / "sweep_child.py"), "--method", method]
    subprocess.run([*child, str(whole)], check=True, capture_output=True, timeout=300)
    total = len(_dump(whole))
    hold = total // 3
    proc = subprocess.Popen(
        [*child, str(killed), "--hold", str(hold)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        for line in proc.stdout:  # wait for the event: the hold-th row is committed
            if line.strip() == f"row {hold}":
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the pool workers it started, if still there
    assert proc.returncode == -signal.SIGKILL
    assert len(_dump(killed)) == hold
    assert len(list(tmp_path.glob(f"btk-sweep-{proc.pid}-*"))) == 1  # the killed sweep's shared candles
    computed = []
    setup()
    res = run_sweep(make_sweep(method), killed, setup=setup, workers=2, progress=lambda ev: computed.append(ev.row.key))
    assert res.computed == len(computed) == total - hold  # finished rows were not run again
    assert _dump(killed) == _dump(whole)
    assert not list(tmp_path.glob("btk-sweep-*"))  # the resume removed what the killed one left


def test_a_space_wider_than_declared_is_refused(tmp_path):
    setup()
    with pytest.raises(SweepError, match=r"space of minutes reaches 1500, outside what tpsl declares"):
        run_sweep(_sweep(space={"minutes": e.IntParam(60, 1500, step=1440)}), tmp_path / "w.sqlite", workers=1)
