"""Backtest.run / background / stop / list / reset (SPEC 6.6), failures, retries and report caps."""

from __future__ import annotations

import asyncio
import logging

import pytest

import engine as e
from engine.model import Candle

M = 60_000
T0 = 1_704_067_200_000


def flat_feed(price: float = 42000.0, calls: list | None = None):
    async def get_candles(symbol, interval, since, limit):
        if calls is not None:
            calls.append((int(since.timestamp() * 1000), limit))
        t0 = int(since.timestamp() * 1000)
        step = {"1m": 1, "15m": 15, "1h": 60}[interval] * M
        return [Candle(t0 + k * step, price, price + 100, price - 100, price, 100) for k in range(limit)]

    return get_candles


def relaxed_profile() -> None:
    e.set_config(
        CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0,
        CC_MIN_STOPLOSS_DISTANCE_PERCENT=0,
        CC_MAX_STOPLOSS_DISTANCE_PERCENT=100,
        CC_MAX_SIGNAL_LIFETIME_MINUTES=999999,
        CC_GET_CANDLES_RETRY_COUNT=1,
        CC_GET_CANDLES_RETRY_DELAY_MS=0,
        unsafe=True,
    )


def register(get_signal, minutes: int = 60, feed=None, interval: str = "1m") -> None:
    relaxed_profile()
    e.add_exchange("x", feed or flat_feed())
    e.add_strategy("s", interval, get_signal)
    e.add_frame("f", "1m", T0, T0 + minutes * M)


def long_signal(met: int = 10):
    async def get_signal(symbol, when, price):
        return {
            "position": "long",
            "price_take_profit": price + 1000,
            "price_stop_loss": price - 1000,
            "minute_estimated_time": met,
        }

    return get_signal


