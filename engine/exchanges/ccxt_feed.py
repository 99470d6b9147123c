"""Real exchanges through ccxt (``ccxt.async_support``): candles, price and amount formatting.

The engine asks an exchange for ``limit`` consecutive candles from ``since`` (``get_candles``) and
caches what it gets (``engine/candles.py``). This adapter turns that into ccxt calls:

* **Lazy, per event loop.** ``import ccxt`` costs half a second and an aiohttp session belongs to
  the loop that opened it, so registration only validates; the ccxt instance is built on first use,
  inside the running loop, and kept. ``close()`` (or ``close_ccxt_exchanges()``) releases it.
* **Pagination.** An exchange caps candles per call (Binance 1000, Kraken 720, ...); ccxt knows the
  cap (``exchange.features``), ``max_per_call`` overrides it. Pages are requested until ``limit``
  candles are in or the exchange stops advancing, then deduplicated and sorted.
* **Symbols.** Strategies say ``BTCUSDT``; ccxt says ``BTC/USDT``. Both work: a symbol is looked up
  as a unified symbol, then as an exchange market id, then ignoring case and separators.
* **Transient failures.** ccxt's own rate limiter is on (``enableRateLimit``). A ``NetworkError``
  (timeouts, 429/418 rate limiting, 5xx) is retried with exponential backoff (honouring a
  ``Retry-After`` header), sleeping on the engine's clock so tests on a simulated clock never wait.
  Anything else (an unknown symbol, a bad request) fails at once with a message naming the call.
  The engine's own SPEC 4.1 retries sit on top of this.
* **Secrets.** API keys come only from the environment (``BTK_<ID>_API_KEY``, ``BTK_<ID>_SECRET``,
  ``BTK_<ID>_PASSWORD``): a key in the options (at any depth, in a header, in a URL) is refused, and
  so is ccxt's ``verbose`` (it prints the key); see ``ccxt_options``. Keys are never logged, never
  in ``repr``, and are scrubbed from error messages.
* **Market data is public.** The client that loads markets and fetches candles carries no
  credentials, so no private call (binance's ``fetchCurrencies`` is signed) can stop candles. When
  keys are set, one authenticated ``fetch_balance`` on a separate client checks them at first use;
  a key the venue rejects is reported once on the error stream, naming what to check, and candles
  keep coming. A broker's orders use their own authenticated client (``trading_client``).
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

from tenacity import retry_if_exception_type, wait_exponential

from ..log import get_logger
from ..retrying import RetryCallState, clock_retrying
from .aggregate import first_boundary_ms
from .ccxt_options import credential_env_vars, option_problem, secrets_in

__all__ = [
    "CcxtConfigError",
    "CcxtFeed",
    "CcxtFeedError",
    "CcxtKeyError",
    "close_ccxt_exchanges",
    "credential_env_vars",
]

DEFAULT_MAX_PER_CALL = 500
"""Candles per request when ccxt does not know the exchange's cap (a common server default)."""
MAX_RETRY_AFTER_MS = 300_000
"""A ``Retry-After`` longer than this is capped: the engine's own retries take over after it."""

_SIGNATURE_RE = re.compile(r"(signature=)[^&]*")

_feeds: weakref.WeakSet[CcxtFeed] = weakref.WeakSet()


class CcxtFeedError(RuntimeError):
    """A ccxt call failed in a way retrying cannot fix (or the exchange was misconfigured)."""


class CcxtKeyError(CcxtFeedError):
    """The venue rejected the API key from the environment (candles are not affected)."""


class CcxtConfigError(CcxtFeedError, ValueError):
    """``add_ccxt_exchange`` was given something unusable (a ValueError, like the registry's errors,
    so btk.toml loading reports it at the table that asked for it)."""


