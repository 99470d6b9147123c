"""Where the console's engine messages go: the log book (the log viewer) and, once a live run
starts, ``<dump>/logs/live.log``, the same rotated file with the same lines as headless
``btk-console live`` (console/headless_live.py): every opened, closed and cancelled signal, what a
restart restored, and every error of a live run with its traceback (issue 14 item 7: "a console
live session writes no log file").

Why a logger of the console's own: the engine has one logger hook (``engine.set_logger``); the
console owns it for its session, so feed and persistence warnings reach the log viewer instead of
the void. The file is opened only for live trading: a backtest session leaves no log file behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import engine

from .headless_live import describe, live_logger
from .logbook import LogBook, LogBookHandler


class ConsoleLog:
    """The console's logger (set as the engine's), its book handler, and the live log file."""

    def __init__(self, book: LogBook, dump_dir: Path) -> None:
        self.book = book
        self.dump_dir = dump_dir
        self.logger = logging.getLogger(f"btk.console.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.WARNING)  # debug notes are formatted only once a file wants them
        self._book_handler = LogBookHandler(book)
        self.logger.addHandler(self._book_handler)
        self.path: Path | None = None
        self._file: logging.Logger | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._installed = False

    def install(self) -> None:
        """Become the engine's logger (the console process has one session)."""
        engine.set_logger(self.logger)
        self._installed = True

    def open_live(self) -> Path:
        """Open ``<dump>/logs/live.log`` (once): the engine's notes and this session's live
        results and errors go there from now on. Raises OSError when the folder cannot be made."""
        if self._file is not None and self.path is not None:
            return self.path
        folder = self.dump_dir / "logs"
        self._file = live_logger(folder)
        self.path = folder / "live.log"
        for handler in self._file.handlers:
            self.logger.addHandler(handler)
        self.logger.setLevel(logging.DEBUG)  # as headless: info and debug notes are in the file
        self.book.live_log = str(self.path)
        self._unsubscribe = [
            engine.listen_signal_live(self._result, actions=("opened", "closed", "cancelled")),
            engine.listen_error(self._error),
            engine.listen_exit(self._error),
        ]
        return self.path

    def info(self, line: str) -> None:
        """A line of the live log file (a run started, restored, stopped)."""
        if self._file is not None:
            self._file.info(line)

    def _result(self, result: Any) -> None:
        self.info(describe(result))

    def _error(self, exc: BaseException) -> None:
        ctx = engine.context_of(exc)
        if self._file is None or (ctx is not None and ctx.backtest):
            return  # a backtest's errors are in the log viewer, not in the live log
        self._file.error(engine.describe_error(exc), exc_info=(type(exc), exc, exc.__traceback__))

    def close(self) -> None:
        """Stop writing (the app is leaving): the file handlers stay with their headless-style
        logger, which closes them at exit."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
        if self._installed:
            engine.set_logger(None)
            self._installed = False