async def collect(**kw):
    return [r async for r in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f", **kw)]


async def test_case_61_stop_while_a_position_is_open_still_yields_its_close() -> None:
    register(long_signal(met=10), minutes=120)
    e.listen_signal_backtest(lambda r: e.Backtest.stop("BTCUSDT", "s"), actions=("opened",))
    results = await collect()
    assert [r.action for r in results] == ["closed"]
    assert results[0].close_reason == "time_expired"
    assert results[0].close_timestamp == T0 + 9 * M


async def test_case_61_background_cancel_while_idle_emits_done_once() -> None:
    calls: list[int] = []
    done: list[e.DoneEvent] = []
    holder: dict = {}

    async def get_signal(symbol, when, price):
        calls.append(int(when.timestamp() * 1000))
        if len(calls) == 3:
            holder["cancel"]()
        return None

    register(get_signal, minutes=600)
    e.listen_done_backtest(done.append)
    holder["cancel"] = e.Backtest.background("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
    await e.Backtest.board.tasks[("BTCUSDT", "s")].task
    await asyncio.sleep(0)  # let the fire-and-forget done emission run
    assert len(calls) == 3
    assert len(done) == 1
    assert done[0] == e.DoneEvent(exchange_name="x", strategy_name="s", backtest=True, symbol="BTCUSDT")


async def test_case_63_list_shows_pending_then_fulfilled_and_guards_a_second_start() -> None:
    seen_status: list[str] = []

    async def get_signal(symbol, when, price):
        seen_status.append(e.Backtest.list()[0].status)
        return None

    register(get_signal, minutes=30, interval="15m")
    finished = asyncio.Event()
    e.listen_done_backtest(lambda d: finished.set())
    e.Backtest.background("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
    with pytest.raises(RuntimeError, match="already running"):
        e.Backtest.background("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
    await finished.wait()
    assert seen_status and set(seen_status) == {"pending"}
    (status,) = e.Backtest.list()
    assert status.status == "fulfilled"
    assert status.progress == 1.0
    assert status.processed_frames == status.total_frames == 31


async def test_a_crashing_run_goes_to_the_exit_stream_and_blocks_a_restart_until_reset() -> None:
    def boom(*args):
        raise RuntimeError("frame callback exploded")

    relaxed_profile()
    e.add_exchange("x", flat_feed())
    e.add_strategy("s", "1m", long_signal())
    e.add_frame("f", "1m", T0, T0 + 10 * M, callbacks={"on_timeframe": boom})
    fatal: list[BaseException] = []
    e.listen_exit(fatal.append)
    e.Backtest.background("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
    await e.Backtest.board.tasks[("BTCUSDT", "s")].task
    assert len(fatal) == 1 and "frame callback exploded" in str(fatal[0])
    (status,) = e.Backtest.list()
    assert status.status == "rejected" and "frame callback exploded" in status.error
    with pytest.raises(RuntimeError, match="has failed"):
        e.Backtest.background("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f")
    e.Backtest.reset("BTCUSDT", "s")
    assert e.Backtest.list() == []


async def test_unknown_names_raise_at_call_time_and_register_nothing() -> None:
    register(long_signal())
    with pytest.raises(e.NotFoundError, match=r"strategy nope not found source=Backtest.background \(registered: s\)"):
        e.Backtest.background("BTCUSDT", strategy_name="nope", exchange_name="x", frame_name="f")
    with pytest.raises(e.NotFoundError, match="frame nope not found"):
        e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="nope")
    assert e.Backtest.list() == []


async def test_a_flaky_feed_is_retried_on_the_engine_clock_without_waiting() -> None:
    attempts: list[int] = []
    inner = flat_feed()

    async def flaky(symbol, interval, since, limit):
        attempts.append(int(since.timestamp() * 1000))
        if len(attempts) <= 2:
            raise ConnectionError("exchange hiccup")
        return await inner(symbol, interval, since, limit)

    clock = e.SimulatedClock(T0 + 10 * 86_400_000, speed=0)
    e.set_clock(clock)
    register(long_signal(), minutes=30, feed=flaky)
    e.set_config(CC_GET_CANDLES_RETRY_COUNT=3, CC_GET_CANDLES_RETRY_DELAY_MS=5000, unsafe=True)
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    before = clock.now()
    results = await collect()
    assert errors == []
    assert len(attempts) >= 3 and attempts[0] == attempts[1] == attempts[2]  # the same request, three times
    assert clock.now() - before == 2 * 5000  # slept after each of the two failures, on the simulated clock
    assert results and results[0].action == "closed"


START = T0 + 10 * 86_400_000  # the frozen simulated clock of the retry tests


async def run_with_retries(feed, *, count: int, delay_ms: int) -> tuple[list, list[BaseException]]:
    """A 3-minute backtest on ``feed`` with SPEC 4.1's attempts and delay, on a frozen simulated
    clock starting at ``START``: its results and the errors it reported."""
    e.set_clock(e.SimulatedClock(START, speed=0))
    register(long_signal(), minutes=3, feed=feed)
    e.set_config(CC_GET_CANDLES_RETRY_COUNT=count, CC_GET_CANDLES_RETRY_DELAY_MS=delay_ms, unsafe=True)
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    return await collect(), errors


async def test_a_feed_that_keeps_failing_names_symbol_interval_range_and_attempts() -> None:
    async def broken(symbol, interval, since, limit):
        raise ConnectionError("HTTP 503")

    results, errors = await run_with_retries(broken, count=2, delay_ms=10)
    assert results == []
    assert errors, "every failed tick is reported"
    msg = str(errors[0])
    assert "BTCUSDT 1m 2023-12-31T23:56:00Z.." in msg
    assert "(2 attempts)" in msg and "HTTP 503" in msg
    ctx = errors[0].btk_context
    assert (ctx.symbol, ctx.strategy_name, ctx.backtest) == ("BTCUSDT", "s", True)


class _Warnings:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, *args: object) -> None: ...
    def info(self, *args: object) -> None: ...
    def warning(self, msg: object, *args: object) -> None:
        self.lines.append(str(msg))


async def test_every_failed_attempt_is_logged_and_followed_by_a_sleep_the_last_one_included() -> None:
    calls: list[int] = []

    async def broken(symbol, interval, since, limit):
        calls.append(limit)
        raise ConnectionError("HTTP 503")

    logged = _Warnings()
    e.set_logger(logged)
    await run_with_retries(broken, count=3, delay_ms=7)
    assert calls and len(calls) % 3 == 0
    assert e.get_clock().now() - START == 7 * len(calls)  # SPEC 4.1: a sleep after each failure, the last too
    tries = [line for line in logged.lines if line.startswith("get_candles BTCUSDT 1m since ")]
    assert [line.split(": ")[1] for line in tries[:3]] == [
        "attempt 1/3 failed",
        "attempt 2/3 failed",
        "attempt 3/3 failed",
    ]
    assert all(line.endswith("failed: HTTP 503") for line in tries) and len(tries) == len(calls)


async def test_a_last_response_that_only_fails_the_sanity_check_is_used_with_its_bad_candles_poisoned() -> None:
    calls: list[int] = []

    async def zero_prices(symbol, interval, since, limit):
        calls.append(limit)
        t0 = int(since.timestamp() * 1000)
        return [Candle(t0 + k * M, 0, 0, 0, 0, 100) for k in range(limit)]

    results, errors = await run_with_retries(zero_prices, count=2, delay_ms=1)
    assert results == []
    assert calls and len(calls) % 2 == 0
    assert errors and not any("could not be fetched" in str(x) for x in errors)  # placed, not failed


async def test_report_cap_is_configurable_and_a_cut_window_says_so() -> None:
    e.set_config(CC_MAX_REPORT_EVENTS=5)
    register(long_signal(met=3), minutes=60)
    results = await collect()
    assert len(results) > 5
    stats = e.Backtest.get_data("BTCUSDT", "s")
    assert stats.total_signals == 5 and stats.seen_signals == len(results)
    assert stats.is_truncated
    assert stats.coverage_note == f"statistics over the newest 5 of {len(results)} closed signals"
    assert [r.signal.id for r in stats.signal_list] == [r.signal.id for r in reversed(results)][:5]
    report = e.Backtest.get_report("BTCUSDT", "s")
    assert f"newest 5 of {len(results)} closed signals" in report
    assert "**Total signals:** 5" in report


async def test_statistics_count_every_signal_by_default() -> None:
    """btk counts every closed signal (issue 14); the original's newest-250 window is opt-in."""
    register(long_signal(met=1), minutes=600)
    results = await collect()
    assert len(results) > 250
    stats = e.Backtest.get_data("BTCUSDT", "s")
    assert stats.total_signals == stats.seen_signals == len(results)
    assert "newest" not in e.Backtest.get_report("BTCUSDT", "s")


async def test_the_originals_cap_of_250_is_one_setting_away() -> None:
    e.set_config(CC_MAX_REPORT_EVENTS=250)
    register(long_signal(met=1), minutes=600)
    results = await collect()
    stats = e.Backtest.get_data("BTCUSDT", "s")
    assert stats.total_signals == 250 and stats.seen_signals == len(results)
    assert f"newest 250 of {len(results)} closed signals (CC_MAX_REPORT_EVENTS)" in e.Backtest.get_report(
        "BTCUSDT", "s"
    )


async def test_dump_writes_the_report_under_dump_backtest(tmp_path) -> None:
    register(long_signal(), minutes=30)
    await collect()
    path = e.Backtest.dump("BTCUSDT", "s")
    assert path is not None and path.endswith("dump/backtest/s.md")
    assert (tmp_path / "dump" / "backtest" / "s.md").read_text().startswith("# Backtest Report: s")
    custom = e.Backtest.dump("BTCUSDT", "s", path="out/reports")
    assert (tmp_path / "out" / "reports" / "s.md").exists() and custom.endswith("out/reports/s.md")


async def test_dump_never_raises_on_io_errors(tmp_path, caplog) -> None:
    register(long_signal(), minutes=5)
    await collect()
    (tmp_path / "blocked").write_text("a file, not a folder")
    e.set_logger(logging.getLogger("btk-test"))
    with caplog.at_level(logging.WARNING, logger="btk-test"):
        assert e.Backtest.dump("BTCUSDT", "s", path="blocked/sub") is None
    assert "could not write report" in caplog.text


async def test_performance_counts_match_with_and_without_a_listener() -> None:
    """The fast path reports skipped idle frames as bulk samples: counts must equal a run that
    visits every frame (a performance listener forces that)."""

    async def once_per_15m(symbol, when, price):
        if when.minute % 30 == 0:
            return {
                "position": "long",
                "price_take_profit": price + 1000,
                "price_stop_loss": price - 1000,
                "minute_estimated_time": 7,
            }
        return None

    register(once_per_15m, minutes=240, interval="15m")
    await collect()
    fast = e.Performance.get_data("BTCUSDT", "s", True)
    e.listen_performance(lambda ev: None)
    await collect()
    slow = e.Performance.get_data("BTCUSDT", "s", True)
    for metric in ("backtest_timeframe", "backtest_signal", "backtest_total"):
        assert fast.metric_stats[metric].count == slow.metric_stats[metric].count, metric
    assert slow.metric_stats["backtest_total"].count == 1
    assert fast.total_events == slow.total_events
    text = e.Performance.get_report("BTCUSDT", "s", True)
    assert text.startswith("# Performance Report: s") and "backtest_timeframe" in text


async def test_set_logger_receives_engine_warnings(caplog) -> None:
    async def short(symbol, interval, since, limit):
        return []  # an exchange with no data at all

    register(long_signal(), minutes=2, feed=short)
    e.set_logger(logging.getLogger("btk-test"))
    with caplog.at_level(logging.WARNING, logger="btk-test"):
        await collect()
    assert "no candles data for BTCUSDT" in caplog.text
    with pytest.raises(TypeError, match="lacks"):
        e.set_logger(object())


async def test_each_reported_failure_is_its_own_exception_with_its_own_note() -> None:
    async def broken(symbol, interval, since, limit):
        raise ConnectionError("down")

    register(long_signal(), minutes=2, feed=broken)
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    await collect()
    assert len(errors) >= 3
    assert len({id(x) for x in errors}) == len(errors)
    assert all(len(x.__notes__) == 1 for x in errors)
    assert all(isinstance(x.__cause__, ConnectionError) for x in errors)


async def test_reports_are_written_with_ordinary_permissions(tmp_path) -> None:
    import os
    import stat

    register(long_signal(), minutes=5)
    await collect()
    path = e.Backtest.dump("BTCUSDT", "s")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask


async def test_a_rerun_replaces_its_heat_row_without_a_cap() -> None:
    """Uncapped (btk's default), running (symbol, strategy) again does not count its trades twice
    in the heatmap (its row is read from the backtest store)."""
    register(long_signal(met=1), minutes=600)
    first = await collect()
    await collect()
    assert e.Heat.get_data("s", True).symbols[0].total_trades == len(first)


async def test_with_the_originals_cap_the_heatmap_spans_runs() -> None:
    e.set_config(CC_MAX_REPORT_EVENTS=100_000, unsafe=True)  # this file's test profile is unsafe
    register(long_signal(met=1), minutes=600)
    first = await collect()
    await collect()
    assert e.Heat.get_data("s", True).symbols[0].total_trades == 2 * len(first)
