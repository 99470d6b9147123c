"""Report facades that are not tied to a runner: ``Schedule``, ``Partial``, ``Risk``, ``Heat``,
``Performance`` (SPEC 12.4-12.8). Each has ``get_data``, ``get_report`` and ``dump``; ``dump``
writes under ./dump/<kind>/ by default and never raises (an I/O problem is logged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import risk
from ..model import PerformanceStatistics
from ..registry import regs
from . import stores

__all__ = ["Heat", "Partial", "Performance", "Risk", "Schedule"]


class _PerStrategyReport:
    """A report keyed by (symbol, strategy, mode)."""

    kind = ""
    folder = ""

    def __init__(
        self,
        data: Callable[[str, str, bool], Any],
        report: Callable[[str, str, bool, Any], str],
        filename: Callable[[str, str], str],
    ) -> None:
        self._data, self._report, self._filename = data, report, filename

    def get_data(self, symbol: str, strategy_name: str, backtest: bool = False) -> Any:
        regs().strategies.get(strategy_name, f"{self.kind}.get_data")
        stores.require_report(f"{self.kind}.get_data", symbol, strategy_name, backtest)
        return self._data(symbol, strategy_name, backtest)

    def get_report(self, symbol: str, strategy_name: str, backtest: bool = False, columns: Any = None) -> str:
        regs().strategies.get(strategy_name, f"{self.kind}.get_report")
        stores.require_report(f"{self.kind}.get_report", symbol, strategy_name, backtest)
        return self._report(symbol, strategy_name, backtest, columns)

    def dump(
        self, symbol: str, strategy_name: str, backtest: bool = False, path: str | None = None, columns: Any = None
    ) -> str | None:
        text = self.get_report(symbol, strategy_name, backtest, columns)
        return stores.write_report(path or f"./dump/{self.folder}", self._filename(symbol, strategy_name), text)


def _facade(kind: str, folder: str, data, report, filename) -> _PerStrategyReport:
    f = _PerStrategyReport(data, report, filename)
    f.kind, f.folder = kind, folder
    return f


Schedule = _facade(
    "Schedule", "schedule", stores.schedule_statistics, stores.schedule_report, lambda sym, strat: f"{strat}.md"
)
"""Scheduled (limit) entries: how many activated, how many were cancelled and why (SPEC 12.4)."""

Partial = _facade(
    "Partial", "partial", stores.partial_statistics, stores.partial_report, lambda sym, strat: f"{sym}_{strat}.md"
)
"""Profit/loss milestones reached by open positions (SPEC 12.5)."""


class RiskFacade(_PerStrategyReport):
    """Signals the risk profiles rejected (SPEC 12.6)."""

    kind, folder = "Risk", "risk"

    def __init__(self) -> None:
        super().__init__(stores.risk_statistics, stores.risk_report, lambda sym, strat: f"{sym}_{strat}.md")

    def get_report(self, symbol: str, strategy_name: str, backtest: bool = False, columns: Any = None) -> str:
        """The SPEC 12.6 report; in backtest mode, when the strategy's risk profiles were shared by
        backtests running at the same time, a closing note says their limits were approximate."""
        text = super().get_report(symbol, strategy_name, backtest, columns)
        if not backtest:
            return text
        shared = risk.shared_by(regs().strategies.get(strategy_name, "Risk.get_report").risk_names, True)
        if not shared:
            return text
        lines = [f"- {name}: shared by {len(users)} backtests ({', '.join(users)})" for name, users in shared.items()]
        note = (
            "*Note: these backtests ran at the same time and shared risk profiles. Concurrent backtests "
            "are not synchronised in simulated time, so a limit across them (such as a maximum number of "
            "open positions) was only approximately enforced: each rejection is real, but the positions "
            "counted may belong to another run's different moment.*"
        )
        return text.rstrip("\n") + "\n\n## Shared Risk Profiles\n\n" + "\n".join(lines) + "\n\n" + note + "\n"


Risk = RiskFacade()


class PerformanceFacade(_PerStrategyReport):
    """Where the time of a run went (SPEC 12.8)."""

    kind, folder = "Performance", "performance"

    def __init__(self) -> None:
        super().__init__(stores.performance_statistics, stores.performance_report, lambda sym, strat: f"{strat}.md")

    def get_data(self, symbol: str, strategy_name: str, backtest: bool = False) -> PerformanceStatistics:
        return super().get_data(symbol, strategy_name, backtest)


Performance = PerformanceFacade()


class HeatFacade:
    """A strategy's results per symbol, with portfolio totals (SPEC 12.7)."""

    def get_data(self, strategy_name: str, backtest: bool = False) -> Any:
        regs().strategies.get(strategy_name, "Heat.get_data")
        return stores.heat_statistics(strategy_name, backtest)

    def get_report(self, strategy_name: str, backtest: bool = False, columns: Any = None) -> str:
        regs().strategies.get(strategy_name, "Heat.get_report")
        return stores.heat_report(strategy_name, backtest, columns)

    def dump(
        self, strategy_name: str, backtest: bool = False, path: str | None = None, columns: Any = None
    ) -> str | None:
        text = self.get_report(strategy_name, backtest, columns)
        return stores.write_report(path or "./dump/heatmap", f"{strategy_name}.md", text)


Heat = HeatFacade()
