"""The control API (docs/control-api.md): HTTP and a WebSocket served by aiohttp.

Who may talk to it: on the Unix socket (the default, mode 0600 under the dump folder) whoever the
file system lets open it, i.e. the daemon's user; on TCP (127.0.0.1 only) a request must carry
``Authorization: Bearer <token>``, the token read from an environment variable. The token is never
written to a response or a log; a refused request says only that the token is missing or wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

import engine
from engine import wire

from .. import optimizer_run
from ..broker_choice import broker_for
from ..report_dump import dump_reports as write_run_reports
from ..trade_reader import columns_to_wire, read_columns, run_trades, trades_to_wire
from ..trades import TradeSource
from .hub import Hub
from .runs import RunRequestError, RunTable

API = "/v1"
_HUB = web.AppKey("hub", Hub)
_RUNS = web.AppKey("runs", RunTable)
_INFO = web.AppKey("info", dict)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def token_middleware(token: str) -> Any:
    """Refuse a request whose bearer token is not ``token`` (compared in constant time)."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if not given:
            return _error(401, "missing bearer token (Authorization: Bearer ...)")
        if not hmac.compare_digest(given.encode(), expected):
            return _error(401, "wrong bearer token")
        return await handler(request)

    return check


READ_ONLY_HEADER = "X-Btk-Read-Only"
VIEWER_MAY_POST = (f"{API}/reports",)  # writing report files changes no run


@web.middleware
async def read_only_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """A client attached with ``--read-only`` sends ``X-Btk-Read-Only: 1`` on every request; the
    daemon refuses it every change (start, stop, close, flatten), so a viewer stays a viewer even
    if a key slipped past the console's own check. (Not a lock against a hostile client: whoever
    can open the socket can leave the header out; the socket's mode is the access control.)"""
    if request.method == "POST" and request.headers.get(READ_ONLY_HEADER) and request.path not in VIEWER_MAY_POST:
        return _error(
            403, "read-only console: attached with --read-only, it cannot start, stop, close or flatten anything"
        )
    return await handler(request)


def _positions(hub: Hub) -> list[dict[str, Any]]:
    """Open positions and waiting limit entries, from each one's newest message."""
    out = []
    for msg in hub.open.values():
        ev = json.loads(msg.text)["event"]
        row = ev["signal"]
        out.append(
            {
                "mode": "backtest" if ev["backtest"] else "live",
                "symbol": ev["symbol"],
                "strategy": ev["strategy_name"],
                "id": row["id"],
                "side": row["position"],
                "state": "waiting" if ev["action"] == "scheduled" else "open",
                "price_open": row["price_open"],
                "price_take_profit": row["price_take_profit"],
                "price_stop_loss": row["price_stop_loss"],
                "current_price": ev["current_price"],
                "seq": msg.seq,
            }
        )
    return out


