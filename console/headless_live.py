"""``btk-console live``: trade a project's strategies without a UI, until SIGTERM or SIGINT.

Meant for a service manager (a systemd unit in the README): one line per opened, closed or
cancelled signal on stdout, the engine's log and every error in ``<dump>/logs/live.log`` (rotated),
and on SIGTERM/SIGINT the stop of SPEC 8.5: no new signals, an open position stays saved under
``<dump>/data`` and resumes at the next start. Exit code 0 after a clean stop. A second signal
while stopping gives up waiting (the state on disk is already whole: it is written before any
result is announced).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 5


class _LogFile(RotatingFileHandler):
    """The rotated log file; when the disk refuses it (full, read-only) it says so in one line on
    stderr, once until a record is written again, instead of logging's traceback per record."""

    failing = False
    _written = True

    def emit(self, record: logging.LogRecord) -> None:
        self._written = True
        super().emit(record)  # a failure calls handleError
        if self._written:
            self.failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._written = False
        if not self.failing:
            self.failing = True
            sys.stderr.write(f"btk-console: cannot write the log {self.baseFilename}: {sys.exc_info()[1]}\n")
            sys.stderr.flush()


def live_logger(log_dir: Path) -> logging.Logger:
    """A logger writing to ``log_dir/live.log``, rotated at 5 MB with 5 old files kept."""
    log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"btk.live.{log_dir.resolve()}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if not logger.handlers:
        handler = _LogFile(log_dir / "live.log", maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    return logger


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(result: Any) -> str:
    """One line for an opened, closed or cancelled result."""
    row = result.signal
    head = f"{result.symbol} {result.strategy_name} {row.position.upper()} {result.action.upper()}"
    if result.action == "opened":
        return (
            f"{head} at {row.price_open:,.2f} (TP {row.price_take_profit:,.2f}, SL {row.price_stop_loss:,.2f}) "
            f"id {row.id}"
        )
    if result.action == "closed":
        return (
            f"{head} {result.close_reason} at {result.current_price:,.2f} "
            f"pnl {result.pnl.pnl_percentage:+.2f}% id {row.id}"
        )
    return f"{head} {result.cancel_reason} id {row.id}"


async def run_live(
    pairs: Sequence[tuple[str, str]],
    exchange: str,
    dump_dir: Path,
    out: TextIO,
    err: TextIO,
    *,
    install_signals: bool = True,
) -> int:
    """Trade every (symbol, strategy) pair until a stop signal; return the exit code."""
    import engine

    logger = live_logger(dump_dir / "logs")
    engine.set_logger(logger)
    engine.set_base_dir(dump_dir / "data")
    failures: list[str] = []

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()
        logger.info(line)

    def on_error(exc: BaseException) -> None:
        err.write(f"error: {engine.describe_error(exc)}\n")
        err.flush()
        logger.error(str(exc), exc_info=(type(exc), exc, exc.__traceback__))  # the log keeps the traceback

    def on_state(status: Any) -> None:  # the close-only report is an error; its end is this line
        if status.writable:
            err.write(f"{status}\n")
            err.flush()

    engine.listen_error(on_error)
    engine.listen_exit(on_error)
    engine.listen_state_write(on_state)

    from .broker_choice import broker_for

    # the broker btk.toml's [broker] registered for this exchange (a ccxt broker is named after
    # its exchange table; a real-money one was confirmed there with real_money = true), else paper
    broker = broker_for(exchange)
    logger.info(f"broker {broker.text}")
    handles = []
    for s, name in pairs:
        try:
            handles.append(
                (s, name, engine.Live.run(s, strategy_name=name, exchange_name=exchange, broker=broker.name))
            )
        except engine.StateFolderLocked as exc:  # another live process trades this folder: leave it alone
            err.write(f"btk-console: error: {exc}\n")
            err.flush()
            logger.error(str(exc))
            return 1
        except engine.PairQuarantinedError as exc:  # this pair waits for a person; the others trade
            failures.append(f"{s} {name}: {exc}")
            err.write(f"error: {exc}\n")
            logger.error(str(exc))

    async def trade(symbol: str, name: str, handle: Any) -> None:
        try:
            for row in await handle.restore():
                what = "limit entry" if row.is_scheduled else "position"
                say(
                    f"{symbol} {name} RESTORED {row.position.upper()} {what} at {row.price_open:,.2f} "
                    f"(TP {row.price_take_profit:,.2f}, SL {row.price_stop_loss:,.2f}) id {row.id}"
                )
            async for result in handle:
                say(describe(result))
        except engine.PairQuarantinedError as exc:  # its saved state failed its checks at restore
            failures.append(f"{symbol} {name}: {exc}")
            err.write(f"error: {exc}\n")
            logger.error(str(exc))
        except Exception as exc:
            failures.append(f"{symbol} {name}: {exc}")
            err.write(f"error: {symbol} {name} stopped: {exc}\n")
            logger.exception(f"{symbol} {name} stopped")

    tasks = [asyncio.ensure_future(trade(s, n, h)) for s, n, h in handles]
    stopping = asyncio.Event()

    def stop(signame: str) -> None:
        if stopping.is_set():  # a second signal: stop waiting for the last ticks
            say(f"{signame} again: not waiting any longer (state on disk is complete)")
            for t in tasks:
                t.cancel()
            return
        stopping.set()
        say(f"{signame}: stopping; open positions stay saved under {dump_dir / 'data'} and resume on the next start")
        for symbol, name, _ in handles:
            engine.Live.stop(symbol, name)

    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig.name)
    now = engine.get_clock().now()
    say(
        f"live on {exchange} from {_utc(now)}: "
        + ", ".join(f"{s} {n}" for s, n in pairs)
        + f"; state in {dump_dir / 'data'}, log in {dump_dir / 'logs' / 'live.log'}"
    )
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    for symbol, name, _ in handles:
        path = engine.Live.dump(symbol, name, path=str(dump_dir / "live"))
        if path:
            logger.info(f"report {path}")
    say(f"stopped; reports under {dump_dir / 'live'}")
    return 1 if failures else 0
