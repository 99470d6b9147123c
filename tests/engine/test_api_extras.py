"""Corners of the public API: DTO forms, callbacks, helpers, CSV exchanges, concurrent runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from reference.backtest_ref import RefConfig, run_reference_backtest

import engine as e
from engine.model import Candle
from engine.signals import _strip_rules, strip_markdown

M = 60_000
T0 = 1_704_067_200_000


def profile() -> None:
    e.set_config(
        CC_MIN_TAKEPROFIT_DISTANCE_PERCENT=0,
        CC_MIN_STOPLOSS_DISTANCE_PERCENT=0,
        CC_MAX_STOPLOSS_DISTANCE_PERCENT=100,
        CC_MAX_SIGNAL_LIFETIME_MINUTES=999999,
        CC_GET_CANDLES_RETRY_COUNT=1,
        CC_GET_CANDLES_RETRY_DELAY_MS=0,
        unsafe=True,
    )


def wave(t: int) -> tuple[float, float, float, float, float]:
    """A deterministic market: a slow sine-like wave, a candle per minute, by absolute time."""
    m = (t - T0) // M
    p = 42000 + 300 * ((m % 97) - 48) / 48 + 5 * (m % 7)
    return (p, p + 20, p - 20, p + 3, 10 + m % 5)


async def wave_feed(symbol, interval, since, limit):
    step = {"1m": 1, "15m": 15}[interval] * M
    t0 = int(since.timestamp() * 1000)
    return [Candle(t0 + k * step, *wave(t0 + k * step)) for k in range(limit)]


async def run_all(symbol="BTCUSDT", strategy="s", frame="f"):
    return [r async for r in e.Backtest.run(symbol, strategy_name=strategy, exchange_name="x", frame_name=frame)]


@pytest.mark.parametrize(
    ("note", "plain"),
    [
        ("**Breakout** above `42,000`\n\n- volume up\n- RSI 71", "Breakout above 42,000 • volume up • RSI 71"),
        ("# Title\n> quoted [link](http://x) ![img](y.png)", "Title quoted link img"),
        ("```python\ncode()\n```\nafter <b>bold</b>", "after bold"),
        ("  spaced\t\tout  ", "spaced out"),
    ],
)
def test_notes_are_stored_as_plain_text(note: str, plain: str) -> None:
    assert strip_markdown(note) == plain


# text made of what markdown rules react to: markers, digits before "." or ")", every kind of space
_NOTE_CHARS = hs.sampled_from(list("`*_~[]()#>!<-+=.)0123456789 abc\t\n\r\x0b\x0c\x1c\x85\xa0\u2003\u3000"))


@settings(max_examples=3000, derandomize=True)
@given(hs.lists(_NOTE_CHARS, max_size=14).map("".join))
def test_a_plain_note_skips_the_rules_and_ends_the_same(note: str) -> None:
    """``strip_markdown`` only collapses whitespace when no rule can touch the note: whatever it
    decides, the answer is the rules' own."""
    assert strip_markdown(note) == (_strip_rules(note) if note else "")


@pytest.mark.parametrize("note", ["- item", " + x", "12. x", "3) y", "---", "  7.5 up", "a\n- b", "x_y", "up 3.5%"])
def test_notes_near_the_shortcut_edge(note: str) -> None:
    assert strip_markdown(note) == _strip_rules(note)


async def test_signal_dto_objects_two_argument_get_signal_and_markdown_notes() -> None:
    profile()
    e.add_exchange("x", wave_feed)

    async def two_args(symbol, when):  # the original's signature
        return e.SignalDto(
            position="long",
            price_take_profit=43500.0,
            price_stop_loss=40000.0,
            minute_estimated_time=30,
            note="**why**: a `test`",
            id="my-id",
        )

    e.add_strategy("s", "1m", two_args)
    e.add_frame("f", "1m", T0, T0 + 20 * M)
    results = await run_all()
    assert results[0].signal.id == "my-id"
    assert results[0].signal.note == "why: a test"


