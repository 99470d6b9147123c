"""Issue 20 item 7: impossible candles never pass, and a CSV that cannot be read fails the run once.

- The candle sanity check (SPEC 3.5, extended) refuses a candle whose prices contradict each other,
  for every feed, with a reason naming the rule.
- A CSV file with a bad line fails a backtest at its start with one error naming ``file:line``
  (not one error per frame), foreground and background alike; the file is parsed once.
- Memory stays bounded by a small multiple of the file, however many runs meet the bad file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from spec_helpers import EXCHANGE, FRAME, STRATEGY, SYMBOL, F, exchange_from, m, use_test_profile, within

import engine as e
import engine.exchanges.csv_feed as csv_feed
from engine.candles import SourceError, sanity_mask
from engine.config import current
from engine.model import MINUTE_MS, CandleColumns

SAFETY_S = 120
HEADER = "timestamp_ms,open,high,low,close,volume"
T0 = m(0)


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


# --------------------------------------------------------------------------- the sanity check


def columns(*candles: tuple[float, float, float, float, float]) -> CandleColumns:
    a = np.array(candles, dtype=np.float64).reshape(-1, 5)
    ts = T0 + np.arange(len(a), dtype=np.int64) * MINUTE_MS
    return CandleColumns(ts, a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


GOOD = (100.0, 105.0, 95.0, 101.0, 10.0)


@pytest.mark.parametrize(
    ("candle", "reason"),
    [
        ((100, 94, 95, 94.5, 10), "high is below low"),
        ((100, 99, 95, 97, 10), "high is below open"),
        ((97, 99, 95, 100, 10), "high is below close"),
        ((100, 105, 101, 103, 10), "low is above open"),
        ((103, 105, 101, 100, 10), "low is above close"),
        ((100, 105, 95, 101, -1), "negative volume"),
    ],
)
def test_an_impossible_candle_is_bad_with_a_reason_naming_the_rule(candle, reason) -> None:
    bad, why = sanity_mask(columns(GOOD, GOOD, candle, GOOD, GOOD, GOOD), current())
    assert bad.tolist() == [False, False, True, False, False, False]
    assert why is not None and why.startswith("candle[2]") and reason in why


def test_consistent_candles_pass_including_a_flat_one() -> None:
    bad, why = sanity_mask(columns(GOOD, (100, 100, 100, 100, 0), (95, 105, 95, 105, 1)), current())
    assert why is None and not bad.any()


async def test_an_impossible_candle_from_any_feed_is_reported_not_used() -> None:
    """A user's get_candles serving a high below its low at minute 3: every VWAP over it is refused
    with the reason (the run goes on), instead of moving prices silently."""
    errors: list = []
    seen: list = []

    async def get_signal(symbol, when, price):
        seen.append(price)

    e.add_exchange(EXCHANGE, exchange_from(lambda k: (42000, 41900, 42100, 42000, 100) if k == 3 else F(42000)))
    e.add_frame(FRAME, "1m", m(0), m(10))
    e.add_strategy(STRATEGY, "1m", get_signal)
    e.listen_error(errors.append)
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    assert [r async for r in handle] == []
    assert errors and all("high is below low" in str(x) for x in errors)
    assert len(seen) == 6  # frames 3-7 (a 5-candle window holding minute 3) are refused, the rest priced


# --------------------------------------------------------------------------- CSV files


def csv_rows(n: int, start: int = T0) -> list[str]:
    out = []
    for i in range(n):
        o = 42000 + 10 * ((i * 7) % 11)
        c = 42000 + 10 * (((i + 1) * 7) % 11)
        out.append(f"{start + i * MINUTE_MS},{o},{max(o, c) + 5},{min(o, c) - 5},{c},1.5")
    return out


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _nan(lines):
    lines[40] = lines[40].replace(",1.5", ",NaN")


def _duplicate(lines):
    lines[40] = lines[39]


def _unsorted(lines):
    lines[40], lines[41] = lines[41], lines[40]


def _gap(lines):
    del lines[40]


def _seconds(lines):
    ts, rest = lines[40].split(",", 1)
    lines[40] = f"{int(ts) // 1000},{rest}"


def _high_below_low(lines):
    ts, o, _high, lo, c, v = lines[40].split(",")
    lines[40] = ",".join([ts, o, str(float(lo) - 1), lo, c, v])


BAD_FILES = {
    "nan": (_nan, "is not a finite number"),
    "duplicate": (_duplicate, "duplicates the timestamp"),
    "unsorted": (_unsorted, "goes back in time"),
    "gap": (_gap, "gap before this row"),
    "seconds": (_seconds, "looks like seconds"),
    "ohlc": (_high_below_low, "high is below low"),
}
BAD_LINE = 42  # line 1 is the header, row 40 is line 42


def bad_csv(tmp_path: Path, kind: str) -> tuple[Path, str]:
    lines = csv_rows(300)
    spoil, what = BAD_FILES[kind]
    spoil(lines)
    return write_csv(tmp_path / "BTCUSDT.csv", lines), what


def register_csv(path: Path, calls: list) -> list:
    errors: list = []

    async def get_signal(symbol, when, price):
        calls.append(when)

    e.add_csv_exchange(EXCHANGE, path)
    e.add_frame(FRAME, "1m", m(10), m(200))
    e.add_strategy(STRATEGY, "1m", get_signal)
    e.listen_error(errors.append)
    return errors


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
async def test_a_bad_csv_fails_the_backtest_at_its_start_with_one_error_naming_file_and_line(
    tmp_path: Path, kind: str
) -> None:
    path, what = bad_csv(tmp_path, kind)
    calls: list = []
    errors = register_csv(path, calls)
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    with pytest.raises(SourceError) as info:
        await within(anext(handle), SAFETY_S)
    line = 43 if kind == "unsorted" else BAD_LINE  # the row that goes back in time is the second one
    assert f"{path}:{line}" in str(info.value) and what in str(info.value)
    assert isinstance(info.value, csv_feed.CsvFeedError)
    assert calls == []  # it failed before the first frame
    assert errors == []  # nothing per frame
    assert handle.status().status == "rejected"


def test_a_wrong_header_is_refused_when_the_exchange_is_added(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "BTCUSDT.csv", csv_rows(10), header="time,o,h,l,c,v")
    calls: list = []
    register_csv(path, calls)
    with pytest.raises(csv_feed.CsvFeedError, match=r"BTCUSDT\.csv:1: bad header"):
        csv_feed.CsvFeed(path).load("BTCUSDT")


async def test_a_background_backtest_on_a_bad_csv_ends_failed_with_one_exit_event(tmp_path: Path) -> None:
    path, _ = bad_csv(tmp_path, "ohlc")
    calls: list = []
    errors = register_csv(path, calls)
    exits: list = []
    e.listen_exit(exits.append)
    e.Backtest.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    await within(e.Backtest.board.tasks[(SYMBOL, STRATEGY)].task, SAFETY_S)
    [row] = e.Backtest.list()
    assert row.status == "rejected" and f"{path}:{BAD_LINE}" in row.error
    [exc] = exits
    assert f"{path}:{BAD_LINE}" in str(exc) and "high is below low" in str(exc)
    assert errors == [] and calls == []


async def test_the_file_is_parsed_once_for_many_runs_and_again_once_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = bad_csv(tmp_path, "nan")
    parses: list = []
    real = csv_feed.load_csv
    monkeypatch.setattr(csv_feed, "load_csv", lambda *a, **k: parses.append(a) or real(*a, **k))
    calls: list = []
    register_csv(path, calls)
    for _ in range(3):
        handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
        with pytest.raises(SourceError):
            await anext(handle)
    assert len(parses) == 1
    write_csv(path, csv_rows(300))  # fixed on disk: the next run reads it again and works
    os.utime(path, ns=(1, 1))  # a different stamp even on a coarse-clock file system
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME)
    assert [r async for r in handle] == []
    assert len(parses) == 2 and len(calls) == 191


def test_a_csv_row_with_impossible_prices_names_file_line_and_rule(tmp_path: Path) -> None:
    lines = csv_rows(5)
    ts, o, h, _low, c, v = lines[2].split(",")
    lines[2] = ",".join([ts, o, h, str(max(float(o), float(c)) + 1), c, v])  # low above open and close
    path = write_csv(tmp_path / "X.csv", lines)
    with pytest.raises(csv_feed.CsvFeedError) as info:
        csv_feed.load_csv(path)
    text = str(info.value)
    assert text.startswith(f"{path}:4: not a possible candle: ")
    assert "low is above open" in text and "low is above close" in text


# --------------------------------------------------------------------------- memory

_MEMORY_CHILD = textwrap.dedent(
    """
    import asyncio, resource, sys
    import engine as e
    T0 = 1_704_067_200_000
    M = 60_000
    path, runs = sys.argv[1], int(sys.argv[2])
    e.add_csv_exchange("csv", path, symbol="BTCUSDT")
    e.add_frame("f", "1m", T0 + 200_000 * M, T0 + 200_300 * M)
    errors = []
    e.listen_error(errors.append)  # kept, as the headless command and the console keep them
    async def get_signal(symbol, when, price):
        return None
    async def main():
        for k in range(runs):
            e.add_strategy(f"s{k}", "1m", get_signal)
            try:
                [r async for r in e.Backtest.run("BTCUSDT", strategy_name=f"s{k}", exchange_name="csv", frame_name="f")]
            except Exception:
                pass
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    asyncio.run(main())
    print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def test_memory_stays_a_small_multiple_of_a_bad_file_over_many_runs(tmp_path: Path) -> None:
    """Ten runs on a ~24 MB file with one NaN line near its end: the extra peak memory of the
    process (ru_maxrss, in a fresh subprocess) stays under 3x the file. Before the fix every run
    parsed the file again and reported it at every frame; the errors a listener keeps (the headless
    command and the console do) held the parsed rows alive through their tracebacks (about 1.5x the
    file per run: 1.2 GB for a 120 MB file after six runs)."""
    path = tmp_path / "BTCUSDT.csv"
    n = 400_000
    i = np.arange(n, dtype=np.int64)
    o = 42000 + (i % 1000) * 0.37
    table = np.column_stack([T0 + i * MINUTE_MS, o, o + 5, o - 5, o + 1, np.full(n, 12.345678)])
    np.savetxt(
        path, table, fmt=["%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.6f"], delimiter=",", header=HEADER, comments=""
    )
    with path.open("r+b") as handle:  # one NaN volume near the end, where the slow pass finds it last
        lines = handle.read().split(b"\n")
        lines[-10] = lines[-10].rsplit(b",", 1)[0] + b",NaN"
        handle.seek(0)
        handle.write(b"\n".join(lines))
        handle.truncate()
    size = path.stat().st_size
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(path), "10"],
        capture_output=True,
        text=True,
        timeout=600,  # a safety net for a loaded machine; nothing is timed
        check=True,
    )
    base_kb, peak_kb = map(int, done.stdout.split())
    extra = (peak_kb - base_kb) * 1024
    assert extra < 3 * size, f"peak grew by {extra / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"


async def test_a_live_run_on_a_bad_csv_reports_it_once_not_every_minute(tmp_path: Path) -> None:
    """Live keeps ticking (the file may be fixed while it runs), but one unreadable file is one
    error, not one a minute."""
    path, _ = bad_csv(tmp_path, "ohlc")
    calls: list = []
    errors = register_csv(path, calls)
    ticks = {"n": 0}

    class TenTicks(e.SimulatedClock):
        async def sleep(self, ms: float) -> None:
            ticks["n"] += 1
            if ticks["n"] == 10:
                e.Live.stop(SYMBOL, STRATEGY)
            await super().sleep(ms)

    e.set_clock(TenTicks(m(100), speed=0))
    handle = e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    assert await within(_drain(handle), SAFETY_S) == []
    assert ticks["n"] >= 10 and calls == []
    [err] = errors
    assert f"{path}:{BAD_LINE}" in str(err)


async def _drain(handle) -> list:
    return [r async for r in handle]
