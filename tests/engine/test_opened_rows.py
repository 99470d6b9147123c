"""``Bus.opened_rows`` (engine/events.py): every open a backtest makes, heard as its row, in the
place its ``opened`` result is published, whether or not anybody listens for the result; none for a
limit that activates later (SPEC 6.4, it publishes no result either). The result rebuilt from the
row (``engine.opened_result``) is the one the run publishes. The console's worker hears a run's
opens this way instead of having a result built and published per trade."""

from __future__ import annotations

import asyncio

import pytest
from test_quiet_trades import SYMBOL, _register

import engine as e
from engine.testing import reset_engine


def _run(seed: int, *, reports: bool, listen: bool) -> dict:
    """A run of the quiet-trades strategy (market and limit entries, failures, suspending calls)
    with ``opened_rows`` set; ``listen``: a listener of opened and closed results too."""
    _register(seed, [], "1m", "1m")
    heard: list = []
    e.active_engine().bus.opened_rows = lambda row: heard.append(("row", row))
    if listen:
        e.listen_signal(lambda r: heard.append((r.action, r)), actions=("opened", "closed"))

    async def main() -> list:
        handle = e.Backtest.run(SYMBOL, strategy_name="s", exchange_name="synthetic", frame_name="f", reports=reports)
        return [r async for r in handle]

    results = asyncio.run(main())
    reset_engine()
    return {"heard": heard, "results": results}


@pytest.mark.parametrize("seed", range(2))
def test_each_open_is_heard_as_its_row_where_its_result_is_published(seed: int) -> None:
    run = _run(seed, reports=True, listen=True)
    heard = run["heard"]
    rows = [row for kind, row in heard if kind == "row"]
    opened = [r for kind, r in heard if kind == "opened"]
    assert len(rows) == len(opened) > 50
    for i, (kind, value) in enumerate(heard):
        if kind == "row":  # its opened result comes right after it
            assert heard[i + 1] == ("opened", e.opened_result(value, True))
            assert heard[i + 1][1].signal is value
    closed = [r for kind, r in heard if kind == "closed"]
    activated = [c for c in closed if c.signal.scheduled_at != c.signal.pending_at]
    assert activated and not {c.signal.id for c in activated} & {row.id for row in rows}  # SPEC 6.4: no open


@pytest.mark.parametrize("seed", range(2))
def test_rows_are_heard_when_nobody_listens_for_results_and_no_report_is_kept(seed: int) -> None:
    """The run that keeps no report and has no listener settles its trades inside one stretch
    (``quiet_trades``), which opens without the frame loop: with ``opened_rows`` set it takes the
    frame loop, and hears the same opens, with the same results, as a run that listens."""
    quiet = _run(seed, reports=False, listen=False)
    loud = _run(seed, reports=True, listen=True)
    assert quiet["heard"] == [(k, v) for k, v in loud["heard"] if k == "row"]
    assert quiet["results"] == loud["results"]


def test_a_disposed_bus_forgets_its_opened_rows() -> None:
    bus = e.Engine().bus
    bus.opened_rows = print
    bus.dispose()
    assert bus.opened_rows is None
