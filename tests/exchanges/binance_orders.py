"""The loopback Binance server's spot account: balances, orders, a small matching model, an order log.

Why a separate module: the server (``binance_server.py``) speaks HTTP; this keeps the account's
rules in one place, where the crash test and the broker tests read them as the judge. Only what
ccxt's ``binance`` client sends for spot orders is understood (``create_order``: ``POST
/api/v3/order`` with ``newClientOrderId``; ``fetch_order``: ``GET /api/v3/order`` with
``origClientOrderId``; ``fetch_open_orders``, ``cancel_order``, ``fetch_balance``,
``fetch_my_trades``), with the answers Binance gives, numbers as strings.

The matching model, deliberately small:

* a MARKET order fills at once, whole, at the price of the candle forming at the server's "now"
  (``market_fills`` makes the next ones fill only part, the rest EXPIRED, as a thin book does);
* a LIMIT order that is marketable when placed fills at once at that price; otherwise it rests and
  fills, whole, at its limit price as soon as a 1m candle after its placement trades through it;
* a STOP_LOSS (market stop) rests until a 1m candle trades through its stop price, then fills
  there;
* matching is lazy: every request first brings resting orders up to the server's "now", so a
  test that moves the server's clock moves the market, with no thread of its own.

Fees are ``fee_rate`` of the quote amount, charged in the quote asset by default (charging quote
keeps a sell of what a buy got exactly possible). ``fee_in_received=True`` charges the asset
received, as Binance does without BNB: a buy's fee is ``fee_rate`` of the base amount bought, so
the account holds the filled amount less that fee.

Filters are Binance's: LOT_SIZE (``minQty``, ``stepSize``), PRICE_FILTER (``tickSize``) and
NOTIONAL (``minNotional``), each refused with Binance's ``-1013 Filter failure: ...``; an order
the balance cannot pay is ``-2010 Account has insufficient balance for requested action.``; a
client order id already used by an open order is ``-2010 Duplicate order sent.`` (as on Binance,
a client id of a finished order may be used again: that is why btk never resends).

``log`` keeps every order the venue accepted, in order: the crash test counts, per client order
id, how many times an order was placed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

__all__ = ["INSUFFICIENT", "LogEntry", "Order", "OrderBook", "Trade"]

INSUFFICIENT = "Account has insufficient balance for requested action."
ZERO = Decimal(0)


def _dec(text: Any) -> Decimal:
    return Decimal(str(text))


def _s(x: Decimal) -> str:
    """A number as Binance sends it: a string with eight decimals."""
    return f"{x.quantize(Decimal('0.00000001'), rounding=ROUND_DOWN):f}"


@dataclass(slots=True)
class Trade:
    """One execution of an order (``myTrades`` row, or a ``fills`` entry of a FULL answer)."""

    id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int


@dataclass(slots=True)
class Order:
    """A spot order as the venue keeps it; ``locked`` is what it holds of the account while open."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT / STOP_LOSS
    qty: Decimal
    price: Decimal  # limit price (0 for market and stop)
    stop_price: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    quote: Decimal = ZERO  # cummulativeQuoteQty
    update_time: int = 0
    locked_asset: str = ""
    locked: Decimal = ZERO
    trades: list[Trade] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def json(self, *, full: bool = False) -> dict[str, Any]:
        """The order as ``GET /api/v3/order`` answers it (``full``: as a FULL ``POST`` answer, with fills)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": _s(self.price),
            "origQty": _s(self.qty),
            "executedQty": _s(self.executed),
            "cummulativeQuoteQty": _s(self.quote),
            "status": self.status,
            "timeInForce": "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": _s(self.stop_price),
            "workingTime": self.time,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if full:
            out["transactTime"] = self.time
            out["fills"] = [
                {
                    "price": _s(t.price),
                    "qty": _s(t.qty),
                    "commission": _s(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.id,
                }
                for t in self.trades
            ]
        else:
            out.update(
                {
                    "icebergQty": "0.00000000",
                    "time": self.time,
                    "updateTime": self.update_time or self.time,
                    "isWorking": self.type != "STOP_LOSS" or not self.open,
                    "origQuoteOrderQty": "0.00000000",
                }
            )
        return out


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One order the venue accepted (the judge's record): who, what, when."""

    seq: int
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    qty: str
    price: str
    stop_price: str
    time: int