async def test_async_callbacks_are_started_not_awaited_and_candle_data_is_reported() -> None:
    profile()
    seen_candles: list[int] = []
    e.add_exchange(
        "x",
        wave_feed,
        callbacks={"on_candle_data": lambda sym, interval, since, limit, candles: seen_candles.append(len(candles))},
    )
    opened: list[str] = []

    async def on_open(symbol, row, price, backtest):
        await asyncio.sleep(0)
        opened.append(row.id)

    async def get_signal(symbol, when, price):
        return {
            "position": "long",
            "price_take_profit": price + 500,
            "price_stop_loss": price - 500,
            "minute_estimated_time": 5,
            "id": f"id-{when:%H%M}",
        }

    e.add_strategy("s", "1m", get_signal, callbacks={"on_open": on_open})
    e.add_frame("f", "1m", T0, T0 + 10 * M)
    results = await run_all()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert opened == [r.signal.id for r in results]
    assert seen_candles and all(n > 0 for n in seen_candles)


def test_unknown_callback_names_and_bad_dto_keys_are_reported() -> None:
    with pytest.raises(e.SchemaError, match="unknown callback"):
        e.add_strategy("s", "1m", lambda s, w, p: None, callbacks={"on_opn": print})
    with pytest.raises(e.SchemaError, match="interval must be one of 1m, 3m, 5m, 15m, 30m, 1h"):
        e.add_strategy("s2", "2m", lambda s, w, p: None)
    with pytest.raises(e.SchemaError, match=r"get_signal must accept \(symbol, when\)"):
        e.add_strategy("s3", "1m", lambda s: None)


async def test_a_dto_with_an_unknown_key_is_refused_with_the_key_named() -> None:
    profile()
    e.add_exchange("x", wave_feed)

    async def typo(symbol, when, price):
        return {
            "position": "long",
            "price_take_profit": price + 500,
            "price_stoploss": price - 500,
            "minute_estimated_time": 5,
        }

    e.add_strategy("s", "1m", typo)
    e.add_frame("f", "1m", T0, T0 + 2 * M)
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    assert await run_all() == []
    assert isinstance(errors[0], e.SignalValidationError)
    assert "unknown key(s) price_stoploss" in str(errors[0])
    assert "price_stop_loss must be a finite number, got None" in str(errors[0])


async def test_helpers_see_the_frame_time_and_never_a_later_candle() -> None:
    profile()
    e.add_exchange("x", wave_feed)
    seen: list[tuple] = []

    async def get_signal(symbol, when, price):
        candles = await e.get_candles(symbol, "15m", 4)
        seen.append(
            (
                e.get_date(),
                e.get_mode(),
                when,
                candles[-1].timestamp,
                await e.get_average_price(symbol),
                price,
                await e.format_price(symbol, 1.5),
            )
        )
        return None

    e.add_strategy("s", "15m", get_signal)
    e.add_frame("f", "15m", T0, T0 + 30 * M)
    await run_all()
    assert len(seen) == 3
    for date, mode, when, last_candle, vwap, price, formatted in seen:
        assert date == when and mode == "backtest"
        assert last_candle == int(when.timestamp() * 1000)  # the candle opening at "now" (SPEC 4.1, case 16)
        assert vwap == price
        assert formatted == "1.5"
    with pytest.raises(RuntimeError, match="only work"):
        e.get_date()


