"""The log book (console/logbook.py) without a terminal: what an error entry keeps, the filter,
counts that survive the cut, and the engine's warnings through the logging handler."""

from __future__ import annotations

import logging

from console.logbook import LogBook, LogBookHandler


def raise_here(day: int | str) -> None:
    raise ValueError(f"bad day {day}")


def caught(day: int | str) -> BaseException:
    try:
        raise_here(day)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def test_an_error_entry_keeps_its_type_file_line_and_traceback() -> None:
    book = LogBook()
    entry = book.error(caught(15), "backtest:BTCUSDT:x", 1_700_000_000_000)
    assert entry.text.startswith("ValueError: bad day 15 (") and "in raise_here)" in entry.text
    assert entry.where.endswith("test_logbook.py:12")  # the raise, not the caller
    assert "Traceback (most recent call last)" in entry.detail and "raise_here(day)" in entry.detail
    assert book.first_error["backtest:BTCUSDT:x"] is entry


DAYS = ("one", "two", "three", "four", "five")  # words: a digit could be in the traceback's path


def test_the_filter_wants_every_word_and_counts_survive_the_cut() -> None:
    book = LogBook(maxlen=3)
    for day in DAYS:
        book.error(caught(day), "run-a", None)
    book.note("TICK", "BTCUSDT probe idle at 42,000.00", "live:BTCUSDT:probe")
    assert len(book.entries) == 3  # the oldest went
    assert book.count("ERROR") == 5 and book.count("ERROR", "run-a") == 5 and book.count("TICK") == 1
    assert [e.text.split(" (")[0] for e in book.matching("valueerror five")] == ["ValueError: bad day five"]
    assert [e.kind for e in book.matching("TICK btcusdt")] == ["TICK"]
    assert book.matching("nothing here") == []
    assert book.first_error["run-a"].text.startswith("ValueError: bad day one")  # kept though cut
    book.forget_run("run-a")  # the run started again: it counts afresh
    assert book.count("ERROR", "run-a") == 0 and "run-a" not in book.first_error


def test_engine_warnings_reach_the_book_but_not_the_echo_of_a_published_error() -> None:
    book = LogBook()
    logger = logging.getLogger("btk.test.logbook")
    logger.propagate = False
    handler = LogBookHandler(book)
    logger.addHandler(handler)
    try:
        logger.warning("get_candles BTCUSDT 15m: 13 of 14 candles")
        logger.warning("error: ValueError('bad day')")  # the stream gave the book this one already
        logger.info("a note below the handler's level")
    finally:
        logger.removeHandler(handler)
    assert [(e.kind, e.text) for e in book.entries] == [("WARNING", "get_candles BTCUSDT 15m: 13 of 14 candles")]
    assert book.entries[0].time is not None


def test_an_error_is_described_when_first_read_and_keeps_no_locals(monkeypatch) -> None:
    """A strategy that raises on every call sends tens of thousands of errors: the book takes each
    without formatting it (the log viewer reads the newest few when asked), once only when read,
    and the frames it keeps drop their locals (a run's arrays are not held by its errors)."""
    import gc
    import weakref

    import console.logbook as logbook

    class Big:
        pass

    def raise_holding(big: Big) -> None:
        raise ValueError(f"bad day {id(big)}")

    formatted: list[int] = []
    real = logbook._traceback_text

    def counting(exc: BaseException) -> str:
        formatted.append(1)
        return real(exc)

    monkeypatch.setattr(logbook, "_traceback_text", counting)
    big = Big()
    held = weakref.ref(big)
    try:
        raise_holding(big)
    except ValueError as exc:
        error = exc
    book = LogBook()
    entry = book.error(error, "run-a", None)
    del big
    gc.collect()
    assert held() is None  # the frame that had it as a local let it go
    assert formatted == []  # nothing worked out yet
    assert entry.kind == "ERROR" and entry.run == "run-a"
    assert entry.text.startswith("ValueError: bad day") and "in raise_holding)" in entry.text
    assert "raise_holding(big)" in entry.detail and "test_logbook.py:" in entry.where
    assert book.matching("valueerror raise_holding") == [entry]
    assert formatted == [1]  # once, however often it is read