Answer = tuple[int, Any]
Bars = Callable[[str, int, int], list[list]]
"""``bars(symbol, start_ms, now_ms)``: the 1m ``[t, o, h, l, c, v]`` rows opening in ``[start, now]``."""


def _error(code: int, msg: str, status: int = 400) -> Answer:
    return status, {"code": code, "msg": msg}


class OrderBook:
    """The account and its orders. Every public method takes the server's "now" and is atomic."""

    def __init__(
        self,
        markets: dict[str, Any],
        bars: Bars,
        *,
        balances: dict[str, float],
        fee_rate: float,
        fee_in_received: bool = False,
    ) -> None:
        self.markets = markets  # symbol -> binance_server.Market
        self.bars = bars
        self.fee_rate = _dec(fee_rate)
        self.fee_in_received = fee_in_received
        self.balances: dict[str, Decimal] = {asset: _dec(v) for asset, v in balances.items()}
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.log: list[LogEntry] = []
        # the book's liquidity for the next MARKET orders, one fraction per order in turn: a
        # fraction under 1 fills that part (down to the lot step) and the rest expires, as Binance
        # ends a market order the book cannot fill whole (status EXPIRED, executedQty below origQty)
        self.market_fills: list[Decimal] = []
        self._next_id = 1000
        self._next_trade = 5000
        self._lock = threading.RLock()

    # -- the account ------------------------------------------------------------------------------
    def set_balance(self, asset: str, free: float) -> None:
        with self._lock:
            self.balances[asset] = _dec(free)

    def free(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)

    def account(self, now: int) -> Answer:
        with self._lock:
            self.match(now)
            assets = sorted({*self.balances, *self.locked})
            rows = [{"asset": a, "free": _s(self.free(a)), "locked": _s(self.locked.get(a, ZERO))} for a in assets]
            return 200, {
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "updateTime": now,
                "accountType": "SPOT",
                "balances": rows,
                "permissions": ["SPOT"],
            }

    def snapshot(self) -> dict[str, dict[str, str]]:
        """Free and locked per asset (for tests and the control endpoint)."""
        with self._lock:
            assets = sorted({*self.balances, *self.locked})
            return {a: {"free": _s(self.free(a)), "locked": _s(self.locked.get(a, ZERO))} for a in assets}

    def log_rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(e) for e in self.log]

    def placed(self, client_order_id: str) -> int:
        """How many times an order with this client id was accepted."""
        with self._lock:
            return sum(1 for e in self.log if e.client_order_id == client_order_id)

    # -- prices -----------------------------------------------------------------------------------
    def price(self, symbol: str, now: int) -> Decimal:
        """The price of the candle forming at ``now`` (its close so far), on the market's tick."""
        minute = now // 60_000 * 60_000
        rows = self.bars(symbol, minute, now)
        return _dec(round(rows[-1][4], self.markets[symbol].decimals))

    # -- orders -----------------------------------------------------------------------------------
    def place(self, params: dict[str, str], now: int) -> Answer:
        """``POST /api/v3/order``: validate as Binance does, accept, fill what is marketable."""
        with self._lock:
            self.match(now)
            symbol = params.get("symbol", "")
            market = self.markets.get(symbol)
            if market is None:
                return _error(-1121, "Invalid symbol.")
            side, kind = params.get("side", ""), params.get("type", "")
            if side not in ("BUY", "SELL"):
                return _error(-1100, "Illegal characters found in parameter 'side'; legal range is '^(BUY|SELL)$'.")
            if kind not in ("MARKET", "LIMIT", "STOP_LOSS"):
                return _error(-1116, "Invalid orderType.")
            try:
                qty = _dec(params["quantity"])
                price = _dec(params.get("price", "0"))
                stop = _dec(params.get("stopPrice", "0"))
            except (KeyError, ArithmeticError):
                return _error(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
            if kind == "LIMIT" and price <= 0:
                return _error(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            if kind == "STOP_LOSS" and stop <= 0:
                return _error(-1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
            cid = params.get("newClientOrderId") or f"web_{self._next_id}"
            if any(o.open and o.client_order_id == cid and o.symbol == symbol for o in self.orders.values()):
                return _error(-2010, "Duplicate order sent.")
            step, min_qty, tick = _dec(market.step_size), _dec(market.min_qty), _dec(market.tick_size)
            if qty < min_qty or qty % step != 0 or qty > _dec(market.max_qty):
                return _error(-1013, "Filter failure: LOT_SIZE")
            for p in (price, stop):
                if p and p % tick != 0:
                    return _error(-1013, "Filter failure: PRICE_FILTER")
            now_price = self.price(symbol, now)
            ref = {"MARKET": now_price, "LIMIT": price, "STOP_LOSS": stop}[kind]
            if qty * ref < _dec(market.min_notional):
                return _error(-1013, "Filter failure: NOTIONAL")
            # what the order holds while open: quote for a buy (with the fee), base for a sell
            if side == "BUY":
                asset, need = market.quote, qty * ref * (1 + self.fee_rate)
            else:
                asset, need = market.base, qty
            if self.free(asset) < need:
                return _error(-2010, INSUFFICIENT)
            order = Order(self._next_id, cid, symbol, side, kind, qty, price if kind == "LIMIT" else ZERO, stop, now)
            self._next_id += 1
            self.balances[asset] = self.free(asset) - need
            self.locked[asset] = self.locked.get(asset, ZERO) + need
            order.locked_asset, order.locked = asset, need
            self.orders[order.order_id] = order
            self.log.append(
                LogEntry(len(self.log) + 1, order.order_id, cid, symbol, side, kind, _s(qty), _s(price), _s(stop), now)
            )
            marketable = kind == "LIMIT" and (now_price <= price if side == "BUY" else now_price >= price)
            if kind == "MARKET":
                share = self.market_fills.pop(0) if self.market_fills else Decimal(1)
                part = (qty * share // step * step) if share < 1 else qty
                self._fill(order, now_price, now, part)
            elif marketable:
                self._fill(order, now_price, now)
            return 200, order.json(full=True)

    def _fill(self, order: Order, price: Decimal, when: int, qty: Decimal | None = None) -> None:
        """Fill ``qty`` of the order (all of it by default) at ``price`` and end it: release what
        it held, move base and quote, charge the fee. Less than all ends it EXPIRED (a market order
        the book had too little for)."""
        market = self.markets[order.symbol]
        part = order.qty if qty is None else qty
        notional = part * price
        fee = notional * self.fee_rate
        fee_asset = market.quote
        self.locked[order.locked_asset] -= order.locked
        if order.side == "BUY" and self.fee_in_received:  # the fee is taken from the base bought
            fee, fee_asset = part * self.fee_rate, market.base
            self.balances[market.quote] = self.free(market.quote) + order.locked - notional
            self.balances[market.base] = self.free(market.base) + part - fee
        elif order.side == "BUY":
            self.balances[market.quote] = self.free(market.quote) + order.locked - notional - fee
            self.balances[market.base] = self.free(market.base) + part
        else:
            self.balances[market.base] = self.free(market.base) + order.locked - part
            self.balances[market.quote] = self.free(market.quote) + notional - fee
        order.locked = ZERO
        status = "FILLED" if part == order.qty else "EXPIRED"
        order.executed, order.quote, order.status, order.update_time = part, notional, status, when
        if part > 0:
            order.trades.append(
                Trade(self._next_trade, order.order_id, order.symbol, order.side, price, part, fee, fee_asset, when)
            )
            self._next_trade += 1

    def match(self, now: int) -> None:
        """Bring every resting order up to ``now``: fill a limit or stop the first 1m candle after its
        placement trades through (at its own price)."""
        with self._lock:
            for order in list(self.orders.values()):
                if not order.open or order.type == "MARKET":
                    continue
                level = order.price if order.type == "LIMIT" else order.stop_price
                falls = (order.side == "BUY") == (order.type == "LIMIT")  # a buy limit / sell stop waits for a fall
                start = order.time // 60_000 * 60_000
                for t, _o, high, low, _c, _v in self.bars(order.symbol, start, now):
                    if (falls and _dec(low) <= level) or (not falls and _dec(high) >= level):
                        self._fill(order, level, max(int(t), order.time))
                        break

    def _find(self, params: dict[str, str]) -> Order | None:
        symbol = params.get("symbol", "")
        if "origClientOrderId" in params:
            found = [
                o
                for o in self.orders.values()
                if o.symbol == symbol and o.client_order_id == params["origClientOrderId"]
            ]
            return found[-1] if found else None  # the newest with that id, as Binance answers
        try:
            order = self.orders.get(int(params.get("orderId", "")))
        except ValueError:
            return None
        return order if order is not None and order.symbol == symbol else None

    def query(self, params: dict[str, str], now: int) -> Answer:
        """``GET /api/v3/order`` by ``origClientOrderId`` or ``orderId``."""
        with self._lock:
            self.match(now)
            if params.get("symbol") not in self.markets:
                return _error(-1121, "Invalid symbol.")
            order = self._find(params)
            return (200, order.json()) if order is not None else _error(-2013, "Order does not exist.")

    def open_orders(self, params: dict[str, str], now: int) -> Answer:
        with self._lock:
            self.match(now)
            symbol = params.get("symbol")
            if symbol is not None and symbol not in self.markets:
                return _error(-1121, "Invalid symbol.")
            return 200, [o.json() for o in self.orders.values() if o.open and symbol in (None, o.symbol)]

    def cancel(self, params: dict[str, str], now: int) -> Answer:
        """``DELETE /api/v3/order``: an open order is cancelled and releases what it held."""
        with self._lock:
            self.match(now)
            if params.get("symbol") not in self.markets:
                return _error(-1121, "Invalid symbol.")
            order = self._find(params)
            if order is None or not order.open:
                return _error(-2011, "Unknown order sent.")
            self.locked[order.locked_asset] -= order.locked
            self.balances[order.locked_asset] = self.free(order.locked_asset) + order.locked
            order.locked, order.status, order.update_time = ZERO, "CANCELED", now
            out = order.json()
            out["origClientOrderId"] = order.client_order_id
            out["transactTime"] = now
            return 200, out

    def my_trades(self, params: dict[str, str], now: int) -> Answer:
        """``GET /api/v3/myTrades`` (``orderId`` narrows it to one order)."""
        with self._lock:
            self.match(now)
            symbol = params.get("symbol", "")
            if symbol not in self.markets:
                return _error(-1121, "Invalid symbol.")
            wanted = params.get("orderId")
            rows = []
            for order in self.orders.values():
                if order.symbol != symbol or (wanted is not None and str(order.order_id) != wanted):
                    continue
                for t in order.trades:
                    rows.append(
                        {
                            "symbol": symbol,
                            "id": t.id,
                            "orderId": t.order_id,
                            "orderListId": -1,
                            "price": _s(t.price),
                            "qty": _s(t.qty),
                            "quoteQty": _s(t.price * t.qty),
                            "commission": _s(t.commission),
                            "commissionAsset": t.commission_asset,
                            "time": t.time,
                            "isBuyer": t.side == "BUY",
                            "isMaker": order.type != "MARKET",
                            "isBestMatch": True,
                        }
                    )
            return 200, sorted(rows, key=lambda r: r["id"])
