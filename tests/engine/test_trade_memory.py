"""What a finished backtest keeps per trade when nobody listens: under 250 bytes (issue 13).

Allocation sizes do not depend on the machine's load, so the bound is safe to assert. The run is
the engine benchmark's strategy over 90 days (~1,460 trades: the per-run constants, such as the
report stores' headers, are spread thinner the longer the run, so a year keeps less per trade;
``python -m tests.bench.bench_trade_memory`` measures it). Before issue 13 a run kept about 850
bytes a trade (its results as objects).
"""

from __future__ import annotations

from tests.bench.bench_trade_memory import measure


def test_a_finished_run_keeps_under_250_bytes_a_trade():
    kept = measure(days=90, top=5)
    assert kept.trades > 1_000
    assert kept.per_trade < 250, f"{kept.per_trade:.1f} bytes a trade; most of it from: {kept.by_line}"


def test_the_measure_sees_what_a_run_keeps():
    """The same measure counts kept objects: the report of a run holding a list of its results
    (as runs did before issue 13) is measured at several hundred bytes a trade."""
    import engine as e

    kept: list = []
    e.listen_signal_backtest(kept.append)  # a listener that keeps every event it hears
    measured = measure(days=30)
    assert len(kept) >= measured.trades
    assert measured.per_trade > 400
