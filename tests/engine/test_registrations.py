"""``registrations`` / ``restore_registrations``: a console reloading an edited project puts the
registries back exactly when the edit is broken, and keeps what a running run still uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import engine


async def quiet(symbol, when):
    return None


def _names() -> dict[str, list[str]]:
    return {
        "strategy": [s.strategy_name for s in engine.list_strategies()],
        "exchange": [x.exchange_name for x in engine.list_exchanges()],
        "frame": [f.frame_name for f in engine.list_frames()],
    }


def test_restore_puts_back_exactly_what_was_registered() -> None:
    engine.add_synthetic_exchange("sim", seed=1)
    engine.add_frame("jan", "1m", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    engine.add_strategy("a", "1m", quiet)
    engine.add_strategy("b", "1m", quiet)
    saved = engine.registrations()
    schema_a = engine.list_strategies()[0]

    # a half-done load: one strategy gone, a new one in, then it fails
    engine.restore_registrations(engine.Registrations(()))  # forget everything
    engine.add_strategy("c", "1m", quiet)
    engine.restore_registrations(saved)

    assert _names() == {"strategy": ["a", "b"], "exchange": ["sim"], "frame": ["jan"]}
    assert engine.list_strategies()[0] is schema_a  # the same schema object, not a copy
    assert saved.names("strategy") == ["a", "b"]


def test_only_adds_the_named_schemas_that_are_missing() -> None:
    engine.add_synthetic_exchange("sim", seed=1)
    engine.add_strategy("a", "1m", quiet)
    engine.add_strategy("b", "1m", quiet)
    saved = engine.registrations()
    engine.restore_registrations(engine.Registrations(()))
    engine.add_strategy("b", "5m", quiet)  # the reloaded project's own b stays

    engine.restore_registrations(saved, only={"strategy": ["a", "b"], "exchange": ["sim"]})

    assert _names()["strategy"] == ["b", "a"]
    assert next(s for s in engine.list_strategies() if s.strategy_name == "b").interval == "5m"
    assert _names()["exchange"] == ["sim"]
    with pytest.raises(engine.DuplicateError):
        engine.add_strategy("a", "1m", quiet)
