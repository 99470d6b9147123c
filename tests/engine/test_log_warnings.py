"""A warning nobody reads is not formatted (issue 13: 5 % of a demo backtest went to formatting
"N of M candles" for the silent default logger), and one somebody reads still arrives."""

from __future__ import annotations

import logging

from spec_helpers import EXCHANGE, FRAME, STRATEGY, SYMBOL, F, exchange_from, m, use_test_profile

import engine as e
from engine import candles


def _register() -> None:
    use_test_profile()

    async def get_signal(symbol, when, price):
        await e.get_candles(symbol, "1m", 50)  # more than the feed has: a short window every call

    e.add_exchange(EXCHANGE, exchange_from(lambda k: F(42000) if k >= 0 else None))  # nothing before minute 0
    e.add_frame(FRAME, "1m", m(0), m(3))
    e.add_strategy(STRATEGY, "1m", get_signal)


async def _run() -> None:
    async for _ in e.Backtest.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE, frame_name=FRAME):
        pass


async def test_short_windows_are_not_formatted_for_nobody(monkeypatch) -> None:
    formatted: list[int] = []
    monkeypatch.setattr(candles, "iso", lambda ms: formatted.append(ms) or "t")
    _register()
    await _run()  # the silent default logger
    assert formatted == []
    logger = logging.getLogger("btk-test-quiet")
    logger.setLevel(logging.ERROR)  # a logger that drops warnings
    e.set_logger(logger)
    await _run()
    assert formatted == []


async def test_short_windows_are_said_to_a_logger_that_listens(caplog) -> None:
    _register()
    logger = logging.getLogger("btk-test-loud")
    e.set_logger(logger)
    with caplog.at_level(logging.WARNING, logger="btk-test-loud"):
        await _run()
    assert "of 50 candles before" in caplog.text
