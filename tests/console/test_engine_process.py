"""Backtests and walkers in worker processes (console/host/, issue 14 item 2).

The same runs in process and in a worker must show the same numbers, the same trades in the
inspector and write the same reports; a worker killed mid-run is a failed run that says why; ``s`` (stop)
stops the worker's run; quitting leaves no worker behind. Each app gets its own ``Engine`` so the
two sides share nothing in this process. The waits are on the app's state (a generous safety
limit only): a worker's pace depends on the machine's load, never on a deadline.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from conftest import finish_runs, fixed_clock, wait_until
from screen_text import screen_lines
from textual.widgets import DataTable

import engine
from console.app import BtkApp
from console.bridge import SHOWN_ACTIONS
from console.host import EngineProcessDied, RemoteRun, loader_for, wire
from console.host.child import SIGNAL_ACTIONS
from console.project import load_project
from console.screens.dialogs import ConfirmScreen
from console.state import Part
from console.trades import load_trades, source_of
from console.widgets.panes import EquityPane, RunsPane, SignalsPane

TIMING_REPORTS = "performance"  # wall-clock timings: never equal between two runs


class DecodingPipe:
    """A worker's end of the pipe that keeps each message it is sent, decoded (``Outbox`` tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send_bytes(self, raw: bytes) -> None:
        self.sent.append(wire.decode(raw))


def _app(project_dir: Path, dump: Path, *, worker: bool) -> BtkApp:
    project = load_project(project_dir / "btk.toml")
    loader = loader_for(project.source, project.root) if worker else None
    return BtkApp(project, clock=fixed_clock, save_settings=False, dump_dir=dump, engine_process=loader)


def _reports(dump: Path) -> dict[str, str]:
    return {
        p.relative_to(dump).as_posix(): p.read_text()
        for p in sorted(dump.rglob("*"))
        if p.is_file() and TIMING_REPORTS not in p.relative_to(dump).parts
    }


async def _session(project_dir: Path, dump: Path, *, worker: bool) -> dict:
    """A backtest, then the walker (it tests the same strategy), then ``d``: what the panes,
    the inspector and the report files hold afterwards."""
    with engine.Engine().activate():
        app = _app(project_dir, dump, worker=worker)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            assert app.start_backtest("BTCUSDT", "momentum", "sim", "short")
            await finish_runs(pilot)
            assert app.start_walker("BTCUSDT", "compare")
            await finish_runs(pilot)
            await pilot.press("d")
            await pilot.pause()
            runs = {
                rid: (r.status, r.error, r.trades, r.wins, round(r.total_pnl, 9), r.processed, r.total, r.errors)
                for rid, r in app.state.runs.items()
            }
            equity = {rid: [round(x, 9) for x in r.equity] for rid, r in app.state.runs.items()}
            leaderboard = [
                (row.strategy, row.status, row.metric) for row in app.state.walkers["walker:BTCUSDT:compare"].ranked()
            ]
            trades = {rid: load_trades(source_of(app.state, r)) for rid, r in app.state.runs.items()}
            log = [(line.kind, line.run, line.time, line.detail) for line in app.state.log_of(None)]
            # a worker sends fast-forwarded milestones as lazy batches (console/host/child.py): the
            # same count and the same lines as the events a run in process emits
            ms = app.state.milestone_log
            milestones = {
                rid: (ms.count(rid), [(x.kind, x.level, x.time, x.price, x.signal_id) for x in ms.of(rid)])
                for rid in app.state.runs
            }
            # a worker each (the first one started with the console), and a spare after the last
            used_worker = app.host is not None and app.host.started == 3 and app.host.spare is not None
        return {
            "runs": runs,
            "equity": equity,
            "leaderboard": leaderboard,
            "trades": trades,
            "log": log,
            "milestones": milestones,
            "reports": _reports(dump),
            "worker": used_worker,
        }


async def test_a_backtest_and_a_walker_in_a_worker_match_the_same_runs_in_process(
    project_dir: Path, tmp_path: Path, no_settings
) -> None:
    here = await _session(project_dir, tmp_path / "here", worker=False)
    there = await _session(project_dir, tmp_path / "there", worker=True)
    assert there["worker"] and not here["worker"]
    assert here["runs"]["backtest:BTCUSDT:momentum"][0] == "done"
    assert here["runs"]["backtest:BTCUSDT:momentum"][2] > 0  # it traded: the comparison means something
    assert there["runs"] == here["runs"]
    assert there["equity"] == here["equity"]
    assert there["leaderboard"] == here["leaderboard"]
    assert there["trades"] == here["trades"] and here["trades"]["backtest:BTCUSDT:momentum"]
    assert there["log"] == here["log"]
    assert there["milestones"] == here["milestones"] and here["milestones"]["backtest:BTCUSDT:momentum"][0] > 0
    assert sorted(there["reports"]) == sorted(here["reports"])
    assert any(name.startswith("backtest/") for name in here["reports"])
    assert any(name.startswith("walker/") for name in here["reports"])
    for name, text in here["reports"].items():
        assert there["reports"][name] == text, name


