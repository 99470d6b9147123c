"""Where the trade inspector (``i``) and the Equity pane's candle view (``v``) read a run's closed
trades and its market's candles: the engine of this process, or the daemon's (issue 17: an
attached console's keys work the same).

The screens ask a ``TradeReader`` and never which one it is: ``LocalTrades`` reads this process's
engine (console/trades.py ``load_trades``, ``engine.read_candles``), ``RemoteTrades`` asks the
daemon's control API for the same answers (``GET /v1/runs/{id}/trades``, ``GET /v1/candles``,
docs/control-api.md). Both are async because the daemon's answer is a request; the local one
returns at once. The wire form of a trade is defined here, next to both ends that use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

import engine

from .trades import Trade, TradeMilestone, TradeSource, load_trades, run_window


@dataclass(frozen=True, slots=True)
class RunTrades:
    """A run's closed trades, the period a chart of the whole run shows (None: nothing to chart
    yet), and the fee and slippage per side (%) the engine that ran them charged (the detail pane
    shows them; an attached console's own config is not the daemon's)."""

    trades: list[Trade]
    window: tuple[int, int] | None
    fee: float
    slippage: float


@dataclass(frozen=True, slots=True)
class CandleColumns:
    """OHLC columns ascending by open time (ms), at ``interval`` (what the chart's title says)."""

    interval: str
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


class TradeReader(Protocol):
    async def trades(self, source: TradeSource) -> RunTrades: ...

    async def candles(self, exchange: str, symbol: str, start_ms: int, end_ms: int, limit: int) -> CandleColumns: ...


def _costs() -> tuple[float, float]:
    cfg = engine.get_config()
    return float(cfg["CC_PERCENT_FEE"]), float(cfg["CC_PERCENT_SLIPPAGE"])


def run_trades(source: TradeSource) -> RunTrades:
    """What this process's engine holds for ``source`` (the daemon answers its endpoint with it)."""
    trades = load_trades(source)
    fee, slippage = _costs()
    return RunTrades(trades, run_window(source, trades), fee, slippage)


async def read_columns(exchange: str, symbol: str, start_ms: int, end_ms: int, limit: int) -> CandleColumns:
    """The candles of ``symbol`` on ``exchange`` in ``[start_ms, end_ms]``, at most ``limit``
    (engine ``read_candles``: ``NotFoundError``, ``CandleError`` or ``ValueError`` say why not)."""
    interval, got = await engine.read_candles(exchange, symbol, start_ms, end_ms, limit)
    return CandleColumns(interval, got.timestamp, got.open, got.high, got.low, got.close)


class LocalTrades:
    """This process's engine: the runs the console started itself."""

    async def trades(self, source: TradeSource) -> RunTrades:
        return run_trades(source)

    async def candles(self, exchange: str, symbol: str, start_ms: int, end_ms: int, limit: int) -> CandleColumns:
        return await read_columns(exchange, symbol, start_ms, end_ms, limit)


LOCAL = LocalTrades()


class RemoteTrades:
    """The daemon's engine, through the attached console's client (``client`` returns it, or None
    while the console is not connected yet: the read fails with a message the screen shows)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def _connected(self) -> Any:
        client = self._client()
        if client is None:
            from .client import DaemonError

            raise DaemonError("not connected to the daemon yet")
        return client

    async def trades(self, source: TradeSource) -> RunTrades:
        got = await self._connected().trades(source.run, source.strategy)
        return trades_from_wire(got)

    async def candles(self, exchange: str, symbol: str, start_ms: int, end_ms: int, limit: int) -> CandleColumns:
        got = await self._connected().candles(exchange, symbol, start_ms, end_ms, limit)
        return columns_from_wire(got)


def reader_of(app: Any) -> TradeReader:
    """The app's reader (an attached console sets ``trade_reader``); this process's engine else."""
    return getattr(app, "trade_reader", None) or LOCAL


# ---------------------------------------------------------------------------------------- wire form
def trades_to_wire(run: RunTrades) -> dict[str, Any]:
    return {
        "trades": [
            {
                "number": t.number,
                "signal_id": t.signal_id,
                "side": t.side,
                "entry": t.entry,
                "exit": t.exit,
                "take_profit": t.take_profit,
                "stop_loss": t.stop_loss,
                "opened_at": t.opened_at,
                "closed_at": t.closed_at,
                "reason": t.reason,
                "pnl": t.pnl,
                "note": t.note,
                "milestones": [[m.time, m.kind, m.level, m.price] for m in t.milestones],
            }
            for t in run.trades
        ],
        "window": list(run.window) if run.window is not None else None,
        "fee": run.fee,
        "slippage": run.slippage,
    }


def trades_from_wire(data: dict[str, Any]) -> RunTrades:
    trades = [
        Trade(
            int(t["number"]),
            str(t["signal_id"]),
            str(t["side"]),
            float(t["entry"]),
            float(t["exit"]),
            float(t["take_profit"]),
            float(t["stop_loss"]),
            int(t["opened_at"]),
            int(t["closed_at"]),
            str(t["reason"]),
            float(t["pnl"]),
            str(t.get("note") or ""),
            tuple(TradeMilestone(int(m[0]), str(m[1]), int(m[2]), float(m[3])) for m in t.get("milestones", ())),
        )
        for t in data["trades"]
    ]
    window = data.get("window")
    return RunTrades(
        trades,
        (int(window[0]), int(window[1])) if window else None,
        float(data["fee"]),
        float(data["slippage"]),
    )


COLUMNS = ("time", "open", "high", "low", "close")


def columns_to_wire(c: CandleColumns) -> dict[str, Any]:
    out: dict[str, Any] = {"interval": c.interval}
    for name in COLUMNS:
        out[name] = getattr(c, name).tolist()
    return out


def columns_from_wire(data: dict[str, Any]) -> CandleColumns:
    time = np.asarray(data["time"], dtype=np.int64)
    rest = [np.asarray(data[name], dtype=np.float64) for name in COLUMNS[1:]]
    if any(len(col) != len(time) for col in rest):
        raise ValueError("the daemon's candle columns differ in length")
    return CandleColumns(str(data["interval"]), time, *rest)
