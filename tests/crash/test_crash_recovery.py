"""Crash test (SPEC 8.3, 8.4, 14): a live run in a subprocess, on a simulated clock the test steps,
is killed with SIGKILL at seeded moments, including inside a state write and while its state
writes fail (ENOSPC or EROFS injected at a seeded write: the run is close-only); the restart must
restore the open position, the scheduled entry, the risk positions and the partial levels from
disk, close the position exactly once, restore no position announced closed and miss none
announced opened, and no state document may ever be half-written. Repeated for the JSON file
store and for a custom SQLite store swapped in with ``use_adapter``.

The clock moves only when the test steps it (between two ticks), so where a kill lands in
simulated time, and how many state writes a run makes, do not depend on the machine's speed.
The scenario and the kill hooks are in child.py, the kill/inspect/restart/check loop in harness.py.
``pytest -s`` prints the outcome table; it is also written to ``summary-<store>.txt`` in the
test's temporary directory. It runs on the loopback Binance server through the real ccxt client;
``BTK_CRASH_EXCHANGE=synthetic`` runs it on the offline synthetic exchange instead (faster).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.crash.child import PAUSE_PHASES, SAFETY_END
from tests.crash.harness import ForkServer, Plan, make_plans, read_events, read_state, run_iteration, summary

ITERATIONS = 50  # kills per store
SEED = 20240111
AT_LEAST = 3  # every kind of kill moment and of restored state must be hit this often
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Exchange:
    args: list[str]  # for the child
    tick_ms: float  # about how long a tick takes in real time: kills "inside a tick" land within it
    preload: tuple[str, ...] = ()  # imported once by the fork server


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    """The exchange the child trades on: ``ccxt`` (the default): the real ccxt client on the
    loopback Binance server, as the issue asks (every tick makes HTTP requests), or ``synthetic``
    (offline and faster: for a quick local loop, ``BTK_CRASH_EXCHANGE=synthetic``)."""
    kind = os.environ.get("BTK_CRASH_EXCHANGE", "ccxt")
    if kind == "synthetic":
        yield Exchange(["--exchange", "synthetic"], 1.0)
        return
    assert kind == "ccxt", f"BTK_CRASH_EXCHANGE must be synthetic or ccxt, not {kind!r}"
    from tests.exchanges.binance_server import BinanceServer

    with BinanceServer(now_ms=SAFETY_END) as server:  # every candle a run can ask for is there
        args = ["--exchange", "ccxt", "--base-url", server.base_url]
        yield Exchange(args, 5.0, ("ccxt", "tests.exchanges.binance_server"))


@pytest.fixture(scope="module")
def server(exchange: Exchange) -> Iterator[ForkServer]:
    forks = ForkServer(exchange.preload)
    yield forks
    forks.close()


@pytest.mark.parametrize("adapter", ["json", "sqlite"])
def test_a_live_run_killed_at_random_moments_restarts_and_closes_its_position_exactly_once(
    adapter: str, tmp_path: Path, server: ForkServer, exchange: Exchange
) -> None:
    started = time.monotonic()
    # one run that is not killed: it also tells how many state writes a run makes
    calm = run_iteration(server, tmp_path / "calm", adapter, Plan(after="never"), exchange.args)
    assert calm.category == "not-killed" and calm.close_reason is not None and not calm.restored
    [finished] = [ev for ev in read_events(tmp_path / "calm") if ev["ev"] == "finished" and ev["run"] == 1]
    writes = finished["writes"]
    assert writes >= 8  # open, schedule, milestones, cancel, close (the same count on any machine: stepped clock)
    state_writes = finished["state_writes"] - 2  # the failure phase fails signal-state writes (child.WriteHook)
    plans = make_plans(
        random.Random(f"{SEED}-{adapter}"), ITERATIONS, adapter, writes - 2, exchange.tick_ms, state_writes
    )
    outcomes = [
        run_iteration(server, tmp_path / f"kill-{i:02d}", adapter, plan, exchange.args) for i, plan in enumerate(plans)
    ]
    text = summary(adapter, outcomes, time.monotonic() - started)
    (tmp_path / f"summary-{adapter}.txt").write_text(text + "\n", encoding="utf-8")
    print("\n" + text)

    categories = Counter(o.category for o in outcomes)
    for category in ("before-open", "while-open", "after-close"):
        assert categories[category] >= AT_LEAST, text
    phases = Counter(o.phase for o in outcomes if o.phase)
    assert set(phases) == set(PAUSE_PHASES[adapter]) and min(phases.values()) >= AT_LEAST, text
    restored = Counter(r for o in outcomes for r in o.restored)
    for what in ("position", "scheduled entry", "risk positions", "partial levels"):
        assert restored[what] >= AT_LEAST, text
    if adapter == "json":
        assert sum(o.temp_files for o in outcomes) >= AT_LEAST, text
    # the write-failure phase: runs killed while close-only, and runs that resumed before the kill
    assert sum(o.close_only for o in outcomes) >= AT_LEAST, text
    assert sum(o.resumed for o in outcomes) >= AT_LEAST, text


def test_the_child_runs_on_its_own_and_stops_inside_a_write_when_asked(tmp_path: Path) -> None:
    """``python -m tests.crash.child`` (the way to run one scenario by hand): events on stdout,
    a pause inside the second state write, a SIGKILL there leaves a whole temp file and whole
    documents."""
    argv = ["--dir", str(tmp_path), "--pause-write", "2", "--pause-phase", "temp-synced"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash.child", *argv], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        events = []
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["ev"] == "paused":
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert events[0]["ev"] == "started" and events[-1]["ev"] == "paused" and events[-1]["write"] == 2
    assert [ev for ev in events if ev["ev"] != "parked"] == read_events(tmp_path)  # steps are not journaled
    state = read_state(tmp_path, "json")
    assert len(state.temp_files) == 1 and state.documents == 1  # the first write landed, the second did not
