"""Real orders through ccxt (``kind = "ccxt"``): the broker that trades on a venue's spot account.

It trades on the exchange a strategy already reads candles from (the ``[exchanges.<name>]`` table
of btk.toml, ``add_ccxt_exchange``): same ccxt id, options and sandbox switch, so a run never
watches one venue and trades on another. Keys come from the environment only
(``BTK_<ID>_API_KEY``, ``_SECRET``, ``_PASSWORD``, see ``ccxt_options.credential_env_vars``),
never from the options, and never appear in a message: every error text is scrubbed.

What an order goes through, and why:

* **Precision and minimums first.** The amount goes through ``amount_to_precision`` (truncated to
  the lot step) and a limit or stop price through ``price_to_precision``. The market's minimum
  amount and minimum notional (``limits.amount.min``, ``limits.cost.min``; on Binance LOT_SIZE and
  NOTIONAL) are checked before anything is sent: an order too small to trade is an
  ``OrderRejected`` naming the minimum, and the venue never hears of it.
* **The client order id** (``base.client_order_id``: signal and action) goes out as ccxt's
  ``clientOrderId`` (Binance: ``newClientOrderId``), so ``fetch`` can ask the venue about the
  intent after a crash, by that id alone.
* **Errors split in two** (base.py): the venue's "no" (insufficient funds, an invalid order, a bad
  symbol, a malformed request, a refused key) is ``OrderRejected`` with the venue's words; anything
  after which the order may exist (a dropped connection, a timeout, a 5xx, an error ccxt cannot
  classify) is ``OrderOutcomeUnknown`` and the order is **never sent again** here.
* **429 is the exception to "never resend".** Binance answers 429 (and 418) *before* accepting an
  order ("the request was rejected"), so the same order is sent again after a pause of at least
  the server's ``Retry-After`` (``backoff_ms`` doubling otherwise), on the engine's clock
  (engine/retrying.py), at most ``rate_limit_retries`` times; then it is ``OrderRejected`` ("rate
  limited, nothing placed"). Even so, a retry carries the same client order id, so a venue that did
  accept the first would refuse the second as a duplicate while it is open.
* **A duplicate is not a refusal.** A venue that answers "duplicate order" for the client id
  already holds the intent's order: that is ``OrderOutcomeUnknown`` (reconcile), never
  ``OrderRejected`` (which would take the signal back while the order lives on the venue).
* **Reads retry, writes do not.** ``fetch``, ``cancel`` (idempotent: a second cancel finds the
  order cancelled), ``position`` and ``account`` retry network errors with backoff.

``account`` counts in the broker's quote ``currency``: ``balance`` is the venue's total quote
balance, ``equity`` adds every base amount held in a symbol this broker traded at the last price it
saw for it (``mark``, a fill, or the intent's reference price), and ``realised_pnl``/``day_pnl`` are the
equity's change since ``start`` (the live account report owns the per-trade numbers). ``fees_paid``
sums the fees, in the quote currency, of the fills this broker reported. A venue that charges a
buy's fee in the base asset (Binance without BNB) leaves the account holding the filled amount
less that fee: ``position`` reports what is held, the fills say what the fee was.

Exchange-side protection: an intent with ``action = "stop"`` and ``type = "stop_market"`` is sent
as the venue's stop-market order at ``price`` (spot Binance: STOP_LOSS, through ccxt's
``stopLossPrice``); ``supports_stop`` says whether the market takes one. The runner places it after
an entry fills and cancels it (``cancel``) before closing the position itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from tenacity import retry_if_exception, wait_exponential

from ..clock import get_clock
from ..exchanges.ccxt_feed import MAX_RETRY_AFTER_MS, CcxtFeed, CcxtFeedError
from ..log import get_logger
from ..retrying import RetryCallState, clock_retrying
from .base import AccountSnapshot, BrokerError, Fill, OrderIntent, OrderOutcomeUnknown, OrderRejected, OrderReport

__all__ = ["CcxtBroker", "feed_of_exchange"]


def _ccxt() -> Any:
    import ccxt.async_support as ccxt_async

    return ccxt_async


def feed_of_exchange(exchange_name: str) -> CcxtFeed:
    """The ccxt feed behind a registered exchange (``add_ccxt_exchange`` or a ccxt table in btk.toml)."""
    from ..registry import regs

    exchanges = regs().exchanges
    if not exchanges.has(exchange_name):
        raise BrokerError(f"ccxt broker: no exchange named {exchange_name!r} is registered")
    feed = getattr(exchanges.get(exchange_name, "ccxt broker").get_candles, "__self__", None)
    if not isinstance(feed, CcxtFeed):
        raise BrokerError(
            f'ccxt broker: exchange {exchange_name!r} is not a ccxt exchange (use kind = "paper" for '
            "synthetic, CSV or catalog candles)"
        )
    return feed


_DUPLICATE = "duplicate order"
"""Binance's words (``-2010 Duplicate order sent.``) for a client order id an open order already
has: not a refusal of the intent, which is already at the venue; it is reconciled, not retaken."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_key_env(name: str, key_env: dict[str, str] | None) -> dict[str, str] | None:
    """Variable names only: a value that is not one (a key pasted in by mistake) is refused, and
    the message does not repeat it."""
    if key_env is None:
        return None
    if not isinstance(key_env, dict):
        raise BrokerError(f"{name}: key_env must map apiKey/secret/password to variable names")
    for field, var in key_env.items():
        if field not in ("apiKey", "secret", "password"):
            raise BrokerError(f"{name}: key_env: unknown credential {field!r}; expected apiKey, secret or password")
        if not isinstance(var, str) or not _ENV_NAME.fullmatch(var):
            raise BrokerError(
                f"{name}: key_env {field}: expected the name of an environment variable (letters, digits, _), "
                "not a key: keys are read from the environment only"
            )
    return dict(key_env)