async def _accounts(runs: RunTable) -> list[dict[str, Any]]:
    """The account of every broker a live run of this daemon trades through, in the order the
    runs started (``btk-console status``: issue 17 asks for the account). A broker that cannot
    answer now (a venue unreachable) is listed with the reason instead of failing the status."""
    names = list(dict.fromkeys(r.broker for r in runs.runs.values() if r.mode == "live" and r.broker))
    out: list[dict[str, Any]] = []
    for name in names:
        try:
            out.append(wire.encode(await engine.Live.account(name)))
        except Exception as exc:
            out.append({"broker": name, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
    return out


async def status(request: web.Request) -> web.Response:
    hub, runs = request.app[_HUB], request.app[_RUNS]
    return web.json_response(
        {
            "daemon": request.app[_INFO],
            "seq": hub.seq,
            "clients": len(hub.subscribers),
            "runs": runs.listing(),
            "positions": _positions(hub),
            "accounts": await _accounts(runs),
        }
    )


def _brokers(exchanges: list[str]) -> dict[str, dict[str, Any]]:
    """Which broker a live run on each exchange trades through (console/broker_choice.py), so an
    attached console's start dialog says it and asks once more before real money, as in-process."""
    out: dict[str, dict[str, Any]] = {}
    for name in exchanges:
        choice = broker_for(name)
        out[name] = {"name": choice.name, "kind": choice.kind, "real_money": choice.real_money, "text": choice.text}
    return out


async def project(request: web.Request) -> web.Response:
    p = request.app[_RUNS].project
    return web.json_response(
        {
            "name": p.name,
            "strategies": p.strategies,
            "exchanges": p.exchanges,
            "frames": p.frames,
            "walkers": p.walkers,
            "symbols": p.symbols,
            "default_exchange": p.default_exchange,
            "default_frame": p.default_frame,
            "keys": dict(p.keys),  # key bindings ([keys]): an attached console uses the project's
            "brokers": _brokers(list(p.exchanges)),
            "walker_details": {
                w.walker_name: {
                    "metric": w.metric,
                    "strategies": list(w.strategies),
                    "exchange": w.exchange_name,
                    "frame": w.frame_name,
                }
                for w in engine.list_walkers()
            },
            # the optimizers and what each writes: an attached console's o lists them (console/optimizer_run.py)
            "optimizers": optimizer_run.descriptions(),
            "frame_details": {
                f.frame_name: {"start_ms": int(f.start_date.timestamp() * 1000), "step_ms": f.step_minutes * 60_000}
                for f in engine.list_frames()
            },
        }
    )


async def list_runs(request: web.Request) -> web.Response:
    return web.json_response({"runs": request.app[_RUNS].listing()})


async def start_run(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'the body must be a JSON object, e.g. {"mode": "live", "strategy": "..."}')
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    try:
        record = request.app[_RUNS].start(body)
    except RunRequestError as exc:
        return _error(exc.status, str(exc))
    except engine.StateFolderLocked as exc:
        return _error(409, str(exc))
    except (engine.PairQuarantinedError, engine.NotFoundError, engine.SchemaError) as exc:
        return _error(400, str(exc).splitlines()[0])
    return web.json_response(record.to_dict(), status=201)


def _run_of(request: web.Request) -> Any:
    runs = request.app[_RUNS]
    rid = request.match_info["rid"]
    record = runs.runs.get(rid)
    if record is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no run {rid!r} (runs: {', '.join(runs.runs) or 'none'})"}),
            content_type="application/json",
        )
    return record


async def stop_run(request: web.Request) -> web.Response:
    try:
        record = request.app[_RUNS].stop(request.match_info["rid"])
    except RunRequestError as exc:
        return _error(exc.status, str(exc))
    return web.json_response(record.to_dict(), status=202)


async def close_position(request: web.Request) -> web.Response:
    """Close a live run's open position at market now (``Live.close_position``, reason manual)."""
    record = _run_of(request)
    if record.mode != "live":
        return _error(409, f"{record.id} is a {record.mode} run: only a live run holds a position to close")
    if not engine.Live.close_position(record.symbol, record.name):
        return _error(409, f"{record.id} has no open position to close (or is not running)")
    return web.json_response({"run": record.id, "closing": True}, status=202)


async def flatten(request: web.Request) -> web.Response:
    """Close every open position of the running live pairs (``?strategy=`` limits it to one)."""
    asked = engine.Live.flatten(request.query.get("strategy") or None)
    return web.json_response({"closing": [{"symbol": s, "strategy": n} for s, n in asked]}, status=202)


async def clear_breaker(request: web.Request) -> web.Response:
    """A person clears a tripped circuit breaker of ``broker`` (``Live.clear_breaker``): new
    entries are allowed again; the stream carries the breaker event."""
    name = request.match_info["broker"]
    try:
        event = await engine.Live.clear_breaker(name)
    except (ValueError, engine.BrokerError) as exc:
        return _error(404, str(exc).splitlines()[0])
    return web.json_response({"broker": name, "cleared": event is not None}, status=202)


async def account(request: web.Request) -> web.Response:
    """The broker's account now (``?broker=``, default the paper account)."""
    name = request.query.get("broker", "paper")
    try:
        snapshot = await engine.Live.account(name)
    except (ValueError, engine.BrokerError) as exc:
        return _error(404, str(exc).splitlines()[0])
    return web.json_response({"account": wire.encode(snapshot)})


def _facade(mode: str) -> Any:
    return {"live": engine.Live, "backtest": engine.Backtest, "walker": engine.Walker}[mode]


def _no_trading(record: Any) -> web.Response | None:
    """An optimizer run trades nothing: what it made is its program and trace, not statistics."""
    if record.mode != "optimizer":
        return None
    where = f": {record.output} and its .md trace" if record.output else " under the dump folder's optimizer/"
    return _error(409, f"{record.id} is an optimizer run: it has no trades or statistics; it writes a program{where}")


async def statistics(request: web.Request) -> web.Response:
    record = _run_of(request)
    if (refused := _no_trading(record)) is not None:
        return refused
    data = _facade(record.mode).get_data(record.symbol, record.name)
    try:
        encoded = wire.encode(data)
    except wire.WireError as exc:  # a statistics type nobody registered: say so, not a bare 500
        return _error(500, f"statistics of {record.id} cannot be sent: {exc}")
    return web.json_response({"run": record.id, "statistics": encoded})


async def report(request: web.Request) -> web.Response:
    record = _run_of(request)
    if (refused := _no_trading(record)) is not None:
        return refused
    text = _facade(record.mode).get_report(record.symbol, record.name)
    return web.Response(text=text, content_type="text/markdown")


async def run_trades_of(request: web.Request) -> web.Response:
    """Every closed trade of a run, as the in-process trade inspector reads them (console/trades.py
    ``load_trades``), with the period a chart of the whole run shows and the engine's fee and
    slippage: an attached console's ``i`` and ``v`` show the daemon's runs (issue 17).
    ``?strategy=`` picks a walker's strategy (default: the run's own, a walker's first)."""
    record = _run_of(request)
    if (refused := _no_trading(record)) is not None:
        return refused
    strategy = request.query.get("strategy") or ""
    if record.mode == "walker":
        walker = next((w for w in engine.list_walkers() if w.walker_name == record.name), None)
        tested = list(walker.strategies) if walker is not None else []
        strategy = strategy or (tested[0] if tested else "")
        if strategy not in tested:
            return _error(
                400, f"{strategy!r} is not a strategy of walker {record.name} ({', '.join(tested) or 'none'})"
            )
    elif strategy and strategy != record.name:
        return _error(400, f"{record.id} runs strategy {record.name}, not {strategy!r}")
    else:
        strategy = record.name
    source = TradeSource(record.id, record.symbol, strategy, record.exchange, record.frame, record.mode != "live")
    return web.json_response({"run": record.id, "strategy": strategy, **trades_to_wire(run_trades(source))})


MAX_CANDLES = 2000
"""The most candles one ``/v1/candles`` answer holds (a chart asks for its width, a few hundred)."""


def _int_query(request: web.Request, name: str, default: int | None = None) -> int:
    text = request.query.get(name)
    if text is None:
        if default is None:
            raise ValueError(f"{name} missing (milliseconds since the epoch)" if name != "limit" else "limit missing")
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r}") from None


