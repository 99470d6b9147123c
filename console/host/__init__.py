"""Backtests and walkers of the console in worker processes (issue 14 item 2; docs/architecture.md).

The engine and Textual shared one event loop and one core: a busy strategy ran at about half its
headless speed in the console and keys waited for the run. A run now goes to a worker process
that loads the same project and streams what it emits back; the console publishes it into its own
engine's bus, so every pane, report and store works as before. Live runs stay in process: they
wait a minute between ticks, and their saved state has one owner per process (engine/kernel.py).
"""

from .pool import EngineHost
from .remote import EngineProcessDied, RemoteRun
from .spec import FrameSpec, Loader, RunSpec, loader_for

__all__ = ["EngineHost", "EngineProcessDied", "FrameSpec", "Loader", "RemoteRun", "RunSpec", "loader_for"]
