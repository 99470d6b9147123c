"""Compare three variants of one idea with a walker, under a shared risk profile.

Run:  python examples/walker_compare.py   (writes dump/walker/sma-variants.md)
"""

import asyncio
from datetime import UTC, datetime

import engine as btk

btk.add_synthetic_exchange("market", seed=7)
btk.add_frame("jan-2024", "1m", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 31, 23, 59, tzinfo=UTC))


class NoWeekendEntries:
    """A risk validation: raise to refuse the signal; ``note`` is what the risk report shows."""

    note = "no new entries on weekends"

    def validate(self, args: btk.RiskCheckArgs) -> None:
        if datetime.fromtimestamp(args.timestamp / 1000, tz=UTC).weekday() >= 5:
            raise ValueError(self.note)


btk.add_risk("desk", validations=[NoWeekendEntries()], max_concurrent_positions=3)


def sma_cross(fast_hours: int, take_profit: float):
    """A fast/slow moving-average cross on hourly closes, as a strategy's get_signal."""

    async def get_signal(symbol: str, when: datetime, price: float) -> dict | None:
        candles = await btk.get_candles(symbol, "1h", 26)
        if len(candles) < 25:
            return None
        closes = candles.close[-25:-1]  # 24 completed hours (a numpy column)
        fast, slow = closes[-fast_hours:].mean(), closes.mean()
        side = "long" if fast > slow * 1.003 else "short" if fast < slow * 0.997 else None
        if side is None:
            return None
        up = 1 if side == "long" else -1
        return {
            "position": side,
            "price_take_profit": price * (1 + up * take_profit),
            "price_stop_loss": price * (1 - up * 0.008),
            "minute_estimated_time": 8 * 60,
        }

    return get_signal


for name, fast, tp in (("sma-3h", 3, 0.012), ("sma-6h", 6, 0.016), ("sma-12h", 12, 0.02)):
    btk.add_strategy(name, "15m", sma_cross(fast, tp), risk_name="desk")

btk.add_walker("sma-variants", "market", "jan-2024", ["sma-3h", "sma-6h", "sma-12h"], metric="sharpe_ratio")


async def main() -> None:
    async for step in btk.Walker.run("BTCUSDT", walker_name="sma-variants"):
        value = "n/a" if step.metric_value is None else f"{step.metric_value:.3f}"
        print(f"{step.strategies_tested}/{step.total_strategies} {step.strategy_name}: {step.metric} {value}")
    result = btk.Walker.get_data("BTCUSDT", "sma-variants")
    print(f"best: {result.best_strategy} ({result.metric} {result.best_metric:.3f})")
    rejected = btk.Risk.get_data("BTCUSDT", result.best_strategy, backtest=True).total_rejections
    print(f"signals the risk profile refused for {result.best_strategy}: {rejected}")
    btk.Walker.dump("BTCUSDT", "sma-variants")  # -> dump/walker/sma-variants.md


asyncio.run(main())
