"""A complete btk strategy: moving-average cross on 1h candles, backtested on a synthetic market.

Run it:  python examples/sma_cross.py
It prints every closed trade, the statistics, and writes dump/backtest/sma-cross.md.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import engine as btk

# 1. Where candles come from: a deterministic synthetic market (no network). Real data:
#    btk.add_csv_exchange("binance-csv", "data/")  -- a folder of BTCUSDT.csv, ETHUSDT.csv, ...
btk.add_synthetic_exchange("market", seed=7)

# 2. The period to test, stepped every minute.
btk.add_frame("q1-2024", "1m", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 31, 23, 59, tzinfo=UTC))


# 3. The strategy: asked for a signal at most every 15 minutes while it holds no position.
async def get_signal(symbol: str, when: datetime, price: float) -> dict | None:
    candles = await btk.get_candles(symbol, "1h", 26)  # never sees the future: candles up to `when`
    if len(candles) < 25:
        return None
    closes = candles.close[-25:-1]  # 24 completed hours: a numpy column, no object per candle
    fast, slow = closes[-6:].mean(), closes.mean()
    if fast > slow * 1.004:  # short-term strength: ride it with a 2:1 reward/risk
        return {
            "position": "long",
            "price_take_profit": price * 1.016,
            "price_stop_loss": price * 0.992,
            "minute_estimated_time": 12 * 60,
            "note": f"fast {fast:.0f} above slow {slow:.0f}",
        }
    if fast < slow * 0.996:
        return {
            "position": "short",
            "price_take_profit": price * 0.984,
            "price_stop_loss": price * 1.008,
            "minute_estimated_time": 12 * 60,
            "note": f"fast {fast:.0f} below slow {slow:.0f}",
        }
    return None


btk.add_strategy("sma-cross", "15m", get_signal)


# 4. Run it, read the results.
async def main() -> None:
    async for result in btk.Backtest.run(
        "BTCUSDT", strategy_name="sma-cross", exchange_name="market", frame_name="q1-2024"
    ):
        if result.action == "closed":
            opened = datetime.fromtimestamp(result.signal.pending_at / 1000, tz=UTC)
            print(
                f"{opened:%Y-%m-%d %H:%M} {result.signal.position:5} {result.close_reason:12} "
                f"{result.pnl.pnl_percentage:+6.2f}%"
            )
    stats = btk.Backtest.get_data("BTCUSDT", "sma-cross")
    # Every trade counts (set CC_MAX_REPORT_EVENTS=250 for the original's newest-250 window: the
    # note then says so). "sum" adds the per-trade percentages; "compounded" is the account's return.
    scope = f" ({stats.coverage_note})" if stats.is_truncated else ""
    print(
        f"\n{stats.seen_signals} trades{scope}: win rate {stats.win_rate:.1f}%, "
        f"sum {stats.total_pnl:+.2f}%, compounded {stats.compounded_return:+.2f}%, "
        f"max drawdown {stats.max_drawdown:.2f}%, Sharpe {stats.sharpe_ratio:.3f}"
    )
    print("report:", btk.Backtest.dump("BTCUSDT", "sma-cross"))


if __name__ == "__main__":
    asyncio.run(main())
