"""Reference backtest: a slow, literal, step-by-step reading of SPEC.md.

Written from the SPEC only (sections 1-7, 9.2-9.4, 10.1), independently of ``engine/``, so that the
fast engine and this file can be run side by side and any disagreement exposes a bug in one of them
(or an ambiguity in the SPEC). Favours obviousness over speed:

* the backtest is a per-frame loop calling :meth:`_Strategy.tick` (SPEC 6.3);
* every candle fetch really builds the ``since``/``limit`` request, asks the reference "exchange"
  (``candle_at`` over consecutive minute boundaries), runs the sanity check of 3.5 on the raw answer and
  filters by time as 4.1 says;
* every VWAP is computed over exactly those candles, in list order (4.2);
* the fast-forward of 6.4 walks the fetched candle list candle by candle.

Every floating-point expression keeps the operation order the SPEC writes, so results can be compared
bit for bit. Everything is synchronous; nothing sleeps (one attempt per candle request, as in the SPEC's
test profile).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

MINUTE_MS = 60_000
PARTIAL_LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


# --------------------------------------------------------------------------- config (SPEC 2)


@dataclass
class RefConfig:
    """GLOBAL_CONFIG keys the backtest needs; defaults are the SPEC section 2 defaults."""

    schedule_await_minutes: int = 120
    avg_price_candles_count: int = 5
    percent_slippage: float = 0.1
    percent_fee: float = 0.1
    min_takeprofit_distance_percent: float = 0.5
    min_stoploss_distance_percent: float = 0.5
    max_stoploss_distance_percent: float = 20
    max_signal_lifetime_minutes: int = 1440
    anomaly_threshold_factor: int = 1000
    min_candles_for_median: int = 5

    @classmethod
    def test_profile(cls) -> RefConfig:
        """SPEC 2 "test profile": slippage 0.1, fee 0.1, MIN_TP 0, MIN_SL 0, MAX_SL 100, MAX_LIFETIME 999999
        (RETRY_COUNT 1 is implied: the reference always makes exactly one attempt per request)."""
        return cls(
            percent_slippage=0.1,
            percent_fee=0.1,
            min_takeprofit_distance_percent=0,
            min_stoploss_distance_percent=0,
            max_stoploss_distance_percent=100,
            max_signal_lifetime_minutes=999999,
        )


# --------------------------------------------------------------------------- outcome


@dataclass
class RefOutcome:
    """Everything observable of one reference backtest, in order."""

    yielded: list[dict] = field(default_factory=list)
    """Results the backtest generator yields (SPEC 6.3)."""
    emitted: list[dict] = field(default_factory=list)
    """Every result emitted on signalBacktest (tick results and fast-forward results, SPEC 5.5)."""
    callbacks: list[tuple] = field(default_factory=list)
    """Strategy callbacks in call order (SPEC 1.7)."""
    partial_events: list[tuple] = field(default_factory=list)
    """("profit"|"loss", signal_id, level, current_price, timestamp) in emission order (SPEC 10.1)."""
    risk_events: list[dict] = field(default_factory=list)
    """Risk-subject payloads (rejections only, SPEC 9.2); ``timestamp`` is None (wall clock upstream)."""
    errors: list[str] = field(default_factory=list)
    """Messages of every error emitted on the error subject, in order."""
    get_signal_calls: list[int] = field(default_factory=list)
    """``when_ms`` of every call into the user's get_signal."""
    frames_ticked: list[int] = field(default_factory=list)
    """``when_ms`` of every frame on which tick() ran."""
    validation_errors: list[str] = field(default_factory=list)
    """Messages of exceptions raised by risk validations (the validation subject, SPEC 9.2)."""
    progress: list[tuple[int, int, float]] = field(default_factory=list)
    """progressBacktest payloads as (processed_frames, total_frames, progress)."""
    candle_requests: list[tuple[int, int]] = field(default_factory=list)
    """Every call into the reference exchange as (since_ms, limit) (debugging aid)."""


# --------------------------------------------------------------------------- small helpers


