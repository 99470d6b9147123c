"""Parameterised strategies: declaration, checking, and get_signal receiving the values."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from strategies import START, setup

import engine as e


def _run(name: str = "tpsl") -> e.BacktestStatistics:
    async def go() -> None:
        async for _ in e.Backtest.run("BTCUSDT", strategy_name=name, exchange_name="synthetic", frame_name="f"):
            pass

    asyncio.run(go())
    return e.Backtest.get_data("BTCUSDT", name)


@pytest.fixture
def registered():
    setup()
    e.add_frame("f", "1m", START, START + timedelta(days=3))


def test_defaults_are_bound_and_a_plain_strategy_is_unchanged(registered):
    schema = e.list_strategies()[0]
    assert dict(schema.param_values) == {"tp": 1.1, "sl": 0.6, "minutes": 60, "side": "long"}
    assert schema.passes_price

    async def plain(symbol, when, price):
        return None

    plain_schema = e.add_strategy("plain", "15m", plain)
    assert plain_schema.get_signal is plain and not plain_schema.params


def test_get_signal_receives_the_bound_set(registered):
    seen = []

    async def spy(symbol, when, params):
        seen.append(dict(params))

    e.add_strategy("spy", "1h", spy, params={"k": e.IntParam(1, 3)})
    e.use_params("spy", {"k": 3})
    _run("spy")
    assert seen and all(p == {"k": 3} for p in seen)


def test_parameters_change_the_result_and_defaults_match_an_explicit_default_set(registered):
    default_run = _run().total_pnl
    e.use_params("tpsl", {"tp": 1.1})  # the default, given explicitly
    assert _run().total_pnl == default_run
    e.use_params("tpsl", {"tp": 1.6, "sl": 1.2, "side": "short"})
    other = _run()
    assert other.total_pnl != default_run
    e.use_params("tpsl", {})
    assert _run().total_pnl == default_run


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tp": 0.7}, "parameter tp: 0.7 is not on the grid 0.6 + k*0.5"),
        ({"tp": 5.0}, "parameter tp: 5.0 is outside [0.6, 1.6]"),
        ({"minutes": 90}, "parameter minutes: 90 is not on the grid 60 + k*1380"),
        ({"minutes": 60.0}, "parameter minutes: expected an integer, got 60.0"),
        ({"side": "flat"}, "parameter side: 'flat' is not one of ['long', 'short']"),
        ({"tpp": 1.0}, "unknown parameter(s) tpp (declared: tp, sl, minutes, side)"),
        ([1, 2], "a parameter set must be a dict"),
    ],
)
def test_a_bad_parameter_set_names_strategy_and_key(registered, values, message):
    with pytest.raises(e.SchemaError, match="strategy tpsl: ") as info:
        e.bind_params("tpsl", values)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": e.IntParam(5, 1)}, "parameter a: IntParam high 1 is below low 5"),
        ({"a": e.IntParam(1, 5, step=0)}, "IntParam step must be > 0"),
        ({"a": e.FloatParam(0, 1, step=-1)}, "FloatParam step must be a number > 0"),
        ({"a": e.FloatParam(0, 1, default=2.0)}, "FloatParam default 2.0: 2.0 is outside [0, 1]"),
        ({"a": e.Choice()}, "Choice needs at least one option"),
        ({"a": (1, 2)}, "parameter a must be IntParam, FloatParam or Choice"),
        ({"1a": e.IntParam(1, 2)}, "parameter name '1a' must be an identifier"),
    ],
)
def test_a_bad_declaration_is_refused_at_registration(params, message):
    async def gs(symbol, when, price, params):
        return None

    with pytest.raises(e.SchemaError, match="strategy s: ") as info:
        e.add_strategy("s", "15m", gs, params=params)
    assert message in str(info.value)


def test_get_signal_without_a_params_argument_is_refused():
    async def gs(symbol, when, price):
        return None

    with pytest.raises(e.SchemaError, match="get_signal must take a `params` argument"):
        e.add_strategy("s", "15m", gs, params={"a": e.IntParam(1, 2)})


def test_a_plain_strategy_refuses_a_parameter_set():
    async def gs(symbol, when, price):
        return None

    e.add_strategy("s", "15m", gs)
    assert e.bind_params("s", {}).get_signal is gs
    with pytest.raises(e.SchemaError, match="declares no params"):
        e.bind_params("s", {"a": 1})


def test_grid_points_are_exact_decimals():
    from engine.research.params import grid, grid_size

    assert e.FloatParam(0.1, 0.3, step=0.1).values() == (0.1, 0.2, 0.3)
    space = {"a": e.IntParam(1, 2), "b": e.Choice("x", "y")}
    assert list(grid(space)) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert grid_size(space) == 4