async def candles(request: web.Request) -> web.Response:
    """``?exchange=&symbol=&start=&end=&limit=``: the candles of ``symbol`` on the daemon's
    ``exchange`` opening in ``[start, end]`` (ms), at most ``limit`` (engine ``read_candles`` picks
    the interval), for an attached console's candle charts."""
    exchange, symbol = request.query.get("exchange", ""), request.query.get("symbol", "")
    if not exchange or not symbol:
        return _error(400, "exchange and symbol are required (e.g. ?exchange=binance&symbol=BTCUSDT&start=..&end=..)")
    try:
        start, end = _int_query(request, "start"), _int_query(request, "end")
        limit = _int_query(request, "limit", 240)
        if not 1 <= limit <= MAX_CANDLES:
            raise ValueError(f"limit must be 1 to {MAX_CANDLES}, got {limit}")
        got = await read_columns(exchange, symbol, start, end, limit)
    except ValueError as exc:
        return _error(400, str(exc))
    except engine.NotFoundError as exc:
        return _error(404, str(exc).splitlines()[0])
    except Exception as exc:  # the exchange failed: the chart says why, the daemon goes on
        return _error(502, f"{exchange} could not give {symbol} candles: {type(exc).__name__}: {exc}".splitlines()[0])
    return web.json_response({"exchange": exchange, "symbol": symbol, **columns_to_wire(got)})


