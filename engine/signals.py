"""From what ``get_signal`` returned to a validated ``SignalRow`` (SPEC 5.1 step 6 and 3.2).

A bad signal must tell its author everything that is wrong at once, so every rule runs and each
failure is one line naming the field, the bound and the values.
"""

from __future__ import annotations

import math
import operator
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .config import Config
from .model import SIGNAL_DTO_KEYS, SignalDto, SignalRow
from .settlement import reaches_entry

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

    __slots__ = ("_ready", "_rng")

    def __init__(self, seed: str | None = None) -> None:
        self._rng = random.Random(seed) if seed is not None else None
        self._ready: list[str] = []  # seeded ids drawn ahead, the next one last

    def __call__(self) -> str:
        if self._ready:
            return self._ready.pop()
        if self._rng is None:
            return str(uuid.uuid4())
        self._ready = _uuids(self._rng.getrandbits(128 * _BATCH))
        return self._ready.pop()


_BATCH = 64  # seeded ids drawn at once: a backtest makes one per trade
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version nibble and the variant bits
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_ALL_CLEAR = sum((_UUID_CLEAR & ((1 << 128) - 1)) << (128 * i) for i in range(_BATCH))
_ALL_V4 = sum(_UUID_V4 << (128 * i) for i in range(_BATCH))


_DASHES = (8, 13, 18, 23)  # where a UUID string has its dashes
# for each character of the batch's UUID strings, the hex digit it is (or the dash after the digits)
_LAYOUT = np.array(
    [
        32 * _BATCH if c in _DASHES else 32 * u + c - sum(c > d for d in _DASHES)
        for u in range(_BATCH)
        for c in range(36)
    ],
    dtype=np.intp,
)


def _uuids(bits: int) -> list[str]:
    """The UUID v4 strings of ``_BATCH`` draws of 128 bits, the first draw last (``pop`` order).

    ``getrandbits(128 * n)`` is ``n`` calls of ``getrandbits(128)``, the first one in the lowest
    bits (the generator fills a wide draw from its low end), so the ids are the ones drawn one at
    a time, for two fifths of the cost: one mask, one hex conversion and one placing of the dashes
    for the batch (the test compares them with ids made one at a time)."""
    digits = ((bits & _ALL_CLEAR) | _ALL_V4).to_bytes(16 * _BATCH).hex() + "-"  # the first draw: last 32 digits
    text = np.frombuffer(digits.encode("ascii"), dtype=np.uint8)[_LAYOUT].tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, 36 * _BATCH, 36)]


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


_MARKUP = frozenset("`*_~[#><\n")  # a character some rule above needs (a newline starts a line)
_LEAD = re.compile(r"\s*(?:[-+]|\d+[.)])")  # how a list item or a rule may open the text


def strip_markdown(text: str) -> str:
    """Plain text from a markdown note, whitespace collapsed (the original's ``toPlainString``).

    A note no rule can touch (no markup character, no list marker at its start: most notes, one
    per trade) only has its whitespace collapsed, which is what the rules would leave of it."""
    if not text:
        return ""
    s = str(text)
    if _MARKUP.isdisjoint(s) and _LEAD.match(s) is None:
        return " ".join(s.split())
    return _strip_rules(s)


def _strip_rules(s: str) -> str:
    """Every rule of ``strip_markdown``, in order."""
    s = _FENCE.sub(" ", s)
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


# --------------------------------------------------------------------------- the rules (SPEC 3.2)

