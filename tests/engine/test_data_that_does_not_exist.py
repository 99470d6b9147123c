"""Issue 14 item 8: a run on data that does not exist fails at its start with the one reason.

A symbol the CSV exchange has no file for, a CSV with a wrong header, and a frame wholly outside
the file's data used to run every frame, reporting a missing candle at each (138,240 errors for a
year), and end "done" with a table of zeros. Each now fails the run before its first frame with one
error naming what is missing and where, foreground and background; a walker fails once, not once
per strategy. A frame that overlaps the data only in part still runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import EXCHANGE, STRATEGY, SYMBOL, m, use_test_profile, within

import engine as e
from engine.candles import OutsideDataError, SourceError
from engine.exchanges.csv_feed import CsvFileError, CsvSymbolError
from engine.model import MINUTE_MS

SAFETY_S = 120  # a safety net only: nothing waits on it
HEADER = "timestamp_ms,open,high,low,close,volume"


@pytest.fixture(autouse=True)
def _profile():
    use_test_profile()


def csv_rows(n: int, start: int) -> list[str]:
    out = []
    for i in range(n):
        o = 42000 + 10 * ((i * 7) % 11)
        c = 42000 + 10 * (((i + 1) * 7) % 11)
        out.append(f"{start + i * MINUTE_MS},{o},{max(o, c) + 5},{min(o, c) - 5},{c},1.5")
    return out


def write_csv(path: Path, n: int = 300, start: int = m(0), header: str = HEADER) -> Path:
    """``n`` 1m rows from ``start``: minutes [start, start + n) hold data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *csv_rows(n, start)]) + "\n", encoding="utf-8")
    return path


class Setup:
    """A CSV exchange, one frame per test, strategies that count their calls, and the error stream."""

    def __init__(self, path: Path, first: int, last: int, strategies: tuple[str, ...] = (STRATEGY,)) -> None:
        self.calls: list[int] = []
        self.errors: list[BaseException] = []

        async def get_signal(symbol, when, price):
            self.calls.append(when)

        e.add_csv_exchange(EXCHANGE, path)
        e.add_frame("f", "1m", first, last)
        for name in strategies:
            e.add_strategy(name, "1m", get_signal)
        e.listen_error(self.errors.append)

    async def run(self, symbol: str = SYMBOL) -> list:
        handle = e.Backtest.run(symbol, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name="f")
        try:
            return await within(_drain(handle), SAFETY_S)
        finally:
            self.status = handle.status().status


def ms(when) -> int:
    return int(when.timestamp() * 1000)


async def _drain(handle) -> list:
    return [r async for r in handle]


# --------------------------------------------------------------------------- Backtest.run


async def test_a_symbol_the_csv_exchange_does_not_have_fails_at_once_naming_it(tmp_path: Path) -> None:
    s = Setup(write_csv(tmp_path / "data" / "BTCUSDT.csv"), m(10), m(200))
    with pytest.raises(CsvSymbolError) as info:
        await s.run("ETHUSDT")
    assert "no data for symbol 'ETHUSDT'; available: BTCUSDT" in str(info.value)
    assert str(tmp_path / "data") in str(info.value)
    assert s.calls == [] and s.errors == [] and s.status == "rejected"


async def test_a_csv_with_a_wrong_header_fails_at_once_naming_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "BTCUSDT.csv", header="time,o,h,l,c,v")
    s = Setup(path, m(10), m(200))
    with pytest.raises(CsvFileError, match=r"BTCUSDT\.csv:1: bad header 'time,o,h,l,c,v'"):
        await s.run()
    assert s.calls == [] and s.errors == [] and s.status == "rejected"


@pytest.mark.parametrize(
    ("first", "last"),
    [(m(-500), m(-1)), (m(400), m(500))],
    ids=["before-the-data", "after-the-data"],
)
async def test_a_frame_wholly_outside_the_data_fails_at_once_naming_frame_and_data(
    tmp_path: Path, first: int, last: int
) -> None:
    s = Setup(write_csv(tmp_path / "BTCUSDT.csv"), first, last)  # data: minutes 0 .. 299
    with pytest.raises(OutsideDataError) as info:
        await s.run()
    text = str(info.value)
    assert text.startswith(f"no candles for {SYMBOL} on exchange {EXCHANGE} in frame f (")
    assert "its data covers 2024-01-01T00:00:00Z .. 2024-01-01T04:59:00Z" in text
    assert s.calls == [] and s.errors == [] and s.status == "rejected"