async def dump_reports(request: web.Request) -> web.Response:
    """Every report of every run written under the daemon's dump folder (the console's ``d``):
    the reports come from the engine's stores, which live here, not in an attached console."""
    runs, tested = request.app[_RUNS].dump_runs()
    folder = Path(request.app[_INFO]["dump_dir"])
    if not runs:
        return _error(409, "nothing to dump yet: the daemon has run no backtest, walker or live run")
    outcome = write_run_reports(runs, tested, folder)
    if outcome.nothing:
        return _error(409, "nothing to dump yet: no run has anything to report")
    return web.json_response(
        {
            "folder": str(folder),
            "written": [str(p) for p in outcome.written],
            "empty": outcome.empty,
            "failed": [{"path": str(p), "reason": why} for p, why in outcome.failed],
        },
        status=201,
    )


async def stream(request: web.Request) -> web.WebSocketResponse:
    """``?since=N&epoch=E``: the messages after N if this daemon (epoch E) numbered them and the
    replay buffer still holds them, else (or without ``since``) a snapshot first. Then every new
    message, in order."""
    hub = request.app[_HUB]
    since_text = request.query.get("since")
    try:
        since = int(since_text) if since_text is not None else None
    except ValueError:
        return _error(400, f"since must be a sequence number, got {since_text!r}")  # type: ignore[return-value]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    sub = hub.subscribe()  # before reading the backlog: nothing published in between is missed
    same_daemon = request.query.get("epoch", hub.epoch) == hub.epoch
    backlog = hub.since(since) if since is not None and same_daemon else None
    try:
        if backlog is None:
            last = hub.seq
            snapshot = {
                "type": "snapshot",
                "seq": last,
                "epoch": hub.epoch,
                "reason": "connect"
                if since is None
                else ("daemon restarted" if not same_daemon else "resume point no longer kept"),
                "runs": request.app[_RUNS].listing(),
                "daemon": request.app[_INFO],
            }
            await ws.send_str(json.dumps(snapshot, separators=(",", ":")))
            for msg in hub.history():
                await ws.send_str(msg.text)
        else:
            last = since if since is not None else 0
            for msg in backlog:
                await ws.send_str(msg.text)
                last = msg.seq
        for msg in list(hub.ticks.values()):  # each live pair's newest idle tick: its time and price now
            await ws.send_str(msg.text)
        await ws.send_str(json.dumps({"type": "live", "seq": last, "epoch": hub.epoch}))
        reader = asyncio.ensure_future(ws.receive())
        while not ws.closed:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                msg = reader.result()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                reader = asyncio.ensure_future(ws.receive())  # clients send nothing; ignore it
                continue
            item = getter.result()
            if item.numbered and item.seq <= last:
                continue  # already sent from the backlog
            await ws.send_str(item.text)
            if item.numbered:
                last = item.seq
            if sub.overflowed and sub.queue.empty():
                await ws.close(code=1013, message=f"client too slow; resume from {last}".encode())
                break
        reader.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


def make_app(hub: Hub, runs: RunTable, info: dict[str, Any], token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[*([token_middleware(token)] if token else []), read_only_guard])
    app[_HUB], app[_RUNS], app[_INFO] = hub, runs, info
    app.router.add_get(f"{API}/status", status)
    app.router.add_get(f"{API}/project", project)
    app.router.add_get(f"{API}/runs", list_runs)
    app.router.add_post(f"{API}/runs", start_run)
    app.router.add_post(API + "/runs/{rid}/stop", stop_run)
    app.router.add_get(API + "/runs/{rid}/statistics", statistics)
    app.router.add_get(API + "/runs/{rid}/report", report)
    app.router.add_post(API + "/runs/{rid}/close", close_position)
    app.router.add_get(API + "/runs/{rid}/trades", run_trades_of)
    app.router.add_get(f"{API}/candles", candles)
    app.router.add_post(f"{API}/flatten", flatten)
    app.router.add_post(API + "/brokers/{broker}/clear", clear_breaker)
    app.router.add_post(f"{API}/reports", dump_reports)
    app.router.add_get(f"{API}/account", account)
    app.router.add_get(f"{API}/stream", stream)
    return app


async def serve_unix(app: web.Application, path: Path) -> web.AppRunner:
    """Serve on a Unix socket at ``path``, mode 0600 from its creation (umask), not after."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    old = os.umask(0o177)
    try:
        site = web.UnixSite(runner, str(path))
        await site.start()
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return runner


async def serve_tcp(app: web.Application, port: int) -> tuple[web.AppRunner, int]:
    """Serve on 127.0.0.1:``port`` (0 picks a free port); returns the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, int(runner.addresses[0][1])
