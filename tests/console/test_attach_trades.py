"""Issue 17 "every key works the same": in an attached console the trade inspector (``i``) and the
Equity pane's candle view (``v``) show the daemon's runs, read through its control API
(``GET /v1/runs/{id}/trades``, ``GET /v1/candles``; console/trade_reader.py). A real daemon
subprocess (tests/console/daemon_child.py) runs the demo project's ``demo-trend`` backtest; the
trades it booked are compared with the engine statistics the daemon sends for the run."""

from __future__ import annotations

import json
from urllib.parse import quote

import aiohttp
import pytest
from conftest import wait_until
from daemons import SAFETY, TOKEN, _until
from rich.text import Text
from screen_text import screen_text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from console.attach import AttachedApp, fetch
from console.client import DaemonClient, DaemonError, Endpoint
from console.screens.trades import TradesScreen
from console.trade_reader import RemoteTrades
from console.widgets.base import price
from console.widgets.charts import CandleChart, EquityChart, render_candles
from console.widgets.panes import EquityPane, SignalsPane

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]
RID = "backtest:BTCUSDT:demo-trend"


async def _backtest(c: DaemonClient) -> dict:
    """The demo-trend backtest run by the daemon to its end; its statistics (the engine's own)."""
    await c.start(mode="backtest", symbol="BTCUSDT", strategy="demo-trend")
    await _until(c, lambda st: any(r["id"] == RID and r["status"] == "done" for r in st["runs"]))
    return (await c.get(f"/v1/runs/{quote(RID, safe='')}/statistics"))["statistics"]


def _booked(stats: dict) -> dict[str, dict]:
    """The closed signals of the engine's statistics, by signal id."""
    return {row["signal"]["id"]: row for row in stats["signal_list"]}


async def test_the_trades_and_candles_endpoints_answer_what_the_engine_booked_and_need_the_token(place) -> None:
    d = place("--tcp", "0", "--live", "churn", env={"BTK_DAEMON_TOKEN": TOKEN})
    d.wait_ready()
    port = json.loads((d.dump / "daemon.json").read_text())["tcp_port"]
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:  # authenticated like every other endpoint
        for path in (f"/v1/runs/{quote(RID, safe='')}/trades", "/v1/candles?exchange=x&symbol=y&start=0&end=1"):
            async with s.get(base + path) as r:
                assert r.status == 401 and "missing bearer token" in await r.text()
            async with s.get(base + path, headers={"Authorization": "Bearer nope"}) as r:
                assert r.status == 401 and "wrong bearer token" in await r.text()

    async with DaemonClient(Endpoint(port=port, token=TOKEN)) as c:
        stats = await _backtest(c)
        booked = _booked(stats)
        project = await c.get("/v1/project")
        got = await c.trades(RID)
        assert len(got["trades"]) == stats["total_signals"] == len(booked) > 0
        assert [t["number"] for t in got["trades"]] == list(range(1, len(booked) + 1))
        for t in got["trades"]:
            row = booked[t["signal_id"]]
            assert (t["entry"], t["exit"], t["pnl"], t["reason"]) == (
                row["pnl"]["price_open"],
                row["pnl"]["price_close"],
                row["pnl"]["pnl_percentage"],
                row["close_reason"],
            )
        assert any(t["milestones"] for t in got["trades"])  # the partial levels the engine recorded
        frame = project["frame_details"][project["default_frame"]]
        assert got["window"][0] == frame["start_ms"] and got["window"][1] > got["window"][0]
        assert (got["fee"], got["slippage"]) == (0.1, 0.1)  # the daemon's engine config

        first = got["trades"][0]
        exchange = (await c.status())["runs"][-1]["exchange"]
        candles = await c.candles(exchange, "BTCUSDT", first["opened_at"] - 3_600_000, first["closed_at"], 50)
        assert 0 < len(candles["time"]) <= 50 and candles["time"] == sorted(candles["time"])
        assert candles["time"][0] <= first["opened_at"] <= candles["time"][-1] + 30 * 60_000
        assert all(lo <= hi for lo, hi in zip(candles["low"], candles["high"]))

        # a live run's trades come from the live store (closed events), the same shape
        live = await c.trades("live:BTCUSDT:churn")
        while len(live["trades"]) < 2:  # churn closes a trade every few simulated minutes: wait on events
            seq = (await c.status())["seq"]
            await _until(c, lambda st, seq=seq: st["seq"] > seq)
            live = await c.trades("live:BTCUSDT:churn")
        assert live["trades"] and {t["reason"] for t in live["trades"]} <= {"take_profit", "stop_loss", "time_expired"}
        assert all(t["closed_at"] > t["opened_at"] for t in live["trades"])

        # bad requests say what and where; nothing else happens
        for call, status, words in (
            (c.trades("backtest:BTCUSDT:nope"), 404, "no run 'backtest:BTCUSDT:nope'"),
            (c.trades(RID, "demo-meanrev"), 400, "runs strategy demo-trend, not 'demo-meanrev'"),
            (c.get("/v1/candles?exchange=x&symbol=BTCUSDT&end=1"), 400, "start missing"),
            (c.get(f"/v1/candles?exchange={exchange}&symbol=BTCUSDT&start=a&end=1"), 400, "start must be a whole"),
            (c.candles(exchange, "BTCUSDT", 0, 1, 5000), 400, "limit must be 1 to 2000"),
            (c.candles(exchange, "BTCUSDT", 10, 1, 5), 400, "is before start"),
            (c.candles("no-such-exchange", "BTCUSDT", 0, 1, 5), 404, "no-such-exchange"),
        ):
            with pytest.raises(DaemonError, match=words) as refused:
                await call
            assert refused.value.status == status
    # a viewer reads them too: reading changes nothing
    async with DaemonClient(Endpoint(port=port, token=TOKEN), read_only=True) as viewer:
        assert len((await viewer.trades(RID))["trades"]) == len(booked)


