"""A daemon for the tests (tests/console/test_daemon.py), as ``btk-console daemon`` runs it, with two
differences a test needs: a fast simulated clock starting at LIVE_T0 (SPEEDx real time), and two
more strategies: ``churn``, that trades all the time (a 3-minute position, then the next), so a few
seconds of wall time hold many opens and closes, and ``quiet``, that never trades (a live run of it
only ticks). ``--wall T`` pins the runs' wall-clock start and end at T (a snapshot shows no elapsed
time that depends on the machine).

    python -m tests.console.daemon_child --dump DIR [--speed 600] [--live churn] [--tcp PORT] [--wall T]
        [--broker EXCHANGE] [--venue-broker EXCHANGE] [--drawdown PCT] [--config BTK_TOML]

``--config`` serves a btk.toml project instead of the demo (tests/optimizer: one with an optimizer).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path

import engine
from console.daemon.process import run_daemon
from console.project import load_project

LIVE_T0 = int(datetime(2024, 3, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)


def churn(symbol, when, price):
    side = "long" if when.minute % 2 else "short"
    up, down = (1.1, 0.9) if side == "long" else (0.9, 1.1)
    return {
        "position": side,
        "price_take_profit": price * up,
        "price_stop_loss": price * down,
        "minute_estimated_time": 3,
    }


def quiet(symbol, when, price):
    return None


class VenueBroker(engine.PaperBroker):
    """A broker that says it is a ccxt broker on a real venue (its feed is a real ccxt client for
    binance, sandbox off; tests/console/test_account.py has its twin): the attached console must
    ask once more before a live run on it. The tests answer no, so it never places anything."""

    kind = "ccxt"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.feed = engine.CcxtFeed("binance", sandbox=False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dump", required=True)
    parser.add_argument("--config", help="a btk.toml project (default: the demo)")
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--live", action="append", default=[])
    parser.add_argument("--tcp", type=int)
    parser.add_argument("--wall", type=float)
    parser.add_argument("--broker", help="register a paper broker named after this exchange (the project's [broker])")
    parser.add_argument("--drawdown", type=float, help="CC_MAX_DRAWDOWN_PERCENT (a tiny one trips at the first dip)")
    parser.add_argument(
        "--venue-broker", help="register a broker on a real (non-sandbox) venue named after this exchange"
    )
    args = parser.parse_args()
    project = load_project(args.config, days=2)
    engine.add_strategy("churn", "1m", churn)
    engine.add_strategy("quiet", "1m", quiet)
    project = dataclasses.replace(project, strategies=[*project.strategies, "churn", "quiet"])
    if args.broker:  # as btk.toml's [broker] would: a broker named after the exchange it trades on
        engine.add_broker(engine.PaperBroker(args.broker, balance=20_000, quote_amount=150))
    if args.drawdown is not None:
        engine.set_config(CC_MAX_DRAWDOWN_PERCENT=args.drawdown, unsafe=True)
    if args.venue_broker:
        engine.add_broker(VenueBroker(args.venue_broker))
    engine.set_clock(engine.SimulatedClock(LIVE_T0, speed=args.speed))
    live = [("BTCUSDT", name) for name in args.live]
    wall = {"wall": lambda: args.wall} if args.wall is not None else {}
    return asyncio.run(
        run_daemon(project, Path(args.dump), sys.stdout, sys.stderr, tcp_port=args.tcp, live=live, **wall)
    )


if __name__ == "__main__":
    raise SystemExit(main())