def _stuck_project(project_dir: Path) -> None:
    """The fixture project plus ``stuck``, a strategy that never answers (a run that runs until
    killed), and ``slow``, a run that runs until stopped: its first minute says it started (the
    file ``slow-started``), waits for the test to open the FIFO ``gate``, then answers only once
    the run's stop is in effect (the test sends the stop before it opens the gate, so the wait is
    for the worker to read it, not for a time)."""
    gate = project_dir / "gate"
    os.mkfifo(gate)
    _add_stuck_py(
        project_dir,
        "import asyncio\nimport pathlib\n\nimport engine\n\n"
        f"GATE = pathlib.Path({str(gate)!r})\n"
        "waited = []\n\n\n"
        "async def get_signal(symbol, when, price):\n"
        "    await asyncio.Event().wait()\n\n\n"
        "async def slowly(symbol, when, price):\n"
        "    if not waited:\n"
        "        waited.append(True)\n"
        "        (GATE.parent / 'slow-started').touch()\n"
        "        await asyncio.to_thread(GATE.read_bytes)\n"
        "        instance = engine.active_engine().instances[(symbol, 'slow', True)]\n"
        "        while not instance.stopped:\n"
        "            await asyncio.sleep(0)  # a yield: the stop message is already in the pipe\n"
        "    return None\n\n\n"
        'engine.add_strategy("stuck", "1m", get_signal)\n'
        'engine.add_strategy("slow", "1m", slowly)\n',
    )


