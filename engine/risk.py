"""Risk profiles (SPEC 9): validations that may veto a signal, and the open positions they see.

One ``ClientRisk`` exists per (risk name, mode), shared by every strategy and symbol that names it.
Strategies do not hold risk objects: they resolve them on every call, so runs started together
after a reset share one fresh instance, as SPEC 6.2 describes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import events
from .clock import get_clock
from .model import RiskEvent
from .persist.adapters import PersistRiskAdapter, writer
from .registry import RiskSchema, regs
from .scope import active

__all__ = ["ActivePosition", "ClientRisk", "RiskCheckArgs", "RiskGate", "clear_risk", "risk_instance", "shared_by"]


@dataclass(frozen=True, slots=True)
class ActivePosition:
    signal: None
    strategy_name: str
    exchange_name: str
    open_timestamp: int


class RiskCheckArgs(NamedTuple):
    """What a validation receives (SPEC 9.2). Immutable; a NamedTuple because two are built per
    signal on the backtest's hot path and a frozen dataclass costs five times as much to build."""

    symbol: str
    pending_signal: Any
    strategy_name: str
    exchange_name: str
    current_price: float
    timestamp: int
    active_position_count: int = 0
    active_positions: tuple[ActivePosition, ...] = ()


# A validation that raises anything is a veto, including a BaseException subclass a user made up;
# only the interpreter's own control-flow exceptions pass through, so Ctrl-C still stops the run
# instead of reading as "signal rejected". A CancelledError is the run's own only while the run's
# task is being cancelled (see ``_cancelling``); otherwise the validation awaited something that
# somebody cancelled, which is one more way for it to fail.
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _cancelling() -> bool:
    """Whether the current task is being cancelled (so a CancelledError here is the run's)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _validation_parts(item: Any) -> tuple[Any, str | None]:
    if isinstance(item, Mapping):
        return item["validate"], item.get("note")
    validate = getattr(item, "validate", None)
    if callable(validate):
        return validate, getattr(item, "note", None)
    return item, None


class ClientRisk:
    def __init__(self, schema: RiskSchema, backtest: bool) -> None:
        self.schema = schema
        self.backtest = backtest
        self.positions: dict[str, ActivePosition] = {}
        # every "strategy:symbol" that asked this instance since it was made: more than one in a
        # backtest means concurrent runs shared it, whose limits are only approximate (see shared_by)
        self.users: set[str] = set()
        self._loaded = backtest  # live: the positions file is read on first use (SPEC 9.3)
        items = list(schema.validations)
        if schema.max_concurrent_positions is not None:
            cap = schema.max_concurrent_positions

            def _cap(args: RiskCheckArgs) -> None:
                if args.active_position_count >= cap:
                    raise RuntimeError(f"max concurrent positions ({cap}) reached")

            items.append({"validate": _cap, "note": f"max concurrent positions ({cap}) reached"})
        self._validations = [_validation_parts(v) for v in items]

    async def check(self, args: RiskCheckArgs) -> bool:
        """SPEC 9.2: run the validations in order; the first that raises rejects the signal."""
        ok = self.check_nowait(args)
        return ok if isinstance(ok, bool) else await ok

    def check_nowait(self, args: RiskCheckArgs) -> bool | Awaitable[bool]:
        """``check`` without a coroutine while every validation is synchronous and passes (the
        backtest's hot path); returns an awaitable once one is async or rejects."""
        if not self._loaded:
            return self._load_then_check(args)
        positions = self.positions
        self.users.add(f"{args.strategy_name}:{args.symbol}")
        payload = RiskCheckArgs(*args[:6], len(positions), tuple(positions.values()))
        for i, (validate, note) in enumerate(self._validations):
            try:
                result = validate(payload)
            except _PASS_THROUGH:
                raise
            except BaseException as exc:
                return self._reject(args, payload, exc, note)
            if result is not None and inspect.isawaitable(result):
                return self._check_rest(args, payload, result, i)
        return self._allow(args, payload)

    async def _load_then_check(self, args: RiskCheckArgs) -> bool:
        await self.load()
        return await self.check(args)

    async def load(self) -> None:
        """Live: read the positions file once, before this instance's first use (SPEC 9.3). A file
        that cannot be read is reported and the count starts empty; the run goes on."""
        if self._loaded:
            return
        self._loaded = True
        try:
            pairs = await PersistRiskAdapter.read_position_data(self.schema.risk_name)
        except Exception as exc:
            await events.report_error(exc)
            return
        for key, record in pairs:
            self.positions.setdefault(
                key,
                ActivePosition(
                    signal=None,
                    strategy_name=str(record.get("strategyName", "")),
                    exchange_name=str(record.get("exchangeName", "")),
                    open_timestamp=int(record.get("openTimestamp") or 0),
                ),
            )

    async def _write_positions(self) -> None:
        await PersistRiskAdapter.write_position_data(
            [
                [
                    key,
                    {
                        "signal": None,
                        "strategyName": p.strategy_name,
                        "exchangeName": p.exchange_name,
                        "openTimestamp": p.open_timestamp,
                    },
                ]
                for key, p in self.positions.items()
            ],
            self.schema.risk_name,
        )

    async def _check_rest(self, args: RiskCheckArgs, payload: RiskCheckArgs, pending: Awaitable[Any], i: int) -> bool:
        """Finish a check whose validation ``i`` returned an awaitable."""
        validations = self._validations
        try:
            await pending
        except _PASS_THROUGH:
            raise
        except asyncio.CancelledError as exc:
            if _cancelling():
                raise
            return await self._reject(args, payload, exc, validations[i][1])
        except BaseException as exc:
            return await self._reject(args, payload, exc, validations[i][1])
        for validate, note in validations[i + 1 :]:
            try:
                result = validate(payload)
                if result is not None and inspect.isawaitable(result):
                    await result
            except _PASS_THROUGH:
                raise
            except asyncio.CancelledError as exc:
                if _cancelling():
                    raise
                return await self._reject(args, payload, exc, note)
            except BaseException as exc:
                return await self._reject(args, payload, exc, note)
        return self._allow(args, payload)

    def _allow(self, args: RiskCheckArgs, payload: RiskCheckArgs) -> bool:
        cb = self.schema.callbacks.on_allowed
        if cb is not None:
            cb(args.symbol, payload)
        return True

    async def _reject(self, args: RiskCheckArgs, payload: RiskCheckArgs, exc: BaseException, note: Any) -> bool:
        await events.report_error(exc, events.validation)
        await events.risk.emit(
            RiskEvent(
                symbol=args.symbol,
                pending_signal=args.pending_signal,
                strategy_name=args.strategy_name,
                exchange_name=args.exchange_name,
                current_price=args.current_price,
                active_position_count=len(self.positions),
                comment=note if note else "N/A",
                timestamp=get_clock().now(),
                backtest=self.backtest,
                when=args.timestamp,
            )
        )
        cb = self.schema.callbacks.on_rejected
        if cb is not None:
            cb(args.symbol, payload)
        return False

    async def add_signal(self, symbol: str, strategy_name: str) -> None:
        await self.load()
        self.open_position(symbol, strategy_name)

    async def remove_signal(self, symbol: str, strategy_name: str) -> None:
        await self.load()
        self.close_position(symbol, strategy_name)

    def open_position(self, symbol: str, strategy_name: str) -> None:
        """``add_signal`` without a coroutine (the strategy calls this after a check, so a live
        instance has read its file by then); live, the positions file is rewritten at the next
        flush of the state writer."""
        self.positions[f"{strategy_name}:{symbol}"] = ActivePosition(
            signal=None, strategy_name=strategy_name, exchange_name="", open_timestamp=get_clock().now()
        )
        if not self.backtest:
            writer.mark(("risk", self.schema.risk_name), self._write_positions)

    def close_position(self, symbol: str, strategy_name: str) -> None:
        self.positions.pop(f"{strategy_name}:{symbol}", None)
        if not self.backtest:
            writer.mark(("risk", self.schema.risk_name), self._write_positions)


def risk_instance(risk_name: str, backtest: bool = False) -> ClientRisk:
    """The shared ClientRisk of ``risk_name`` in one mode (the original's internal risk access)."""
    key = (risk_name, backtest)
    instances = active().risk_states
    inst = instances.get(key)
    if inst is None:
        inst = instances[key] = ClientRisk(regs().risks.get(risk_name, "risk_instance"), backtest)
    return inst


def shared_by(risk_names: tuple[str, ...], backtest: bool) -> dict[str, list[str]]:
    """For each of ``risk_names`` consulted by more than one strategy:symbol in its current
    instance, those users, sorted. Concurrent backtests are not synchronised in simulated time
    (each runs its own frames as fast as it can), so a limit shared across them is approximate;
    reports say so when this is not empty."""
    out: dict[str, list[str]] = {}
    for name in risk_names:
        inst = active().risk_states.get((name, backtest))
        if inst is not None and len(inst.users) > 1:
            out[name] = sorted(inst.users)
    return out


def clear_risk(risk_name: str, backtest: bool) -> None:
    active().risk_states.pop((risk_name, backtest), None)


class RiskGate:
    """What a strategy talks to: nothing, one ClientRisk, or all of them (MergeRisk, SPEC 9.4)."""

    __slots__ = ("backtest", "names")

    def __init__(self, names: tuple[str, ...], backtest: bool) -> None:
        self.names = names
        self.backtest = backtest

    def __bool__(self) -> bool:
        return bool(self.names)

    async def check(self, args: RiskCheckArgs) -> bool:
        ok = self.check_nowait(args)
        return ok if isinstance(ok, bool) else await ok

    def check_nowait(self, args: RiskCheckArgs) -> bool | Awaitable[bool]:
        """True/False at once when the answer needs no waiting, else an awaitable of it."""
        if not self.names:
            return True
        if len(self.names) == 1:
            return risk_instance(self.names[0], self.backtest).check_nowait(args)
        return self._check_all(args)

    async def _check_all(self, args: RiskCheckArgs) -> bool:
        """MergeRisk (SPEC 9.4): every child checks, concurrently; a rejection does not stop the others."""
        results = await asyncio.gather(*(risk_instance(n, self.backtest).check(args) for n in self.names))
        return all(results)

    async def load(self) -> None:
        """Live: read every profile's positions file (once per instance) before the first tick."""
        for name in self.names:
            await risk_instance(name, self.backtest).load()

    def add_signal(self, symbol: str, strategy_name: str) -> None:
        for name in self.names:
            risk_instance(name, self.backtest).open_position(symbol, strategy_name)

    def remove_signal(self, symbol: str, strategy_name: str) -> None:
        for name in self.names:
            risk_instance(name, self.backtest).close_position(symbol, strategy_name)