def test_a_traceback_rebuilt_from_a_worker_has_no_carets_at_the_stubs_columns() -> None:
    """A worker's error comes back with frames that run a stub ``raise`` (tblib, through
    console/host/errors.py): Python drew carets at the stub's columns on the real line. Those
    lines go; an error raised here keeps its carets."""
    from console.host.errors import _reduce_traceback, traceback_of

    def subscript() -> None:
        {"rsi": 50}["rsi14"]  # Python 3.11 draws carets under the subscript

    try:
        subscript()
    except KeyError as exc:
        here = exc
    _, (shape,) = _reduce_traceback(here.__traceback__)
    rebuilt = KeyError("rsi14").with_traceback(traceback_of(shape))
    book = LogBook()
    local, remote = book.error(here, "a", None), book.error(rebuilt, "b", None)

    def carets(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip() and set(line.strip()) <= set("^~")]

    assert carets(local.detail)  # Python's own, under the subscript
    assert carets(remote.detail) == []
    assert '{"rsi": 50}["rsi14"]' in remote.detail and "in subscript" in remote.detail
    lines = [line for line in remote.detail.splitlines() if "test_logbook.py" in line]
    assert lines == [line for line in local.detail.splitlines() if "test_logbook.py" in line]


def test_keeping_an_error_does_not_stop_the_coroutine_that_caught_it() -> None:
    """A live run in the console's process: the engine's loop catches a strategy's error, the
    book keeps it, and the loop goes on. Clearing the loop's suspended frame (as
    ``traceback.clear_frames`` does) would finalize the coroutine: the run would be gone."""
    import asyncio

    book = LogBook()
    steps: list[int] = []

    async def engine_loop() -> str:
        for day in range(3):
            try:
                raise_here(day)
            except ValueError as exc:
                caught = exc
            await asyncio.sleep(0)  # suspended: the console folds the error meanwhile
            steps.append(day)
            del caught
        return "done"

    async def main() -> str:
        loop = asyncio.ensure_future(engine_loop())
        await asyncio.sleep(0)
        frame = loop.get_coro().cr_frame
        assert frame is not None
        book.error(frame.f_locals["caught"], "live:BTCUSDT:x", None)
        return await loop

    assert asyncio.run(main()) == "done" and steps == [0, 1, 2]
    (entry,) = book.entries
    assert entry.text.startswith("ValueError: bad day 0")


def test_warnings_of_one_shape_fold_into_one_entry_counted_each() -> None:
    """SPEC 4.1 warns at every ``get_candles`` call off the candles' grid: the demo's walker gave
    the log ~5,000 lines that differ only in their numbers, two shapes taking turns. A warning of
    a shape its run has among the newest entries is counted into that entry, which says how
    many and the last; the counts stay per warning; errors and live ticks stay one each."""
    from console.logbook import FOLD_WITHIN

    def candles(minute: int, run: str = "run-a") -> None:
        book.note("WARNING", f"get_candles BTCUSDT 5m: 50 of 51 candles before 2024-01-25T06:{minute:02d}:00Z", run)

    book = LogBook()
    for minute in (39, 44, 49):
        candles(minute)
    (entry,) = book.entries
    assert entry.repeats == 3 and entry.text.endswith("06:39:00Z") and entry.last.endswith("06:49:00Z")
    assert book.count("WARNING") == 3 and book.version == 3
    assert book.matching("06:49") == [entry]  # the last repeat is searchable too
    book.note("WARNING", "validation: ValueError('quiet hours: no entries 00:00-02:00 UTC')", "run-a")
    candles(54)  # the two shapes take turns: each counts into its own entry
    book.note("WARNING", "validation: ValueError('quiet hours: no entries 00:00-02:00 UTC')", "run-a")
    candles(59, run="run-b")  # another run's: its own
    book.note("TICK", "BTCUSDT probe idle at 42,000.00", "live:BTCUSDT:probe")
    book.note("TICK", "BTCUSDT probe idle at 42,010.00", "live:BTCUSDT:probe")  # each tick its own
    book.error(caught("one"), "run-a", None)
    book.error(caught("two"), "run-a", None)  # each error its own, with its traceback
    assert [(e.kind, e.run, e.repeats) for e in book.entries] == [
        ("WARNING", "run-a", 4),
        ("WARNING", "run-a", 2),
        ("WARNING", "run-b", 1),
        ("TICK", "live:BTCUSDT:probe", 1),
        ("TICK", "live:BTCUSDT:probe", 1),
        ("ERROR", "run-a", 1),
        ("ERROR", "run-a", 1),
    ]
    assert book.count("WARNING") == 7 and book.count("TICK") == 2 and book.count("ERROR") == 2
    book.note("WARNING", "get_candles BTCUSDT 15m: 13 of 14 candles before 2024-01-25T06:45:00Z", "run-a")
    assert book.entries[-1].repeats == 1  # another interval: another warning
    assert book.count("WARNING") == 8
    for n in range(FOLD_WITHIN):  # the first entry falls further back than a warning looks
        book.note("INFO", f"note {n}")
    candles(4)
    assert book.entries[-1].repeats == 1 and book.entries[0].repeats == 4
