"""Errors name where in the user's code they came from: type, file, line and function."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine as e
from engine.errors import origin


async def test_an_error_in_a_strategy_names_its_type_file_and_line(tmp_path: Path, monkeypatch) -> None:
    strategy = tmp_path / "mystrat.py"
    strategy.write_text(
        "import engine\n\n"
        "async def sig(symbol, when, price):\n"
        "    if when.minute == 30:\n"
        "        raise ValueError('bad half hour')\n"
        "    return None\n\n"
        "engine.add_strategy('s', '15m', sig)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("mystrat")
    e.add_synthetic_exchange("x")
    e.add_frame("f", "1m", "2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z")
    errors: list = []
    e.listen_error(errors.append)
    async for _ in e.Backtest.run("BTCUSDT", strategy_name="s", exchange_name="x", frame_name="f"):
        pass
    assert len(errors) == 2  # 00:30 and 01:30
    frame = origin(errors[0])
    assert frame is not None and Path(frame.filename) == strategy and frame.lineno == 5 and frame.name == "sig"
    assert e.describe_error(errors[0]).startswith("ValueError: bad half hour (")
    assert e.describe_error(errors[0]).endswith("mystrat.py:5 in sig)")


def test_an_engine_error_stays_its_own_message() -> None:
    with pytest.raises(Exception) as info:
        e.add_frame("f", "7m", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    assert origin(info.value).name == "test_an_engine_error_stays_its_own_message"  # the call site
    assert e.describe_error(info.value) == str(info.value).splitlines()[0]  # the engine's words, as written