def _check_real_money(name: str, feed: CcxtFeed, real_money: Any) -> bool:
    """Dry run and real money are told apart on purpose, the rule btk.toml's ``[broker]`` has
    (console/project.py): a broker on a venue that is not a sandbox spends real money, so it is
    made only with ``real_money=True``; and ``real_money=True`` on a sandbox is a mistake about
    where the orders go. Said once, here, for Python and btk.toml alike."""
    if not isinstance(real_money, bool):
        raise BrokerError(f"{name}: real_money must be True or False, got {real_money!r}")
    if not feed.sandbox and not real_money:
        raise BrokerError(
            f"{name}: this broker would place REAL orders with real money on {feed.exchange_id} (the exchange is "
            "not a sandbox): pass real_money=True to confirm; for a dry run use PaperBroker, or the exchange's "
            "sandbox (sandbox=True) with a testnet key"
        )
    if feed.sandbox and real_money:
        raise BrokerError(
            f"{name}: real_money=True but {feed.exchange_id} is the sandbox (test money): leave real_money out, or "
            "register the exchange with sandbox=False to trade for real"
        )
    return real_money


_STATUS = {"closed": "filled", "canceled": "cancelled", "expired": "cancelled", "rejected": "rejected"}


class CcxtBroker:
    """A venue's spot account through ccxt; see the module docstring.

    ``feed`` is the registered exchange's name (or its ``CcxtFeed``), also the broker's ``name``
    unless one is given; ``quote_amount`` is what one
    entry costs when the run has no sizing; ``rate_limit_retries`` bounds the resends after a 429,
    ``read_retries`` the retries of a read, both pausing ``backoff_ms`` doubling (engine clock);
    ``protective_stop`` lets the order desk keep a stop-market order at each open position's
    stop-loss (engine/brokers/protect.py); ``key_env`` names the environment variables the keys
    are read from (``{"apiKey": "MY_KEY", "secret": "MY_SECRET"}``; the names, never the keys),
    instead of ``BTK_<ID>_API_KEY`` and ``BTK_<ID>_SECRET``; ``real_money=True`` is required on a
    venue that is not a sandbox, and refused on one that is (``_check_real_money``)."""

    kind = "ccxt"

    def __init__(
        self,
        feed: CcxtFeed | str,
        *,
        currency: str = "USDT",
        name: str | None = None,
        quote_amount: float | None = None,
        rate_limit_retries: int = 3,
        backoff_ms: float = 1000,
        read_retries: int = 3,
        protective_stop: bool = True,
        key_env: dict[str, str] | None = None,
        real_money: bool = False,
    ) -> None:
        self.feed = feed_of_exchange(feed) if isinstance(feed, str) else feed
        # the name is a folder of the state (account/<name>/): the exchange's name, or the ccxt id
        self.name = name or (feed if isinstance(feed, str) else f"ccxt-{self.feed.exchange_id}")
        self.real_money = _check_real_money(self.name, self.feed, real_money)
        self.currency = currency
        if quote_amount is not None and not (
            isinstance(quote_amount, int | float) and not isinstance(quote_amount, bool) and quote_amount > 0
        ):
            raise BrokerError(f"{self.name}: quote_amount must be a number > 0, got {quote_amount!r}")
        self.quote_amount = quote_amount
        self.rate_limit_retries = int(rate_limit_retries)
        self.backoff_ms = float(backoff_ms)
        self.read_retries = int(read_retries)
        # the order desk keeps a stop-market order at the stop-loss while a position is open
        # (engine/brokers/protect.py), where the market takes them
        self.protective_stop = bool(protective_stop)
        self.key_env = _check_key_env(self.name, key_env)
        self._client: Any = None
        self._prices: dict[str, float] = {}  # unified symbol -> last price seen
        self._fees = 0.0
        self._fee_trades: set[str] = set()
        self._start_equity: float | None = None

    def __repr__(self) -> str:  # never a key
        return f"CcxtBroker({self.name!r}, currency={self.currency!r})"

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build the authenticated client (keys from the environment) and load the markets."""
        if self._client is not None:
            return
        try:
            client = self.feed.trading_client(self.key_env)
        except CcxtFeedError as exc:
            raise BrokerError(str(exc)) from None
        self._client = client
        try:
            await self._read("load_markets", client.load_markets)
            self._start_equity = (await self.account()).equity
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and (client.session is not None or getattr(client, "tcp_connector", None) is not None):
            await client.close()

    def _ex(self) -> Any:
        if self._client is None:
            raise BrokerError(f"{self!r} is not started (await broker.start() first)")
        return self._client

    def _unified(self, symbol: str) -> str:
        """The ccxt symbol of an engine symbol (``BTCUSDT``, ``BTC/USDT``, ``btc-usdt``)."""
        ex = self._ex()
        if symbol in ex.markets:
            return symbol
        by_id = ex.markets_by_id or {}
        found = by_id.get(symbol) or by_id.get(symbol.upper())
        if found:
            return (found[0] if isinstance(found, list) else found)["symbol"]
        squash = "".join(ch for ch in symbol.upper() if ch.isalnum())
        for market in ex.markets.values():
            if "".join(ch for ch in market["symbol"].upper() if ch.isalnum()) == squash:
                return market["symbol"]
        raise BrokerError(f"{self.feed.exchange_id} has no market {symbol!r}")

    # -- orders -----------------------------------------------------------------------------------
    def _prepare(self, intent: OrderIntent) -> tuple[str, str, str, float | None, dict[str, Any]]:
        """(unified symbol, ccxt type, amount text, price, params), or OrderRejected when the order
        is too small or malformed for the market: checked here so nothing is sent."""
        ccxt = _ccxt()
        try:
            unified = self._unified(intent.symbol)
        except BrokerError as exc:
            raise OrderRejected(intent, str(exc)) from None
        ex = self._ex()
        market = ex.markets[unified]
        if not (intent.amount > 0 and math.isfinite(intent.amount)):
            raise OrderRejected(intent, f"amount must be a positive number, got {intent.amount!r}")
        limits = market.get("limits") or {}
        min_amount = (limits.get("amount") or {}).get("min")
        min_cost = (limits.get("cost") or {}).get("min")
        base = market.get("base", "")
        try:
            amount_text = ex.amount_to_precision(unified, intent.amount)
        except ccxt.BaseError:
            amount_text = "0"
        amount = float(amount_text)
        if amount <= 0 or (min_amount is not None and amount < min_amount):
            raise OrderRejected(
                intent,
                f"amount {intent.amount:g} {base} is below the market's minimum amount "
                f"{min_amount if min_amount is not None else market['precision'].get('amount')} {base} "
                f"(after rounding to the lot step: {amount_text}); nothing was sent",
            )
        params: dict[str, Any] = {"clientOrderId": intent.client_order_id}
        price: float | None = None
        kind = intent.type
        if kind in ("limit", "stop_market"):
            if intent.price is None or not (intent.price > 0 and math.isfinite(intent.price)):
                raise OrderRejected(intent, f"a {kind} order needs a positive price, got {intent.price!r}")
            level = float(ex.price_to_precision(unified, intent.price))
            if kind == "limit":
                price = level
            else:
                if not self.supports_stop(intent.symbol):
                    raise OrderRejected(intent, f"{self.feed.exchange_id} {unified} takes no stop-market orders")
                params["stopLossPrice"] = level
        notional_price = price or params.get("stopLossPrice") or intent.reference_price
        notional = amount * notional_price
        if min_cost is not None and notional < min_cost:
            raise OrderRejected(
                intent,
                f"notional {notional:.8g} {market.get('quote', '')} ({amount_text} {base} at {notional_price:g}) is "
                f"below the market's minimum notional {min_cost:g}; nothing was sent",
            )
        if intent.reduce_only and market.get("contract"):
            params["reduceOnly"] = True  # spot has no positions to reduce: a sell of what is held is the same
        ccxt_type = "limit" if kind == "limit" else "market"
        return unified, ccxt_type, amount_text, price, params

    def base_of(self, symbol: str) -> str:
        """The base asset of ``symbol`` (BTC of BTCUSDT): the desk counts a fee taken in it."""
        return str(self._ex().markets[self._unified(symbol)]["base"])

    def supports_stop(self, symbol: str) -> bool:
        """Whether the market takes a stop-market order (exchange-side protection)."""
        ex = self._ex()
        market = ex.markets[self._unified(symbol)]
        types = (market.get("info") or {}).get("orderTypes")
        if isinstance(types, list):  # Binance lists them per symbol
            return "STOP_LOSS" in types or "STOP_MARKET" in types
        has = ex.has or {}
        return bool(has.get("createStopMarketOrder") or has.get("createStopOrder"))

    async def place(self, intent: OrderIntent) -> OrderReport:
        """Send the order once (429 aside, see the module docstring)."""
        ccxt = _ccxt()
        ex = self._ex()
        unified, ccxt_type, amount_text, price, params = self._prepare(intent)
        self._prices[unified] = intent.reference_price
        attempts = self.rate_limit_retries + 1
        backoff = wait_exponential(multiplier=self.backoff_ms, exp_base=2)

        def wait_ms(state: RetryCallState) -> float:
            return max(backoff(state), self._retry_after_ms())

        def announce(state: RetryCallState) -> None:
            get_logger().warning(
                f"{self.name}: {intent.action} order {intent.client_order_id} rate limited (attempt "
                f"{state.attempt_number}/{attempts}, nothing placed); sending it again in {state.upcoming_sleep:g} ms"
            )

        def gave_up(state: RetryCallState) -> NoReturn:
            raise OrderRejected(
                intent,
                f"rate limited {attempts} times ({self._why(state.outcome.exception())}); nothing was placed",
            )

        async def send() -> Any:
            return await ex.create_order(unified, ccxt_type, intent.side, float(amount_text), price, dict(params))

        try:
            order = await clock_retrying(
                attempts=attempts,
                wait_ms=wait_ms,
                retry=retry_if_exception(lambda exc: isinstance(exc, ccxt.DDoSProtection)),
                before_sleep=announce,
                gave_up=gave_up,
            )(send)
        except OrderRejected:
            raise
        except ccxt.DDoSProtection as exc:  # (never: the retrying gives up with OrderRejected)
            raise OrderRejected(intent, self._why(exc)) from None
        except (
            ccxt.InsufficientFunds,
            ccxt.InvalidOrder,
            ccxt.BadSymbol,
            ccxt.BadRequest,
            ccxt.AuthenticationError,
            ccxt.PermissionDenied,
            ccxt.AccountSuspended,
            ccxt.OperationRejected,
            ccxt.MarketClosed,
            ccxt.NotSupported,
            ccxt.ArgumentsRequired,
        ) as exc:
            if _DUPLICATE in str(exc).lower():  # the venue holds an order with this id: it is placed
                raise OrderOutcomeUnknown(
                    intent, f"the venue already holds this client order id ({self._why(exc)})"
                ) from None
            raise OrderRejected(intent, self._why(exc)) from None
        except Exception as exc:  # NetworkError, 5xx, a dropped connection, anything unclassified
            raise OrderOutcomeUnknown(intent, self._why(exc)) from None
        return await self._report(intent, order)

    async def fetch(self, intent: OrderIntent) -> OrderReport | None:
        """The venue's view of the intent by its client order id; ``None`` when it never saw it."""
        ccxt = _ccxt()
        ex = self._ex()
        unified = self._unified(intent.symbol)
        try:
            order = await self._read(
                f"fetch_order {intent.client_order_id}",
                lambda: ex.fetch_order(None, unified, {"clientOrderId": intent.client_order_id}),
            )
        except ccxt.OrderNotFound:
            return None
        return await self._report(intent, order)

    async def cancel(self, intent: OrderIntent) -> OrderReport:
        """Cancel an open order; one that already ended is reported as it ended."""
        ccxt = _ccxt()
        ex = self._ex()
        unified = self._unified(intent.symbol)
        try:
            order = await self._read(
                f"cancel_order {intent.client_order_id}",
                lambda: ex.cancel_order(None, unified, {"clientOrderId": intent.client_order_id}),
            )
        except ccxt.OrderNotFound:
            report = await self.fetch(intent)
            if report is None:
                raise BrokerError(
                    f"{self.name}: cannot cancel {intent.action} order {intent.client_order_id} of signal "
                    f"{intent.signal_id}: the venue has no such order"
                ) from None
            return report
        report = await self._report(intent, order)
        if report.status not in ("cancelled", "filled"):  # some venues answer a cancel before it is final
            return (await self.fetch(intent)) or report
        return report

    # -- the account ------------------------------------------------------------------------------
    def mark(self, symbol: str, price: float) -> None:
        """The last price of ``symbol`` (what ``account`` counts a held amount at); the live desk
        calls it every tick."""
        if self._client is not None and price and math.isfinite(price):
            self._prices[self._unified(symbol)] = float(price)

    async def _balance(self) -> dict[str, Any]:
        ex = self._ex()
        return await self._read("fetch_balance", ex.fetch_balance)

    async def position(self, symbol: str) -> float:
        """The base amount the account holds (free and locked) in ``symbol``'s base currency."""
        market = self._ex().markets[self._unified(symbol)]
        balance = await self._balance()
        return float((balance.get("total") or {}).get(market["base"]) or 0.0)

    async def account(self) -> AccountSnapshot:
        ex = self._ex()
        balance = await self._balance()
        total = balance.get("total") or {}
        cash = float(total.get(self.currency) or 0.0)
        positions: dict[str, float] = {}
        open_orders = 0
        equity = cash
        for unified, price in self._prices.items():
            market = ex.markets[unified]
            held = float(total.get(market["base"]) or 0.0)
            positions[market["id"]] = held
            equity += held * price
            orders = await self._read(f"fetch_open_orders {unified}", lambda u=unified: ex.fetch_open_orders(u))
            open_orders += len(orders)
        start = self._start_equity if self._start_equity is not None else equity
        return AccountSnapshot(
            broker=self.name,
            currency=self.currency,
            balance=cash,
            equity=equity,
            realised_pnl=equity - start,
            fees_paid=self._fees,
            day_pnl=equity - start,
            open_orders=open_orders,
            positions=positions,
            timestamp=get_clock().now(),
        )

    # -- helpers ----------------------------------------------------------------------------------
    async def _report(self, intent: OrderIntent, order: dict[str, Any]) -> OrderReport:
        """A ccxt order as an ``OrderReport``, with its fills (fetched when the answer had none)."""
        ccxt = _ccxt()
        filled = float(order.get("filled") or 0.0)
        raw = order.get("status")
        status = _STATUS.get(raw or "", "open")
        if status == "open" and filled > 0:
            status = "partially_filled"
        trades = list(order.get("trades") or [])
        if filled > 0 and not trades and order.get("id") is not None and (self._ex().has or {}).get("fetchOrderTrades"):
            unified = self._unified(intent.symbol)
            try:
                trades = await self._read(
                    f"fetch_order_trades {intent.client_order_id}",
                    lambda: self._ex().fetch_order_trades(order["id"], unified),
                )
            except ccxt.BaseError as exc:
                get_logger().warning(f"{self.name}: fills of {intent.client_order_id} unavailable ({self._why(exc)})")
        fills = tuple(self._fill(intent, t) for t in trades)
        if filled > 0 and not fills:  # no per-trade detail: one fill for the whole execution
            fee = order.get("fee") or {}
            fills = (
                Fill(
                    intent.client_order_id, intent.signal_id, intent.symbol, intent.side, filled,
                    float(order.get("average") or order.get("price") or intent.reference_price),
                    float(fee.get("cost") or 0.0), str(fee.get("currency") or self.currency),
                    int(order.get("lastTradeTimestamp") or order.get("timestamp") or 0), f"{order.get('id')}-all",
                ),
            )  # fmt: skip
        for fill in fills:
            if fill.trade_id not in self._fee_trades and fill.fee_currency == self.currency:
                self._fee_trades.add(fill.trade_id)
                self._fees += fill.fee
        average = order.get("average")
        if average:
            self._prices[self._unified(intent.symbol)] = float(average)
        reason = ""
        if status in ("cancelled", "rejected"):
            reason = f"{raw} by the venue" if raw != "canceled" else "cancelled"
        return OrderReport(
            intent=intent,
            status=status,  # type: ignore[arg-type]
            filled=filled,
            average=float(average) if average else None,
            exchange_order_id=str(order["id"]) if order.get("id") is not None else None,
            reason=reason,
            fills=fills,
            timestamp=int(order.get("lastTradeTimestamp") or order.get("timestamp") or get_clock().now()),
        )

    @staticmethod
    def _fill(intent: OrderIntent, trade: dict[str, Any]) -> Fill:
        fee = trade.get("fee") or {}
        return Fill(
            client_order_id=intent.client_order_id,
            signal_id=intent.signal_id,
            symbol=intent.symbol,
            side=intent.side,
            amount=float(trade.get("amount") or 0.0),
            price=float(trade.get("price") or 0.0),
            fee=float(fee.get("cost") or 0.0),
            fee_currency=str(fee.get("currency") or ""),
            timestamp=int(trade.get("timestamp") or 0),
            trade_id=str(trade.get("id")),
        )

    def _why(self, exc: BaseException | None) -> str:
        return f"{type(exc).__name__}: {self.feed.scrub(str(exc))}"

    def _retry_after_ms(self) -> float:
        headers = getattr(self._client, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return min(max(float(value) * 1000, 0.0), MAX_RETRY_AFTER_MS) if value is not None else 0.0
        except ValueError:
            return 0.0

    async def _read(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        """A call that changes nothing twice (a read, a cancel): network errors are retried with
        backoff on the engine's clock; after ``read_retries`` it is a ``BrokerError``, and so is any
        other venue error (a refused key, say) but ``OrderNotFound``, which the caller answers."""
        ccxt = _ccxt()
        attempts = self.read_retries + 1
        backoff = wait_exponential(multiplier=self.backoff_ms, exp_base=2)

        async def attempt() -> Any:
            try:
                return await fn()
            except (ccxt.NetworkError, ccxt.OrderNotFound):
                raise
            except ccxt.BaseError as exc:
                raise BrokerError(f"{self.name} {what}: {self._why(exc)}") from None

        def wait_ms(state: RetryCallState) -> float:
            return max(backoff(state), self._retry_after_ms())

        def gave_up(state: RetryCallState) -> NoReturn:
            raise BrokerError(
                f"{self.name} {what}: failed after {attempts} attempts: {self._why(state.outcome.exception())}"
            ) from None

        return await clock_retrying(
            attempts=attempts,
            wait_ms=wait_ms,
            retry=retry_if_exception(lambda exc: isinstance(exc, ccxt.NetworkError)),
            gave_up=gave_up,
        )(attempt)