def _ccxt() -> Any:
    import ccxt.async_support as ccxt_async

    return ccxt_async


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _squash(symbol: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", symbol.upper())


class CcxtFeed:
    """One ccxt exchange as an engine feed: ``get_candles``, ``format_price``, ``format_quantity``."""

    def __init__(
        self,
        exchange_id: str,
        *,
        sandbox: bool = False,
        config: dict[str, Any] | None = None,
        symbols: Iterable[str] = (),
        max_per_call: int | None = None,
        max_retries: int = 3,
        backoff_ms: float = 1000,
        log_requests: bool = False,
    ) -> None:
        ccxt = _ccxt()
        if not isinstance(exchange_id, str) or exchange_id not in ccxt.exchanges:
            close = difflib.get_close_matches(str(exchange_id).lower(), ccxt.exchanges, n=5, cutoff=0.6)
            hint = (
                f"; close ids: {', '.join(close)}"
                if close
                else f" (ccxt {ccxt.__version__} knows {len(ccxt.exchanges)})"
            )
            raise CcxtConfigError(f"unknown ccxt exchange id {exchange_id!r}{hint}")
        if not isinstance(sandbox, bool):
            raise CcxtConfigError(f"ccxt {exchange_id}: sandbox must be true or false, got {sandbox!r}")
        if max_per_call is not None and not _is_int(max_per_call, 1):
            raise CcxtConfigError(f"ccxt {exchange_id}: max_per_call must be a positive integer, got {max_per_call!r}")
        if not _is_int(max_retries, 0):
            raise CcxtConfigError(f"ccxt {exchange_id}: max_retries must be an integer >= 0, got {max_retries!r}")
        if isinstance(backoff_ms, bool) or not isinstance(backoff_ms, int | float) or not backoff_ms >= 0:
            raise CcxtConfigError(f"ccxt {exchange_id}: backoff_ms must be a number >= 0, got {backoff_ms!r}")
        if not isinstance(log_requests, bool):
            raise CcxtConfigError(f"ccxt {exchange_id}: log_requests must be true or false, got {log_requests!r}")
        self.log_requests = log_requests
        self.exchange_id = exchange_id
        self.sandbox = sandbox
        self.symbols = tuple(symbols)
        self.max_per_call = max_per_call
        self.max_retries = max_retries
        self.backoff_ms = float(backoff_ms)
        self._cls = getattr(ccxt, exchange_id)
        self._config = self._check_config(dict(config or {}))
        self._exchange: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._secrets: tuple[str, ...] = ()
        self._keys_checked = False
        _feeds.add(self)

    def _check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Refuse secrets and unknown keys now, at registration, rather than at the first tick."""
        env = credential_env_vars(self.exchange_id)
        for path, what in secrets_in(config):
            raise CcxtConfigError(
                f"ccxt {self.exchange_id}: {'.'.join(path)} is {what}; keys never go in the options (they would be "
                f"saved in btk.toml or source code): set the environment variables {env['apiKey']} and "
                f"{env['secret']} (and {env['password']} if the exchange needs one) instead"
            )
        for key, value in config.items():
            problem = option_problem(key, value)
            if problem is not None:
                got = "" if key == "verbose" else f", got {type(value).__name__} {value!r}"
                raise CcxtConfigError(f"ccxt {self.exchange_id}: {key}: {problem}{got}")
        try:
            probe = self._cls(dict(config))  # no session yet: nothing to close
        except Exception as exc:
            raise CcxtConfigError(f"ccxt {self.exchange_id} refused the options: {type(exc).__name__}: {exc}") from None
        described = probe.describe()
        for key in config:
            if key not in described and not hasattr(self._cls, key):
                near = difflib.get_close_matches(
                    key, sorted({*described, "timeout", "enableRateLimit", "headers"}), n=3
                )
                hint = f" (did you mean {', '.join(near)}?)" if near else ""
                raise CcxtConfigError(
                    f"ccxt {self.exchange_id}: unknown option {key!r}{hint}; options are ccxt constructor settings "
                    "(urls, options, timeout, rateLimit, enableRateLimit, headers, ...) or btk's "
                    "(sandbox, note, symbols, max_per_call, max_retries, backoff_ms)"
                )
        if self.sandbox and not probe.urls.get("test"):
            raise CcxtConfigError(f"ccxt {self.exchange_id} has no sandbox/testnet: use sandbox = false")
        return config

    def __repr__(self) -> str:  # never the config (URLs may carry tokens), never a key
        env = credential_env_vars(self.exchange_id)
        keys = "env" if os.environ.get(env["apiKey"]) or self._secrets else "none"
        return f"CcxtFeed({self.exchange_id!r}, sandbox={self.sandbox}, credentials={keys})"

    # -- the ccxt instance --------------------------------------------------------------------------
    async def exchange(self) -> Any:
        """The ccxt instance, built on first use inside the running loop (markets not loaded yet)."""
        loop = asyncio.get_running_loop()
        if self._exchange is not None and self._loop is loop:
            return self._exchange
        if self._exchange is not None:  # a new event loop: the old session cannot be reused
            get_logger().warning(f"{self!r}: new event loop; dropping the client opened in the previous one")
            self._exchange = None
        self._credentials()  # known, to scrub them from any message
        ex = self._build({})  # market data: no credentials, so no private call can stop candles
        self._exchange, self._loop = ex, loop
        return ex

    def _credentials(self, env_vars: dict[str, str] | None = None) -> dict[str, str]:
        """The keys set in the environment (ccxt field -> value), read from ``env_vars`` (field ->
        variable name; default ``BTK_<ID>_...``); remembered for scrubbing, with every key read
        before (a broker may name its own variables)."""
        found = {}
        for field, var in (env_vars or credential_env_vars(self.exchange_id)).items():
            value = os.environ.get(var)
            if value:
                found[field] = value
        self._secrets = tuple(dict.fromkeys((*self._secrets, *found.values())))
        return found

    def _build(self, credentials: dict[str, str]) -> Any:
        ex = self._cls({"enableRateLimit": True, **self._config, **credentials})
        if self.sandbox:
            ex.set_sandbox_mode(True)
        return ex

    def trading_client(self, env_vars: dict[str, str] | None = None) -> Any:
        """A new ccxt instance carrying the environment's keys, for a broker's orders (the caller owns
        it and closes it). Orders are private, so no keys is an error here, naming the variables;
        the keys themselves are only remembered to scrub them from messages (``scrub``).
        ``env_vars`` names other variables than ``BTK_<ID>_API_KEY``... (btk.toml's [broker])."""
        credentials = self._credentials(env_vars)
        if not credentials.get("apiKey") or not credentials.get("secret"):
            env = {**credential_env_vars(self.exchange_id), **(env_vars or {})}
            raise CcxtKeyError(
                f"{self.exchange_id}: placing orders needs an API key and secret in the environment: set "
                f"{env['apiKey']} and {env['secret']} (and {env['password']} if the exchange needs one); "
                "try them on the sandbox first (sandbox = true)"
            )
        return self._build(credentials)

    def scrub(self, text: str) -> str:
        """``text`` with every key from the environment replaced by ``***``."""
        return self._scrub(text)

    async def _check_keys_once(self) -> None:
        """With keys in the environment: one authenticated call per feed, at first use. A key the
        venue rejects is reported once on the error stream; nothing else waits on it."""
        if self._keys_checked:
            return
        self._keys_checked = True
        credentials = self._credentials()
        if not credentials:
            return
        ccxt = _ccxt()
        auth = self._build(credentials)
        try:
            auth.set_markets(self._exchange.markets, self._exchange.currencies)
            await auth.fetch_balance()
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as exc:
            from ..events import report_error

            env = credential_env_vars(self.exchange_id)
            await report_error(
                CcxtKeyError(
                    f"{self.exchange_id} rejected the API key in {env['apiKey']} ({type(exc).__name__}: "
                    f"{self._scrub(str(exc))}); check the key and secret ({env['apiKey']}, {env['secret']}), the "
                    "key's permissions (reading at least), its IP whitelist, and sandbox = true for a testnet key "
                    "(false for a mainnet one); candles are public and keep coming"
                )
            )
        except Exception as exc:  # the check is advisory: a network fault here must not stop data
            get_logger().warning(
                f"{self.exchange_id}: could not check the API key ({type(exc).__name__}: {self._scrub(str(exc))})"
            )
        finally:
            if auth.session is not None or getattr(auth, "tcp_connector", None) is not None:
                await auth.close()

    async def close(self) -> None:
        """Release the HTTP session (safe to call twice, or before any use)."""
        ex, self._exchange, self._loop = self._exchange, None, None
        if ex is not None and (ex.session is not None or getattr(ex, "tcp_connector", None) is not None):
            await ex.close()  # (a client that never sent a request has nothing to release)

    # -- calls with retries -------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    async def _call(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """``fn()`` with backoff on network errors (tenacity on the engine's clock: ``backoff_ms``
        doubling per attempt, at least the server's ``Retry-After`` when it rate-limits); other
        ccxt errors become a ``CcxtFeedError`` at once."""
        ccxt = _ccxt()
        attempts = self.max_retries + 1
        backoff = wait_exponential(multiplier=self.backoff_ms, exp_base=2)  # backoff_ms * 2 ** (attempt - 1)

        async def attempt() -> Any:
            try:
                result = await fn()
            except ccxt.BaseError as exc:
                self._log_request(what, type(exc).__name__)
                if isinstance(exc, ccxt.NetworkError):
                    raise  # retried
                raise CcxtFeedError(
                    f"{self.exchange_id} {what}: {type(exc).__name__}: {self._scrub(str(exc))}"
                ) from None
            self._log_request(what, "ok")
            return result

        def why(state: RetryCallState) -> str:
            exc = state.outcome.exception()
            return f"{type(exc).__name__}: {self._scrub(str(exc))}"

        def wait_ms(state: RetryCallState) -> float:
            delay = backoff(state)
            if isinstance(state.outcome.exception(), ccxt.DDoSProtection):
                delay = max(delay, self._retry_after_ms())
            return delay

        def announce(state: RetryCallState) -> None:
            get_logger().warning(
                f"{self.exchange_id} {what}: attempt {state.attempt_number}/{attempts} failed ({why(state)}); "
                f"retrying in {state.upcoming_sleep:g} ms"
            )

        def gave_up(state: RetryCallState) -> NoReturn:
            tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
            raise CcxtFeedError(f"{self.exchange_id} {what}: failed after {tries}: {why(state)}") from None

        return await clock_retrying(
            attempts=attempts,
            wait_ms=wait_ms,
            retry=retry_if_exception_type(ccxt.NetworkError),
            before_sleep=announce,
            gave_up=gave_up,
        )(attempt)

    def _log_request(self, what: str, outcome: str) -> None:
        """``log_requests``: the last request's URL (never its headers; a signature redacted)."""
        if self.log_requests:
            url = _SIGNATURE_RE.sub(r"\1***", str(getattr(self._exchange, "last_request_url", "") or ""))
            get_logger().info(f"{self.exchange_id} request {self._scrub(url)} ({what}): {outcome}")

    def _retry_after_ms(self) -> float:
        """The server's ``Retry-After`` (seconds) of the last response, in ms (0 if absent or odd)."""
        headers = getattr(self._exchange, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return min(max(float(value) * 1000, 0.0), MAX_RETRY_AFTER_MS) if value is not None else 0.0
        except ValueError:  # an HTTP date: rare enough to fall back on the backoff
            return 0.0

    # -- markets ------------------------------------------------------------------------------------
    async def market(self, symbol: str) -> dict[str, Any]:
        """The ccxt market of an engine symbol (``BTCUSDT``, ``BTC/USDT`` or ``btc-usdt``)."""
        ex = await self.exchange()
        if not ex.markets:
            await self._call("load_markets", ex.load_markets)
        if not self._keys_checked:
            await self._check_keys_once()
        markets = ex.markets
        found = markets.get(symbol)
        if found is not None:
            return found
        by_id = ex.markets_by_id or {}
        candidates = by_id.get(symbol) or by_id.get(str(symbol).upper())
        if not candidates:
            squashed = _squash(str(symbol))
            candidates = [
                m for m in markets.values() if _squash(m["symbol"]) == squashed or _squash(m["id"]) == squashed
            ]
        if candidates:
            if isinstance(candidates, dict):
                candidates = [candidates]
            preferred = (ex.options or {}).get("defaultType", "spot")
            return next((m for m in candidates if m.get("type") == preferred), candidates[0])
        names = sorted({*markets, *by_id})
        close = difflib.get_close_matches(str(symbol), names, n=5, cutoff=0.6)
        if not close:
            close = difflib.get_close_matches(str(symbol).upper(), names, n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(close)}" if close else f" ({len(markets)} markets loaded)"
        raise CcxtFeedError(f"{self.exchange_id} has no market {symbol!r}{hint}")

    def _per_call(self, ex: Any, market: dict[str, Any]) -> int:
        if self.max_per_call is not None:
            return self.max_per_call
        kind = market.get("type") or "spot"
        features = (ex.features or {}).get(kind) or {}
        if kind in ("swap", "future") and isinstance(features, dict):
            sub = market.get("subType") or ("linear" if market.get("linear") else "inverse")
            features = features.get(sub) or {}
        ohlcv = features.get("fetchOHLCV") if isinstance(features, dict) else None
        limit = ohlcv.get("limit") if isinstance(ohlcv, dict) else None
        return int(limit) if isinstance(limit, int | float) and limit >= 1 else DEFAULT_MAX_PER_CALL

    # -- the engine's feed interface ----------------------------------------------------------------
    async def get_candles(self, symbol: str, interval: str, since: datetime, limit: int) -> list[list[Any]]:
        """Up to ``limit`` consecutive candles from the first ``interval`` boundary at or after ``since``,
        as ``[ms, open, high, low, close, volume]`` rows, ascending (fewer where the exchange has none)."""
        limit = int(limit)
        if limit <= 0:
            return []
        market = await self.market(symbol)
        ex = self._exchange
        if ex.timeframes and interval not in ex.timeframes:
            raise CcxtFeedError(f"{self.exchange_id} has no {interval!r} candles; it offers {', '.join(ex.timeframes)}")
        unified = market["symbol"]
        step = int(ex.parse_timeframe(interval) * 1000)
        start = first_boundary_ms(since, step)
        end = start + limit * step
        per_call = self._per_call(ex, market)
        rows: dict[int, list[Any]] = {}
        cursor = start
        while cursor < end:
            count = min(per_call, (end - cursor) // step)
            batch = await self._call(
                f"fetch_ohlcv {unified} {interval} since {_iso(cursor)} limit {count}",
                lambda cursor=cursor, count=count: ex.fetch_ohlcv(unified, interval, cursor, count),
            )
            if not batch:
                break
            newest = cursor - 1
            for row in batch:
                t = int(row[0])
                newest = max(newest, t)
                if start <= t < end:
                    volume = row[5] if len(row) > 5 and row[5] is not None else 0.0
                    rows[t] = [t, row[1], row[2], row[3], row[4], volume]
            if newest < cursor:  # the exchange does not move forward: no more data this way
                break
            cursor = newest + step
        return [rows[t] for t in sorted(rows)]

    async def format_price(self, symbol: str, price: float) -> str:
        """The price rounded to the market's tick (ccxt ``price_to_precision``)."""
        market = await self.market(symbol)
        return self._format("price_to_precision", market, price)

    async def format_quantity(self, symbol: str, quantity: float) -> str:
        """The amount truncated to the market's lot step (ccxt ``amount_to_precision``)."""
        market = await self.market(symbol)
        return self._format("amount_to_precision", market, quantity)

    def _format(self, method: str, market: dict[str, Any], value: float) -> str:
        try:
            return str(getattr(self._exchange, method)(market["symbol"], value))
        except _ccxt().BaseError as exc:
            raise CcxtFeedError(f"{self.exchange_id} {method}({market['symbol']}, {value!r}): {exc}") from None


async def close_ccxt_exchanges() -> None:
    """Close the HTTP session of every ccxt exchange this process registered (at exit, in tests)."""
    for feed in list(_feeds):
        await feed.close()