@pytest.mark.parametrize("offset_s", [30, 59])
async def test_an_unaligned_frame_start_matches_the_reference(offset_s: int) -> None:
    """Frames that do not start on a minute take the per-frame path; it must still agree."""
    start = T0 + offset_s * 1000
    calls = [0]

    def dto(price: float) -> dict | None:
        calls[0] += 1
        if calls[0] % 3:
            return None
        return {
            "position": "short",
            "price_take_profit": round(price - 150, 2),
            "price_stop_loss": round(price + 150, 2),
            "minute_estimated_time": 17,
            "id": f"s{calls[0]}",
        }

    ref = run_reference_backtest(
        candle_at=wave,
        get_signal=lambda when, price: dto(price),
        frame_start_ms=start,
        frame_end_ms=start + 180 * M,
        config=RefConfig.test_profile(),
        strategy_name="s",
        exchange_name="x",
    )
    calls[0] = 0
    profile()
    e.add_exchange("x", wave_feed)

    async def get_signal(symbol, when, price):
        return dto(price)

    e.add_strategy("s", "1m", get_signal)
    e.add_frame("f", "1m", start, start + 180 * M)
    results = await run_all()
    assert [(r.action, r.close_timestamp, r.current_price, r.pnl.pnl_percentage) for r in results] == [
        (d["action"], d["close_timestamp"], d["current_price"], d["pnl_percentage"]) for d in ref.yielded
    ]
    assert len(results) > 3


async def test_csv_exchange_end_to_end(tmp_path) -> None:
    rows = ["timestamp_ms,open,high,low,close,volume"]
    for m in range(-10, 24 * 60):
        o, h, lo, c, v = wave(T0 + m * M)
        rows.append(f"{T0 + m * M},{o},{h},{lo},{c},{v}")
    (tmp_path / "BTCUSDT.csv").write_text("\n".join(rows) + "\n")
    profile()
    e.add_csv_exchange("x", tmp_path)

    async def get_signal(symbol, when, price):
        return {
            "position": "long",
            "price_take_profit": price + 200,
            "price_stop_loss": price - 200,
            "minute_estimated_time": 60,
        }

    e.add_strategy("s", "15m", get_signal)
    e.add_frame("f", "1m", T0, T0 + 12 * 60 * M)
    from_csv = await run_all()
    assert from_csv and all(r.action == "closed" for r in from_csv)
    # the same market through a plain async exchange gives the same trades
    e.testing.reset_engine()
    profile()
    e.add_exchange("x", wave_feed)
    e.add_strategy("s", "15m", get_signal)
    e.add_frame("f", "1m", T0, T0 + 12 * 60 * M)
    direct = await run_all()
    key = [(r.signal.pending_at, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage) for r in from_csv]
    assert key == [(r.signal.pending_at, r.close_timestamp, r.close_reason, r.pnl.pnl_percentage) for r in direct]


async def test_a_csv_path_that_does_not_exist_fails_at_registration(tmp_path) -> None:
    with pytest.raises(ValueError, match="nope"):
        e.add_csv_exchange("x", tmp_path / "nope")


async def test_concurrent_background_runs_equal_separate_runs() -> None:
    profile()
    e.add_synthetic_exchange("x", seed=3)

    async def get_signal(symbol, when, price):
        await asyncio.sleep(0)  # really suspends, so the runs interleave
        return {
            "position": "long" if when.hour % 2 else "short",
            "price_take_profit": price * (1.006 if when.hour % 2 else 0.994),
            "price_stop_loss": price * (0.996 if when.hour % 2 else 1.004),
            "minute_estimated_time": 90,
        }

    e.add_strategy("s", "15m", get_signal)
    start = datetime(2024, 2, 1, tzinfo=UTC)
    e.add_frame("f", "1m", start, datetime(2024, 2, 4, tzinfo=UTC))
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    alone = {}
    for sym in symbols:
        alone[sym] = [(r.signal.id, r.close_timestamp, r.pnl.pnl_percentage) for r in await run_all(sym)]
    done = asyncio.Event()
    finished: list[str] = []

    def on_done(d) -> None:
        finished.append(d.symbol)
        if len(finished) == len(symbols):
            done.set()

    e.listen_done_backtest(on_done)
    for sym in symbols:
        e.Backtest.background(sym, strategy_name="s", exchange_name="x", frame_name="f")
    await done.wait()
    for sym in symbols:
        together = [
            (r.signal.id, r.close_timestamp, r.pnl.pnl_percentage)
            for r in reversed(e.Backtest.get_data(sym, "s").signal_list)
        ]
        assert together == alone[sym][-250:], sym
        assert len(alone[sym]) > 10
