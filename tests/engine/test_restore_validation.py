"""Issue 20, item 3: a live restart trades only on saved state it has checked (SPEC 3.2 with the
run's config, the types the engine reads, whose state it is). A document that fails is moved to
``dump/data/quarantine/<entity>/`` with a sidecar saying why, reported on the error stream, and its
pair refuses to trade until a person deletes it or moves it back; other pairs trade."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from live_helpers import register, run_live, state_file
from spec_helpers import EXCHANGE, STRATEGY, SYMBOL, F, m, restart, sig

import engine as e

QUARANTINE = Path("dump") / "data" / "quarantine"


def saved_row(**changes: Any) -> dict[str, Any]:
    """A pending long the engine could have written under the default config, then ``changes``
    (a value of ``...`` drops the key)."""
    row: dict[str, Any] = {
        "id": "saved-1",
        "position": "long",
        "price_open": 42000.0,
        "price_take_profit": 43000.0,
        "price_stop_loss": 41000.0,
        "minute_estimated_time": 1440,
        "symbol": SYMBOL,
        "exchange_name": EXCHANGE,
        "strategy_name": STRATEGY,
        "scheduled_at": m(-10),
        "pending_at": m(-10),
        "is_scheduled": False,
        "note": "",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


def short(**changes: Any) -> dict[str, Any]:
    return saved_row(**{"position": "short", "price_take_profit": 41000.0, "price_stop_loss": 43000.0, **changes})


def write_doc(path: Path, value: Any) -> str:
    """Write ``value`` as Python's json writes it (NaN literals included); returns the text."""
    text = json.dumps(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def quarantined(entity: str) -> list[Path]:
    folder = QUARANTINE / entity
    return sorted(p for p in folder.iterdir() if not p.name.endswith(".why.json")) if folder.exists() else []


async def refused_run(out, symbol: str = SYMBOL) -> e.PairQuarantinedError:
    with pytest.raises(e.PairQuarantinedError) as info:
        await run_live(out, until=5, symbol=symbol)
    return info.value


def assert_held(original: Path, text: str, entity: str, reason: str, out, exc: e.PairQuarantinedError) -> None:
    """Moved (content intact, sidecar with the reason), reported naming the file, nothing traded,
    the original path not written again, and the next start refused at once."""
    [moved] = quarantined(entity)
    assert moved.read_text() == text
    why = json.loads(moved.with_name(moved.name + ".why.json").read_text())
    assert reason in why["reason"] and why["original"] == str(original) and why["when"] == m(0)
    assert not original.exists()  # moved, and nothing wrote a new document in its place
    assert out.ticks == [] and out.calls == [] and out.yielded == []
    reports = [x for x in out.errors if isinstance(x, e.StateQuarantinedError)]
    assert len(reports) == 1 and str(original) in str(reports[0]) and reason in str(reports[0])
    assert str(moved) in str(reports[0]) and "\n" not in str(reports[0]).split("\n\n")[0]
    assert exc.documents == [moved] and str(moved) in str(exc)
    with pytest.raises(e.PairQuarantinedError, match="delete the file or move it back"):
        e.Live.run(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)


WRONG_ROWS = [
    ("nan price", saved_row(price_open=float("nan")), "price_open must be a finite number, got nan"),
    ("negative price", saved_row(price_open=-42000.0), "price_open must be > 0"),
    ("long tp below open", saved_row(price_take_profit=41500.0), "long: price_take_profit (41500.0) must be >"),
    ("short tp above open", short(price_take_profit=42500.0), "short: price_take_profit (42500.0) must be <"),
    ("long sl above open", saved_row(price_stop_loss=42500.0), "long: price_stop_loss (42500.0) must be <"),
    ("short sl below open", short(price_stop_loss=41500.0), "short: price_stop_loss (41500.0) must be >"),
    ("lifetime string", saved_row(minute_estimated_time="60"), "minute_estimated_time must be a finite number"),
    ("lifetime null", saved_row(minute_estimated_time=None), "minute_estimated_time must be a finite number"),
    ("lifetime zero", saved_row(minute_estimated_time=0), "minute_estimated_time must be positive"),
    ("lifetime negative", saved_row(minute_estimated_time=-5), "minute_estimated_time must be positive"),
    ("lifetime float", saved_row(minute_estimated_time=60.0), "minute_estimated_time must be an integer"),
    ("lifetime over the max", saved_row(minute_estimated_time=2000), "exceeds CC_MAX_SIGNAL_LIFETIME_MINUTES"),
    ("sl too far for the config", saved_row(price_stop_loss=30000.0), "CC_MAX_STOPLOSS_DISTANCE_PERCENT"),
    ("no exchange_name", saved_row(exchange_name=...), "exchange_name must be a non-empty string"),
    ("no strategy_name", saved_row(strategy_name=...), "strategy_name must be a non-empty string"),
    ("another strategy", saved_row(strategy_name="other"), "strategy_name 'other' is not this run's 's'"),
    ("another exchange", saved_row(exchange_name="elsewhere"), "exchange_name 'elsewhere' is not this run's 'x'"),
    ("another symbol", saved_row(symbol="ETHUSDT"), "symbol 'ETHUSDT' is not this run's 'BTCUSDT'"),
    ("bool price", saved_row(price_take_profit=True), "price_take_profit must be a number, found True"),
    ("string price", saved_row(price_open="42000"), "price_open must be a number, found '42000'"),
    ("id not a string", saved_row(id=7), "id must be a non-empty string"),
    ("pending_at a string", saved_row(pending_at="yesterday"), "pending_at must be a positive timestamp"),
    ("scheduled_at missing", saved_row(scheduled_at=...), "scheduled_at must be a positive timestamp"),
    ("is_scheduled in the open slot", saved_row(is_scheduled=True), "is_scheduled must be false"),
]


@pytest.mark.parametrize(("case", "value", "reason"), WRONG_ROWS, ids=[c[0] for c in WRONG_ROWS])
async def test_a_saved_position_that_breaks_a_rule_is_quarantined_and_its_pair_does_not_trade(
    case: str, value: dict, reason: str
) -> None:
    path = state_file("signal", SYMBOL)
    text = write_doc(path, value)
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    exc = await refused_run(out)
    assert_held(path, text, f"signal/{SYMBOL}_{STRATEGY}", reason, out, exc)


async def test_a_saved_limit_entry_that_breaks_a_rule_is_quarantined_too() -> None:
    path = state_file("schedule", SYMBOL)
    text = write_doc(path, saved_row(price_open=41000.0, price_take_profit=40000.0, is_scheduled=True))
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    exc = await refused_run(out)
    assert_held(path, text, f"schedule/{SYMBOL}_{STRATEGY}", "long: price_take_profit (40000.0) must be >", out, exc)


async def test_a_risk_positions_file_with_junk_holds_every_pair_of_that_profile() -> None:
    e.add_risk("desk", max_concurrent_positions=1)
    path = Path("dump") / "data" / "risk" / "desk" / "positions.json"
    record = {"signal": None, "strategyName": "t", "exchangeName": "", "openTimestamp": "yesterday"}
    text = write_doc(path, [["t:ETHUSDT", record]])
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)], risk_name="desk")
    exc = await refused_run(out)
    assert_held(path, text, "risk/desk", "openTimestamp must be a timestamp", out, exc)