def _column(table: DataTable, key: str) -> list[str]:
    col = table.get_column_index(key)
    return [str(table.get_cell_at(Coordinate(row, col))) for row in range(table.row_count)]


@pytest.mark.parametrize("size", SIZES)
async def test_attached_i_lists_the_daemons_trades_and_v_draws_its_candles_with_the_trade_marked(place, size) -> None:
    d = place()
    d.wait_ready()
    endpoint = Endpoint.for_dump(d.dump)
    async with DaemonClient(endpoint) as c:
        stats = await _backtest(c)
    booked = _booked(stats)
    info, daemon = await fetch(endpoint)
    app = AttachedApp(endpoint, info, daemon)
    assert isinstance(app.trade_reader, RemoteTrades)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: RID in app.state.runs and app.state.runs[RID].status == "done", SAFETY)
        await wait_until(pilot, lambda: app.session.selected == RID, SAFETY)

        # i: every trade the daemon's engine booked (this process's engine ran nothing)
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, TradesScreen)
        await wait_until(pilot, lambda: screen.charted is not None and screen.charted == screen.window, SAFETY)
        table = screen.query_one("#trades-table", DataTable)
        assert {str(k.value) for k in table.rows} == set(booked) and table.row_count == len(booked)
        assert _column(table, "number")[:2] == ["1", "2"]
        assert screen.window[0] == info["frame_details"][info["default_frame"]]["start_ms"]
        chart = screen.query_one(CandleChart)
        assert chart.candles is not None and int(chart.candles.time[0]) == screen.window[0]  # the whole run
        assert f"{len(booked)} trades" in str(screen.query_one("#trades-title").render())

        # Enter shows one: its numbers, the daemon's fee, the chart moved to its life
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: screen.selected is not None and screen.charted == screen.window, SAFETY)
        t = screen.selected
        row = booked[t.signal_id]
        assert t.number == 2
        detail = str(screen.query_one("#trade-detail").render())
        for wanted in (
            price(row["pnl"]["price_open"]),
            price(row["pnl"]["price_close"]),
            price(row["signal"]["price_take_profit"]),
            row["close_reason"],
            f"{row['pnl']['pnl_percentage']:+.2f}%",
            "fees 0.20%",
        ):
            assert wanted in detail, (wanted, detail)
        assert chart.selected == t and chart.candles is not None
        assert int(chart.candles.time[0]) <= t.opened_at <= int(chart.candles.time[-1])
        assert int(chart.candles.time[-1]) - int(chart.candles.time[0]) < 2 * 86_400_000  # the trade, not the run
        assert f"trade #{t.number}" in screen.query_one("#candles-pane").border_title
        assert screen.query_one(EquityChart).marker == t.number
        drawn = "\n".join(line.plain for line in render_candles(chart.candles, 60, 12, chart.trades, t))
        assert ("▲" in drawn or "▼" in drawn) and "✕" in drawn and "T" in drawn and "S" in drawn
        await pilot.press("escape")
        assert app.screen is app.dashboard

        # v: the Equity pane charts the daemon's candles with every trade marked, then a picked one
        pane = app.dashboard.query_one(EquityPane)
        reads = pane.reads
        await pilot.press("v")
        candles = pane.query_one(CandleChart)
        await wait_until(pilot, lambda: pane.reads > reads and candles.candles is not None, SAFETY)
        assert pane.view == "candles" and candles.display
        assert {x.signal_id for x in candles.trades} == set(booked) and candles.selected is None
        assert "whole run" in pane.border_title
        text = screen_text(app)
        assert "▲" in text or "▼" in text

        signals = app.dashboard.query_one(SignalsPane)
        while not signals.table.has_focus:
            await pilot.press("tab")
        await pilot.press("up")
        line = signals._lines[signals.table.cursor_row]
        assert line.signal_id in booked
        await wait_until(
            pilot, lambda: candles.selected is not None and candles.selected.signal_id == line.signal_id, SAFETY
        )
        picked = candles.selected
        assert int(candles.candles.time[0]) <= picked.opened_at <= int(candles.candles.time[-1])
        assert f"trade #{picked.number}" in pane.border_title
        marks = Text("\n").join(render_candles(candles.candles, 60, 12, candles.trades, picked)).plain
        assert "E" in marks and "✕" in marks
        await pilot.press("x")


