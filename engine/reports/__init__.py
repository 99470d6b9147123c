"""Pure report layer: statistics from stored events (newest first) and their markdown pages.

Import the submodules directly (``engine.reports.backtest``, ``engine.reports.columns``, ...);
nothing here subscribes to events or touches the filesystem beyond ``markdown.write_report``.
"""
