"""btk engine: register schemas, run backtests, listen to events, read reports.

This module is the public API and nothing else; see DESIGN 2 (docs/architecture.md).
"""

from __future__ import annotations

import importlib

from .candles import CandleError, clear_candle_cache
from .clock import Clock, SimulatedClock, SystemClock, get_clock, set_clock
from .config import GLOBAL_CONFIG, ConfigError, get_config, get_default_config, reset_config, set_config
from .errors import ErrorContext, context_of
from .events import (
    listen_backtest_progress,
    listen_done_backtest,
    listen_done_backtest_once,
    listen_done_live,
    listen_done_live_once,
    listen_done_walker,
    listen_done_walker_once,
    listen_error,
    listen_exit,
    listen_partial_loss,
    listen_partial_loss_once,
    listen_partial_profit,
    listen_partial_profit_once,
    listen_performance,
    listen_risk,
    listen_risk_once,
    listen_signal,
    listen_signal_backtest,
    listen_signal_backtest_once,
    listen_signal_live,
    listen_signal_live_once,
    listen_signal_once,
    listen_state_write,
    listen_validation,
    listen_walker,
    listen_walker_complete,
    listen_walker_once,
    listen_walker_progress,
)
from .exchanges.ccxt_feed import CcxtFeed, CcxtFeedError, close_ccxt_exchanges
from .exchanges.ccxt_options import credential_env_vars, secrets_in
from .exchanges.ccxt_options import option_problem as ccxt_option_problem
from .exchanges.register import add_catalog_exchange, add_ccxt_exchange, add_csv_exchange, add_synthetic_exchange
from .exchanges.synthetic import SyntheticFeed
from .helpers import format_price, format_quantity, get_average_price, get_candles, get_date, get_mode
from .indicators import Indicator, IndicatorError, Signals, indicator, vectorised
from .log import set_logger
from .model import (
    FRAME_INTERVALS,
    MINUTE_MS,
    ActiveResult,
    BacktestStatistics,
    CancelledResult,
    Candle,
    CandleColumns,
    ClosedResult,
    DoneEvent,
    IdleResult,
    OpenedResult,
    PartialEvent,
    PerformanceEvent,
    PerformanceStatistics,
    Pnl,
    ProgressEvent,
    RiskEvent,
    ScheduledResult,
    SignalDto,
    SignalRow,
    TickResult,
    WalkerCompleteEvent,
    WalkerContract,
    WalkerProgressEvent,
)
from .partial import Constant
from .persist.adapters import (
    PersistPartialAdapter,
    PersistRiskAdapter,
    PersistScheduleAdapter,
    PersistSignalAdapter,
    StateWriteStatus,
    set_base_dir,
)
from .persist.atomic import write_atomic
from .persist.base import PersistBase, PersistError
from .persist.lock import StateFolderLocked
from .persist.quarantine import PairQuarantinedError, StateQuarantinedError
from .persist.saved import SavedState, read_saved_state
from .pnl import pnl_percentage
from .registry import (
    WALKER_METRICS,
    DuplicateError,
    NotFoundError,
    SchemaError,
    StrategyCallbacks,
    add_exchange,
    add_frame,
    add_risk,
    add_sizing,
    add_strategy,
    add_walker,
    bind_params,
    list_exchanges,
    list_frames,
    list_risks,
    list_sizings,
    list_strategies,
    list_walkers,
    use_params,
)
from .reports.columns import Column, ColumnConfigError, get_columns, get_default_columns, set_columns
from .reports.facades import Heat, Partial, Performance, Risk, Schedule
from .reports.format import to_fixed
from .reports.walker import ranked_results as rank_walker_results
from .research.params import Choice, FloatParam, IntParam, ParamError
from .risk import RiskCheckArgs, risk_instance
from .runners.backtest import Backtest, BacktestHandle
from .runners.handle import RunHandle
from .runners.live import TICK_TTL, Live, LiveHandle
from .runners.tasks import TaskStatus
from .runners.walker import Walker, WalkerHandle
from .signals import SignalValidationError
from .sizing import PositionSize, SizingError
from .window import CandleWindow

