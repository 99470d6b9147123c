"""``btk-console live``: trades until a signal, stops as SPEC 8.5 says, exits 0, logs with rotation.

The in-process tests run the loop on a SteppedClock (no wall clock); the subprocess tests send real
SIGTERM/SIGINT to a real ``btk-console live`` on the offline demo, which is what a service manager
does. They wait for the process's own output, never for a fixed time."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LIVE_T0, SteppedClock

import engine
from console import headless_live
from console.cli import main
from console.project import load_project


def _probe(minutes: int = 600) -> None:
    """A strategy that opens one long position at its first call."""
    calls = {"n": 0}

    def probe(symbol, when, price):
        calls["n"] += 1
        if calls["n"] > 1:
            return None
        return {
            "position": "long",
            "price_take_profit": price * 1.02,
            "price_stop_loss": price * 0.98,
            "minute_estimated_time": minutes,
        }

    engine.add_strategy("probe", "1m", probe)


async def _trade_until(clock: SteppedClock, ticks: int, dump: Path) -> tuple[int, str, str]:
    """Run ``run_live`` on the probe; after ``ticks`` ticks stop it as a signal would."""
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.ensure_future(
        headless_live.run_live([("BTCUSDT", "probe")], "demo-synthetic", dump, out, err, install_signals=False)
    )
    for n in range(ticks):
        await asyncio.wait_for(clock.until_sleeping(), timeout=30)
        if n < ticks - 1:
            clock.step()
    engine.Live.stop("BTCUSDT", "probe")
    code = await asyncio.wait_for(task, timeout=30)  # a safety net: the stop wakes the loop at once
    return code, out.getvalue(), err.getvalue()


async def test_run_live_announces_opens_saves_state_and_restores_it_on_the_next_start(tmp_path) -> None:
    load_project(None)  # the demo's exchange
    _probe()
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    code, out, err = await _trade_until(clock, 3, tmp_path)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("live on demo-synthetic from 2024-03-01 12:00:00 UTC: BTCUSDT probe")
    (opened,) = [line for line in lines if " OPENED " in line]
    assert opened.startswith("BTCUSDT probe LONG OPENED at ")
    signal_id = opened.rsplit(" id ", 1)[1]
    assert lines[-1] == f"stopped; reports under {tmp_path / 'live'}"
    assert (tmp_path / "live" / "probe.md").exists()
    assert (tmp_path / "data" / "signal" / "BTCUSDT_probe" / "BTCUSDT.json").exists()
    log = (tmp_path / "logs" / "live.log").read_text()
    assert "OPENED" in log and "stopped; reports under" in log

    # the next start (a new process would do the same): the position comes back, is not opened again
    code, out, _ = await _trade_until(clock, 1, tmp_path)
    assert code == 0
    (restored,) = [line for line in out.splitlines() if " RESTORED " in line]
    assert restored.startswith("BTCUSDT probe RESTORED LONG position at ") and restored.endswith(f"id {signal_id}")
    assert " OPENED " not in out


def test_the_log_rotates(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(headless_live, "LOG_BYTES", 400)
    logger = headless_live.live_logger(tmp_path / "logs")
    for n in range(40):
        logger.info(f"line {n:02d} " + "x" * 40)
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files[:3] == ["live.log", "live.log.1", "live.log.2"] and len(files) <= 1 + headless_live.LOG_BACKUPS
    assert "line 39" in (tmp_path / "logs" / "live.log").read_text()
    for handler in logger.handlers:
        handler.close()


def test_bad_arguments_exit_2_with_one_line(tmp_path) -> None:
    err = io.StringIO()
    assert main(["live", "--strategy", "nope", "--dump-dir", str(tmp_path)], err=err) == 2
    assert err.getvalue() == (
        "btk-console: error: unknown strategy 'nope' (available: demo-breakout, demo-meanrev, demo-trend)\n"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_headless_live_run_and_it_exits_0(tmp_path, sig) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "live", "--strategy", "demo-trend", "--dump-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        first = proc.stdout.readline()  # written once the loop is running and the handlers are in
        assert first.startswith("live on demo-synthetic from "), first + proc.stderr.read()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{sig.name}: stopping; open positions stay saved under")
    assert lines[-1].startswith("stopped; reports under")
    assert (tmp_path / "logs" / "live.log").exists() and (tmp_path / "live" / "demo-trend.md").exists()


async def test_a_disk_that_refuses_state_and_log_gives_one_line_each_way_and_no_traceback(
    tmp_path, state_disk, capsys
) -> None:
    """Issue 20, item 2: while state writes fail (ENOSPC at the rename) the run is close-only,
    says so once on stderr (path and OS error) and once when it resumes; a log file the disk
    refuses is one line, not logging's traceback per record."""
    import errno

    load_project(None)
    _probe()
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)

    class FullDisk:
        def write(self, _text: str) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self) -> None:
            pass

        def seek(self, *_args: int) -> int:
            return 0

        tell = seek

    [handler] = headless_live.live_logger(tmp_path / "logs").handlers  # the logger run_live will use
    good_stream, handler.stream = handler.stream, FullDisk()
    state_disk.error = errno.ENOSPC
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.ensure_future(
        headless_live.run_live([("BTCUSDT", "probe")], "demo-synthetic", tmp_path, out, err, install_signals=False)
    )
    for _ in range(4):  # the open cannot be written: four ticks close-only
        await asyncio.wait_for(clock.until_sleeping(), timeout=30)
        assert " OPENED " not in out.getvalue()
        clock.step()
    state_disk.error = None
    handler.stream = good_stream
    await asyncio.wait_for(clock.until_sleeping(), timeout=30)
    engine.Live.stop("BTCUSDT", "probe")
    assert await asyncio.wait_for(task, timeout=30) == 0
    assert len([line for line in out.getvalue().splitlines() if " OPENED " in line]) == 1  # once written
    lines = err.getvalue().splitlines()
    path = tmp_path / "data" / "signal" / "BTCUSDT_probe" / "BTCUSDT.json"
    assert lines == [
        f"error: CLOSE-ONLY: state not writable ({path}: [Errno 28] No space left on device); "
        "no new entries until a write succeeds",
        "state writable again, resuming new entries",
    ]
    stderr = capsys.readouterr().err
    assert (
        stderr
        == f"btk-console: cannot write the log {tmp_path / 'logs' / 'live.log'}: [Errno 28] No space left on device\n"
    )


async def test_run_live_trades_through_the_broker_of_its_exchange_and_writes_its_account_report(tmp_path) -> None:
    """btk.toml's [broker] registers a broker under the exchange's name (a ccxt broker takes its
    exchange table's): the headless run trades through it, not the default paper account, and
    writes its account report beside the run's reports when it stops."""
    load_project(None)
    _probe()
    engine.add_broker(engine.PaperBroker("demo-synthetic", balance=5000))
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    code, out, err = await _trade_until(clock, 3, tmp_path)
    assert code == 0 and err == "" and " OPENED " in out
    assert (tmp_path / "data" / "paper" / "demo-synthetic" / "account.json").exists()
    assert not (tmp_path / "data" / "paper" / "paper").exists()
    report = (tmp_path / "live" / "account_demo-synthetic.md").read_text()
    assert report.startswith("# Account demo-synthetic") and "| btkn" in report  # the entry's fill
