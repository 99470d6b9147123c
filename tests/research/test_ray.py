"""The Ray backend: the same results table as the process pool, on a local Ray started here."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from strategies import START, setup, setup_jumpy

from engine.research.sweep import Sweep, run_sweep
from engine.research.table import ResultsTable
from engine.research.walkforward import walk_forward_windows

ray = pytest.importorskip("ray", reason='the Ray backend is an extra: pip install "btk[ray]" (CI installs it)')

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def local_ray():
    # Actors are fresh processes: they import this folder's strategies module by name, like pool workers.
    path = os.pathsep.join([str(HERE), *(p for p in sys.path if p)])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def _dump(path) -> list:
    with ResultsTable(path) as t:
        return t.dump()


def test_a_grid_on_ray_gives_the_pools_table_bit_for_bit(tmp_path, local_ray):
    setup()
    sw = Sweep.over("tpsl", "synthetic", "BTCUSDT", START, START + timedelta(days=3), metric="total_pnl")
    pool = run_sweep(sw, tmp_path / "pool.sqlite", setup=setup, workers=2)
    on_ray = run_sweep(sw, tmp_path / "ray.sqlite", setup=setup, backend="ray")
    assert on_ray.trials == pool.trials == 36 and on_ray.computed == 36
    assert _dump(tmp_path / "ray.sqlite") == _dump(tmp_path / "pool.sqlite")
    assert (on_ray.best_trial, on_ray.best_params) == (pool.best_trial, pool.best_params)
    assert ray.is_initialized()  # a Ray the caller started is left running
    assert not list(tmp_path.glob("btk-sweep-*"))


def test_optuna_walk_forward_on_ray_matches_the_pool(tmp_path, local_ray):
    setup_jumpy()
    windows = walk_forward_windows(START, START + timedelta(days=4), 2, 1)
    sw = Sweep(
        "tpsl",
        "jumpy",
        ("BTCUSDT",),
        windows,
        method="optuna",
        trials=6,
        batch=3,
        seed=2,
        metric=("total_pnl",),
    )
    run_sweep(sw, tmp_path / "pool.sqlite", setup=setup_jumpy, workers=2)
    run_sweep(sw, tmp_path / "ray.sqlite", setup=setup_jumpy, backend="ray", workers=2)
    rows = _dump(tmp_path / "ray.sqlite")
    assert len(rows) == 6 * 2 + 2 and rows == _dump(tmp_path / "pool.sqlite")


def test_actors_read_the_candles_from_the_object_store_without_copying(tmp_path, local_ray):
    from engine.research.shared import SharedFeed, prepare_shared, read_shared

    setup()
    t0 = int(START.timestamp() * 1000)
    shared = prepare_shared("synthetic", ("BTCUSDT",), t0, t0 + 86_400_000, tmp_path)
    ref = ray.put(read_shared(shared))

    @ray.remote
    def probe(columns):
        close = SharedFeed(columns)._minutes("BTCUSDT", t0, t0 + 3_600_000).close
        return close.flags.writeable, close.flags.owndata, len(close)

    assert ray.get(probe.remote(ref)) == (False, False, 60)  # a read-only view of the store's memory
