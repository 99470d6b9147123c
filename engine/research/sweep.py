"""Parameter sweeps: grid, seeded random and Optuna searches over a parameterised strategy.

``run_sweep(Sweep(...), table="sweep.sqlite")`` backtests parameter sets on one or more symbols over
one or more windows, on every core by default, and writes one row per (set, symbol, window) to the
results table as it finishes. Run it again on the same table after a crash or a kill and it goes on
where it stopped: finished rows are never recomputed.

Backends:

- ``workers=1``: in this process, one set after another, with the exchange as registered;
- ``workers=N`` (default: every core): a process pool (forkserver, or spawn where that is missing).
  Each worker calls ``setup`` (a module-level function that makes the same registrations as the
  parent; workers do not inherit them) and reads candles from files the parent wrote once
  (``shared.py``). Tasks carry a few numbers and the parameter dict;
- ``backend="ray"``: the same tasks on Ray actors, one per Ray CPU, with the candles in Ray's
  object store (``ray_backend.py``; ``pip install btk[ray]``).

All three give the same table, bit for bit (the tests compare them).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config, registry
from ..registry import WALKER_METRICS, to_ms
from .evaluate import Constraints, Task, Worker, init_worker, run_task
from .params import Choice, FloatParam, IntParam, Param, check_params, grid, grid_size, sample
from .shared import prepare_shared
from .table import ResultRow, ResultsTable, SweepError

__all__ = ["Constraints", "Sweep", "SweepProgress", "SweepResult", "Window", "run_sweep"]

METHODS = ("grid", "random", "optuna")
BACKENDS = ("local", "ray")


@dataclass(frozen=True, slots=True)
class Window:
    """A backtest period: frames from ``start_ms`` to ``end_ms`` (both included, like a frame)."""

    start_ms: int
    end_ms: int
    role: str = "full"  # "full" for a plain sweep; "train" / "test" in a walk-forward
    fold: int = 0
    until_ms: int | None = None
    """Candles opening at or after this never reach this window's runs (a train window ends where its
    test window starts: a trade still open at its end is not settled on test candles)."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """What to search. ``metric`` is one walker metric, or two for a multi-objective Optuna search."""

    strategy: str
    exchange: str
    symbols: tuple[str, ...]
    windows: tuple[Window, ...]
    method: str = "grid"
    trials: int | None = None
    metric: tuple[str, ...] = ("sharpe_ratio",)
    seed: int = 0
    constraints: Constraints = field(default_factory=Constraints)
    frame_interval: str = "1m"
    space: Mapping[str, Param] | None = None
    """A narrower space than the strategy declares (same names); None: the declared one."""
    batch: int = 8
    """Optuna asks this many sets before telling their results: fixed, so the search (and the table)
    does not depend on how many workers run it."""
    history_minutes: int = 3 * 1440
    """Candles shared before each window's start (what a strategy's history requests may read)."""
    lookahead_minutes: int | None = None
    """Candles shared after each window's end (settling open trades); None: from the config."""

    @staticmethod
    def over(
        strategy: str,
        exchange: str,
        symbols: str | Iterable[str],
        start: Any,
        end: Any,
        **options: Any,
    ) -> Sweep:
        """A sweep over one window from ``start`` to ``end`` (datetimes, ISO strings or ms)."""
        syms = (symbols,) if isinstance(symbols, str) else tuple(symbols)
        metric = options.pop("metric", ("sharpe_ratio",))
        metric = (metric,) if isinstance(metric, str) else tuple(metric)
        return Sweep(strategy, exchange, syms, (Window(to_ms(start), to_ms(end)),), metric=metric, **options)


@dataclass(frozen=True, slots=True)
class SweepProgress:
    done: int
    total: int
    computed: int
    elapsed_s: float
    best_trial: int | None
    best_value: float | None
    best_params: Mapping[str, Any] | None
    row: ResultRow | None


@dataclass(frozen=True, slots=True)
class SweepResult:
    table: Path
    trials: int
    """Parameter sets tried (what the deflated Sharpe ratio counts)."""
    rows: int
    computed: int
    best_trial: int | None
    best_value: tuple[float, ...] | None
    best_params: Mapping[str, Any] | None


# --------------------------------------------------------------------------- checks