__all__ = [
    "FRAME_INTERVALS",
    "GLOBAL_CONFIG",
    "MINUTE_MS",
    "TICK_TTL",
    "WALKER_METRICS",
    "ActiveResult",
    "Backtest",
    "BacktestHandle",
    "BacktestStatistics",
    "CancelledResult",
    "Candle",
    "CandleColumns",
    "CandleError",
    "CandleWindow",
    "Catalog",
    "CatalogCoverage",
    "CatalogError",
    "CcxtFeed",
    "CcxtFeedError",
    "Choice",
    "Clock",
    "ClosedResult",
    "Column",
    "ColumnConfigError",
    "ConfigError",
    "Constant",
    "DoneEvent",
    "DuplicateError",
    "ErrorContext",
    "FloatParam",
    "Heat",
    "IdleResult",
    "Indicator",
    "IndicatorError",
    "IntParam",
    "Live",
    "LiveHandle",
    "NotFoundError",
    "OpenedResult",
    "PairQuarantinedError",
    "ParamError",
    "Partial",
    "PartialEvent",
    "Performance",
    "PerformanceEvent",
    "PerformanceStatistics",
    "PersistBase",
    "PersistError",
    "PersistPartialAdapter",
    "PersistRiskAdapter",
    "PersistScheduleAdapter",
    "PersistSignalAdapter",
    "Pnl",
    "PositionSize",
    "ProgressEvent",
    "Risk",
    "RiskCheckArgs",
    "RiskEvent",
    "RunHandle",
    "SavedState",
    "Schedule",
    "ScheduledResult",
    "SchemaError",
    "SignalDto",
    "SignalRow",
    "SignalValidationError",
    "Signals",
    "SimulatedClock",
    "SizingError",
    "StateFolderLocked",
    "StateQuarantinedError",
    "StateWriteStatus",
    "StrategyCallbacks",
    "Sweep",
    "SweepConstraints",
    "SweepError",
    "SweepProgress",
    "SweepResult",
    "SweepSet",
    "SweepWindow",
    "SyntheticFeed",
    "SystemClock",
    "TaskStatus",
    "TickResult",
    "Walker",
    "WalkerCompleteEvent",
    "WalkerContract",
    "WalkerHandle",
    "WalkerProgressEvent",
    "add_catalog_exchange",
    "add_ccxt_exchange",
    "add_csv_exchange",
    "add_exchange",
    "add_frame",
    "add_risk",
    "add_sizing",
    "add_strategy",
    "add_synthetic_exchange",
    "add_walker",
    "bind_params",
    "ccxt_option_problem",
    "clear_candle_cache",
    "close_ccxt_exchanges",
    "context_of",
    "credential_env_vars",
    "download_symbol",
    "format_price",
    "format_quantity",
    "get_average_price",
    "get_candles",
    "get_clock",
    "get_columns",
    "get_config",
    "get_date",
    "get_default_columns",
    "get_default_config",
    "get_mode",
    "import_csv_into_catalog",
    "import_synthetic_into_catalog",
    "indicator",
    "iso_minute",
    "list_exchanges",
    "list_frames",
    "list_risks",
    "list_sizings",
    "list_strategies",
    "list_walkers",
    "listen_backtest_progress",
    "listen_done_backtest",
    "listen_done_backtest_once",
    "listen_done_live",
    "listen_done_live_once",
    "listen_done_walker",
    "listen_done_walker_once",
    "listen_error",
    "listen_exit",
    "listen_partial_loss",
    "listen_partial_loss_once",
    "listen_partial_profit",
    "listen_partial_profit_once",
    "listen_performance",
    "listen_risk",
    "listen_risk_once",
    "listen_signal",
    "listen_signal_backtest",
    "listen_signal_backtest_once",
    "listen_signal_live",
    "listen_signal_live_once",
    "listen_signal_once",
    "listen_state_write",
    "listen_validation",
    "listen_walker",
    "listen_walker_complete",
    "listen_walker_once",
    "listen_walker_progress",
    "load_sweep_rows",
    "pnl_percentage",
    "rank_sweep_sets",
    "rank_walker_results",
    "read_catalog_file",
    "read_saved_state",
    "reset_config",
    "risk_instance",
    "run_sweep",
    "secrets_in",
    "set_base_dir",
    "set_clock",
    "set_columns",
    "set_config",
    "set_logger",
    "to_fixed",
    "use_params",
    "vectorised",
    "verify_candle_columns",
    "walk_forward_windows",
    "write_atomic",
    "write_sweep_report",
]

# The catalog's names load pyarrow (~27 MB, a tenth of a second): they are imported when first used.
_LAZY = {
    "Catalog": ("data.catalog", "Catalog"),
    "CatalogError": ("data.catalog", "CatalogError"),
    "CatalogCoverage": ("data.catalog", "Coverage"),
    "iso_minute": ("data.catalog", "iso"),
    "read_catalog_file": ("data.catalog", "read_file"),
    "verify_candle_columns": ("data.catalog", "verify_columns"),
    "download_symbol": ("data.download", "download_symbol"),
    "import_csv_into_catalog": ("data.imports", "import_csv"),
    "import_synthetic_into_catalog": ("data.imports", "import_synthetic"),
    # sweeps share their candles through Arrow files: pyarrow loads with the first sweep name used
    "Sweep": ("research.sweep", "Sweep"),
    "SweepProgress": ("research.sweep", "SweepProgress"),
    "SweepResult": ("research.sweep", "SweepResult"),
    "SweepWindow": ("research.sweep", "Window"),
    "run_sweep": ("research.sweep", "run_sweep"),
    "load_sweep_rows": ("research.sweep", "load_rows"),
    "SweepConstraints": ("research.evaluate", "Constraints"),
    "SweepError": ("research.table", "SweepError"),
    "SweepSet": ("research.report", "TrialSummary"),
    "rank_sweep_sets": ("research.report", "leaderboard"),
    "write_sweep_report": ("research.report", "write_sweep_report"),
    "walk_forward_windows": ("research.walkforward", "walk_forward_windows"),
}


def __getattr__(name: str) -> object:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
