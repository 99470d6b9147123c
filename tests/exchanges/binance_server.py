"""A loopback HTTP server speaking just enough of Binance's public spot REST API for ccxt's ``binance``.

Why: the ccxt adapter (``engine/exchanges/ccxt_feed.py``) must be tested with the real ccxt client,
its URL building, response parsing and error mapping, but tests never touch the network. This server
answers what ``load_markets`` and ``fetch_ohlcv`` ask for, from 127.0.0.1 on a free port:

- ``GET /api/v3/exchangeInfo``: BTCUSDT and ETHUSDT (by default) with PRICE_FILTER / LOT_SIZE;
- ``GET /api/v3/klines``: ``symbol``, ``interval``, ``startTime``, ``endTime``, ``limit`` (default 500,
  max 1000, as Binance). Candles are the engine's synthetic market (``SyntheticFeed`` with ``seed``), so
  a run on this server and a run on ``add_synthetic_exchange(seed=...)`` see the same closed candles;
- ``GET /api/v3/time`` and ``/api/v3/ping``.

The server has its own notion of "now" (a fixed ``now_ms``, a callable such as an engine clock's
``now``, or the wall clock by default): no candle opening after it is served, and the candle that is
still forming at "now" is served partial (prices part-way from its open towards its final values,
volume pro rata), like a real exchange's current candle.

Tests script failures with ``fail_next(n, status)`` (HTTP 429 with ``Retry-After``, any 5xx) and
read ``requests`` to check pagination. Two more faults on demand:

- **a spot account** (``book``, tests/exchanges/binance_orders.py): ``POST/GET/DELETE /api/v3/order``
  (``create_order`` with ``newClientOrderId``, ``fetch_order`` by ``origClientOrderId``,
  ``cancel_order``), ``/api/v3/openOrders``, ``/api/v3/myTrades`` and ``/api/v3/account``
  (``fetch_balance``: the account's balances, ``balances=`` at start), a small matching model on
  the server's candles and ``book.log``, every order the venue accepted (the crash test's judge);
- **private calls** need the ``X-MBX-APIKEY`` header (HTTP 401 ``-2014`` without; the signature is
  not checked); ``/sapi/v1/capital/config/getall`` (``fetchCurrencies``) answers an empty list;
- **faults after acceptance**: ``fail_after(n, status)`` processes the next ``n`` order requests
  (the order is accepted and may fill), then answers ``status`` (a 5xx) or, with 0, closes the
  connection with no answer; ``fail_next(..., path="/api/v3/order")`` fails *before* accepting
  (429 is how Binance rate-limits: nothing accepted). Insufficient balance and amounts below the
  filters come from the account itself, with Binance's codes;
- **a bad key**: ``reject_keys()`` makes every request that carries an API key
  (an ``X-MBX-APIKEY`` header or a ``signature``) fail as Binance does for a bad key: HTTP 401
  ``{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}``;
- **a hole**: ``hole(symbol, start_ms, end_ms)`` leaves the candles opening in ``[start, end)`` out
  of every ``klines`` answer (of any interval) until ``clear_holes()``.

In-process use::

    with BinanceServer(now_ms=T) as server:
        engine.add_ccxt_exchange("binance", **ccxt_options(server.base_url))

Out of process (a live run in a subprocess): ``python -m tests.exchanges.binance_server --port 0``
prints its base URL as the first line of stdout and serves until killed. Its "now" is the wall clock,
a fixed ``--now-ms``, or a simulated clock: ``--start-ms S --speed V [--anchor-ms A]`` reads S at the
wall-clock instant A (default: when the server starts) and runs V times faster. Two processes given
the same S, V and A agree on "now" (``simulated_now``); the live process's clock is then
``engine.SimulatedClock(simulated_now(S, V, A)(), V)``. Its control endpoints do what the methods do:
``/_btk/fail?count=2&status=429&retry_after=1`` (also ``path=klines``), ``/_btk/now?ms=...`` (``ms=``
empty: back to the clock it started with), ``/_btk/requests`` (JSON list; ``?clear=1`` empties it),
``/_btk/reject_keys?on=1`` (``on=0``: accept keys again), ``/_btk/hole?symbol=BTCUSDT&start=...&end=...``
(no ``symbol``: clear every hole), ``/_btk/fail_after?count=1&status=0`` (``path=``, ``method=``),
``/_btk/orders`` (the order log, JSON) and ``/_btk/balances`` (``?asset=USDT&free=...`` sets one).
``--balance USDT=10000`` (repeatable) and ``--fee-rate`` set the account of a subprocess server.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.exchanges.synthetic import SyntheticFeed
from engine.model import MINUTE_MS

from .binance_orders import OrderBook

__all__ = [
    "DEFAULT_BALANCES",
    "DEFAULT_MARKETS",
    "BinanceServer",
    "Market",
    "Request",
    "ccxt_options",
    "main",
    "simulated_now",
]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
BAD_KEY = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
"""Binance's answer (HTTP 401) to a request signed with a key it does not accept."""
INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60}
"""Binance kline intervals this server serves (the engine's candle intervals)."""


