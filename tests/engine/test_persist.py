"""SPEC 14: the atomic JSON store, its self-healing init, the domain adapters, custom adapters,
and the live state they keep (risk positions, partial levels) across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from live_helpers import register, run_live, state_file
from spec_helpers import STRATEGY, SYMBOL, F, restart, sig

import engine as e
from engine.persist.base import TEMP_PREFIX
from tests.crash.sqlite_store import SqliteStore, use_sqlite_store


async def test_write_read_round_trip_leaves_no_temp_file_and_lists_ids_in_natural_order(tmp_path: Path) -> None:
    store = e.PersistBase("things", tmp_path)
    await store.wait_for_init(True)
    for entity_id in ("a10", "a2", "B1"):
        await store.write_value(entity_id, {"id": entity_id, "n": [1, 2.5, None]})
    assert await store.keys() == ["a2", "a10", "B1"]
    assert await store.read_value("a2") == {"id": "a2", "n": [1, 2.5, None]}
    assert await store.has_value("a10") and not await store.has_value("nope")
    assert not [p for p in (tmp_path / "things").iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert await store.take(2) == [{"id": "a2", "n": [1, 2.5, None]}, {"id": "a10", "n": [1, 2.5, None]}]
    with pytest.raises(e.PersistError, match="Entity things:nope not found"):
        await store.read_value("nope")
    await store.write_value("a2", None)  # null is a value too
    assert await store.read_value("a2") is None


async def test_a_value_that_is_not_json_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = e.PersistBase("things", tmp_path)
    await store.wait_for_init(True)
    await store.write_value("x", {"ok": 1})
    with pytest.raises(e.PersistError, match="Failed to serialise entity things:x"):
        await store.write_value("x", {"bad": float("nan")})
    assert await store.read_value("x") == {"ok": 1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"id": "1", "position": "long", "price_op', "not valid JSON"),  # truncated by a crash
        ("", "the file is empty"),
        ("[1, 2, 3]", "expected a signal object or null"),
        (
            '{"id": "1", "position": "sideways", "price_open": 1, "price_take_profit": 2, "price_stop_loss": 0}',
            "position",
        ),
        ('{"id": "1", "position": "long"}', "signal without price_open"),
    ],
)
async def test_a_damaged_state_file_is_quarantined_at_start_with_its_reason_and_other_pairs_trade(
    content, reason
) -> None:
    path = state_file("signal", SYMBOL)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    leftover = path.parent / f"{TEMP_PREFIX}0123456789ab-{SYMBOL}.json"
    leftover.write_text('{"half": ')  # a write killed before its rename
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=60)])
    with pytest.raises(e.PairQuarantinedError):
        await run_live(out, until=3)
    messages = [str(x) for x in out.errors]
    assert any("quarantined" in msg and reason in msg and SYMBOL in msg for msg in messages), messages
    assert any("unfinished write" in msg for msg in messages)
    assert not leftover.exists()  # a temp file is never the live document: deleted
    assert not path.exists() and out.ticks == []  # moved aside, the pair held
    [moved] = (Path("dump") / "data" / "quarantine" / "signal" / f"{SYMBOL}_{STRATEGY}").glob(f"*-{SYMBOL}.json")
    assert moved.read_text() == content
    other = await run_live(out, symbol="ETHUSDT", until=3)  # the run goes on for other pairs
    assert [r.action for r in other.yielded] == ["opened"]


async def test_risk_positions_are_saved_and_count_after_a_restart() -> None:
    e.add_risk("desk", max_concurrent_positions=1)
    out = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)], risk_name="desk")
    await run_live(out, until=2)
    positions = json.loads((Path("dump") / "data" / "risk" / "desk" / "positions.json").read_text())
    assert [key for key, _ in positions] == [f"{STRATEGY}:{SYMBOL}"]
    assert positions[0][1]["strategyName"] == STRATEGY and positions[0][1]["signal"] is None

    # another strategy sharing the profile, started in a new process, sees the saved position
    restart()
    e.add_risk("desk", max_concurrent_positions=1)
    rejected = []
    e.listen_risk(rejected.append)
    other = register(lambda k: F(42000), [sig("long", tp=43000, sl=41000, met=600)], risk_name="desk")
    await run_live(other, symbol="ETHUSDT", until=1)
    assert rejected and rejected[0].active_position_count == 1 and rejected[0].symbol == "ETHUSDT"


async def test_partial_levels_are_saved_as_they_are_reached_and_cleared_with_the_signal() -> None:
    prices = lambda k: F(42000 + min(max(k, 0), 40) * 25)  # climbs to the TP (43000) at m40  # noqa: E731
    out = register(prices, [sig("long", tp=43000, sl=41000, met=600)])
    await run_live(out, until=12)
    [opened] = out.yielded
    levels = json.loads(state_file("partial", "levels").read_text())
    assert levels[opened.signal.id]["lossLevels"] == [] and levels[opened.signal.id]["profitLevels"][:2] == [10, 20]

    restart()
    again = register(prices, [])
    reached = []
    e.listen_partial_profit(lambda ev: reached.append(ev.level))
    await run_live(again, start=13, until=60)
    assert not set(reached) & set(levels[opened.signal.id]["profitLevels"])  # not announced twice
    assert [r.action for r in again.yielded][-1:] == ["closed"]
    assert json.loads(state_file("partial", "levels").read_text()) == {}


async def test_a_custom_adapter_keeps_a_position_across_a_restart() -> None:
    use_sqlite_store()
    candles = lambda k: F(42000 if k < 30 else 43000)  # noqa: E731
    out = register(candles, [sig("long", tp=42500, sl=41000, met=600)])
    await run_live(out, until=5)
    assert [r.action for r in out.yielded] == ["opened"]
    assert not state_file("signal", SYMBOL).exists()  # nothing went to the file store

    restart()  # the adapters go back to files: install the custom one again, as a new process would
    use_sqlite_store()
    again = register(candles, [])
    await run_live(again, start=10, until=60)
    assert [r.id for r in again.restored] == [out.yielded[0].signal.id]
    assert [(r.action, r.close_reason) for r in again.yielded] == [("closed", "take_profit")]


def test_use_adapter_refuses_a_class_without_the_four_methods() -> None:
    class Half:
        async def read_value(self, entity_id): ...

    with pytest.raises(TypeError, match="has no wait_for_init"):
        e.PersistSignalAdapter.use_adapter(Half)


async def test_case_54_risk_adapter_round_trip_isolation_and_custom_class() -> None:
    assert await e.PersistRiskAdapter.read_position_data("unknown") == []
    first = [["s1:BTCUSDT", {"signal": None, "strategyName": "s1", "exchangeName": "", "openTimestamp": 1}]]
    second = [*first, ["s2:ETHUSDT", {"signal": None, "strategyName": "s2", "exchangeName": "", "openTimestamp": 2}]]
    await e.PersistRiskAdapter.write_position_data(first, "a")
    assert await e.PersistRiskAdapter.read_position_data("a") == first
    await e.PersistRiskAdapter.write_position_data(second, "a")  # the last write wins
    assert await e.PersistRiskAdapter.read_position_data("a") == second
    assert await e.PersistRiskAdapter.read_position_data("b") == []  # isolated per risk name
    e.PersistRiskAdapter.use_adapter(SqliteStore)
    await e.PersistRiskAdapter.write_position_data(first, "c")
    assert await e.PersistRiskAdapter.read_position_data("c") == first
    assert not (Path("dump") / "data" / "risk" / "c").exists()  # written by the custom class
