"""The console's own work on a worker's run, replayed without a screen or a worker (issue 14).

A console run of ``bench_console``'s scenario is recorded once: the raw messages its worker sent
and the event lists its dashboard folded. Each is then replayed in a fresh process: ``publish``
(unpickling the messages and publishing them into the console's engine, as ``RemoteRun`` does,
with the bridge's listeners) and ``fold`` (``DashboardState.apply`` on the same lists, then the
logs read as the panes read them). The replays do the same work every time, so they suit
instruction counts; wall and CPU time on a shared machine do not tell small changes apart:

    python -m tests.bench.bench_fold --record busy
    valgrind --tool=callgrind python -m tests.bench.bench_fold --replay fold --scenario busy --repeat 1
    valgrind --tool=callgrind python -m tests.bench.bench_fold --replay fold --scenario busy --repeat 1 --dry

(the difference of the two counts is the fold's; ``--dry`` loads the same and replays nothing).
The fold prints a digest of every log line, count, PnL and equity point: a change that makes the
fold cheaper must keep it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import pickle
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

RECORDS = Path("dump") / "bench_fold"


def record(scenario: str) -> None:
    """One console run of ``scenario`` with a worker; what its worker sent and what its dashboard
    folded are written under ``RECORDS``."""
    from multiprocessing.reduction import ForkingPickler

    from console import state
    from console.host import fast_pickle, remote
    from tests.bench.bench_console import run_console

    raw: list[bytes] = []
    folded: list[list[Any]] = []
    decode, apply = remote.decode, state.DashboardState.apply

    def recorded(body: bytearray) -> Any:
        raw.append(bytes(body))
        return decode(body)

    def fold(self: state.DashboardState, events: list[Any]) -> Any:
        folded.append(list(events))
        return apply(self, events)

    remote.decode = recorded  # type: ignore[assignment]
    state.DashboardState.apply = fold  # type: ignore[method-assign]
    try:
        out = run_console(scenario)
    finally:
        remote.decode = decode  # type: ignore[assignment]
        state.DashboardState.apply = apply  # type: ignore[method-assign]
    fast_pickle.register()
    RECORDS.mkdir(parents=True, exist_ok=True)
    (RECORDS / f"{scenario}.messages").write_bytes(pickle.dumps(raw))
    (RECORDS / f"{scenario}.folded").write_bytes(bytes(ForkingPickler.dumps(folded)))
    events = sum(map(len, folded))
    print(f"{scenario}: {out['trades']} trades, {len(raw)} messages, {events} events folded in {len(folded)} lists")


def replay_fold(scenario: str, act: bool) -> tuple[float, str]:
    from console import state

    folded = pickle.loads((RECORDS / f"{scenario}.folded").read_bytes())
    dash = state.DashboardState()
    rid = state.run_id("backtest", "BTCUSDT", "bench")
    dash.add_run(state.RunView(rid, "backtest", "BTCUSDT", "bench", "synthetic", status="running"))
    t0 = time.process_time()
    for events in folded if act else ():
        dash.apply(events)
    lines, milestones = list(dash.log_of(None)), list(dash.milestone_log.of(None))
    seconds = time.process_time() - t0
    run = dash.runs[rid]
    shown = [(x.time, x.kind, x.side, x.detail, x.pnl, x.signal_id) for x in lines]
    seen = [(m.time, m.kind, m.level, m.price, m.signal_id) for m in milestones]
    totals = (run.trades, run.wins, run.total_pnl, run.equity, run.sim_time, sorted(dash.positions))
    counts = (dash.signal_log.count(None), dash.milestone_log.count(None))
    return seconds, hashlib.sha1(repr((shown, seen, totals, counts)).encode()).hexdigest()[:12]


def replay_publish(scenario: str, act: bool) -> tuple[float, str]:
    import engine
    from console.bridge import SHOWN_ACTIONS
    from console.host import remote, wire
    from console.state import Milestone
    from tests.bench.bench_console import register

    register(scenario)
    raw = pickle.loads((RECORDS / f"{scenario}.messages").read_bytes())
    heard: list[Any] = []
    engine.listen_signal(heard.append, actions=SHOWN_ACTIONS)
    engine.listen_risk(heard.append)
    engine.listen_partial_profit(lambda ev: heard.append(Milestone("profit", ev)))
    engine.listen_partial_loss(lambda ev: heard.append(Milestone("loss", ev)))
    run = object.__new__(remote.RemoteRun)  # the publishing half of a RemoteRun, without its pipe
    run.engine, run._results, run.on_milestones = engine.active_engine(), deque(), heard.append
    run.on_trades = run.columns_heard = None  # trades as columns are expanded into events, as for a listener

    async def main() -> float:
        t0 = time.process_time()
        for message in map(wire.decode, raw if act else ()):
            if message[0] == "batch":
                await run._publish(message[1])
        return time.process_time() - t0

    seconds = asyncio.run(main())
    return seconds, f"{len(heard)} heard, {len(run._results)} results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--record", metavar="SCENARIO", help="record a console run: benchmark or busy")
    p.add_argument("--replay", choices=["fold", "publish"])
    p.add_argument("--dry", action="store_true", help="load the record and everything else, replay nothing")
    p.add_argument("--scenario", default="busy")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    if args.record:
        record(args.record)
        return
    if not args.replay:
        p.error("--record or --replay")
    replay = replay_publish if args.replay == "publish" else replay_fold
    runs = [replay(args.scenario, not args.dry) for _ in range(args.repeat if args.replay == "fold" else 1)]
    best = min(seconds for seconds, _ in runs)
    print(f"{args.scenario} {args.replay}{' (dry)' if args.dry else ''}: best {best * 1000:.1f} ms CPU, {runs[0][1]}")


if __name__ == "__main__":
    sys.exit(main())