def _space(sweep: Sweep) -> dict[str, Param]:
    schema = registry.strategies.get(sweep.strategy, "sweep")
    if not schema.params:
        raise SweepError(f"sweep: strategy {sweep.strategy} declares no params; add params={{...}} to add_strategy")
    if sweep.space is None:
        return dict(schema.params)
    unknown = sorted(set(sweep.space) - set(schema.params))
    if unknown:
        raise SweepError(f"sweep: space names parameter(s) {', '.join(unknown)} that {sweep.strategy} does not declare")
    for k, spec in sweep.space.items():
        declared = schema.params[k]
        ends = spec.values() if isinstance(spec, IntParam | Choice) or spec.step is not None else (spec.low, spec.high)
        bad = [v for v in ends if declared.check(v if not isinstance(declared, FloatParam) else float(v)) is not None]
        if bad:
            raise SweepError(
                f"sweep: space of {k} reaches {bad[0]!r}, outside what {sweep.strategy} declares: {declared}"
            )
    return {**{k: _fixed(v) for k, v in schema.param_values.items()}, **dict(sweep.space)}


def _fixed(value: Any) -> Param:
    return Choice(value)


def validate(sweep: Sweep) -> dict[str, Param]:
    """Every setting checked before anything runs; the message names the setting."""
    if sweep.method not in METHODS:
        raise SweepError(f"sweep: method must be one of {', '.join(METHODS)}; got {sweep.method!r}")
    if not sweep.metric or len(sweep.metric) > 2 or any(m not in WALKER_METRICS for m in sweep.metric):
        raise SweepError(f"sweep: metric must be one or two of {', '.join(WALKER_METRICS)}; got {sweep.metric!r}")
    if len(sweep.metric) == 2 and sweep.method != "optuna":
        raise SweepError("sweep: two metrics (multi-objective) need method='optuna'")
    if sweep.method != "grid" and (not isinstance(sweep.trials, int) or sweep.trials < 1):
        raise SweepError(f"sweep: method {sweep.method} needs trials >= 1; got {sweep.trials!r}")
    if not sweep.symbols or any(not isinstance(s, str) or not s for s in sweep.symbols):
        raise SweepError(f"sweep: symbols must be a non-empty list of symbol names; got {sweep.symbols!r}")
    if not sweep.windows:
        raise SweepError("sweep: at least one window is needed")
    for i, w in enumerate(sweep.windows):
        if w.end_ms < w.start_ms:
            raise SweepError(f"sweep: window {i} ends ({w.end_ms}) before it starts ({w.start_ms})")
    if not isinstance(sweep.seed, int) or isinstance(sweep.seed, bool):
        raise SweepError(f"sweep: seed must be an integer; got {sweep.seed!r}")
    if not isinstance(sweep.batch, int) or sweep.batch < 1:
        raise SweepError(f"sweep: batch must be an integer >= 1; got {sweep.batch!r}")
    why = sweep.constraints.problem()
    if why:
        raise SweepError(f"sweep: constraints: {why}")
    registry.exchanges.get(sweep.exchange, "sweep")
    space = _space(sweep)
    if sweep.method == "grid":
        for k, spec in space.items():
            if isinstance(spec, FloatParam) and spec.step is None:
                raise SweepError(f"sweep: grid over {k} needs a step (FloatParam(..., step=...))")
    return space


def fingerprint(sweep: Sweep, space: Mapping[str, Param]) -> dict[str, Any]:
    """What makes two sweeps the same sweep (a resumed table must match it)."""
    return {
        "strategy": sweep.strategy,
        "exchange": sweep.exchange,
        "symbols": list(sweep.symbols),
        "windows": [[w.start_ms, w.end_ms, w.role, w.fold, w.until_ms] for w in sweep.windows],
        "method": sweep.method,
        "trials": sweep.trials,
        "metric": list(sweep.metric),
        "seed": sweep.seed,
        "constraints": [sweep.constraints.min_trades, sweep.constraints.max_drawdown],
        "frame_interval": sweep.frame_interval,
        "space": {k: repr(v) for k, v in space.items()},
        "batch": sweep.batch if sweep.method == "optuna" else None,
    }


# --------------------------------------------------------------------------- parameter sets