async def test_partial_levels_with_junk_are_quarantined() -> None:
    path = state_file("partial", "levels")
    text = write_doc(path, {"saved-1": {"profitLevels": [10, "20"], "lossLevels": []}})
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    exc = await refused_run(out)
    assert_held(
        path, text, f"partial/{SYMBOL}_{STRATEGY}", "profitLevels of saved-1 must be a list of levels", out, exc
    )


async def test_other_pairs_trade_while_one_is_held() -> None:
    write_doc(state_file("signal", SYMBOL), saved_row(price_open=float("nan")))
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    await refused_run(out)
    other = await run_live(out, symbol="ETHUSDT", until=3)
    assert [r.action for r in other.yielded] == ["opened"] and other.yielded[0].symbol == "ETHUSDT"


async def test_a_background_run_of_a_held_pair_is_refused_at_once_and_the_first_one_fails_on_the_exit_stream() -> None:
    import asyncio

    write_doc(state_file("signal", SYMBOL), saved_row(strategy_name="other"))
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    exits: list[BaseException] = []
    e.listen_exit(exits.append)
    e.set_clock(e.SimulatedClock(m(0), speed=0))
    e.Live.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)
    await asyncio.wait_for(e.Live.board.get(SYMBOL, STRATEGY).task, timeout=60)  # a safety net only
    assert [type(x) for x in exits] == [e.PairQuarantinedError] and out.ticks == []
    e.Live.reset(SYMBOL, STRATEGY)
    with pytest.raises(e.PairQuarantinedError):
        e.Live.background(SYMBOL, strategy_name=STRATEGY, exchange_name=EXCHANGE)


async def test_deleting_the_quarantined_file_releases_the_pair() -> None:
    write_doc(state_file("signal", SYMBOL), saved_row(price_open=-1.0))
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    await refused_run(out)
    [moved] = quarantined(f"signal/{SYMBOL}_{STRATEGY}")
    moved.unlink()  # the sidecar may stay: it holds nothing
    restart()
    again = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    await run_live(again, until=3)
    assert [r.action for r in again.yielded] == ["opened"]


async def test_a_document_fixed_and_moved_back_is_restored() -> None:
    path = state_file("signal", SYMBOL)
    write_doc(path, saved_row(price_take_profit=41500.0))
    out = register(lambda k: F(42000))
    await refused_run(out)
    [moved] = quarantined(f"signal/{SYMBOL}_{STRATEGY}")
    fixed = json.loads(moved.read_text()) | {"price_take_profit": 43000.0}
    moved.unlink()
    write_doc(path, fixed)
    restart()
    again = register(lambda k: F(42000))
    await run_live(again, until=1)
    assert [r.id for r in again.restored] == ["saved-1"] and again.errors == []


async def test_a_valid_saved_position_restores_as_before() -> None:
    write_doc(state_file("signal", SYMBOL), saved_row(pending_at=None))  # SPEC 5.2 4a: may lack pending_at
    write_doc(state_file("partial", "levels"), {"saved-1": {"profitLevels": [10, 20], "lossLevels": []}})
    out = register(lambda k: F(42000))
    await run_live(out, until=2)
    assert [r.id for r in out.restored] == ["saved-1"] and out.errors == []
    assert not QUARANTINE.exists()


async def test_a_custom_store_keeps_its_document_and_a_copy_goes_to_quarantine() -> None:
    from tests.crash.sqlite_store import use_sqlite_store

    use_sqlite_store()
    bad = saved_row(price_take_profit=41500.0)
    store = await e.PersistSignalAdapter.store(f"{SYMBOL}_{STRATEGY}")
    await store.write_value(SYMBOL, bad)
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    exc = await refused_run(out)
    [copy] = quarantined(f"signal/{SYMBOL}_{STRATEGY}")
    assert json.loads(copy.read_text()) == bad and exc.documents == [copy]
    assert await store.read_value(SYMBOL) == bad  # the store has no delete: left as it was, not overwritten
    assert out.ticks == [] and out.calls == []