async def test_attached_i_on_a_daemon_walker_lists_the_trades_of_the_strategy_its_equity_shows(place) -> None:
    d = place()
    d.wait_ready()
    endpoint = Endpoint.for_dump(d.dump)
    rid = "walker:BTCUSDT:demo-walker"
    async with DaemonClient(endpoint) as c:
        record = await c.start(mode="walker", symbol="BTCUSDT", walker="demo-walker")
        assert (record["exchange"], record["frame"]) == ("demo-synthetic", "demo-30d")  # the walker's own
        await _until(c, lambda st: st["runs"][0]["status"] == "done")
        with pytest.raises(DaemonError, match="'demo-nope' is not a strategy of walker demo-walker") as refused:
            await c.trades(rid, "demo-nope")
        assert refused.value.status == 400
    app = AttachedApp(endpoint, *(await fetch(endpoint)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: rid in app.state.runs and app.state.runs[rid].status == "done", SAFETY)
        await wait_until(pilot, lambda: app.session.selected == rid and app.state.equity_of(rid) is not None, SAFETY)
        shown = app.state.equity_of(rid)[0]  # the strategy the Equity pane charts
        async with DaemonClient(endpoint) as c:
            theirs = {t["signal_id"] for t in (await c.trades(rid, shown))["trades"]}
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, TradesScreen) and screen.source.strategy == shown
        await wait_until(pilot, lambda: screen.charted is not None and screen.charted == screen.window, SAFETY)
        table = screen.query_one("#trades-table", DataTable)
        assert theirs and {str(k.value) for k in table.rows} == theirs
        assert screen.query_one(CandleChart).candles is not None
        await pilot.press("escape", "x")