def _add_stuck_py(project_dir: Path, source: str) -> None:
    """``strategies/stuck.py`` with ``source``, loaded by the project's btk.toml."""
    (project_dir / "strategies" / "stuck.py").write_text(source)
    toml = project_dir / "btk.toml"
    toml.write_text(toml.read_text().replace('"strategies/fade.py"]', '"strategies/fade.py", "strategies/stuck.py"]'))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_worker_killed_mid_run_is_a_failed_run_that_says_why(project_dir: Path, no_settings) -> None:
    _stuck_project(project_dir)
    app = _app(project_dir, project_dir / "dump", worker=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.start_backtest("BTCUSDT", "stuck", "sim", "short")
        handle = app.session.handles["backtest:BTCUSDT:stuck"]
        assert isinstance(handle, RemoteRun)
        handle.process.kill()
        run = app.state.runs["backtest:BTCUSDT:stuck"]
        await wait_until(pilot, lambda: not run.is_active)
        assert run.status == "failed"
        assert run.error == (
            f"{EngineProcessDied.__name__}: the engine process of backtest BTCUSDT stuck ended before "
            "the run did (killed by SIGKILL)"
        )


async def test_the_stop_key_stops_the_workers_run_and_quitting_leaves_no_worker(project_dir: Path, no_settings) -> None:
    _stuck_project(project_dir)
    app = _app(project_dir, project_dir / "dump", worker=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        spare = app.host.spare.process  # started with the console: the first run takes it
        assert app.start_backtest("BTCUSDT", "stuck", "sim", "short")
        assert app.start_backtest("BTCUSDT", "slow", "sim", "short")
        stuck = app.session.handles["backtest:BTCUSDT:stuck"]
        assert stuck.process is spare
        run = app.state.runs["backtest:BTCUSDT:slow"]
        await pilot.pause()  # the Runs pane drew both rows as they started, its cursor on the first
        app.dashboard.select(run.id)  # as the cursor moved there would
        await wait_until(pilot, lambda: (project_dir / "slow-started").exists())  # the worker's run is under way
        # the stop key (s) stops it: its worker stops the run as Backtest.stop does in process
        await pilot.press(app.keys["stop"])
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        assert run.status == "stopping"
        await asyncio.to_thread((project_dir / "gate").write_bytes, b"go")  # its first minute answers now
        await wait_until(pilot, lambda: not run.is_active)
        assert run.status == "stopped" and run.processed < run.total  # stopped at its first minute of 1,440
        # while a run goes no spare loads (it would take a core from the run); it is started
        # when the last run ends
        assert app.host.spare is None
        assert _alive(stuck.process.pid)
    # the app has quit: the stuck run's worker is gone and reaped
    assert stuck.process.returncode is not None
    assert app.host.spare is None and not app.host.runs
    assert not _alive(stuck.process.pid)


async def test_stop_on_a_stuck_strategy_stops_its_worker_run(project_dir: Path, no_settings) -> None:
    """The graceful stop waits for the strategy's answer, as in process; a worker that no longer
    answers can still be ended, and the run then says its process ended."""
    _stuck_project(project_dir)
    app = _app(project_dir, project_dir / "dump", worker=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.start_backtest("BTCUSDT", "stuck", "sim", "short")
        handle = app.session.handles["backtest:BTCUSDT:stuck"]
        await pilot.press(app.keys["stop"])
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        run = app.state.runs["backtest:BTCUSDT:stuck"]
        assert run.status == "stopping"
        await handle.aclose()
        await wait_until(pilot, lambda: not run.is_active)
        assert run.status == "failed" and "killed by SIGKILL" in (run.error or "")


def test_the_worker_listens_to_the_signal_actions_the_bridge_shows() -> None:
    assert SIGNAL_ACTIONS == SHOWN_ACTIONS


async def test_a_strategy_error_in_a_worker_reaches_the_log_with_its_file_line_and_traceback(
    project_dir: Path, no_settings
) -> None:
    _add_stuck_py(
        project_dir,
        "import engine\n\n\n"
        "async def get_signal(symbol, when, price):\n"
        "    if when.hour == 3 and when.minute == 0:\n"
        '        raise ValueError("three o\'clock")\n'
        "    return None\n\n\n"
        'engine.add_strategy("stuck", "1m", get_signal)\n',
    )
    app = _app(project_dir, project_dir / "dump", worker=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.start_backtest("BTCUSDT", "stuck", "sim", "short")
        await finish_runs(pilot)
        run = app.state.runs["backtest:BTCUSDT:stuck"]
        assert run.errors == 1
        (entry,) = [e for e in app.state.logbook.entries if e.kind == "ERROR"]
        assert entry.run == run.id
        assert entry.text.startswith("ValueError: three o'clock (")
        assert entry.where.endswith("strategies/stuck.py:6")
        assert 'raise ValueError("three o\'clock")' in entry.detail and "Traceback" in entry.detail


def test_a_big_batch_goes_down_the_pipe_in_slices_in_order() -> None:
    """A fast run's thousands of events a batch go as messages of at most ``SEND_SLICE`` (the
    console unpickles each in one call that holds its interpreter); the run's status rides on
    the last, and every event arrives once, in order."""
    from console.host import child

    n_slice = child.SEND_SLICE
    for n in (0, 1, n_slice - 1, n_slice, n_slice + 1, 2 * n_slice, 2 * n_slice + n_slice // 2):
        pipe = DecodingPipe()
        out = child.Outbox(pipe)  # type: ignore[arg-type]
        out.items = [("signal", i) for i in range(n)]
        out.flush("status")
        assert [item for m in pipe.sent for item in m[1]] == [("signal", i) for i in range(n)]
        assert all(m[0] == "batch" and len(m[1]) <= n_slice for m in pipe.sent)
        assert [m[2] for m in pipe.sent] == [None] * (len(pipe.sent) - 1) + ["status"]
        assert len(pipe.sent) == max(1, -(-n // n_slice))


def test_the_writer_thread_writes_every_message_in_order_and_close_waits_for_it() -> None:
    """With its writer (as a worker runs), ``send`` writes what the pipe has room for and leaves
    the rest to the writer: messages far more than the pipe's buffer holds are written in order
    (a message written in part, then the ones after it through the writer) while nobody reads
    yet, and after ``close`` every one of them is in the pipe. A pipe whose reader went away ends
    the writing quietly."""
    import threading
    from multiprocessing import Pipe

    from console.host import child

    count = 40  # ~40 x 300 KB: more than the pipe holds even with the room the worker asks for
    ours, theirs = Pipe()
    out = child.Outbox(ours)
    out.start_writer()
    for n in range(count):
        out.send(("batch", [("signal", (n, k, f"{k:0300d}")) for k in range(1_000)], n))
    assert out.handed > 0  # the pipe filled: the writer took the rest
    got: list[tuple] = []
    reader = threading.Thread(target=lambda: got.extend(wire.receive(theirs) for _ in range(count)))
    reader.start()
    out.close()
    reader.join()
    assert [m[2] for m in got] == list(range(count))
    assert all(m[1][0][1][:2] == (m[2], 0) and m[1][-1][1][:2] == (m[2], 999) for m in got)
    assert out.broken is None and out.now_count + out.handed == count

    ours, theirs = Pipe()
    out = child.Outbox(ours)
    out.start_writer()
    theirs.close()
    for n in range(3):
        out.send(("batch", [("signal", n)], None))
    out.close()  # returns: nothing left to write, nothing raised
    assert isinstance(out.broken, OSError)


def test_a_message_the_pipe_has_room_for_goes_at_once_without_waking_the_writer() -> None:
    """Each wake-up of the writer thread hands the interpreter between two threads, mostly on two
    cores: it cost the engine benchmark's worker a third of its time. A message the pipe has room
    for is written by ``send`` itself; once a message did not fit, the ones after it wait for the
    writer (in order), and once the writer is done, ``send`` writes again."""
    from multiprocessing import Pipe

    from console.host import child

    ours, theirs = Pipe()
    out = child.Outbox(ours)
    out.start_writer()
    for n in range(5):
        out.send(("batch", [("signal", n)], n))
    assert (out.now_count, out.handed) == (5, 0)
    assert [wire.receive(theirs)[2] for _ in range(5)] == list(range(5))

    room = out.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    big = ("batch", [("signal", "x" * room)], "big")  # more than the pipe holds: written in part
    out.send(big)
    out.send(("batch", [], "after"))  # the writer has the rest of the big one: this waits behind it
    assert out.handed == 2 and out.now_count == 5
    assert wire.receive(theirs)[2] == "big" and wire.receive(theirs)[2] == "after"
    out.writes.join()  # the writer is done (the reader took everything)
    out.send(("batch", [], "again"))
    assert out.now_count == 6 and wire.receive(theirs)[2] == "again"
    out.close()


def test_a_backtest_sends_a_full_message_at_once_not_at_the_next_tick() -> None:
    """A fast backtest trades thousands of signals between two ticks: each time the outbox holds
    ``SEND_SLICE`` items at a closed result, they go down the pipe then (status None: this
    outbox was not given the run's), so the console folds them while the run goes on. A live run's
    closed result, or items short of a message, wait for the tick. A trade heard whole (its
    opened row, then its closed result) is one item that counts for its two events."""
    from types import SimpleNamespace

    from console.host import child

    def row(n: int) -> SimpleNamespace:
        return SimpleNamespace(n=n, price_open=1.0, strategy_name="s", exchange_name="x", symbol="BTCUSDT")

    def result(n: int, action: str, backtest: bool = True, signal: SimpleNamespace | None = None) -> SimpleNamespace:
        names = {"symbol": "BTCUSDT", "strategy_name": "s", "exchange_name": "x"}
        return SimpleNamespace(action=action, backtest=backtest, n=n, signal=signal or row(n), **names)

    pipe = DecodingPipe()
    out = child.Outbox(pipe)  # type: ignore[arg-type]
    hooks = {action: hook for wanted, hook in child._signal_hooks(out, child.SIGNAL_ACTIONS) for action in wanted}

    def collect(event: SimpleNamespace) -> None:  # as the signal stream calls its hooks
        hooks[event.action](event)

    n_slice = child.SEND_SLICE
    kinds: list[str] = []
    for n in range(n_slice):  # opened, closed: a message's worth after half as many trades
        collect(result(n, "opened"))
        collect(result(n, "closed"))
        kinds += ["signal", "closed_backtest"]
        if n == n_slice // 2 - 2:
            assert pipe.sent == []  # one item short of a message
    assert len(pipe.sent) == 2 and all(len(m[1]) == n_slice and m[2] is None for m in pipe.sent)
    assert [(k, v.n) for m in pipe.sent for k, v in m[1]] == [(k, i // 2) for i, k in enumerate(kinds)]
    assert out.items == []

    for n in range(n_slice):  # live closed results never send between ticks
        collect(result(n, "closed", backtest=False))
    assert len(pipe.sent) == 2 and len(out.items) == n_slice
    out.flush("status")
    assert pipe.sent[-1][2] == "status" and len(pipe.sent) == 3

    for n in range(n_slice // 2):  # trades heard whole: a message after as many trades as above
        opened = row(n)
        out.items.append(opened)  # as the engine's hook appends it (child.py ``listen``)
        collect(result(n, "closed", signal=opened))
        if n == n_slice // 2 - 2:
            assert len(pipe.sent) == 3 and len(out.items) == n_slice // 2 - 1  # one item each
    assert len(pipe.sent) == 4 and out.items == [] and out.merged == 0
    # too few and unpackable here (not engine results): each trade as its opened and closed results
    sent = pipe.sent[-1][1]
    kinds = ["signal", "closed_backtest"] * (n_slice // 2)
    assert [(k, v.signal.n) for k, v in sent] == [(k, i // 2) for i, k in enumerate(kinds)]


async def test_a_full_message_carries_the_status_and_spares_the_next_tick() -> None:
    """A full message (``SEND_SLICE`` events at a closed result) carries the run's status once the
    outbox knows it, so the tick after it sends nothing (each flush mid-run packs the store's
    chunk in two); a tick after an interval without one sends, empty or not."""
    from types import SimpleNamespace

    from console.host import child

    pipe = DecodingPipe()
    out = child.Outbox(pipe)  # type: ignore[arg-type]
    statuses = iter(range(100))
    handle = SimpleNamespace(status=lambda: f"status {next(statuses)}")
    out.status = handle.status
    asleep, woken = asyncio.Event(), asyncio.Queue()

    async def sleep(_seconds: float) -> None:  # the tick's interval, passed when the test says
        asleep.set()
        await woken.get()

    async def next_tick() -> None:
        asleep.clear()
        woken.put_nowait(None)
        await asleep.wait()

    ticker = asyncio.create_task(child._tick(out, handle, 0.1, sleep))
    await asleep.wait()
    assert [m[2] for m in pipe.sent] == ["status 0"]  # at once
    await next_tick()
    assert [m[2] for m in pipe.sent] == ["status 0", "status 1"]  # nothing came: a batch all the same
    row = SimpleNamespace(symbol="BTCUSDT", strategy_name="s", exchange_name="x")
    for n in range(child.SEND_SLICE):
        out.closed(SimpleNamespace(action="closed", backtest=True, n=n, signal=row, symbol="BTCUSDT"))
    assert [m[2] for m in pipe.sent] == ["status 0", "status 1", "status 2"] and out.carried
    assert len(pipe.sent[-1][1]) == child.SEND_SLICE
    await next_tick()  # the full message said it: no batch
    assert len(pipe.sent) == 3 and not out.carried
    out.add("log", ("info", "late"))
    await next_tick()  # an interval without a full message: the tick sends what waits
    assert [(m[1], m[2]) for m in pipe.sent[3:]] == [([("log", ("info", "late"))], "status 3")]
    ticker.cancel()


async def test_a_workers_batches_are_folded_as_they_come_and_drawn_at_the_paced_drawing(
    project_dir: Path, no_settings
) -> None:
    """The dashboard folds a worker's batch as soon as it is published, without waiting for the
    bridge's next tick (here an hour away): ``burst`` trades through the morning, then waits
    for ever, and its trades are in the Runs pane's numbers while its run is still going. The
    run's row is drawn as it starts; the Signals and Equity panes, whose notes are drawn in
    their bodies (filling them lays nothing out), wait for the paced drawing: what the console
    draws meanwhile competes with the run on a machine's other core."""
    _add_stuck_py(
        project_dir,
        "import asyncio\n\nfrom levels import bracket\n\nimport engine\n\n\n"
        "async def burst(symbol, when, price):\n"
        "    if when.hour >= 12:\n"
        "        await asyncio.Event().wait()\n"
        '    return bracket(price, "long")\n\n\n'
        'engine.add_strategy("burst", "1m", burst)\n',
    )
    project = load_project(project_dir / "btk.toml")
    loader = loader_for(project.source, project.root)
    app = BtkApp(
        project,
        clock=fixed_clock,
        save_settings=False,
        dump_dir=project_dir / "dump",
        engine_process=loader,
        refresh_interval=3600.0,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        dashboard = app.dashboard
        signals, equity, runs = (dashboard.query_one(pane) for pane in (SignalsPane, EquityPane, RunsPane))
        assert runs.shows_empty and signals.shows_empty and equity.shows_empty
        assert app.start_backtest("BTCUSDT", "burst", "sim", "short")
        assert not runs.shows_empty and runs.query_one(DataTable).row_count == 1  # drawn at once
        run = app.state.runs["backtest:BTCUSDT:burst"]
        await wait_until(pilot, lambda: run.trades > 0)
        await pilot.pause()
        assert signals.shows_empty and equity.shows_empty  # folded, not drawn yet
        assert "CLOSED" not in "\n".join(screen_lines(app))
        dashboard.redraw(Part.ALL)  # what the paced drawing does
        await pilot.pause()
        assert not signals.shows_empty and not equity.shows_empty
        assert "CLOSED" in "\n".join(screen_lines(app))
        assert run.is_active
        handle = app.session.handles["backtest:BTCUSDT:burst"]
        handle.process.kill()
        await wait_until(pilot, lambda: not run.is_active)


def _idle_process() -> subprocess.Popen:
    """A real process for a ``RemoteRun`` to hold: it waits until its stdin closes."""
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)


class _Unpickled:
    """Something a worker's batch carries."""


async def test_a_message_that_does_not_unpickle_ends_the_run_after_what_came_before_it() -> None:
    """A worker's message the console cannot unpickle ends the run with the error, after what
    came before it was published; nothing hangs."""
    from multiprocessing.connection import Connection
    from multiprocessing.reduction import ForkingPickler

    ours, theirs = socket.socketpair()
    worker_end = Connection(theirs.detach())
    process = _idle_process()
    first = engine.TaskStatus(id="x", symbol="BTCUSDT", strategy_name="s", status="running")
    run = RemoteRun(process, Connection(ours.detach()), "backtest BTCUSDT s", first)
    worker_end.send_bytes(ForkingPickler.dumps(("batch", [("result", _Unpickled())], None)))
    worker_end.send_bytes(b"not a pickle")
    got = []
    with pytest.raises(Exception) as failure:
        async for result in run:
            got.append(result)
    assert len(got) == 1 and isinstance(got[0], _Unpickled)
    assert isinstance(failure.value, pickle.UnpicklingError)
    process.stdin.close()
    worker_end.close()
    run.kill()


async def test_a_runs_end_starts_no_thread_and_its_worker_is_reaped_after_it(monkeypatch) -> None:
    """The thread that reaps a worker waits from the run's start: one started at its end took the
    interpreter for up to 1.6 ms of the paint that shows the run done. Once the console is done
    with the run, the worker is waited for and its pipe closed."""
    import threading

    ours, theirs = socket.socketpair()
    worker_end = Connection(theirs.detach())
    process = _idle_process()
    first = engine.TaskStatus(id="x", symbol="BTCUSDT", strategy_name="s", status="running")
    before = set(threading.enumerate())
    run = RemoteRun(process, Connection(ours.detach()), "backtest BTCUSDT s", first)
    reaper = [t for t in set(threading.enumerate()) - before if t.name == "btk-reap backtest BTCUSDT s"]
    assert len(reaper) == 1 and reaper[0].is_alive()
    started: list[str] = []
    original = threading.Thread.start

    def start(self) -> None:
        started.append(self.name)
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    _, body = wire.encode(("batch", [("result", 7)], None))
    worker_end.send_bytes(wire.joined(body))
    worker_end.send(("end", None, None))
    assert [result async for result in run] == [7]
    assert started == [] and run.over
    process.stdin.close()  # the worker exits: it is reaped and its pipe closed
    await asyncio.to_thread(reaper[0].join, 30)
    assert not reaper[0].is_alive() and process.returncode == 0 and run.conn.closed
    worker_end.close()


def test_an_outbox_on_a_plain_pipe_sends_everything_through_its_writer_and_leaks_nothing() -> None:
    """A pipe that is not a socket (an ``os.pipe``) cannot take a write that does not wait: every
    message goes through the writer, in order, and the descriptor tried for it is closed."""
    from multiprocessing import Pipe

    from console.host import child

    theirs, ours = Pipe(duplex=False)  # (reader, writer): a plain os.pipe on POSIX
    open_before = _descriptors_of(ours.fileno())
    out = child.Outbox(ours)
    out.start_writer()
    assert out.sock is None
    for n in range(3):
        out.send(("batch", [("signal", n)], n))
    assert [wire.receive(theirs)[2] for _ in range(3)] == [0, 1, 2]
    out.close()
    assert (out.now_count, out.handed) == (0, 3)
    assert _descriptors_of(ours.fileno()) == open_before  # both ends, nothing more


def _descriptors_of(fd: int) -> list[int] | None:
    """The process's descriptors open on the same pipe as ``fd`` (Linux's /proc; None elsewhere).
    Counted by what they point at, not in all: another test's thread may open or close others."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    target = os.readlink(f"/proc/self/fd/{fd}")
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                found.append(int(name))
        except OSError:  # closed since it was listed
            continue
    return sorted(found)


def test_the_next_spare_starts_and_the_runs_worker_goes_once_the_console_painted_the_runs_end(monkeypatch) -> None:
    """The spare's imports take the other core, and a worker's exit (its heap torn down) held
    the console's last reads back: at a run's end, both slowed the paint that shows it done. The
    console hands both to ``later`` (after its next refresh); the spare does not start if the
    console closed or another run started meanwhile, and a closed console lets the worker go at
    once."""
    from types import SimpleNamespace

    from console.host import EngineHost, Loader

    spawned: list[int] = []
    released: list[int] = []
    later: list = []
    host = EngineHost(Loader("x", "y"), later=later.append)

    def spawn(self):
        spawned.append(1)
        return SimpleNamespace(process=SimpleNamespace(poll=lambda: None))

    monkeypatch.setattr(EngineHost, "_spawn", spawn)
    ended = SimpleNamespace(over=True, release=lambda: released.append(1))
    host.runs = [ended]  # type: ignore[list-item]
    host._run_ended(ended)  # type: ignore[arg-type]
    assert spawned == [] and released == [] and len(later) == 2  # not yet: after the paint
    for callback in later:
        callback()
    later.clear()
    assert spawned == [1] and released == [1] and host.spare is not None
    host.spare = None
    host._run_ended(ended)  # type: ignore[arg-type]
    host.runs = [SimpleNamespace(over=False)]  # type: ignore[list-item]  # another run started meanwhile
    for callback in later:
        callback()
    later.clear()
    assert spawned == [1] and released == [1, 1]
    host.runs = []
    host._run_ended(ended)  # type: ignore[arg-type]
    host.closed = True
    for callback in later:
        callback()
    assert spawned == [1] and released == [1, 1, 1]
    later.clear()
    host._run_ended(ended)  # type: ignore[arg-type]  # a closed console: the worker goes at once
    assert later == [] and released == [1, 1, 1, 1]


async def test_a_worker_whose_project_failed_to_load_ends_its_run_with_that_error_and_exits() -> None:
    """The worker makes its event loop and its writer while it waits for a run: one whose
    project did not load still answers a run with that error as its one ``end`` and leaves once
    the console lets it go, and a worker told to quit before any run leaves at once (the writer
    thread keeps neither alive)."""
    from console.host import EngineHost, Loader
    from console.host.spec import RunSpec

    later: list = []
    host = EngineHost(Loader("no_such_btk_project_module", "register"), later=later.append)
    try:
        assert host.wait_ready(120)
        first = engine.TaskStatus(id="x", symbol="BTCUSDT", strategy_name="s", status="running")
        run = host.start(RunSpec("backtest", "BTCUSDT", "s", "sim", "short", results=False), first)
        with pytest.raises(ModuleNotFoundError, match="no_such_btk_project_module"):
            async for _ in run:
                pass
        # after its end the worker waits to be let go (the console does once it painted the end)
        with pytest.raises(subprocess.TimeoutExpired):
            await asyncio.to_thread(run.process.wait, 1.0)
        for callback in later:
            callback()
        host.later = None
        assert await asyncio.to_thread(run.process.wait, 120) == 0
        host.warm()
        assert host.wait_ready(120)
        spare = host.spare
        assert spare is not None
        spare.conn.send(("quit",))
        assert spare.process.wait(timeout=120) == 0
    finally:
        host.close()


CHILD_SESSION = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from conftest import finish_runs, fixed_clock
from console.app import BtkApp
from console.state import Part
from console.host import loader_for
from console.project import load_project

async def main():
    project = load_project(Path(sys.argv[1]) / "btk.toml")
    loader = loader_for(project.source, project.root)
    app = BtkApp(project, clock=fixed_clock, save_settings=False, dump_dir=Path(sys.argv[2]), engine_process=loader)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.host.wait_ready(120)
        before = set(sys.modules)
        assert app.start_backtest("BTCUSDT", "momentum", "sim", "short")
        await finish_runs(pilot)
        assert [r.status for r in app.state.runs.values()] == ["done"]
        print(sorted(m for m in set(sys.modules) - before if m.startswith(("textual", "console", "rich"))))

asyncio.run(main())
"""


def test_a_run_in_a_worker_imports_nothing_in_the_console(project_dir: Path, tmp_path: Path, no_settings) -> None:
    """What the console needs to show a run is imported before it starts, in a fresh console:
    Textual's scrollbar (imported as the first one shows), the module the worker's pickles name,
    and rich's table of character widths were each loaded mid-run (0.4-3 ms of the console's, in
    the middle of a fast run)."""
    here = Path(__file__).parent
    out = subprocess.run(
        [sys.executable, "-c", CHILD_SESSION, str(project_dir), str(tmp_path / "dump"), str(here)],
        capture_output=True,
        text=True,
        cwd=project_dir,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


async def test_a_worker_backtest_lays_the_dashboard_out_nothing_from_its_start_to_its_end(
    project_dir: Path, no_settings
) -> None:
    """A backtest fills the Runs, Progress, Positions, Signals and Equity panes from empty, and
    the Signals log outgrows its pane; none of it lays the screen out (each layout is a whole
    screen's reflow and paint: six of them in a 0.2 s run cost the console ~50 ms of CPU, on the
    core next to the worker's run, which they slowed)."""
    with engine.Engine().activate():
        app = _app(project_dir, project_dir / "dump", worker=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            dashboard = app.dashboard
            assert app.host is not None and app.host.wait_ready(120)
            await wait_until(pilot, lambda: not dashboard._layout_required and not dashboard._dirty_widgets)
            layouts = 0
            original = dashboard._refresh_layout

            def counted(*args, **kwargs):
                nonlocal layouts
                layouts += 1
                return original(*args, **kwargs)

            dashboard._refresh_layout = counted
            signals = dashboard.query_one(SignalsPane)
            assert signals.shows_empty
            assert app.start_backtest("BTCUSDT", "momentum", "sim", "short")
            await finish_runs(pilot)
            await wait_until(pilot, lambda: not dashboard._dirty_widgets)
            run = app.state.runs["backtest:BTCUSDT:momentum"]
            assert run.status == "done" and run.trades > 0
            assert not signals.shows_empty and signals.table.virtual_size.height > signals.table.size.height
            assert "CLOSED" in "\n".join(screen_lines(app))
            assert layouts == 0


async def test_a_run_started_as_the_selected_run_has_its_panes_named_for_it_at_once(
    project_dir: Path, no_settings
) -> None:
    """Its row, and the panes that show the selected run, named for it and still empty, before
    its first events and whatever the paced drawing (here an hour away) does."""
    with engine.Engine().activate():
        project = load_project(project_dir / "btk.toml")
        app = BtkApp(
            project,
            clock=fixed_clock,
            save_settings=False,
            dump_dir=project_dir / "dump",
            engine_process=loader_for(project.source, project.root),
            refresh_interval=3600.0,
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            signals = app.dashboard.query_one(SignalsPane)
            assert signals.border_title == "Signals"
            assert app.start_backtest("BTCUSDT", "momentum", "sim", "short")
            assert signals.border_title == "Signals · BTCUSDT momentum" and signals.shows_empty
            await finish_runs(pilot)


def test_a_runs_timing_samples_go_as_they_are_packed_and_the_console_keeps_the_same() -> None:
    """A performance log made for the worker's run sends each chunk of samples as it packs it,
    in its place among the events (after a ``clear`` of its pair), and the run's end sends only
    the rows left (``_timings``): the console, taking each as it comes and trimming by the same
    cap, keeps what the worker's log keeps, rows, counts and trims alike."""
    from console.host import child
    from engine.reports import stores as st

    out = child.Outbox(DecodingPipe())  # type: ignore[arg-type]
    stores = st.ReportStores()
    child._watch_stores(stores, out)
    stores.clear_run("BTCUSDT", "s", True)
    log = stores.performance_log("BTCUSDT", "s", True)
    names = ("backtest_signal", "backtest_timeframe", "backtest_total")
    for i in range(3 * st.PERFORMANCE_CAP // 2 + 77):  # past the cap: the worker trims chunks it sent
        log.add_raw(names[i % 3], 1000 + i, None if i % 5 else i, i / 8, 1 + i % 3)
    assert log.trimmed_seen > 0 and log.rows
    items = [item for item in out.items if item[0] in ("clear", "timings")]
    assert items[0][0] == "clear" and len(items) > 3 and all(len(v[1][0]) == 1 for _, v in items[1:])

    console = st.ReportStores()
    for kind, value in [*items, *(("timings", t) for t in child._timings("BTCUSDT", stores))]:
        if kind == "clear":
            console.clear_run(*value)
        else:
            key, (packed, rows, trimmed) = value
            console.performance_log(*key).take(packed, rows, trimmed)
    mine = console.performance_log("BTCUSDT", "s", True)
    assert list(mine.all_rows()) == list(log.all_rows())
    assert (mine.seen, mine.trimmed_seen) == (log.seen, log.trimmed_seen)
    # a log the worker did not see made sends itself whole at the end, as before
    other = st.PerformanceLog()
    other.add_raw("backtest_total", 1, None, 0.5, 1)
    other.tidy(final=True)
    stores.performance_store[("BTCUSDT", "t", True)] = other
    assert dict(child._timings("BTCUSDT", stores))[("BTCUSDT", "t", True)] == ([other.packed[0]], [], 0)


async def test_a_frame_whose_body_is_there_is_read_in_one_turn_and_one_in_parts_still_arrives_whole(
    monkeypatch,
) -> None:
    """The console reads a frame's length and then, in the same turn of its loop, the body if the
    pipe has it (a turn a frame, not two); a body that comes in parts is read as it comes."""
    from multiprocessing.connection import Connection

    ours, theirs = socket.socketpair()
    worker_end = Connection(theirs.detach())
    process = _idle_process()
    first = engine.TaskStatus(id="x", symbol="BTCUSDT", strategy_name="s", status="running")
    calls = []
    read = asyncio.Event()
    original = RemoteRun._readable

    def counted(self) -> None:
        calls.append(1)
        original(self)
        read.set()

    monkeypatch.setattr(RemoteRun, "_readable", counted)
    run = RemoteRun(process, Connection(ours.detach()), "backtest BTCUSDT s", first)
    frame, body = wire.encode(("batch", [("log", ("info", "x" * 1000))], None))
    raw = frame + wire.joined(body)
    theirs_sock = socket.socket(fileno=os.dup(worker_end.fileno()))
    theirs_sock.sendall(raw)
    message = await asyncio.wait_for(run._queue.get(), 30)
    assert message[1] == [("log", ("info", "x" * 1000))] and len(calls) == 1
    calls.clear()
    read.clear()
    theirs_sock.sendall(raw[:10])  # the length and a little: the rest later
    await read.wait()
    assert run._queue.empty() and len(calls) == 1
    theirs_sock.sendall(raw[10:])
    message = await asyncio.wait_for(run._queue.get(), 30)
    assert message[1] == [("log", ("info", "x" * 1000))] and len(calls) == 2
    theirs_sock.close()
    process.stdin.close()
    worker_end.close()
    run.kill()


def test_a_spare_worker_that_gets_what_does_not_unpickle_leaves_rather_than_waiting_forever() -> None:
    """The worker's reader takes the console's first message for it; a message it cannot read
    counts as a quit (the worker leaves, and the console sees it gone), not a reader thread that
    died while the worker waits for a run that never comes."""
    from console.host import EngineHost, Loader

    host = EngineHost(Loader("no_such_btk_project_module", "register"))
    try:
        assert host.wait_ready(120)
        spare = host.spare
        assert spare is not None
        spare.conn.send_bytes(b"not a pickle")
        assert spare.process.wait(timeout=120) == 0
    finally:
        host.close()


def _heap_resident(pid: int) -> int:
    """Bytes of the process's heap (glibc's brk heap, ``[heap]`` in its smaps) in memory."""
    resident, in_heap = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if not head.endswith(":"):  # a mapping's first line: its address range ... its name
            in_heap = line.endswith("[heap]")
        elif in_heap and head == "Rss:":
            resident += int(line.split()[1]) * 1024
    return resident


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads the worker's /proc/PID/smaps")
def test_a_spare_worker_has_its_heap_reserve_in_before_it_says_ready() -> None:
    """A spare touches its heap reserve while it waits (``engine.reuse_freed_memory``), before
    it tells the console it is ready: the run it is given starts on pages already faulted in
    (without the reserve a spare's heap held ~10 MB)."""
    from console.host import EngineHost, Loader
    from console.host.child import HEAP_RESERVE
    from engine.heap import glibc

    if glibc() is None:
        pytest.skip("not glibc's malloc: no reserve")
    host = EngineHost(Loader("no_such_btk_project_module", "register"))
    try:
        assert host.wait_ready(120)
        assert host.spare is not None
        assert _heap_resident(host.spare.process.pid) >= HEAP_RESERVE
    finally:
        host.close()