def random_sets(space: Mapping[str, Param], trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` distinct sets drawn with ``random.Random(seed)`` (fewer if the space is smaller)."""
    rng = random.Random(seed)
    finite = all(isinstance(s, IntParam) or getattr(s, "step", 0) is not None for s in space.values())
    cap = grid_size(space) if finite else math.inf
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    misses = 0
    while len(out) < min(trials, cap) and misses < 100 * trials:
        p = sample(space, rng)
        key = repr(sorted(p.items()))
        if key in seen:
            misses += 1
            continue
        seen.add(key)
        out.append(p)
    return out


# --------------------------------------------------------------------------- backends


class _Backend:
    def submit(self, task: Task) -> Future[ResultRow]:
        raise NotImplementedError

    def close(self, abort: bool = False) -> None:
        """``abort``: the sweep is stopping early (an exception, a KeyboardInterrupt, SIGTERM turned
        into one): end the workers now rather than wait for the sets they hold."""


class _InProcess(_Backend):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def submit(self, task: Task) -> Future[ResultRow]:
        f: Future[ResultRow] = Future()
        try:
            f.set_result(self.worker.run(task))
        except BaseException as exc:
            f.set_exception(exc)
        return f

    def close(self, abort: bool = False) -> None:
        self.worker.restore()


class _Pool(_Backend):
    def __init__(self, workers: int, initargs: tuple[Any, ...]) -> None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            # the fork server imports the engine once and every worker is forked from it, instead
            # of each worker importing it again (~1.5 CPU s each: numpy, pandas, the brokers);
            # '__main__' is what it preloads by default. It applies when the fork server starts
            # (the first pool of this process); importing the engine starts no thread.
            ctx.set_forkserver_preload(["__main__", "engine.research.evaluate"])
        self.pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=initargs)

    def submit(self, task: Task) -> Future[ResultRow]:
        return self.pool.submit(run_task, task)

    def close(self, abort: bool = False) -> None:
        if abort:
            # each worker may be deep in a year's backtest (or in a strategy that never returns): a
            # stop would wait for it. Their sets have no row yet and are computed on resume, so they
            # lose nothing. ``_processes`` because Python < 3.14 has no ``terminate_workers()``.
            terminate = getattr(self.pool, "terminate_workers", None)
            if terminate is not None:
                terminate()
            else:
                for proc in list((self.pool._processes or {}).values()):
                    proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _lookahead(sweep: Sweep) -> int:
    if sweep.lookahead_minutes is not None:
        return sweep.lookahead_minutes
    cfg = config.current()
    lifetime = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES or 0
    return cfg.CC_SCHEDULE_AWAIT_MINUTES + min(lifetime, 3 * 1440) + cfg.CC_AVG_PRICE_CANDLES_COUNT + 1440


def _config_overrides() -> dict[str, Any]:
    now, default = config.get_config(), config.get_default_config()
    return {k: v for k, v in now.items() if default.get(k) != v}


SHARED_PREFIX = "btk-sweep-"
"""The folder of a sweep's shared candle files, beside its table: ``btk-sweep-<pid>-<random>``."""


def _remove_orphans(folder: Path) -> None:
    """Remove the shared-candle folders of sweeps whose process is gone (killed before its cleanup:
    SIGKILL runs no ``finally``); a folder of a process still running is left alone."""
    for path in folder.glob(f"{SHARED_PREFIX}*"):
        pid = path.name[len(SHARED_PREFIX) :].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # another user's running process
            continue


def _backend(
    sweep: Sweep, workers: int, backend: str, setup: Callable[[], Any] | None, table: Path, named: int | None = None
) -> tuple[_Backend, tempfile.TemporaryDirectory | None]:
    """``named``: the worker count the caller asked for (None: one per core; on Ray, per Ray CPU)."""
    args = (sweep.strategy, sweep.exchange, sweep.frame_interval, sweep.constraints, sweep.seed)
    if backend == "local" and workers == 1:
        return _InProcess(Worker(*args)), None
    if setup is None:
        raise SweepError(
            "sweep: workers in other processes need setup=, a module-level function that registers the "
            "strategy and exchange (workers do not inherit the parent's registrations); or use workers=1"
        )
    minute = 60_000
    lo = min(w.start_ms for w in sweep.windows) - sweep.history_minutes * minute
    hi = max(w.end_ms for w in sweep.windows) + _lookahead(sweep) * minute
    lo, hi = lo // minute * minute, -(-hi // minute) * minute
    _remove_orphans(table.parent)
    tmp = tempfile.TemporaryDirectory(prefix=f"{SHARED_PREFIX}{os.getpid()}-", dir=table.parent)
    shared = prepare_shared(sweep.exchange, sweep.symbols, lo, hi, Path(tmp.name))
    initargs = (setup, shared, _config_overrides(), args)
    if backend == "ray":
        from .ray_backend import RayBackend

        try:
            return RayBackend(initargs, named), tmp
        except BaseException:
            tmp.cleanup()
            raise
    return _Pool(workers, initargs), tmp


# --------------------------------------------------------------------------- the search


class _Best:
    """The best feasible parameter set so far by the first metric (mean over symbols and windows)."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.rows: dict[int, list[ResultRow]] = {}
        self.trial: int | None = None
        self.value: tuple[float, ...] | None = None
        self.params: Mapping[str, Any] | None = None
        self.per_trial = len(sweep.symbols) * sum(1 for w in sweep.windows if w.role != "test")

    def objective(self, rows: Sequence[ResultRow]) -> tuple[float, ...] | None:
        if len(rows) < self.per_trial or not all(r.feasible for r in rows):
            return None
        out = []
        for m in self.sweep.metric:
            vals = [r.stats.get(m) for r in rows]
            if any(v is None for v in vals):
                return None
            out.append(sum(vals) / len(vals))
        return tuple(out)

    def add(self, row: ResultRow) -> None:
        if self.sweep.windows[row.window].role == "test":
            return
        rows = self.rows.setdefault(row.trial, [])
        rows.append(row)
        value = self.objective(rows)
        if value is not None and (
            self.value is None or value[0] > self.value[0] or (value[0] == self.value[0] and row.trial < self.trial)
        ):
            self.trial, self.value, self.params = row.trial, value, row.params


def _tasks(sweep: Sweep, trial: int, params: Mapping[str, Any], roles: tuple[str, ...]) -> list[Task]:
    return [
        Task(trial, symbol, i, w.start_ms, w.end_ms, dict(params), w.until_ms)
        for symbol in sweep.symbols
        for i, w in enumerate(sweep.windows)
        if w.role in roles
    ]


def best_per_window(sweep: Sweep, rows: Iterable[ResultRow], window: int) -> tuple[int, Mapping[str, Any]] | None:
    """The feasible trial with the highest first metric (mean over symbols) on ``window``; ties go to
    the lower trial number. None when no trial is feasible there."""
    by: dict[int, list[ResultRow]] = {}
    for r in rows:
        if r.window == window:
            by.setdefault(r.trial, []).append(r)
    metric = sweep.metric[0]
    found: tuple[float, int, Mapping[str, Any]] | None = None
    for trial, rs in sorted(by.items()):
        if len(rs) < len(sweep.symbols) or not all(r.feasible and r.stats.get(metric) is not None for r in rs):
            continue
        value = sum(r.stats[metric] for r in rs) / len(rs)
        if found is None or value > found[0]:
            found = (value, trial, rs[0].params)
    return None if found is None else (found[1], found[2])


def _test_tasks(sweep: Sweep, best: _Best, results: ResultsTable) -> list[Task]:
    """Walk-forward: each fold's best set on its train window, run on its test window."""
    tests = [(i, w) for i, w in enumerate(sweep.windows) if w.role == "test"]
    if not tests:
        return []
    rows = list(results.rows())
    tasks = []
    for i, w in tests:
        train = next(j for j, t in enumerate(sweep.windows) if t.role == "train" and t.fold == w.fold)
        chosen = best_per_window(sweep, rows, train)
        if chosen is not None:
            tasks += [Task(chosen[0], s, i, w.start_ms, w.end_ms, dict(chosen[1]), w.until_ms) for s in sweep.symbols]
    return tasks


def run_sweep(
    sweep: Sweep,
    table: str | os.PathLike,
    *,
    setup: Callable[[], Any] | None = None,
    workers: int | None = None,
    backend: str = "local",
    progress: Callable[[SweepProgress], Any] | None = None,
) -> SweepResult:
    """Run (or resume) ``sweep`` into the SQLite file ``table``; see the module docstring."""
    if backend not in BACKENDS:
        raise SweepError(f"sweep: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if setup is not None and not registry.strategies.has(sweep.strategy):
        setup()
    space = validate(sweep)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if not isinstance(n_workers, int) or n_workers < 1:
        raise SweepError(f"sweep: workers must be an integer >= 1; got {workers!r}")
    path = Path(table)
    with ResultsTable(path) as results:
        results.claim(fingerprint(sweep, space))
        done = results.done_keys()
        best = _Best(sweep)
        for row in results.rows():
            best.add(row)
        back, tmp = _backend(sweep, n_workers, backend, setup, path, workers)
        state = {"done": len(done), "computed": 0, "total": 0}
        t0 = time.perf_counter()

        def finished(row: ResultRow) -> None:
            results.add(row)
            best.add(row)
            state["done"] += 1
            state["computed"] += 1
            if progress is not None:
                progress(
                    SweepProgress(
                        state["done"],
                        state["total"],
                        state["computed"],
                        time.perf_counter() - t0,
                        best.trial,
                        None if best.value is None else best.value[0],
                        best.params,
                        row,
                    )
                )

        def run(tasks: list[Task]) -> None:
            pending = set()
            for t in tasks:
                if (t.trial, t.symbol, t.window) in done:
                    continue
                f = back.submit(t)
                if f.done():  # in this process: finished already, write it now
                    finished(f.result())
                else:
                    pending.add(f)
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(ready, key=lambda f: f.result().key):
                    finished(f.result())

        stopped = True
        try:
            if sweep.method == "optuna":
                trials = _optuna(sweep, space, results, best, run, state)
            else:
                sets = list(grid(space)) if sweep.method == "grid" else random_sets(space, sweep.trials, sweep.seed)
                if sweep.method == "grid" and sweep.trials is not None:
                    sets = sets[: sweep.trials]
                tasks = [t for i, p in enumerate(sets) for t in _tasks(sweep, i, p, ("full", "train"))]
                state["total"] = len(tasks)
                run(tasks)
                trials = len(sets)
            run(_test_tasks(sweep, best, results))
            stopped = False
        finally:
            back.close(abort=stopped)
            if tmp is not None:
                tmp.cleanup()
        return SweepResult(path, trials, results.count(), state["computed"], best.trial, best.value, best.params)


def _optuna(
    sweep: Sweep,
    space: Mapping[str, Param],
    results: ResultsTable,
    best: _Best,
    run: Callable[[list[Task]], None],
    state: dict[str, int],
) -> int:
    """Ask/tell in fixed batches with a seeded sampler; a resumed sweep replays the finished trials
    (the same seed and history make the sampler ask the same sets) instead of running them."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if len(sweep.metric) == 1:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=sweep.seed))
    else:
        study = optuna.create_study(
            directions=["maximize", "maximize"], sampler=optuna.samplers.NSGAIISampler(seed=sweep.seed)
        )
    assert sweep.trials is not None
    per_trial = len(_tasks(sweep, 0, {}, ("full", "train")))
    state["total"] = sweep.trials * per_trial
    stored = {}
    for row in results.rows():
        stored.setdefault(row.trial, row.params)
    n = 0
    while n < sweep.trials:
        asked = []
        for _ in range(min(sweep.batch, sweep.trials - n)):
            trial = study.ask()
            params: dict[str, Any] = {}
            for k, spec in space.items():
                if isinstance(spec, IntParam):
                    params[k] = trial.suggest_int(k, spec.low, spec.high, step=spec.step)
                elif isinstance(spec, FloatParam):
                    v = trial.suggest_float(k, spec.low, spec.high, step=spec.step)
                    params[k] = round(v, spec._places()) if spec.step is not None else v
                elif isinstance(spec, Choice):
                    params[k] = trial.suggest_categorical(k, list(spec.options))
            params = check_params(sweep.strategy, space, params)
            if trial.number in stored and stored[trial.number] != params:
                raise SweepError(
                    f"sweep: resuming {results.path}: Optuna asked {params} for trial {trial.number}, the table "
                    f"holds {stored[trial.number]} (another Optuna version?); start a new table"
                )
            asked.append((trial, params))
        run([t for trial, p in asked for t in _tasks(sweep, trial.number, p, ("full", "train"))])
        for trial, _ in asked:
            value = best.objective(best.rows.get(trial.number, []))
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, value[0] if len(value) == 1 else list(value))
        n += len(asked)
    return n


def load_rows(table: str | os.PathLike) -> list[ResultRow]:
    with ResultsTable(table) as t:
        return list(t.rows())


def iter_trials(rows: Iterable[ResultRow]) -> Iterator[tuple[int, list[ResultRow]]]:
    by: dict[int, list[ResultRow]] = {}
    for r in rows:
        by.setdefault(r.trial, []).append(r)
    yield from sorted(by.items())
