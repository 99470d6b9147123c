"""The daemon (issue 17): a real ``btk-console daemon`` process (tests/console/daemon_child.py: the demo
project plus a strategy that trades every few minutes, on a 600x simulated clock), reached through
its real Unix socket or TCP port with the real aiohttp client and console/client.py.

Tests wait for what the daemon says (its first stdout line, stream events, status), never for a
fixed time; every daemon a test starts is stopped in a ``finally`` (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import time
from dataclasses import astuple

import aiohttp
import pytest
from daemons import SAFETY, TOKEN, _run_cli, _until

from console.client import DaemonClient, DaemonError, Endpoint, Event, Feed, Snapshot, to_bridge
from console.state import DashboardState


async def _collect(feed_iter, until, items: list) -> None:
    async for item in feed_iter:
        items.append(item)
        if until(items):
            return


def _events(items: list) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


def _closed(items: list) -> int:
    return sum(1 for e in _events(items) if e.stream == "signal" and e.event.action == "closed")


def _fold(events: list[Event]) -> DashboardState:
    state = DashboardState()
    state.apply([b for b in (to_bridge(e) for e in events) if b is not None])
    return state


def _log(state: DashboardState) -> list[tuple]:
    return [astuple(line)[1:] for line in state.log]  # without the local key


# ------------------------------------------------------------------------------------- lifecycle


def test_socket_is_0600_a_second_daemon_is_refused_and_a_stale_pid_file_does_not_block(place) -> None:
    first = place()
    first.wait_ready()
    sock = first.dump / "daemon.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and stat.S_ISSOCK(sock.stat().st_mode)
    pid = int((first.dump / "daemon.pid").read_text())
    assert pid == first.proc.pid

    second = place()
    assert second.proc.wait(SAFETY) == 1
    assert "another daemon or live process owns" in second.err() and f"pid {pid}" in second.err()
    assert sock.exists()  # the refused daemon did not touch the first one's socket

    first.stop(signal.SIGKILL)  # leaves its pid file and socket behind
    assert (first.dump / "daemon.pid").exists() and sock.exists()
    third = place()
    third.wait_ready()
    assert int((first.dump / "daemon.pid").read_text()) == third.proc.pid
    out = _run_cli(["status", "--dump-dir", str(first.dump)])
    assert out[0] == 0 and f"daemon pid {third.proc.pid} for demo" in out[1]


def test_sighup_is_ignored_and_sigterm_stops_like_live_with_the_position_saved(place) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    assert d.wait_line(lambda line: " OPENED " in line) is not None  # it trades
    d.proc.send_signal(signal.SIGHUP)
    code, out, _ = _run_cli(["status", "--dump-dir", str(d.dump)])
    assert code == 0 and "live:BTCUSDT:churn  running" in out  # still trading after the hangup
    assert d.stop(signal.SIGTERM) == 0, d.err()
    lines = d.out().splitlines()
    assert lines[-2].startswith("SIGTERM: stopping; open positions stay saved under")
    assert lines[-1].startswith("stopped; reports under")
    assert not (d.dump / "daemon.sock").exists() and not (d.dump / "daemon.pid").exists()
    assert (d.dump / "live" / "churn.md").exists()
    assert (d.dump / "data" / "signal" / "BTCUSDT_churn").is_dir()
    code, _, err = _run_cli(["status", "--dump-dir", str(d.dump)])
    assert code == 1 and "no daemon runs for" in err


# ------------------------------------------------------------------------------------- API


async def test_runs_start_stop_statistics_report_and_clear_refusals(place) -> None:
    d = place()
    d.wait_ready()
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        with pytest.raises(DaemonError, match=r"unknown strategy 'nope' \(available: demo-breakout") as bad:
            await c.start(mode="live", strategy="nope")
        assert bad.value.status == 400
        with pytest.raises(DaemonError, match="mode must be one of live, backtest, walker"):
            await c.start(mode="paper", strategy="churn")
        with pytest.raises(DaemonError, match="no run 'live:BTCUSDT:x'") as missing:
            await c.stop("live:BTCUSDT:x")
        assert missing.value.status == 404

        record = await c.start(mode="live", strategy="churn")
        assert record["id"] == "live:BTCUSDT:churn" and record["status"] == "running"
        with pytest.raises(DaemonError, match="live:BTCUSDT:churn is already running") as twice:
            await c.start(mode="live", strategy="churn")
        assert twice.value.status == 409

        bt = await c.start(mode="backtest", strategy="demo-trend")
        assert bt["frame"] and bt["status"] == "running"
        st = await _until(c, lambda st: next(r for r in st["runs"] if r["id"] == bt["id"])["status"] != "running")
        done = next(r for r in st["runs"] if r["id"] == bt["id"])
        assert done["status"] == "done" and done["progress"] == 1.0
        stats = await c.get(f"/v1/runs/{bt['id']}/statistics")
        assert stats["statistics"]["$type"] == "BacktestStatistics" and stats["statistics"]["total_signals"] > 0
        report = await c.get(f"/v1/runs/{bt['id']}/report")
        assert "demo-trend" in report

        stopped = await c.stop("live:BTCUSDT:churn")
        assert stopped["status"] == "stopping"
    code, out, _ = await asyncio.to_thread(_run_cli, ["stop", "live:BTCUSDT:churn", "--dump-dir", str(d.dump)])
    assert code == 1 or out.strip().endswith(": stopping")  # stopped already, or just stopping


# ------------------------------------------------------------------------------------- stream


async def test_stream_numbers_every_event_resumes_without_gaps_and_a_late_client_sees_the_same_state(
    place,
) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        # an early client, there from (nearly) the start
        early_items: list = []
        early = Feed(c)
        it = early.__aiter__()
        await asyncio.wait_for(_collect(it, lambda xs: _closed(xs) >= 2, early_items), SAFETY)
        await it.aclose()  # dropped, as a killed console would be
        assert isinstance(early_items[0], Snapshot) or early_items[0].up
        dropped_at = early.last

        # the daemon trades on while nobody listens
        await _until(c, lambda st: st["seq"] >= dropped_at + 30)

        # resume: exactly the events after the drop, numbered one by one, no snapshot
        resumed_items: list = []
        resumed = Feed(c)
        resumed.last = dropped_at
        it = resumed.__aiter__()
        await asyncio.wait_for(_collect(it, lambda xs: len(_events(xs)) >= 30, resumed_items), SAFETY)
        await it.aclose()
        assert not any(isinstance(i, Snapshot) for i in resumed_items)
        seqs = [e.seq for e in _events(resumed_items)]
        assert seqs == list(range(dropped_at + 1, dropped_at + 1 + len(seqs)))

        # a late client: a snapshot whose history folds to what the early one saw (early + resumed)
        late_items: list = []
        late = Feed(c)
        it = late.__aiter__()
        await asyncio.wait_for(_collect(it, lambda xs: any(isinstance(x, Snapshot) for x in xs), late_items), SAFETY)
        snap = next(x for x in late_items if isinstance(x, Snapshot))
        await asyncio.wait_for(_collect(it, lambda xs: late.last > snap.seq, late_items), SAFETY)
        await it.aclose()
        assert any(r["id"] == "live:BTCUSDT:churn" for r in snap.runs)
        history = [e for e in _events(late_items) if e.seq <= snap.seq]

        # the early side's view at the snapshot's number: early + resumed, and the rest from replay
        seen = {e.seq: e for e in _events(early_items) + _events(resumed_items)}
        rest: list = []
        tail = Feed(c)
        tail.last = max(seen)
        if tail.last < snap.seq:
            it = tail.__aiter__()
            await asyncio.wait_for(_collect(it, lambda xs: tail.last >= snap.seq, rest), SAFETY)
            await it.aclose()
        for e in _events(rest):
            seen.setdefault(e.seq, e)
        full = [seen[s] for s in sorted(seen) if s <= snap.seq]
        assert [e.seq for e in full if e.seq > early_items[1].seq] == list(range(early_items[1].seq + 1, snap.seq + 1))

        a, b = _fold(full), _fold(history)
        assert _log(a) == _log(b) and len(_log(a)) >= 4
        assert a.positions == b.positions
        assert _closed(full) >= 2


# ------------------------------------------------------------------------------------- TCP


async def test_tcp_needs_the_bearer_token_and_no_output_ever_holds_it(place) -> None:
    refused = place("--tcp", "0", dump="nodump")
    assert refused.proc.wait(SAFETY) == 2 and "needs a bearer token" in refused.err()

    d = place("--tcp", "0", "--live", "churn", env={"BTK_DAEMON_TOKEN": TOKEN})
    d.wait_ready()
    port = json.loads((d.dump / "daemon.json").read_text())["tcp_port"]
    base = f"http://127.0.0.1:{port}"
    bodies: list[str] = []
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/v1/status") as r:
            bodies.append(await r.text())
            assert r.status == 401 and "missing bearer token" in bodies[-1]
        async with s.get(f"{base}/v1/status", headers={"Authorization": "Bearer " + TOKEN[:-1]}) as r:
            bodies.append(await r.text())
            assert r.status == 401 and "wrong bearer token" in bodies[-1]
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await s.ws_connect(f"{base}/v1/stream")
        async with s.post(f"{base}/v1/runs", json={"mode": "live", "strategy": "demo-trend"}) as r:
            assert r.status == 401
    async with DaemonClient(Endpoint(port=port, token=TOKEN)) as c:
        bodies.append(json.dumps(await c.status()))
        bodies.append(json.dumps(await c.get("/v1/project")))
        bodies.append(json.dumps(await c.get("/v1/runs/live:BTCUSDT:churn/statistics")))
        assert TOKEN not in repr(c.endpoint)
    code, out, err = await asyncio.to_thread(_run_cli, ["status", "--tcp", str(port), "--json"])
    assert code == 1 and "missing bearer token" in err  # this process has no token in its environment
    os.environ["BTK_DAEMON_TOKEN"] = TOKEN
    try:
        code, out, err = await asyncio.to_thread(_run_cli, ["status", "--tcp", str(port), "--json"])
    finally:
        del os.environ["BTK_DAEMON_TOKEN"]
    assert code == 0 and json.loads(out)["daemon"]["tcp_port"] == port
    bodies += [out, err]
    assert d.stop() == 0
    files = [d.out(), d.err(), (d.dump / "logs" / "live.log").read_text()]
    for text in bodies + files:
        assert TOKEN not in text


def test_btk_console_alone_attaches_only_to_a_daemon_that_answers(place) -> None:
    from console.daemon.cli import daemon_endpoint

    d = place()
    assert daemon_endpoint(None, str(d.dump)) is None  # nothing there yet
    d.wait_ready()
    endpoint = daemon_endpoint(None, str(d.dump))
    assert endpoint is not None and endpoint.socket == (d.dump / "daemon.sock").absolute()
    d.stop(signal.SIGKILL)  # its socket file stays, nobody answers on it
    assert (d.dump / "daemon.sock").exists() and daemon_endpoint(None, str(d.dump)) is None


async def test_a_position_is_closed_and_the_account_read_through_the_api(place) -> None:
    d = place("--live", "churn")
    d.wait_ready()
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        items: list = []
        feed = Feed(c)
        it = feed.__aiter__()

        def opened(xs: list) -> bool:
            return any(e.stream == "signal" and e.event.action == "opened" for e in _events(xs))

        await asyncio.wait_for(_collect(it, opened, items), SAFETY)
        asked = None
        deadline = time.monotonic() + SAFETY
        while asked is None and time.monotonic() < deadline:  # churn may close on its own first: ask again
            try:
                asked = await c.post("/v1/runs/live:BTCUSDT:churn/close")
            except DaemonError as exc:
                assert exc.status == 409 and "no open position" in str(exc)
                await asyncio.wait_for(_collect(it, opened, items), SAFETY)
        assert asked == {"run": "live:BTCUSDT:churn", "closing": True}

        def manual(xs: list) -> bool:
            return any(
                e.stream == "signal" and e.event.action == "closed" and e.event.close_reason == "manual"
                for e in _events(xs)
            )

        await asyncio.wait_for(_collect(it, manual, items), SAFETY)
        await it.aclose()
        exits = [e.event for e in _events(items) if e.stream == "order" and e.event.intent.action == "exit"]
        assert exits and exits[-1].status == "filled"  # the desk sent the exit, the paper account filled it
        account = (await c.get("/v1/account"))["account"]
        assert account["$type"] == "AccountSnapshot" and account["broker"] == "paper"
        with pytest.raises(DaemonError, match=r"broker nope is not registered") as unknown:
            await c.get("/v1/account?broker=nope")
        assert unknown.value.status == 404
        flat = await c.post("/v1/flatten")
        assert set(flat) == {"closing"}


async def test_a_live_run_started_through_the_daemon_publishes_its_account_before_any_trade(place) -> None:
    d = place()
    d.wait_ready()
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        items: list = []
        feed = Feed(c)
        it = feed.__aiter__()
        await asyncio.wait_for(_collect(it, lambda xs: bool(xs), items), SAFETY)  # connected
        await c.start(mode="live", strategy="demo-trend")
        await asyncio.wait_for(_collect(it, lambda xs: any(e.stream == "account" for e in _events(xs)), items), SAFETY)
        await it.aclose()
        streams = [e.stream for e in _events(items)]
        first = streams.index("account")
        assert "fill" not in streams[:first]  # the account as it stood when the run started, not after a trade
        snapshot = next(e.event for e in _events(items) if e.stream == "account")
        assert snapshot.broker == "paper" and snapshot.equity > 0


async def test_a_live_run_trades_through_the_projects_broker_and_status_shows_its_account(place) -> None:
    """The daemon picks a live run's broker as the console's ``l`` and ``btk-console live`` do
    (console/broker_choice.py): the broker registered under the exchange's name, else paper. Its
    account is in ``status`` (JSON and text); the project tells a client which broker each
    exchange uses; a breaker is cleared through the API (and a viewer may not)."""
    d = place("--live", "churn", "--broker", "demo-synthetic")
    d.wait_ready()
    async with DaemonClient(Endpoint.for_dump(d.dump)) as c:
        st = await _until(c, lambda st: st["accounts"] and "balance" in st["accounts"][0])
        (record,) = st["runs"]
        assert record["broker"] == "demo-synthetic"  # not the default paper account
        (account,) = st["accounts"]
        assert account["broker"] == "demo-synthetic" and account["currency"] == "USDT"
        project = await c.get("/v1/project")
        assert project["brokers"]["demo-synthetic"] == {
            "name": "demo-synthetic",
            "kind": "paper",
            "real_money": False,
            "text": "demo-synthetic: paper, simulated account",
        }

        def entered(st: dict) -> bool:  # the entries' fills went to the exchange-named account
            return any(a.get("positions") or a.get("fees_paid") for a in st["accounts"])

        await _until(c, entered)
        assert not (d.dump / "data" / "paper" / "paper").exists()  # the default account was never used
        cleared = await c.post("/v1/brokers/demo-synthetic/clear")
        assert cleared == {"broker": "demo-synthetic", "cleared": False}  # nothing had tripped
        with pytest.raises(DaemonError, match=r"broker nope is not registered") as unknown:
            await c.post("/v1/brokers/nope/clear")
        assert unknown.value.status == 404
    async with DaemonClient(Endpoint.for_dump(d.dump), read_only=True) as viewer:
        with pytest.raises(DaemonError, match="read-only") as refused:
            await viewer.post("/v1/brokers/demo-synthetic/clear")
        assert refused.value.status == 403
    code, out, _err = await asyncio.to_thread(_run_cli, ["status", "--dump-dir", str(d.dump)])
    assert code == 0
    (line,) = [ln for ln in out.splitlines() if ln.startswith("account ")]
    assert line.startswith("account demo-synthetic: balance ") and " USDT, equity " in line and "open orders" in line