Holds = Literal["<", "<=", ">", ">=", "finite", "integer"]
Phase = Literal["any", "created", "now", "scheduled"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of SPEC 3.2 that every valid row satisfies, written once, as data.

    Both checks are derived from ``RULES``: the fast check (``fast_check``) is every applicable
    rule's comparison in table order, compiled into one function of plain comparisons; the
    explaining check (``validate``) reports ``message`` for every rule whose *opposite* comparison
    is true. On finite floats the two are exact complements, so they cannot drift apart; a NaN
    fails the fast check (a comparison with NaN is false) and, in the explaining check, only its
    "finite" rule, as SPEC 3.2 asks.

    ``left`` and ``right`` name quantities (``op tp sl cp met tp_dist sl_dist``), a number
    (``"0"``) or, for ``right``, a config key: a limit whose rule is off while the key is 0.
    """

    number: int  # the rule's number in SPEC 3.2, for the reader
    left: str
    holds: Holds
    right: str  # "" for "finite" and "integer"
    sides: tuple[str, ...]  # positions it applies to; () = every row, whatever its position
    phase: Phase  # "now"/"scheduled": rules 5/6; "created": not for a row read back from disk
    message: str  # the failure line: ``str.format`` with the quantities, ``limit`` and raw values
    after_finite: bool = False  # skipped while ``left`` is not finite (its "finite" line says so)

    @property
    def limit(self) -> str | None:
        """The config key this rule compares with, if any."""
        return self.right if self.right.startswith("CC_") else None

    def applies(self, position: Any, phase: str) -> bool:
        if self.sides and position not in self.sides:
            return False
        if self.phase == "any":
            return True
        return phase != "restored" and self.phase in ("created", phase)


_ANY: tuple[str, ...] = ()
_L, _S, _LS = ("long",), ("short",), ("long", "short")

# fmt: off
RULES: tuple[Rule, ...] = (
    Rule(2, "cp", "finite", "", _ANY, "created", "current_price (VWAP) must be a finite number, got {cp_raw}"),
    Rule(2, "cp", ">", "0", _ANY, "created", "current_price (VWAP) must be > 0, got {cp}", after_finite=True),
    Rule(3, "op", "finite", "", _ANY, "any", "price_open must be a finite number, got {op_shown}"),
    Rule(3, "op", ">", "0", _ANY, "any", "price_open must be > 0, got {op}", after_finite=True),
    Rule(3, "tp", "finite", "", _ANY, "any", "price_take_profit must be a finite number, got {tp_shown}"),
    Rule(3, "tp", ">", "0", _ANY, "any", "price_take_profit must be > 0, got {tp}", after_finite=True),
    Rule(3, "sl", "finite", "", _ANY, "any", "price_stop_loss must be a finite number, got {sl_shown}"),
    Rule(3, "sl", ">", "0", _ANY, "any", "price_stop_loss must be > 0, got {sl}", after_finite=True),
    Rule(4, "tp", ">", "op", _L, "any", "long: price_take_profit ({tp}) must be > price_open ({op})"),
    Rule(4, "sl", "<", "op", _L, "any", "long: price_stop_loss ({sl}) must be < price_open ({op})"),
    Rule(5, "cp", ">", "sl", _L, "now",
         "long: current price ({cp}) <= price_stop_loss ({sl}); the stop would trigger at once"),
    Rule(5, "cp", "<", "tp", _L, "now",
         "long: current price ({cp}) >= price_take_profit ({tp}); the target is already reached"),
    Rule(6, "op", ">", "sl", _L, "scheduled", "long: scheduled price_open ({op}) must be > price_stop_loss ({sl})"),
    Rule(6, "op", "<", "tp", _L, "scheduled", "long: scheduled price_open ({op}) must be < price_take_profit ({tp})"),
    Rule(4, "tp", "<", "op", _S, "any", "short: price_take_profit ({tp}) must be < price_open ({op})"),
    Rule(4, "sl", ">", "op", _S, "any", "short: price_stop_loss ({sl}) must be > price_open ({op})"),
    Rule(5, "cp", "<", "sl", _S, "now",
         "short: current price ({cp}) >= price_stop_loss ({sl}); the stop would trigger at once"),
    Rule(5, "cp", ">", "tp", _S, "now",
         "short: current price ({cp}) <= price_take_profit ({tp}); the target is already reached"),
    Rule(6, "op", "<", "sl", _S, "scheduled", "short: scheduled price_open ({op}) must be < price_stop_loss ({sl})"),
    Rule(6, "op", ">", "tp", _S, "scheduled", "short: scheduled price_open ({op}) must be > price_take_profit ({tp})"),
    Rule(7, "tp_dist", ">=", "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT", _LS, "any",
         "price_take_profit too close to price_open: distance {tp_dist:.3f}% < "
         "CC_MIN_TAKEPROFIT_DISTANCE_PERCENT {limit}% (fees and slippage would eat it)"),
    Rule(8, "sl_dist", ">=", "CC_MIN_STOPLOSS_DISTANCE_PERCENT", _LS, "any",
         "price_stop_loss too close to price_open: distance {sl_dist:.3f}% < "
         "CC_MIN_STOPLOSS_DISTANCE_PERCENT {limit}%"),
    Rule(9, "sl_dist", "<=", "CC_MAX_STOPLOSS_DISTANCE_PERCENT", _LS, "any",
         "price_stop_loss too far from price_open: distance {sl_dist:.3f}% > "
         "CC_MAX_STOPLOSS_DISTANCE_PERCENT {limit}%"),
    Rule(10, "met", "finite", "", _ANY, "any",
         "minute_estimated_time must be a finite number of minutes, got {met_raw!r}"),
    Rule(10, "met", ">", "0", _ANY, "any", "minute_estimated_time must be positive, got {met_raw}", after_finite=True),
    Rule(10, "met", "integer", "", _ANY, "any",
         "minute_estimated_time must be an integer number of minutes, got {met_raw}", after_finite=True),
    Rule(11, "met", "<=", "CC_MAX_SIGNAL_LIFETIME_MINUTES", _ANY, "any",
         "minute_estimated_time {met_raw} exceeds CC_MAX_SIGNAL_LIFETIME_MINUTES {limit}", after_finite=True),
)
# fmt: on

# The distances of rules 7-9, in percent of the entry: numerators over ``op``, per side.
DISTANCES: dict[str, dict[str, str]] = {
    "long": {"tp_dist": "tp - op", "sl_dist": "op - sl"},
    "short": {"tp_dist": "op - tp", "sl_dist": "sl - op"},
}
_LIMIT_KEYS = tuple(dict.fromkeys(r.limit for r in RULES if r.limit))
# a rule is broken when the opposite of its comparison holds (false for NaN, like every comparison)
_BROKEN: dict[str, Callable[[float, float], bool]] = {
    "<": operator.ge,
    "<=": operator.gt,
    ">": operator.le,
    ">=": operator.lt,
}
_DISTANCE_CODE = {
    side: {q: compile(f"({num}) / op * 100", f"<SPEC 3.2 {q} {side}>", "eval") for q, num in d.items()}
    for side, d in DISTANCES.items()
}


def _broken(rule: Rule, values: Mapping[str, Any], cfg: Config) -> bool:
    """Whether ``rule`` fails on ``values`` (the explaining check; the caller skips a rule that is off)."""
    x = values[rule.left]
    if rule.holds == "finite":
        return not math.isfinite(x)
    if rule.holds == "integer":
        return not x.is_integer()
    r = rule.right
    y = values[r] if r in values else getattr(cfg, r) if r.startswith("CC_") else float(r)
    return _BROKEN[rule.holds](x, y)


def _rules_problems(values: dict[str, Any], position: Any, phase: str, cfg: Config) -> list[str]:
    """The failure lines of every rule of ``RULES`` that applies (the explaining check)."""
    out: list[str] = []
    for rule in RULES:
        if not rule.applies(position, phase):
            continue
        if rule.limit is not None and not getattr(cfg, rule.limit):
            continue  # "0 = off" (SPEC 2)
        if rule.after_finite and not math.isfinite(values[rule.left]):
            continue
        if _broken(rule, values, cfg):
            out.append(rule.message.format(**values, limit=getattr(cfg, rule.limit) if rule.limit else None))
    return out


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def _shown(raw: Any) -> Any:
    """A price as a failure line shows it: a number as itself, anything else by its repr."""
    return raw if isinstance(raw, int | float) and not isinstance(raw, bool) else repr(raw)


# --------------------------------------------------------------------------- the fast check

FastCheck = Callable[[Any, Any, Any, Any, Any], bool]


def _fast_source(position: str, phase: str, cfg: Config) -> str:
    """The source of the fast check for one (position, phase, limits): the comparisons of every
    applicable rule of ``RULES`` in table order, joined by ``and`` (the first that fails ends it)."""
    conds = [
        "(type(op) is float and type(tp) is float and type(sl) is float and type(cp) is float"
        " and (type(met) is int or type(met) is float))  # floats only: anything else is explained",
    ]
    defined: set[str] = set()
    rules = [r for r in RULES if r.applies(position, phase) and (r.limit is None or getattr(cfg, r.limit))]
    merged = False
    for rule, after in zip(rules, [*rules[1:], None]):
        if merged:  # a "> 0" already written with the "finite" rule before it
            merged = False
            continue
        x = rule.left
        if x in DISTANCES[position] and x not in defined:  # op is already known finite and > 0 here
            x = f"({x} := ({DISTANCES[position][x]}) / op * 100)"
            defined.add(rule.left)
        if rule.holds == "finite":
            # "finite" then "> 0" on the same quantity: one chained comparison, as fast as it gets
            merged = after is not None and (after.left, after.holds, after.right) == (x, ">", "0")
            cond = f"0 < {x} < _INF" if merged else f"-_INF < {x} < _INF"
        elif rule.holds == "integer":
            cond = f"(type({x}) is int or {x}.is_integer())"
        else:
            cond = f"{x} {rule.holds} {rule.right}"
        conds.append(f"{cond}  # rule {rule.number}")
    body = "\n        and ".join(conds)
    consts = ", ".join(f"{k}={k}" for k in ("_INF", *_LIMIT_KEYS))  # locals: the fastest names to read
    return f"def fast_check(op, tp, sl, cp, met, {consts}):\n    return (\n        {body}\n    )\n"


def _compile_fast(position: str, phase: str, cfg: Config) -> FastCheck:
    namespace: dict[str, Any] = {"_INF": math.inf, **{k: getattr(cfg, k) for k in _LIMIT_KEYS}}
    source = _fast_source(position, phase, cfg)
    exec(compile(source, f"<SPEC 3.2 fast check: {position} {phase}>", "exec"), namespace)
    check = namespace["fast_check"]
    check.__doc__ = source
    return check


FastChecks = dict[str, tuple[FastCheck, FastCheck]]  # position -> (opening at once, scheduled)
_fast_by_limits: dict[tuple[Any, ...], FastChecks] = {}
_fast_last: list[Any] = [None, {}]  # (the Config last asked for, its checks): one run asks with one Config


def fast_checks(cfg: Config) -> FastChecks:
    """The fast checks for ``cfg``: ``fast_checks(cfg)[position][is_scheduled](op, tp, sl, cp, met)``
    is True when every rule of SPEC 3.2 holds, proven with plain float comparisons (no messages).
    False means "ask ``validate``", which explains what is wrong, or finds nothing wrong (an int
    price, say)."""
    if _fast_last[0] is cfg:
        return _fast_last[1]
    key = tuple(getattr(cfg, k) for k in _LIMIT_KEYS)
    checks = _fast_by_limits.get(key)
    if checks is None:
        checks = {p: (_compile_fast(p, "now", cfg), _compile_fast(p, "scheduled", cfg)) for p in _LS}
        _fast_by_limits[key] = checks
    _fast_last[0], _fast_last[1] = cfg, checks
    return checks


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
    raw_tp, raw_sl, raw_met = f.get("price_take_profit"), f.get("price_stop_loss"), f.get("minute_estimated_time")
    op = _num(price_open)
    values: dict[str, Any] = {
        "op": op,
        "tp": _num(raw_tp),
        "sl": _num(raw_sl),
        "cp": _num(current_price),
        "met": _num(raw_met),
        "op_shown": _shown(price_open),
        "tp_shown": _shown(raw_tp),
        "sl_shown": _shown(raw_sl),
        "cp_raw": current_price,
        "met_raw": raw_met,
    }
    codes = _DISTANCE_CODE[position] if position in _LS else None  # compared, not hashed (any value)
    for q in ("tp_dist", "sl_dist"):
        # no side, or an entry of 0 (its "> 0" line says what is wrong): no distance, and NaN fails no rule
        values[q] = eval(codes[q], {}, values) if codes is not None and op != 0 else math.nan
    phase = "restored" if current_price is None else "scheduled" if is_scheduled else "now"
    out += _rules_problems(values, position, phase, cfg)
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
        reached = reaches_entry(position, current_price, current_price, po)
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
        and position in _LS  # compared, not hashed: any value a strategy returns is safe here
        and (_fast_last[1] if _fast_last[0] is cfg else fast_checks(cfg))[position][is_scheduled](
            price_open, tp, sl, current_price, met
        )
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
