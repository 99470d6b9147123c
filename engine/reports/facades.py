"""Report facades that are not tied to a runner: ``Performance`` (and, as they land, the others)."""

from __future__ import annotations

from typing import Any

from ..model import PerformanceStatistics
from ..registry import strategies
from . import stores

__all__ = ["Performance"]


class PerformanceFacade:
    """Where the time of a run went (SPEC 12.8)."""

    def get_data(self, symbol: str, strategy_name: str, backtest: bool = False) -> PerformanceStatistics:
        strategies.get(strategy_name, "Performance.get_data")
        return stores.performance_statistics(symbol, strategy_name, backtest)

    def get_report(self, symbol: str, strategy_name: str, backtest: bool = False, columns: Any = None) -> str:
        strategies.get(strategy_name, "Performance.get_report")
        return stores.performance_report(symbol, strategy_name, backtest, columns)

    def dump(
        self,
        symbol: str,
        strategy_name: str,
        backtest: bool = False,
        path: str | None = None,
        columns: Any = None,
    ) -> str | None:
        text = self.get_report(symbol, strategy_name, backtest, columns)
        return stores.write_report(path or "./dump/performance", f"{strategy_name}.md", text)


Performance = PerformanceFacade()