class RefCandle(NamedTuple):
    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def _num(x: Any) -> float:
    """A value as a JS number for comparisons: non-numbers become NaN (so every comparison is false)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return math.nan
    return float(x)


def _is_finite(x: Any) -> bool:
    return math.isfinite(_num(x))


def _js_div(a: float, b: float) -> float:
    """``a / b`` with JavaScript semantics (no ZeroDivisionError)."""
    if b == 0:
        if a == 0 or math.isnan(a) or math.isnan(b):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def vwap(candles: list[RefCandle]) -> float:
    """SPEC 4.2: Σ(tp·volume)/Σ(volume) summed in list order; mean of closes if Σvolume == 0."""
    sum_price_volume = 0.0
    for c in candles:
        typical_price = (c.high + c.low + c.close) / 3
        sum_price_volume = sum_price_volume + typical_price * c.volume
    total_volume = 0.0
    for c in candles:
        total_volume = total_volume + c.volume
    if total_volume == 0:
        sum_close = 0.0
        for c in candles:
            sum_close = sum_close + c.close
        return sum_close / len(candles)
    return sum_price_volume / total_volume


def pnl(position: str, price_open: float, price_close: float, config: RefConfig) -> float:
    """SPEC 7, in the written operation order."""
    s = config.percent_slippage
    f = config.percent_fee
    if position == "long":
        open_adj = price_open * (1 + s / 100)
        close_adj = price_close * (1 - s / 100)
        result = (close_adj - open_adj) / open_adj * 100
    else:
        open_adj = price_open * (1 - s / 100)
        close_adj = price_close * (1 + s / 100)
        result = (open_adj - close_adj) / open_adj * 100
    return result - 2 * f


def strip_note(note: Any) -> str:
    """Markdown stripping reduced to what the reference needs: collapse whitespace, trim (SPEC 5.1)."""
    if not note:
        return ""
    return " ".join(str(note).split())


class _RiskRejected(Exception):
    pass


# --------------------------------------------------------------------------- risk (SPEC 9.2-9.4)


class _ClientRisk:
    """One ClientRisk in backtest mode: ordered validations, position map ``strategy:symbol``."""

    def __init__(self, validations: list[Any], outcome: RefOutcome) -> None:
        self.validations = list(validations)
        self.outcome = outcome
        self.positions: dict[str, dict] = {}

    def check_signal(self, args: dict) -> bool:
        payload = dict(args)
        payload["active_position_count"] = len(self.positions)
        payload["active_positions"] = [dict(v) for v in self.positions.values()]
        for item in self.validations:
            if callable(item):
                fn, note = item, None
            elif isinstance(item, dict):
                fn, note = item["validate"], item.get("note")
            else:
                fn, note = item.validate, getattr(item, "note", None)
            try:
                fn(payload)
            except Exception as exc:
                self.outcome.validation_errors.append(str(exc))
                self.outcome.risk_events.append(
                    {
                        "symbol": args["symbol"],
                        "pending_signal": args["pending_signal"],
                        "strategy_name": args["strategy_name"],
                        "exchange_name": args["exchange_name"],
                        "current_price": args["current_price"],
                        "active_position_count": len(self.positions),
                        "comment": note if note else "N/A",
                        "timestamp": None,
                        "backtest": True,
                    }
                )
                return False
        return True

    def add_signal(self, symbol: str, strategy_name: str) -> None:
        self.positions[f"{strategy_name}:{symbol}"] = {
            "signal": None,
            "strategy_name": strategy_name,
            "exchange_name": "",
            "open_timestamp": None,  # wall clock upstream
        }

    def remove_signal(self, symbol: str, strategy_name: str) -> None:
        self.positions.pop(f"{strategy_name}:{symbol}", None)


class _MergeRisk:
    """SPEC 9.4: every child is checked (no short-circuit); add/remove forwarded to every child.
    Children are checked one after another in list order (upstream runs them concurrently)."""

    def __init__(self, children: list[_ClientRisk]) -> None:
        self.children = children

    def check_signal(self, args: dict) -> bool:
        results = [child.check_signal(args) for child in self.children]
        return all(results)

    def add_signal(self, symbol: str, strategy_name: str) -> None:
        for child in self.children:
            child.add_signal(symbol, strategy_name)

    def remove_signal(self, symbol: str, strategy_name: str) -> None:
        for child in self.children:
            child.remove_signal(symbol, strategy_name)


class _NoRisk:
    def check_signal(self, args: dict) -> bool:
        return True

    def add_signal(self, symbol: str, strategy_name: str) -> None:
        pass

    def remove_signal(self, symbol: str, strategy_name: str) -> None:
        pass


# --------------------------------------------------------------------------- partial (SPEC 10.1)


class _Partial:
    def __init__(self, outcome: RefOutcome) -> None:
        self.outcome = outcome
        self.levels: dict[str, tuple[set[int], set[int]]] = {}

    def _state(self, signal_id: str) -> tuple[set[int], set[int]]:
        if signal_id not in self.levels:
            self.levels[signal_id] = (set(), set())
        return self.levels[signal_id]

    def profit(self, row: dict, price: float, percent_tp: float, when: int) -> None:
        reached, _ = self._state(row["id"])
        for level in PARTIAL_LEVELS:
            if percent_tp >= level and level not in reached:
                reached.add(level)
                self.outcome.partial_events.append(("profit", row["id"], level, price, when))

    def loss(self, row: dict, price: float, percent_sl: float, when: int) -> None:
        _, reached = self._state(row["id"])
        for level in PARTIAL_LEVELS:
            if abs(percent_sl) >= level and level not in reached:
                reached.add(level)
                self.outcome.partial_events.append(("loss", row["id"], level, price, when))

    def clear(self, row: dict) -> None:
        self.levels.pop(row["id"], None)


# --------------------------------------------------------------------------- the reference run


class _Reference:
    """Exchange (SPEC 4) + strategy instance (SPEC 5, 6.4) + backtest loop (SPEC 6.3), one object."""

    def __init__(
        self,
        *,
        candle_at: Callable[[int], tuple | None],
        get_signal: Callable[[int, float], dict | None],
        signal_interval_minutes: int,
        config: RefConfig,
        now_ms: int,
        risk: Any,
        id_factory: Callable[[], str],
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        outcome: RefOutcome,
    ) -> None:
        self.candle_at = candle_at
        self.user_get_signal = get_signal
        self.interval_ms = signal_interval_minutes * MINUTE_MS
        self.config = config
        self.now_ms = now_ms
        self.risk = risk
        self.id_factory = id_factory
        self.symbol = symbol
        self.strategy_name = strategy_name
        self.exchange_name = exchange_name
        self.out = outcome
        self.partial = _Partial(outcome)
        # strategy instance state (SPEC 5)
        self.stopped = False
        self.pending: dict | None = None
        self.scheduled: dict | None = None
        self.last_signal_timestamp: int | None = None

    # ------------------------------------------------------------------ exchange (SPEC 4.1, 3.5)

    def _user_get_candles(self, since: int, limit: int) -> list[RefCandle]:
        """The reference exchange: ``limit`` consecutive minute boundaries from the first one >= since."""
        self.out.candle_requests.append((since, limit))
        first = -(-since // MINUTE_MS) * MINUTE_MS
        candles: list[RefCandle] = []
        for j in range(int(limit)):
            t = first + j * MINUTE_MS
            values = self.candle_at(t)
            if values is None:
                continue
            o, h, lo, c, v = values
            candles.append(RefCandle(t, float(o), float(h), float(lo), float(c), float(v)))
        return candles

    def _sanity_check(self, candles: list[RefCandle]) -> None:
        """SPEC 3.5 on a raw response; raises on failure."""
        if len(candles) == 0:
            return
        values: list[float] = []
        for c in candles:
            for x in (c.open, c.high, c.low, c.close):
                if x > 0:
                    values.append(x)
        m = len(values)
        if m == 0:
            raise ValueError("candle sanity check: cannot calculate reference price (no positive prices)")
        if len(candles) >= self.config.min_candles_for_median:
            reference = sorted(values)[m // 2]
        else:
            total = 0.0
            for x in values:
                total = total + x
            reference = total / m
        if reference == 0:
            raise ValueError("candle sanity check: cannot calculate reference price")
        threshold = reference / self.config.anomaly_threshold_factor
        for i, c in enumerate(candles):
            fields = (c.timestamp, c.open, c.high, c.low, c.close, c.volume)
            if not all(math.isfinite(x) for x in fields):
                raise ValueError(f"candle[{i}] has a non-finite field: {fields}")
            if c.open <= 0 or c.high <= 0 or c.low <= 0 or c.close <= 0 or c.volume < 0:
                raise ValueError(f"candle[{i}] has a non-positive price or negative volume: {fields}")
            for name, x in (("open", c.open), ("high", c.high), ("low", c.low), ("close", c.close)):
                if x < threshold:
                    raise ValueError(
                        f"candle[{i}] has anomalously low price: {name}={x} < threshold={threshold} "
                        f"(reference={reference})"
                    )

    def _fetch(self, since: int, limit: int) -> list[RefCandle]:
        """One attempt (RETRY_COUNT = 1): ask the exchange, check the raw answer."""
        candles = self._user_get_candles(since, limit)
        self._sanity_check(candles)
        return candles

    def get_candles(self, when: int, limit: int, step_minutes: int = 1) -> list[RefCandle]:
        """SPEC 4.1 history fetch backwards from ``when`` (context time)."""
        adjust = limit * step_minutes - step_minutes
        if adjust == 0:
            raise ValueError(f"unknown time adjust for interval step={step_minutes}m limit={limit}")
        since = when - adjust * MINUTE_MS
        raw = self._fetch(since, limit)
        return [c for c in raw if since <= c.timestamp <= when]

    def get_next_candles(self, when: int, limit: int, step_minutes: int = 1) -> list[RefCandle]:
        """SPEC 4.1 future fetch from ``when`` (context time); [] if it reaches past the wall clock."""
        since = when
        end = since + limit * step_minutes * MINUTE_MS
        if end > self.now_ms:
            return []
        raw = self._fetch(since, limit)
        return [c for c in raw if since <= c.timestamp <= end]

    def average_price(self, when: int) -> float:
        """SPEC 4.2 getAveragePrice at ``when``."""
        candles = self.get_candles(when, self.config.avg_price_candles_count)
        if len(candles) == 0:
            raise ValueError(f"no candles data for symbol={self.symbol}")
        return vwap(candles)

    # ------------------------------------------------------------------ results

    def _result(self, action: str, signal: dict | None, current_price: float, **extra: Any) -> dict:
        result = {
            "action": action,
            "symbol": self.symbol,
            "current_price": current_price,
            "backtest": True,
            "signal": dict(signal) if signal is not None else None,
        }
        result.update(extra)
        return result

    def _cancelled(self, row: dict, price: float, close_timestamp: int) -> dict:
        waited = close_timestamp - row["scheduled_at"]
        reason = "timeout" if waited >= self.config.schedule_await_minutes * MINUTE_MS else "price_reject"
        return self._result("cancelled", row, price, close_timestamp=close_timestamp, cancel_reason=reason)

    def _cb(self, *entry: Any) -> None:
        self.out.callbacks.append(entry)

    def _on_tick(self, result: dict) -> dict:
        self._cb("on_tick", result["action"])
        return result

    def _set_pending(self, row: dict | None) -> None:
        """Every change of the pending slot calls onWrite (SPEC 1.7), also in backtest."""
        self.pending = row
        self._cb("on_write", row["id"] if row is not None else None)

    def _idle(self, price: float) -> dict:
        """The ordinary idle path: onIdle, result idle, onTick."""
        self._cb("on_idle", price)
        return self._on_tick(self._result("idle", None, price))

    def _risk_args(self, pending_signal: dict, current_price: float, timestamp: int) -> dict:
        return {
            "symbol": self.symbol,
            "pending_signal": dict(pending_signal),
            "strategy_name": self.strategy_name,
            "exchange_name": self.exchange_name,
            "current_price": current_price,
            "timestamp": timestamp,
        }

    # ------------------------------------------------------------------ signal validation (SPEC 3.2)

    def _validate(self, row: dict, current_price: float, is_scheduled: bool) -> None:
        cfg = self.config
        errors: list[str] = []
        position = row.get("position")
        # 1.
        for key in ("id", "exchange_name", "strategy_name", "symbol"):
            if not row.get(key):
                errors.append(f"{key} must be a non-empty string, got {row.get(key)!r}")
        if row.get("is_scheduled") is None:
            errors.append("is_scheduled (_isScheduled) is required")
        if position is None:
            errors.append("position is required")
        elif position not in ("long", "short"):
            errors.append(f"position must be 'long' or 'short', got {position!r}")
        # 2.
        cp = _num(current_price)
        if not math.isfinite(cp):
            errors.append(f"currentPrice must be a finite number, got {current_price!r}")
        elif cp <= 0:
            errors.append(f"currentPrice must be positive, got {current_price!r}")
        # 3.
        for key in ("price_open", "price_take_profit", "price_stop_loss"):
            value = row.get(key)
            if not _is_finite(value):
                errors.append(f"{key} must be a finite number, got {value!r}")
            elif _num(value) <= 0:
                errors.append(f"{key} must be positive, got {value!r}")
        po = _num(row.get("price_open"))
        tp = _num(row.get("price_take_profit"))
        sl = _num(row.get("price_stop_loss"))
        # 4.
        if position == "long":
            if tp <= po:
                errors.append(f"Long: price_take_profit ({tp}) must be > price_open ({po})")
            if sl >= po:
                errors.append(f"Long: price_stop_loss ({sl}) must be < price_open ({po})")
        elif position == "short":
            if tp >= po:
                errors.append(f"Short: price_take_profit ({tp}) must be < price_open ({po})")
            if sl <= po:
                errors.append(f"Short: price_stop_loss ({sl}) must be > price_open ({po})")
        # 5. / 6.
        if not is_scheduled:
            if position == "long":
                if cp <= sl:
                    errors.append(
                        f"Long immediate: current_price ({cp}) <= price_stop_loss ({sl}), "
                        f"the stop-loss would trigger at once"
                    )
                if cp >= tp:
                    errors.append(
                        f"Long immediate: current_price ({cp}) >= price_take_profit ({tp}), "
                        f"the take-profit is already reached"
                    )
            elif position == "short":
                if cp >= sl:
                    errors.append(
                        f"Short immediate: current_price ({cp}) >= price_stop_loss ({sl}), "
                        f"the stop-loss would trigger at once"
                    )
                if cp <= tp:
                    errors.append(
                        f"Short immediate: current_price ({cp}) <= price_take_profit ({tp}), "
                        f"the take-profit is already reached"
                    )
        else:
            if position == "long":
                if po <= sl:
                    errors.append(f"Long scheduled: price_open ({po}) <= price_stop_loss ({sl})")
                if po >= tp:
                    errors.append(f"Long scheduled: price_open ({po}) >= price_take_profit ({tp})")
            elif position == "short":
                if po >= sl:
                    errors.append(f"Short scheduled: price_open ({po}) >= price_stop_loss ({sl})")
                if po <= tp:
                    errors.append(f"Short scheduled: price_open ({po}) <= price_take_profit ({tp})")
        # 7.-9. distances (JS division semantics)
        if position in ("long", "short"):
            if position == "long":
                tp_distance = _js_div(tp - po, po) * 100
                sl_distance = _js_div(po - sl, po) * 100
            else:
                tp_distance = _js_div(po - tp, po) * 100
                sl_distance = _js_div(sl - po, po) * 100
            if cfg.min_takeprofit_distance_percent and tp_distance < cfg.min_takeprofit_distance_percent:
                errors.append(
                    f"price_take_profit too close to price_open: distance {tp_distance:.3f}% "
                    f"< minimum {cfg.min_takeprofit_distance_percent}% (tp={tp}, open={po})"
                )
            if cfg.min_stoploss_distance_percent and sl_distance < cfg.min_stoploss_distance_percent:
                errors.append(
                    f"price_stop_loss too close to price_open: distance {sl_distance:.3f}% "
                    f"< minimum {cfg.min_stoploss_distance_percent}% (sl={sl}, open={po})"
                )
            if cfg.max_stoploss_distance_percent and sl_distance > cfg.max_stoploss_distance_percent:
                errors.append(
                    f"price_stop_loss too far from price_open: distance {sl_distance:.3f}% "
                    f"> maximum {cfg.max_stoploss_distance_percent}% (sl={sl}, open={po})"
                )
        # 10.-11.
        met_raw = row.get("minute_estimated_time")
        met = _num(met_raw)
        if met <= 0:
            errors.append(f"minute_estimated_time must be positive, got {met_raw!r}")
        if not (math.isfinite(met) and met.is_integer()):
            errors.append(f"minute_estimated_time must be an integer, got {met_raw!r}")
        if cfg.max_signal_lifetime_minutes and met > cfg.max_signal_lifetime_minutes:
            errors.append(
                f"minute_estimated_time ({met_raw!r}) exceeds the maximum lifetime "
                f"{cfg.max_signal_lifetime_minutes} minutes"
            )
        # 12.
        if not _num(row.get("scheduled_at")) > 0:
            errors.append(f"scheduled_at must be positive, got {row.get('scheduled_at')!r}")
        if not _num(row.get("pending_at")) > 0:
            errors.append(f"pending_at must be positive, got {row.get('pending_at')!r}")
        if errors:
            raise ValueError(f"Invalid signal for {position} position:\n" + "\n".join(errors))

    # ------------------------------------------------------------------ getSignal pipeline (SPEC 5.1)

    def _pipeline(self, when: int) -> dict | None:
        if self.stopped:
            return None
        if self.last_signal_timestamp is not None and when - self.last_signal_timestamp < self.interval_ms:
            return None
        self.last_signal_timestamp = when
        try:
            current_price = self.average_price(when)
            self.out.get_signal_calls.append(when)
            dto = self.user_get_signal(when, current_price)
            if dto is None:
                return None
            if not isinstance(dto, dict):
                dto = {
                    k: getattr(dto, k, None)
                    for k in (
                        "position",
                        "price_open",
                        "price_take_profit",
                        "price_stop_loss",
                        "minute_estimated_time",
                        "note",
                        "id",
                    )
                }
            if self.stopped:
                return None
            # risk check #1 on the raw DTO
            if not self.risk.check_signal(self._risk_args(dto, current_price, when)):
                return None
            signal_id = dto.get("id") or self.id_factory()

            def price(x: Any) -> Any:
                return float(x) if isinstance(x, int) and not isinstance(x, bool) else x

            row = {
                "id": signal_id,
                "position": dto.get("position"),
                "price_open": None,
                "price_take_profit": price(dto.get("price_take_profit")),
                "price_stop_loss": price(dto.get("price_stop_loss")),
                "minute_estimated_time": dto.get("minute_estimated_time"),
                "symbol": self.symbol,
                "exchange_name": self.exchange_name,
                "strategy_name": self.strategy_name,
                "scheduled_at": when,
                "pending_at": when,
                "is_scheduled": False,
                "note": strip_note(dto.get("note")),
            }
            dto_open = dto.get("price_open")
            if dto_open is not None:
                po = _num(dto_open)
                reached = (row["position"] == "long" and current_price <= po) or (
                    row["position"] == "short" and current_price >= po
                )
                row["price_open"] = price(dto_open)
                row["is_scheduled"] = not reached
                self._validate(row, current_price, is_scheduled=not reached)
            else:
                row["price_open"] = current_price
                self._validate(row, current_price, is_scheduled=False)
            return row
        except Exception as exc:  # SPEC 3.3
            self.out.errors.append(str(exc))
            return None

    # ------------------------------------------------------------------ progress (SPEC 5.3)

    def _progress(self, row: dict, p: float, when: int) -> tuple[float, float]:
        po = row["price_open"]
        if row["position"] == "long":
            d = p - po
        else:
            d = po - p
        percent_tp = 0.0
        percent_sl = 0.0
        if d > 0:
            percent_tp = min(d / abs(row["price_take_profit"] - po) * 100, 100)
            self.partial.profit(row, p, percent_tp, when)
            self._cb("on_partial_profit", row["id"], p, percent_tp)
        elif d < 0:
            percent_sl = min(abs(d) / abs(po - row["price_stop_loss"]) * 100, 100)
            self.partial.loss(row, p, percent_sl, when)
            self._cb("on_partial_loss", row["id"], p, percent_sl)
        return percent_tp, percent_sl

    # ------------------------------------------------------------------ closing (SPEC 5.4)

    def _close(self, row: dict, close_price: float, reason: str, close_timestamp: int) -> dict:
        pnl_percentage = pnl(row["position"], row["price_open"], close_price, self.config)
        self._cb("on_close", row["id"], close_price)
        self.partial.clear(row)
        self.risk.remove_signal(self.symbol, self.strategy_name)
        self._set_pending(None)
        result = self._result(
            "closed",
            row,
            close_price,
            close_reason=reason,
            close_timestamp=close_timestamp,
            pnl_percentage=pnl_percentage,
            pnl_price_open=row["price_open"],
            pnl_price_close=close_price,
        )
        return self._on_tick(result)

    def _open(self, row: dict) -> dict:
        """Accepted open (immediate or tick activation): risk.addSignal, onOpen, opened, onTick."""
        self.risk.add_signal(self.symbol, self.strategy_name)
        self._cb("on_open", row["id"], row["price_open"], row["pending_at"])
        return self._on_tick(self._result("opened", row, row["price_open"]))

    # ------------------------------------------------------------------ tick (SPEC 5.2)

    def tick(self, when: int) -> dict:
        cfg = self.config
        # 1. stopped
        if self.stopped:
            return self._idle(self.average_price(when))
        # 2. scheduled slot
        if self.scheduled is not None and self.pending is None:
            row = self.scheduled
            p = self.average_price(when)
            if when - row["scheduled_at"] >= cfg.schedule_await_minutes * MINUTE_MS:
                self.scheduled = None
                self._cb("on_cancel", row["id"], p)
                return self._on_tick(self._cancelled(row, p, when))
            cancel = activate = False
            if row["position"] == "long":
                if p <= row["price_stop_loss"]:
                    cancel = True
                elif p <= row["price_open"]:
                    activate = True
            else:
                if p >= row["price_stop_loss"]:
                    cancel = True
                elif p >= row["price_open"]:
                    activate = True
            if cancel:
                self.scheduled = None
                return self._on_tick(self._result("idle", None, p))
            if activate:
                if self.stopped:
                    self.scheduled = None
                    return self._idle(p)
                args = self._risk_args(row, row["price_open"], when)
                if not self.risk.check_signal(args):
                    self.scheduled = None
                    return self._idle(p)
                self.scheduled = None
                activated = dict(row)
                activated["pending_at"] = when
                activated["is_scheduled"] = False
                self._set_pending(activated)
                return self._open(activated)
            return self._on_tick(self._result("active", row, p, percent_tp=0.0, percent_sl=0.0))
        # 3. both slots empty
        if self.pending is None and self.scheduled is None:
            row = self._pipeline(when)
            if row is not None:
                if row["is_scheduled"]:
                    self.scheduled = row
                    p = self.average_price(when)
                    self._cb("on_schedule", row["id"], p)
                    return self._on_tick(self._result("scheduled", row, p))
                self._set_pending(row)
                if self.risk.check_signal(self._risk_args(row, row["price_open"], when)):
                    return self._open(row)
                self._set_pending(None)
            return self._idle(self.average_price(when))
        # 4. pending slot
        row = self.pending
        p = self.average_price(when)
        pending_at = row.get("pending_at")
        if pending_at is not None and when - pending_at >= row["minute_estimated_time"] * MINUTE_MS:
            return self._close(row, p, "time_expired", when)
        if row["position"] == "long":
            if p >= row["price_take_profit"]:
                return self._close(row, row["price_take_profit"], "take_profit", when)
            if p <= row["price_stop_loss"]:
                return self._close(row, row["price_stop_loss"], "stop_loss", when)
        else:
            if p <= row["price_take_profit"]:
                return self._close(row, row["price_take_profit"], "take_profit", when)
            if p >= row["price_stop_loss"]:
                return self._close(row, row["price_stop_loss"], "stop_loss", when)
        percent_tp, percent_sl = self._progress(row, p, when)
        return self._on_tick(self._result("active", row, p, percent_tp=percent_tp, percent_sl=percent_sl))

    # ------------------------------------------------------------------ stop (SPEC 5.6)

    def stop(self) -> None:
        self.stopped = True
        if self.scheduled is not None:
            self.scheduled = None  # dropped, no onCancel

    # ------------------------------------------------------------------ fast-forward (SPEC 6.4)

    def backtest(self, candles: list[RefCandle]) -> dict:
        cfg = self.config
        if self.pending is None and self.scheduled is None:
            raise RuntimeError("backtest called with neither a pending nor a scheduled signal")
        w = cfg.avg_price_candles_count
        b = w - 1
        await_ms = cfg.schedule_await_minutes * MINUTE_MS

        def vw(arr: list[RefCandle], k: int) -> float:
            return vwap(arr[max(0, k - b) : k + 1])

        def vw_last(arr: list[RefCandle]) -> float:
            return vwap(arr[max(0, len(arr) - w) :])

        # ---- scheduled phase
        if self.scheduled is not None:
            row = self.scheduled
            activated = False
            for k in range(b, len(candles)):
                c = candles[k]
                if c.timestamp - row["scheduled_at"] >= await_ms:
                    return self._backtest_cancel(row, vw(candles, k), c.timestamp)
                cancel = activate = False
                if row["position"] == "long":
                    if c.low <= row["price_stop_loss"]:
                        cancel = True
                    elif c.low <= row["price_open"]:
                        activate = True
                else:
                    if c.high >= row["price_stop_loss"]:
                        cancel = True
                    elif c.high >= row["price_open"]:
                        activate = True
                if cancel:
                    return self._backtest_cancel(row, vw(candles, k), c.timestamp)
                if activate:
                    self._backtest_activate(row, c.timestamp)
                    if self.pending is None:
                        raise RuntimeError("no pending signal after scheduled activation")
                    sub = candles[k + 1 :]
                    if len(sub) == 0:
                        # quirk: closes with the scheduled row (pending_at == scheduled_at)
                        return self._close(row, vw(candles, k), "time_expired", c.timestamp)
                    candles = sub
                    activated = True
                    break
            if not activated:
                last = candles[-1]
                p = vw_last(candles)
                if last.timestamp - row["scheduled_at"] < await_ms:
                    return self._result("active", row, p, percent_tp=0.0, percent_sl=0.0)
                return self._backtest_cancel(row, p, last.timestamp)

        # ---- pending phase
        row = self.pending
        lifetime_ms = row["minute_estimated_time"] * MINUTE_MS
        for k in range(b, len(candles)):
            c = candles[k]
            if c.timestamp - row["pending_at"] >= lifetime_ms:
                return self._close(row, vw(candles, k), "time_expired", c.timestamp)
            if row["position"] == "long":
                if c.high >= row["price_take_profit"]:
                    return self._close(row, row["price_take_profit"], "take_profit", c.timestamp)
                if c.low <= row["price_stop_loss"]:
                    return self._close(row, row["price_stop_loss"], "stop_loss", c.timestamp)
            else:
                if c.low <= row["price_take_profit"]:
                    return self._close(row, row["price_take_profit"], "take_profit", c.timestamp)
                if c.high >= row["price_stop_loss"]:
                    return self._close(row, row["price_stop_loss"], "stop_loss", c.timestamp)
            self._progress(row, vw(candles, k), c.timestamp)
        return self._close(row, vw_last(candles), "time_expired", candles[-1].timestamp)

    def _backtest_cancel(self, row: dict, price: float, close_timestamp: int) -> dict:
        self.scheduled = None
        self._cb("on_cancel", row["id"], price)
        return self._on_tick(self._cancelled(row, price, close_timestamp))

    def _backtest_activate(self, row: dict, activation_time: int) -> None:
        """SPEC 6.4 step 3; no `opened` result. Leaves the pending slot empty if refused."""
        if self.stopped:
            self.scheduled = None
            return
        if not self.risk.check_signal(self._risk_args(row, row["price_open"], activation_time)):
            self.scheduled = None
            return
        self.scheduled = None
        activated = dict(row)
        activated["pending_at"] = activation_time
        activated["is_scheduled"] = False
        self._set_pending(activated)
        self.risk.add_signal(self.symbol, self.strategy_name)
        self._cb("on_open", activated["id"], activated["price_open"], activated["pending_at"])

    # ------------------------------------------------------------------ main loop (SPEC 6.3)

    def run(self, frames: list[int], stop_after_yields: int | None) -> None:
        cfg = self.config
        total = len(frames)
        yields = 0
        i = 0
        while i < total:
            self.out.progress.append((i, total, i / total))
            if self.stopped:
                break
            when = frames[i]
            self.out.frames_ticked.append(when)
            try:
                result = self.tick(when)
            except Exception as exc:
                self.out.errors.append(str(exc))
                i += 1
                continue
            self.out.emitted.append(result)
            if result["action"] == "idle" and self.stopped:
                break
            if result["action"] in ("scheduled", "opened"):
                buffer = cfg.avg_price_candles_count - 1
                met = result["signal"]["minute_estimated_time"]
                if result["action"] == "scheduled":
                    limit = buffer + cfg.schedule_await_minutes + met + 1
                else:
                    limit = met + buffer
                try:
                    candles = self.get_next_candles(when - buffer * MINUTE_MS, limit)
                except Exception as exc:
                    self.out.errors.append(str(exc))
                    i += 1
                    continue
                if len(candles) == 0:
                    i += 1
                    continue
                try:
                    bt_result = self.backtest(candles)
                except Exception as exc:
                    self.out.errors.append(str(exc))
                    i += 1
                    continue
                self.out.emitted.append(bt_result)
                if bt_result["action"] in ("closed", "cancelled"):
                    while i < total and frames[i] < bt_result["close_timestamp"]:
                        i += 1
                self.out.yielded.append(bt_result)
                yields += 1
                if stop_after_yields is not None and yields == stop_after_yields:
                    self.stop()
                if self.stopped:
                    break
            i += 1
        self.out.progress.append((total, total, 1.0))


def frame_timestamps(start_ms: int, end_ms: int, step_minutes: int) -> list[int]:
    """SPEC 6.1: start, start+step, ... while <= end."""
    out: list[int] = []
    t = start_ms
    while t <= end_ms:
        out.append(t)
        t += step_minutes * MINUTE_MS
    return out


def _default_id_factory() -> Callable[[], str]:
    counter = [0]

    def make() -> str:
        counter[0] += 1
        return f"sig-{counter[0]}"

    return make


def run_reference_backtest(
    *,
    candle_at: Callable[[int], tuple[float, float, float, float, float] | None],
    get_signal: Callable[[int, float], dict | None],
    frame_start_ms: int,
    frame_end_ms: int,
    frame_step_minutes: int = 1,
    signal_interval_minutes: int = 1,
    config: RefConfig | None = None,
    now_ms: int = 2**62,
    risk_validations: list[Any] | None = None,
    risk_list: list[list[Any]] | None = None,
    id_factory: Callable[[], str] | None = None,
    symbol: str = "BTCUSDT",
    strategy_name: str = "ref-strategy",
    exchange_name: str = "ref-exchange",
    stop_after_yields: int | None = None,
) -> RefOutcome:
    """Run one single-strategy backtest literally as the SPEC describes and record everything.

    ``risk_validations``: one ClientRisk's validations (callables, or ``{"validate": fn, "note": str}``
    dicts / objects with ``validate``/``note``), in order; ``None`` = no risk. ``risk_list``: further
    ClientRisks; if given, the strategy uses a MergeRisk of ``[risk_validations?, *risk_list]``
    (SPEC 9.1: riskName first, then riskList).
    """
    outcome = RefOutcome()
    if risk_list:
        children = [_ClientRisk(v, outcome) for v in risk_list]
        if risk_validations is not None:
            children.insert(0, _ClientRisk(risk_validations, outcome))
        risk: Any = _MergeRisk(children)
    elif risk_validations is not None:
        risk = _ClientRisk(risk_validations, outcome)
    else:
        risk = _NoRisk()
    ref = _Reference(
        candle_at=candle_at,
        get_signal=get_signal,
        signal_interval_minutes=signal_interval_minutes,
        config=config if config is not None else RefConfig(),
        now_ms=now_ms,
        risk=risk,
        id_factory=id_factory if id_factory is not None else _default_id_factory(),
        symbol=symbol,
        strategy_name=strategy_name,
        exchange_name=exchange_name,
        outcome=outcome,
    )
    ref.run(frame_timestamps(frame_start_ms, frame_end_ms, frame_step_minutes), stop_after_yields)
    return outcome
