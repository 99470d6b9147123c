"""From what ``get_signal`` returned to a validated ``SignalRow`` (SPEC 5.1 step 6 and 3.2).

A bad signal must tell its author everything that is wrong at once, so every rule runs and each
failure is one line naming the field, the bound and the values.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

from .config import Config
from .model import SIGNAL_DTO_KEYS, SignalDto, SignalRow

__all__ = ["IdFactory", "SignalValidationError", "build_row", "dto_fields", "strip_markdown", "validate_restored"]


class SignalValidationError(ValueError):
    """A signal broke one or more rules of SPEC 3.2; ``problems`` has one line per rule."""

    def __init__(self, position: Any, problems: list[str], context: str = "") -> None:
        self.problems = list(problems)
        head = f"Invalid signal for {position} position"
        if context:
            head += f" ({context})"
        super().__init__(head + ":\n" + "\n".join(self.problems))


# --------------------------------------------------------------------------- ids


class IdFactory:
    """Signal ids when the strategy gives none: UUID v4 strings.

    A backtest seeds its generator from (symbol, strategy, frame start), so the same backtest gives
    the same ids every time and its reports can be diffed; live runs use the OS's randomness.
    """

    __slots__ = ("_rng",)

    def __init__(self, seed: str | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else None

    def __call__(self) -> str:
        if self._rng is None:
            return str(uuid.uuid4())
        h = ((self._rng.getrandbits(128) & _UUID_CLEAR) | _UUID_V4).to_bytes(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version nibble and the variant bits
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


# --------------------------------------------------------------------------- notes

_FENCE = re.compile(r"```.*?```", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_INLINE = re.compile(r"`([^`]*)`")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)
_EMPH = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.M)
_QUOTE = re.compile(r"^\s{0,3}>\s?", re.M)
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$", re.M)
_HTML = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def strip_markdown(text: str) -> str:
    """Plain text from a markdown note, whitespace collapsed (the original's ``toPlainString``)."""
    if not text:
        return ""
    s = _FENCE.sub(" ", str(text))
    s = _IMAGE.sub(r"\1", s)
    s = _LINK.sub(r"\1", s)
    s = _INLINE.sub(r"\1", s)
    s = _RULE.sub(" ", s)
    s = _HEADING.sub("", s)
    s = _QUOTE.sub("", s)
    s = _LIST.sub("• ", s)
    for _ in range(2):
        s = _EMPH.sub(r"\2", s)
    s = _HTML.sub("", s)
    return _SPACE.sub(" ", s).strip()


# --------------------------------------------------------------------------- DTO -> fields


def dto_fields(dto: Any) -> tuple[dict[str, Any], list[str]]:
    """The DTO's fields as a dict, plus problems with its shape (unknown keys, wrong container)."""
    if isinstance(dto, SignalDto):
        return {k: getattr(dto, k) for k in SIGNAL_DTO_KEYS}, []
    if type(dto) is dict and SIGNAL_DTO_KEYS.issuperset(dto):  # the common case, fast
        get = dto.get
        return {k: get(k) for k in _KEY_ORDER}, []
    if isinstance(dto, Mapping):
        problems = []
        unknown = sorted(str(k) for k in dto if k not in SIGNAL_DTO_KEYS)
        if unknown:
            problems.append(f"unknown key(s) {', '.join(unknown)}; a signal has {', '.join(sorted(SIGNAL_DTO_KEYS))}")
        return {k: dto.get(k) for k in SIGNAL_DTO_KEYS}, problems
    if any(hasattr(dto, k) for k in ("position", "price_take_profit")):
        return {k: getattr(dto, k, None) for k in SIGNAL_DTO_KEYS}, []
    return {k: None for k in SIGNAL_DTO_KEYS}, [
        f"get_signal must return a dict, a SignalDto or None; got {type(dto).__name__}: {dto!r}"
    ]


_KEY_ORDER = tuple(sorted(SIGNAL_DTO_KEYS))


def _plainly_valid(
    position: Any, op: Any, tp: Any, sl: Any, cp: float, met: Any, is_scheduled: bool, cfg: Config
) -> bool:
    """True when every rule of SPEC 3.2 holds, proven with plain comparisons (no messages).

    The same rules as ``validate``, written as the conditions for passing; anything unusual (a
    non-float, NaN, infinity) makes it answer False, and ``validate`` then explains what is wrong.
    """
    if type(op) is not float or type(tp) is not float or type(sl) is not float or type(cp) is not float:
        return False
    if not (0 < op < math.inf and 0 < tp < math.inf and 0 < sl < math.inf and 0 < cp < math.inf):
        return False
    if position == "long":
        if not (tp > op and sl < op):
            return False
        if is_scheduled:
            if not (sl < op < tp):
                return False
        elif not (sl < cp < tp):
            return False
        tp_dist = (tp - op) / op * 100
        sl_dist = (op - sl) / op * 100
    elif position == "short":
        if not (tp < op and sl > op):
            return False
        if is_scheduled:
            if not (tp < op < sl):
                return False
        elif not (tp < cp < sl):
            return False
        tp_dist = (op - tp) / op * 100
        sl_dist = (sl - op) / op * 100
    else:
        return False
    min_tp, min_sl, max_sl = (
        cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT,
        cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT,
        cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT,
    )
    if (min_tp and tp_dist < min_tp) or (min_sl and sl_dist < min_sl) or (max_sl and sl_dist > max_sl):
        return False
    if type(met) is int or (type(met) is float and met.is_integer()):
        pass
    else:
        return False
    max_life = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES
    return met > 0 and not (max_life and met > max_life)


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def _price_rules(name: str, raw: Any, value: float, out: list[str]) -> None:
    if not math.isfinite(value):
        shown = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else repr(raw)
        out.append(f"{name} must be a finite number, got {shown}")
    elif value <= 0:
        out.append(f"{name} must be > 0, got {value}")


def validate(
    f: Mapping[str, Any],
    *,
    price_open: Any,
    current_price: float | None,
    is_scheduled: bool,
    scheduled_at: Any,
    pending_at: Any,
    identity: tuple[Any, Any, Any, Any],
    cfg: Config,
) -> list[str]:
    """Every rule of SPEC 3.2 on one candidate row; returns the failure lines (empty = valid).

    ``current_price=None`` is a row read back from disk (``validate_restored``): the rules about the
    price at creation (2, 5, 6) do not apply, and a missing ``pending_at`` is allowed."""
    out: list[str] = []
    sig_id, exchange_name, strategy_name, symbol = identity
    for label, v in (
        ("id", sig_id),
        ("exchange_name", exchange_name),
        ("strategy_name", strategy_name),
        ("symbol", symbol),
    ):
        if not isinstance(v, str) or not v:
            out.append(f"{label} must be a non-empty string, got {v!r}")
    position = f.get("position")
    if position not in ("long", "short"):
        out.append(f'position must be "long" or "short", got {position!r}')
    cp = _num(current_price)
    if current_price is None:
        pass
    elif not math.isfinite(cp):
        out.append(f"current_price (VWAP) must be a finite number, got {current_price}")
    elif cp <= 0:
        out.append(f"current_price (VWAP) must be > 0, got {cp}")
    tp = _num(f.get("price_take_profit"))
    sl = _num(f.get("price_stop_loss"))
    op = _num(price_open)
    _price_rules("price_open", price_open, op, out)
    _price_rules("price_take_profit", f.get("price_take_profit"), tp, out)
    _price_rules("price_stop_loss", f.get("price_stop_loss"), sl, out)
    if position == "long":
        if tp <= op:
            out.append(f"long: price_take_profit ({tp}) must be > price_open ({op})")
        if sl >= op:
            out.append(f"long: price_stop_loss ({sl}) must be < price_open ({op})")
        if current_price is None:
            pass  # restored: the market has moved since it was created (SPEC 8.3, case 57)
        elif not is_scheduled:
            if cp <= sl:
                out.append(f"long: current price ({cp}) <= price_stop_loss ({sl}); the stop would trigger at once")
            if cp >= tp:
                out.append(f"long: current price ({cp}) >= price_take_profit ({tp}); the target is already reached")
        else:
            if op <= sl:
                out.append(f"long: scheduled price_open ({op}) must be > price_stop_loss ({sl})")
            if op >= tp:
                out.append(f"long: scheduled price_open ({op}) must be < price_take_profit ({tp})")
        tp_dist = (tp - op) / op * 100
        sl_dist = (op - sl) / op * 100
    elif position == "short":
        if tp >= op:
            out.append(f"short: price_take_profit ({tp}) must be < price_open ({op})")
        if sl <= op:
            out.append(f"short: price_stop_loss ({sl}) must be > price_open ({op})")
        if current_price is None:
            pass
        elif not is_scheduled:
            if cp >= sl:
                out.append(f"short: current price ({cp}) >= price_stop_loss ({sl}); the stop would trigger at once")
            if cp <= tp:
                out.append(f"short: current price ({cp}) <= price_take_profit ({tp}); the target is already reached")
        else:
            if op >= sl:
                out.append(f"short: scheduled price_open ({op}) must be < price_stop_loss ({sl})")
            if op <= tp:
                out.append(f"short: scheduled price_open ({op}) must be > price_take_profit ({tp})")
        tp_dist = (op - tp) / op * 100
        sl_dist = (sl - op) / op * 100
    else:
        tp_dist = sl_dist = math.nan
    min_tp = cfg.CC_MIN_TAKEPROFIT_DISTANCE_PERCENT
    if min_tp and tp_dist < min_tp:
        out.append(
            f"price_take_profit too close to price_open: distance {_fmt(tp_dist)}% < "
            f"CC_MIN_TAKEPROFIT_DISTANCE_PERCENT {min_tp}% (fees and slippage would eat it)"
        )
    min_sl = cfg.CC_MIN_STOPLOSS_DISTANCE_PERCENT
    if min_sl and sl_dist < min_sl:
        out.append(
            f"price_stop_loss too close to price_open: distance {_fmt(sl_dist)}% < "
            f"CC_MIN_STOPLOSS_DISTANCE_PERCENT {min_sl}%"
        )
    max_sl = cfg.CC_MAX_STOPLOSS_DISTANCE_PERCENT
    if max_sl and sl_dist > max_sl:
        out.append(
            f"price_stop_loss too far from price_open: distance {_fmt(sl_dist)}% > "
            f"CC_MAX_STOPLOSS_DISTANCE_PERCENT {max_sl}%"
        )
    raw_met = f.get("minute_estimated_time")
    met = _num(raw_met)
    if not math.isfinite(met):
        out.append(f"minute_estimated_time must be a finite number of minutes, got {raw_met!r}")
    else:
        if met <= 0:
            out.append(f"minute_estimated_time must be positive, got {raw_met}")
        if not met.is_integer():
            out.append(f"minute_estimated_time must be an integer number of minutes, got {raw_met}")
        max_life = cfg.CC_MAX_SIGNAL_LIFETIME_MINUTES
        if max_life and met > max_life:
            out.append(f"minute_estimated_time {raw_met} exceeds CC_MAX_SIGNAL_LIFETIME_MINUTES {max_life}")
    if not _timestamp(scheduled_at):
        out.append(f"scheduled_at must be a positive timestamp, got {scheduled_at!r}")
    if not (_timestamp(pending_at) or (pending_at is None and current_price is None)):  # SPEC 5.2 4a
        out.append(f"pending_at must be a positive timestamp, got {pending_at!r}")
    return out


def _timestamp(v: Any) -> bool:
    return type(v) is int and v > 0


def validate_restored(f: Mapping[str, Any], cfg: Config) -> list[str]:
    """SPEC 3.2 on a signal row read back from disk (a ``SignalRow.to_dict``), with the run's config:
    the rules of a new signal, except those about the price at its creation; a row the engine could
    not have created under this config is not traded (issue 20). Returns the failure lines."""
    return validate(
        f,
        price_open=f.get("price_open"),
        current_price=None,
        is_scheduled=f.get("is_scheduled") is True,
        scheduled_at=f.get("scheduled_at"),
        pending_at=f.get("pending_at"),
        identity=(f.get("id"), f.get("exchange_name"), f.get("strategy_name"), f.get("symbol")),
        cfg=cfg,
    )


def build_row(
    dto: Any,
    *,
    current_price: float,
    when: int,
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    new_id: IdFactory,
    cfg: Config,
) -> SignalRow:
    """Decide market / reached limit / scheduled, fill the row, and validate it (SPEC 5.1 step 6).

    The common case (a plain dict of floats that breaks no rule) is read once into locals and
    proven valid with plain comparisons; anything else goes through ``validate``, which explains
    every failed rule.
    """
    if type(dto) is dict and SIGNAL_DTO_KEYS.issuperset(dto):
        get = dto.get
        f = None
        shape: list[str] = []
    else:
        f, shape = dto_fields(dto)
        get = f.get
    position = get("position")
    raw_open = get("price_open")
    tp = get("price_take_profit")
    sl = get("price_stop_loss")
    met = get("minute_estimated_time")
    if raw_open is None:
        is_scheduled = False
        price_open: Any = current_price
    else:
        po = _num(raw_open)
        reached = (current_price <= po) if position == "long" else (current_price >= po)
        is_scheduled = not reached and position in ("long", "short")
        price_open = raw_open
    sig_id = get("id") or new_id()
    if type(sig_id) is not str:
        sig_id = str(sig_id)
    if not (
        not shape
        and sig_id
        and symbol
        and strategy_name
        and exchange_name
        and type(when) is int
        and when > 0
        and _plainly_valid(position, price_open, tp, sl, current_price, met, is_scheduled, cfg)
    ):
        if f is None:
            f = {k: get(k) for k in _KEY_ORDER}
        problems = shape + validate(
            f,
            price_open=price_open,
            current_price=current_price,
            is_scheduled=is_scheduled,
            scheduled_at=when,
            pending_at=when,
            identity=(sig_id, exchange_name, strategy_name, symbol),
            cfg=cfg,
        )
        if problems:
            raise SignalValidationError(position, problems, f"{strategy_name} {symbol}")
    note = get("note")
    return SignalRow._positional(  # one per trade: the fields in SignalRow's order
        sig_id,  # id
        position,
        price_open if type(price_open) is float else float(price_open),
        tp if type(tp) is float else float(tp),  # price_take_profit
        sl if type(sl) is float else float(sl),  # price_stop_loss
        met if type(met) is int else int(met),  # minute_estimated_time
        symbol,
        exchange_name,
        strategy_name,
        when,  # scheduled_at
        when,  # pending_at
        is_scheduled,
        strip_markdown(note) if note else "",  # note
    )