@dataclass(frozen=True, slots=True)
class Market:
    """One spot symbol as ``exchangeInfo`` lists it; numbers are strings, as Binance sends them."""

    symbol: str
    base: str
    quote: str
    tick_size: str = "0.01"
    step_size: str = "0.00001"
    min_qty: str = "0.00001"
    max_qty: str = "9000.00000000"
    min_notional: str = "5.00000000"

    @property
    def decimals(self) -> int:
        """Decimal places of the tick (prices of partial candles are rounded to it)."""
        text = self.tick_size.rstrip("0")
        return len(text.split(".")[1]) if "." in text else 0

    def info(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": self.tick_size,
                    "maxPrice": "1000000.00000000",
                    "tickSize": self.tick_size,
                },
                {"filterType": "LOT_SIZE", "minQty": self.min_qty, "maxQty": self.max_qty, "stepSize": self.step_size},
                {
                    "filterType": "NOTIONAL",
                    "minNotional": self.min_notional,
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


DEFAULT_MARKETS = (
    Market("BTCUSDT", "BTC", "USDT", tick_size="0.01", step_size="0.00001", min_qty="0.00001"),
    Market("ETHUSDT", "ETH", "USDT", tick_size="0.01", step_size="0.0001", min_qty="0.0001"),
)


DEFAULT_BALANCES = {"USDT": 10_000.0}
"""What the spot account holds when a test names nothing else."""

SIGNED_PATHS = frozenset(
    ("/api/v3/order", "/api/v3/openOrders", "/api/v3/account", "/api/v3/myTrades", "/sapi/v1/capital/config/getall")
)
"""Endpoints Binance answers only with an API key (``X-MBX-APIKEY``); the signature is not checked."""
MISSING_KEY = {"code": -2014, "msg": "API-key format invalid."}


@dataclass(frozen=True, slots=True)
class _AfterFault:
    """A fault that strikes after the request was processed: the venue did it, the client never hears."""

    status: int  # 0: drop the connection without an answer
    path: str
    method: str | None


@dataclass(frozen=True, slots=True)
class Request:
    """One request the server answered (or failed on purpose)."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    signed: bool = False  # it carried an API key (header or signature)


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: int | None
    path: str | None  # only requests whose path contains this fail (None: any)
    body: str | None


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: BinanceServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the crash test SIGKILLs them) is not a server error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as aiohttp expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Http

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    do_POST = do_GET
    do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read ``requests`` instead
        return

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        ctype = "text/html" if isinstance(body, bytes) else "application/json;charset=UTF-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _num(x: float) -> str:
    """A float as Binance sends numbers (a string) that parses back to exactly the same double."""
    return repr(float(x))


class BinanceServer:
    """The server, started in a daemon thread. See the module docstring."""

    def __init__(
        self,
        *,
        seed: int = 42,
        now_ms: int | Callable[[], int] | None = None,
        markets: tuple[Market, ...] = DEFAULT_MARKETS,
        host: str = "127.0.0.1",
        port: int = 0,
        balances: dict[str, float] | None = None,
        fee_rate: float = 0.001,
        fee_in_received: bool = False,
    ) -> None:
        self.feed = SyntheticFeed(seed)
        self.seed = seed
        self.markets = {m.symbol: m for m in markets}
        self._now = self._initial_now = now_ms
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._requests: list[Request] = []
        self._reject_keys = False
        self._holes: list[tuple[str, int, int]] = []
        self._after: deque[_AfterFault] = deque()
        self.fee_rate = fee_rate
        self.fee_in_received = fee_in_received
        self.order_hook: Callable[[str, dict[str, str]], str | None] | None = None
        self._order_now: int | None = None
        self.book = self.reset_account(balances)
        self._http = _Http((host, port), _Handler)
        self._http.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BinanceServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, name="binance-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> BinanceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------------
    def set_now(self, now_ms: int | Callable[[], int] | None) -> None:
        """The server's "now": fixed ms, a callable returning ms, or None for the wall clock."""
        with self._lock:
            self._now = now_ms

    def set_order_now(self, now_ms: int | None) -> None:
        """The account's own "now" (None: the server's): orders fill and match at the market of
        this instant while candles are still served up to ``now``. The crash test moves it with
        the live run's simulated clock, whose candles are all served closed."""
        with self._lock:
            self._order_now = now_ms

    def order_now(self) -> int:
        return self._order_now if self._order_now is not None else self.now()

    def now(self) -> int:
        now = self._now
        if now is None:
            return time.time_ns() // 1_000_000
        return int(now() if callable(now) else now)

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        retry_after: int | None = None,
        path: str | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (whose path contains ``path``, if given) with ``status``.

        429 gets ``Retry-After: <retry_after or 1>`` and Binance's JSON error; any other status a
        plain HTML page, as a load balancer sends (``body`` replaces the page's text).
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, path, body) for _ in range(count))

    def reject_keys(self, on: bool = True) -> None:
        """Answer every request carrying an API key with Binance's 401 for a bad key (``BAD_KEY``)."""
        with self._lock:
            self._reject_keys = on

    def hole(self, symbol: str, start_ms: int, end_ms: int) -> None:
        """Leave the candles of ``symbol`` opening in ``[start_ms, end_ms)`` out of every answer."""
        with self._lock:
            self._holes.append((symbol, start_ms, end_ms))

    def clear_holes(self) -> None:
        with self._lock:
            self._holes.clear()

    def _in_hole(self, symbol: str, t: int) -> bool:
        with self._lock:
            return any(s == symbol and a <= t < b for s, a, b in self._holes)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def klines_requests(self) -> list[dict[str, str]]:
        """The query parameters of every answered ``klines`` request, in order."""
        return [r.params for r in self.requests if r.path.endswith("/klines") and r.status == 200]

    # -- the market data --------------------------------------------------------------------------
    def ohlcv(self, symbol: str, interval: str, start_ms: int, count: int, now_ms: int | None = None) -> list[list]:
        """``[ts, o, h, l, c, v]`` rows (floats) exactly as the server serves them: ``count`` candles
        of ``interval`` opening from ``start_ms`` (a multiple of the interval), none opening after
        ``now_ms`` (default: the server's now), the one forming at ``now_ms`` partial."""
        now = self.now() if now_ms is None else now_ms
        step = INTERVALS[interval] * MINUTE_MS
        end = min(start_ms + count * step, (now // step + 1) * step)
        if end <= start_ms:
            return []
        cols = self.feed.columns(symbol, interval, start_ms, end)
        rows = [
            [t, o, h, lo, c, v]
            for t, o, h, lo, c, v in zip(
                cols.timestamp.tolist(), cols.open.tolist(), cols.high.tolist(),
                cols.low.tolist(), cols.close.tolist(), cols.volume.tolist(),
            )
        ]  # fmt: skip
        if rows and rows[-1][0] + step > now:  # the candle forming at "now"
            rows[-1] = self._forming(symbol, interval, rows[-1][0], now)
        return rows

    def _forming(self, symbol: str, interval: str, open_ms: int, now: int) -> list:
        """The candle opening at ``open_ms`` as it stands at ``now``: its whole minutes so far, then the
        current minute part-way (fraction f of the minute gone: prices moved f of the way from the
        minute's open to its final high, low and close, rounded to the tick; volume times f)."""
        decimals = self.markets[symbol].decimals if symbol in self.markets else 2
        minute = now // MINUTE_MS * MINUTE_MS
        cols = self.feed.columns(symbol, "1m", open_ms, minute + MINUTE_MS)
        o, h, lo, c, v = (getattr(cols, f).tolist() for f in ("open", "high", "low", "close", "volume"))
        f = (now - minute) / MINUTE_MS
        first = o[-1]
        close = round(first + (c[-1] - first) * f, decimals)
        high = max(round(first + (h[-1] - first) * f, decimals), first, close)
        low = min(round(first + (lo[-1] - first) * f, decimals), first, close)
        h[-1], lo[-1], c[-1], v[-1] = high, low, close, v[-1] * f
        return [open_ms, o[0], max(h), min(lo), c[-1], math.fsum(v)]

    # -- HTTP -------------------------------------------------------------------------------------
    def _record(self, h: _Handler, path: str, params: dict[str, str], status: int) -> None:
        signed = "X-MBX-APIKEY" in h.headers or "signature" in params
        with self._lock:
            self._requests.append(Request(h.command, path, params, status, signed))

    def _next_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for i, failure in enumerate(self._failures):
                if failure.path is None or failure.path in path:
                    del self._failures[i]
                    return failure
        return None

    def _handle(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        path, params = url.path, dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        if length:  # a signed POST carries its parameters in a form body
            params.update(parse_qsl(h.rfile.read(length).decode(), keep_blank_values=True))
        if path.startswith("/_btk/"):
            self._control(h, path, params)
            return
        failure = self._next_failure(path)
        if failure is not None:
            self._record(h, path, params, failure.status)
            if failure.status == 429 and failure.body is None:
                body = {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."}
                h.reply(429, body, {"Retry-After": str(failure.retry_after)})
            else:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                text = failure.body if failure.body is not None else f"{failure.status} error"
                h.reply(failure.status, f"<html><body>{text}</body></html>".encode(), headers)
            return
        signed = "X-MBX-APIKEY" in h.headers or "signature" in params
        if signed and self._reject_keys:
            status, body = 401, BAD_KEY
        elif path in SIGNED_PATHS and not h.headers.get("X-MBX-APIKEY"):
            status, body = 401, MISSING_KEY
        else:
            if self._hook("received", h, path, params):
                return
            status, body = self._route(path, params, h.command)
            if status == 200 and self._hook("accepted", h, path, params):
                return
        after = self._next_after(path, h.command) if status == 200 else None
        if after is not None:  # processed (an order accepted), then the answer is lost
            self._record(h, path, params, after.status)
            if after.status == 0:
                h.close_connection = True
                return
            h.reply(after.status, f"<html><body>{after.status} error</body></html>".encode())
            return
        self._record(h, path, params, status)
        h.reply(status, body)

    def reset_account(self, balances: dict[str, float] | None = None) -> OrderBook:
        """A fresh account (no orders, an empty log) holding ``balances`` (default ``DEFAULT_BALANCES``)."""
        self.book = OrderBook(
            self.markets,
            self._minute_bars,
            balances=dict(DEFAULT_BALANCES if balances is None else balances),
            fee_rate=self.fee_rate,
            fee_in_received=self.fee_in_received,
        )
        return self.book

    def _hook(self, phase: str, h: _Handler, path: str, params: dict[str, str]) -> bool:
        """``order_hook(phase, params)`` around a new order: ``"received"`` before the account sees
        it, ``"accepted"`` once it accepted it, before the answer. The hook may act (the crash
        test SIGKILLs the client there); returning ``"drop"`` closes the connection with no answer
        (at ``received``: the order is never processed). True when the request was dropped."""
        hook = self.order_hook
        if hook is None or path != "/api/v3/order" or h.command != "POST":
            return False
        if hook(phase, params) != "drop":
            return False
        self._record(h, path, params, 0)
        h.close_connection = True
        return True

    def _next_after(self, path: str, method: str) -> _AfterFault | None:
        with self._lock:
            for i, fault in enumerate(self._after):
                if fault.path in path and fault.method in (None, method):
                    del self._after[i]
                    return fault
        return None

    def fail_after(
        self, count: int = 1, status: int = 0, *, path: str = "/api/v3/order", method: str | None = "POST"
    ) -> None:
        """The next ``count`` requests to ``path`` (``method``; None: any) are processed as usual (an
        order is accepted and may fill), then answered with ``status`` (a 5xx) or, with ``status``
        0, the connection is closed with no answer at all: the client cannot know what happened."""
        with self._lock:
            self._after.extend(_AfterFault(status, path, method) for _ in range(count))

    def _minute_bars(self, symbol: str, start_ms: int, now_ms: int) -> list[list]:
        """The 1m candles opening in ``[start_ms, now_ms]``, the last one partial (the order book's market)."""
        count = max((now_ms - start_ms) // MINUTE_MS + 1, 1)
        return self.ohlcv(symbol, "1m", start_ms, count, now_ms)

    def _route(self, path: str, params: dict[str, str], method: str = "GET") -> tuple[int, Any]:
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": self.now()}
        if path == "/api/v3/exchangeInfo":
            return 200, self._exchange_info()
        if path == "/api/v3/klines":
            return self._klines(params)
        if path == "/api/v3/account":
            return self.book.account(self.order_now())
        if path == "/api/v3/order":
            if method == "POST":
                return self.book.place(params, self.order_now())
            if method == "DELETE":
                return self.book.cancel(params, self.order_now())
            return self.book.query(params, self.order_now())
        if path == "/api/v3/openOrders":
            return self.book.open_orders(params, self.order_now())
        if path == "/api/v3/myTrades":
            return self.book.my_trades(params, self.order_now())
        if path == "/sapi/v1/capital/config/getall":
            return 200, []
        return 404, {"code": -1, "msg": f"this test server does not serve {path}"}

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.now(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [m.info() for m in self.markets.values()],
        }

    def _klines(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol, interval = params.get("symbol", ""), params.get("interval", "")
        if symbol not in self.markets:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if interval not in INTERVALS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= MAX_LIMIT:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
        step = INTERVALS[interval] * MINUTE_MS
        now = self.now()
        last = now // step * step  # the newest candle: the one forming now
        if end is not None:
            last = min(last, end // step * step)
        if start is None:
            first = last - (limit - 1) * step
        else:
            first = -(-start // step) * step
        count = min(limit, (last - first) // step + 1)
        if count <= 0:
            return 200, []
        rows = [r for r in self.ohlcv(symbol, interval, first, count, now) if not self._in_hole(symbol, r[0])]
        return 200, [
            [t, _num(o), _num(h), _num(lo), _num(c), _num(v), t + step - 1, _num(v * c), 100, _num(v / 2),
             _num(v * c / 2), "0"]
            for t, o, h, lo, c, v in rows
        ]  # fmt: skip

    def _control(self, h: _Handler, path: str, params: dict[str, str]) -> None:
        if path == "/_btk/fail":
            retry_after = params.get("retry_after")
            self.fail_next(
                int(params.get("count", "1")),
                int(params.get("status", "503")),
                retry_after=int(retry_after) if retry_after else None,
                path=params.get("path") or None,
                body=params.get("body"),
            )
            h.reply(200, {"ok": True})
        elif path == "/_btk/now":
            ms = params.get("ms", "")
            self.set_now(int(ms) if ms else self._initial_now)
            h.reply(200, {"now": self.now()})
        elif path == "/_btk/reject_keys":
            self.reject_keys(params.get("on", "1") not in ("0", ""))
            h.reply(200, {"ok": True})
        elif path == "/_btk/hole":
            if params.get("symbol"):
                self.hole(params["symbol"], int(params["start"]), int(params["end"]))
            else:
                self.clear_holes()
            h.reply(200, {"ok": True})
        elif path == "/_btk/fail_after":
            self.fail_after(
                int(params.get("count", "1")),
                int(params.get("status", "0")),
                path=params.get("path") or "/api/v3/order",
                method=params.get("method", "POST") or None,
            )
            h.reply(200, {"ok": True})
        elif path == "/_btk/orders":
            h.reply(200, self.book.log_rows())
        elif path == "/_btk/balances":
            if params.get("asset"):
                self.book.set_balance(params["asset"], float(params["free"]))
            self.book.match(self.order_now())
            h.reply(200, self.book.snapshot())
        elif path == "/_btk/requests":
            out = [asdict(r) for r in self.requests]
            if params.get("clear"):
                self.clear_requests()
            h.reply(200, out)
        else:
            h.reply(404, {"error": f"unknown control path {path}"})


def ccxt_options(base_url: str, *, sandbox: bool = False, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``engine.add_ccxt_exchange(name, **ccxt_options(url))`` that point ccxt's
    real ``binance`` client at this server.

    Every Binance API root ccxt knows (spot, sapi, futures, options, live and testnet) is rewritten
    to the server, keeping its path, so a request nobody expected is a 404 here, never a trip to the
    internet. Options keep ``load_markets`` to the one spot ``exchangeInfo`` call (``fetchMarkets``
    types, no currency list, no margin pairs, no clock sync). ``rateLimit`` 1 ms keeps ccxt's own
    limiter in the loop without slowing a loopback test; ``timeout_on_exit`` 0 skips the quarter
    second ccxt waits on close for TLS connections (there are none). ``extra`` overrides or adds keys.
    """
    import ccxt

    base = base_url.rstrip("/")
    described = ccxt.binance().describe()["urls"]

    def local(urls: dict[str, str]) -> dict[str, str]:
        return {key: base + urlsplit(url).path for key, url in urls.items() if isinstance(url, str)}

    options: dict[str, Any] = {
        "exchange_id": "binance",
        "sandbox": sandbox,
        "urls": {"api": local(described["api"]), "test": local(described["test"])},
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "adjustForTimeDifference": False,
        },
        "rateLimit": 1,
        "timeout_on_exit": 0,
        "timeout": 5000,
    }
    options.update(extra)
    return options


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def simulated_now(
    start_ms: int, speed: float = 1.0, anchor_ms: int | None = None, *, wall: Callable[[], int] = _wall_ms
) -> Callable[[], int]:
    """A "now" that reads ``start_ms`` at the wall-clock instant ``anchor_ms`` (UTC ms; default: the
    moment of this call) and runs ``speed`` times faster than the wall clock. It is computed from the
    wall clock, not a process's own start, so another process given the same three numbers agrees."""
    anchor = wall() if anchor_ms is None else int(anchor_ms)

    def now() -> int:
        return int(start_ms + (wall() - anchor) * speed)

    return now


def main(argv: list[str] | None = None) -> int:
    """Serve until killed; the first line of stdout is the base URL."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.exchanges.binance_server", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (the default)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic candles (default 42)")
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument("--now-ms", type=int, help="a fixed 'now' (UTC ms)")
    clock.add_argument("--start-ms", type=int, help="a simulated 'now': this value at --anchor-ms, then --speed")
    parser.add_argument("--speed", type=float, default=1.0, help="with --start-ms: simulated ms per real ms")
    parser.add_argument("--anchor-ms", type=int, help="with --start-ms: wall-clock UTC ms of --start-ms (default: now)")
    parser.add_argument(
        "--balance", action="append", default=[], metavar="ASSET=AMOUNT", help="a starting balance (repeatable)"
    )
    parser.add_argument("--fee-rate", type=float, default=0.001, help="fee per fill, of its quote amount")
    args = parser.parse_args(argv)
    now: int | Callable[[], int] | None = args.now_ms
    if args.start_ms is not None:
        now = simulated_now(args.start_ms, args.speed, args.anchor_ms)

    balances = {k: float(v) for k, _, v in (b.partition("=") for b in args.balance)} if args.balance else None
    server = BinanceServer(
        seed=args.seed, now_ms=now, host=args.host, port=args.port, balances=balances, fee_rate=args.fee_rate
    )
    print(server.base_url, flush=True)
    try:
        server._http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._http.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