async def test_a_frame_that_touches_the_data_runs_and_one_a_minute_further_is_refused(tmp_path: Path) -> None:
    """The refusal is only for frames no tick could price (a tick at ``when`` reads the candles
    opening at ``when - (W-1)m .. when``): a frame ending on the first candle runs, and so does one
    starting while the last candle is still in its window; a minute further on either side fails."""
    path = write_csv(tmp_path / "BTCUSDT.csv", n=300, start=m(100))  # data: minutes 100 .. 399
    w = e.get_config()["CC_AVG_PRICE_CANDLES_COUNT"]
    s = Setup(path, m(50), m(100))  # its last frame is the first candle's open
    assert await s.run() == [] and s.status == "fulfilled"
    assert [ms(when) for when in s.calls] == [m(100)]  # priced there, and only there
    frames = {"early": (m(50), m(99)), "late": (m(399 + w - 1), m(399 + w + 30)), "later": (m(399 + w), m(450))}
    for name, (first, last) in frames.items():
        e.add_frame(name, "1m", first, last)
    s.calls.clear()
    handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name="late")
    assert await within(_drain(handle), SAFETY_S) == []
    assert ms(s.calls[0]) == m(399 + w - 1)  # the last candle is in its window: priced
    for name in ("early", "later"):
        handle = e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=name)
        with pytest.raises(OutsideDataError):
            await within(_drain(handle), SAFETY_S)


async def test_a_frame_overlapping_the_data_in_part_runs_and_reports_only_the_missing_frames(tmp_path: Path) -> None:
    s = Setup(write_csv(tmp_path / "BTCUSDT.csv", n=100), m(50), m(160))  # data: minutes 0 .. 99
    assert await s.run() == [] and s.status == "fulfilled"
    w = e.get_config()["CC_AVG_PRICE_CANDLES_COUNT"]
    assert s.calls and max(ms(when) for when in s.calls) == m(99 + w - 1)
    assert s.errors  # the frames after the data: reported as before, one by one


# --------------------------------------------------------------------------- background and walker


@pytest.mark.parametrize("case", ["symbol", "frame"])
async def test_a_background_run_on_missing_data_ends_failed_with_one_exit_event(tmp_path: Path, case: str) -> None:
    path = write_csv(tmp_path / "BTCUSDT.csv")
    s = Setup(path, m(1000), m(2000)) if case == "frame" else Setup(path, m(10), m(200))
    symbol = "ETHUSDT" if case == "symbol" else SYMBOL
    exits: list[BaseException] = []
    e.listen_exit(exits.append)
    e.Backtest.background(symbol, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name="f")
    await within(e.Backtest.board.tasks[(symbol, STRATEGY)].task, SAFETY_S)
    [row] = e.Backtest.list()
    [exc] = exits
    assert row.status == "rejected" and isinstance(exc, SourceError)
    assert ("'ETHUSDT'" if case == "symbol" else "no candles for BTCUSDT") in row.error
    assert s.calls == [] and s.errors == [] and row.processed_frames == 0


async def test_a_walker_on_a_symbol_the_exchange_does_not_have_fails_once_not_per_strategy(tmp_path: Path) -> None:
    s = Setup(write_csv(tmp_path / "BTCUSDT.csv"), m(10), m(200), strategies=("a", "b", "c"))
    skipped: list[str] = []
    e.add_walker("w", EXCHANGE, "f", ["a", "b", "c"], callbacks={"on_strategy_error": lambda n, *_: skipped.append(n)})
    with pytest.raises(CsvSymbolError, match="no data for symbol 'ETHUSDT'"):
        await within(_drain(e.Walker.run("ETHUSDT", walker_name="w")), SAFETY_S)
    assert s.calls == [] and s.errors == [] and skipped == []
