"""The headless command line: ``btk-console backtest`` on the embedded demo project."""

from __future__ import annotations

import gc
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from engine.testing import reset_engine

KEYED = Path("demo-synthetic", "demo-30d", "BTCUSDT")
"""The demo's exchange, frame and symbol: the folders a report of the demo's backtest goes in."""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_backtest_runs_the_demo_prints_statistics_and_writes_reports(tmp_path: Path) -> None:
    code, out, err = run("backtest")
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header[:4] == ["Symbol", "Strategy", "Trades", "Win"]
    for name in ("demo-breakout", "demo-meanrev", "demo-trend"):
        line = next(line for line in out.splitlines() if f" {name} " in line)
        assert line.startswith("BTCUSDT")
        assert int(line.split()[2]) > 0, f"{name} made no trade on the 30-day demo"
        # keyed by exchange, frame and symbol, as the console's d writes them (issue 14 item 13)
        report = (tmp_path / "dump" / "backtest" / KEYED / f"{name}.md").read_text()
        assert report.startswith(f"# Backtest Report: {name}")
    assert "BTCUSDT demo-breakout: done (43,200 frames)" in err  # not a TTY: one line per run, not a bar
    assert not re.search(r": (fulfilled|rejected|pending) \(", err)  # words a trader reads (issue 14 item 17)
    assert "reports written under dump/backtest/" in out


def test_backtest_settles_its_heap_once_the_project_is_loaded(tmp_path: Path) -> None:
    """``engine.settle_heap`` before the runs: the collector's passes skip what the command loaded."""
    gc.unfreeze()
    try:
        code, _, err = run("backtest", "--strategy", "demo-trend", "--days", "1")
        assert code == 0, err
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


REUSED = """
import io, resource, sys
from console.cli import main

argv = ["backtest", "--strategy", "demo-trend", "--days", "1", "--dump-dir", sys.argv[1]]
code = main(argv, io.StringIO(), io.StringIO())

def faults(size):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = bytearray(size)
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults(16 << 20)
print(code, faults(16 << 20))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_backtest_reuses_the_blocks_its_runs_free(tmp_path: Path) -> None:
    """``engine.reuse_freed_memory`` with ``settle_heap``: after the command a freed 16 MiB block
    is reused by the next (glibc's default hands it back and faults the next one in page by
    page: ~4,000 faults). In a fresh interpreter: the allocator's settings are the process's."""
    from engine.heap import glibc

    if glibc() is None:
        pytest.skip("not glibc's malloc")
    proc = subprocess.run(
        [sys.executable, "-c", REUSED, str(tmp_path / "dump")], capture_output=True, text=True, check=True
    )
    code, faults = map(int, proc.stdout.split())
    assert code == 0
    assert faults < 200


def test_symbols_strategies_days_and_dump_dir_are_honoured(tmp_path: Path) -> None:
    code, out, err = run(
        "backtest",
        "--symbol",
        "ETHUSDT",
        "--symbol",
        "BTCUSDT",
        "--strategy",
        "demo-trend",
        "--days",
        "3",
        "--dump-dir",
        "reports",
    )
    assert code == 0, err
    rows = [line.split()[:2] for line in out.splitlines()[2:4]]
    assert rows == [["ETHUSDT", "demo-trend"], ["BTCUSDT", "demo-trend"]]
    for symbol in ("ETHUSDT", "BTCUSDT"):
        keyed = tmp_path / "reports" / "backtest" / "demo-synthetic" / "demo-3d" / symbol
        assert (keyed / "demo-trend.md").exists()
    assert "4,320 frames" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["backtest", "--strategy", "nope"],
            "unknown strategy 'nope' (available: demo-breakout, demo-meanrev, demo-trend)",
        ),
        (["backtest", "--days", "x"], "--days must be a whole number of days, got 'x'"),
        (["backtest", "--days", "0"], "--days must be between 1 and 3660, got 0"),
        (["backtest", "--symbol", "btc usdt"], "--symbol must look like BTCUSDT"),
        (["backtest", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["backtest", "--config", "missing.toml"], "missing.toml: no such file"),
    ],
)
def test_a_bad_argument_exits_2_with_one_line(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("btk-console: error: ")
    assert message in err


def test_help_describes_the_console_and_lists_the_subcommands() -> None:
    exe = shutil.which("btk-console", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "console.cli"]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "interactive dashboard" in proc.stdout and "backtest" in proc.stdout
    assert "--theme" in proc.stdout and "--config" in proc.stdout and "--dump-dir" in proc.stdout


def test_an_unknown_theme_is_a_usage_error() -> None:
    code, _out, err = run("--theme", "neon")
    assert code == 2 and "--theme must be one of btk-dark, btk-light, btk-high-contrast" in err


def test_the_installed_console_script_runs(tmp_path: Path) -> None:
    exe = shutil.which("btk-console", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "console.cli"]
    proc = subprocess.run(
        [*cmd, "backtest", "--days", "2", "--strategy", "demo-trend"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dump" / "backtest" / "demo-synthetic" / "demo-2d" / "BTCUSDT" / "demo-trend.md").exists()
    version = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("btk-console ")


def test_a_bad_csv_fails_the_backtest_with_one_line_naming_file_and_line(project_dir: Path) -> None:
    """Issue 20 item 7: a CSV row whose high is below its low used to pass silently (exit 0, no
    trade, no word); now every run on it fails at its start and the command exits 1 with one
    error line naming the file and line, however many strategies met it."""
    data = project_dir / "data" / "BTCUSDT.csv"
    lines = data.read_text().split("\n")
    ts, o, _high, low, c, v = lines[4].split(",")
    lines[4] = ",".join([ts, o, str(float(low) - 1), low, c, v])
    data.write_text("\n".join(lines))
    code, out, err = run("backtest", "--config", str(project_dir), "--exchange", "local")
    assert code == 1
    assert "BTCUSDT momentum: failed (" in err  # not "rejected" (issue 14 item 17)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith("error: BTCUSDT momentum, BTCUSDT fade failed: CsvFileError: ")
    assert f"{data}:5: not a possible candle: high is below low" in errors[0]
    assert "Traceback" not in err and out == ""


class Terminal(io.StringIO):
    """A buffer that says it is a terminal, as a real one would."""

    def isatty(self) -> bool:
        return True


def test_output_to_a_pipe_has_no_terminal_codes_and_an_ascii_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # not a terminal is not a terminal, whatever the environment says
    code, out, err = run("backtest", "--days", "2")
    assert code == 0, err
    assert "\x1b" not in out and "\x1b" not in err
    lines = out.splitlines()
    assert set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])  # the rule spans the header
    assert all(line == line.rstrip() for line in lines)


def test_on_a_terminal_the_runs_get_live_bars_and_a_narrow_terminal_cuts_no_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    plain_code, plain, _ = run("backtest", "--days", "2")
    reset_engine()  # the demo registers its strategies again
    out, err = Terminal(), Terminal()
    code = main(["backtest", "--days", "2"], out, err)
    assert code == plain_code == 0, err.getvalue()
    bars = err.getvalue()
    assert "\x1b[" in bars and "━" in bars
    for name in ("demo-breakout", "demo-meanrev", "demo-trend"):
        assert f"BTCUSDT   {name}" in bars
    assert bars.count("done") >= 3 and "fulfilled" not in bars
    table = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "…" not in table
    cells = [line.split() for line in table.splitlines()[2:5]]
    assert cells == [line.split() for line in plain.splitlines()[2:5]]  # the same numbers as in a pipe


def test_live_with_a_dump_dir_that_cannot_hold_state_is_one_line_and_trades_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run("live", "--symbol", "BTCUSDT", "--dump-dir", str(blocker / "dump"))
    assert code == 2 and out == ""
    target = blocker / "dump"
    reason = f"Not a directory ({target / 'data'})"
    assert err == f"btk-console: error: --dump-dir {target} cannot hold live state: {reason}\n"


def test_a_strategy_that_raises_is_named_with_its_type_file_and_line(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "s.py").write_text(
        "import engine\n\nasync def sig(symbol, when, price):\n    if when.hour == 5:\n"
        "        raise ValueError('bad hour')\n    return None\n\nengine.add_strategy('s', '15m', sig)\n"
    )
    (tmp_path / "btk.toml").write_text(
        '[project]\nmodules = ["s.py"]\n[exchanges.sim]\nkind = "synthetic"\n'
        '[frames.f]\ninterval = "1m"\nstart = 2024-01-01\nend = 2024-01-02\n'
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = run("backtest", "--dump-dir", str(tmp_path / "dump"))
    assert code == 0, err
    assert "warning: BTCUSDT s: 4 error(s) during the run; first: ValueError: bad hour (s.py:5 in sig)\n" in err


def test_headless_reports_go_where_the_consoles_d_puts_them_and_empty_ones_are_skipped(tmp_path: Path) -> None:
    """Issue 14 item 13: headless runs on different frames no longer overwrite each other's report,
    and a report with nothing in it (a strategy that placed no limit order has no schedule
    report) is not written."""
    import engine

    dump = tmp_path / "dump"
    for days in ("3", "2"):
        code, _out, err = run("backtest", "--strategy", "demo-trend", "--days", days)
        assert code == 0, err
        if days == "3":
            reset_engine()
    keyed = lambda kind, days: dump / kind / "demo-synthetic" / f"demo-{days}d" / "BTCUSDT" / "demo-trend.md"  # noqa: E731
    assert keyed("backtest", 2).read_text() != keyed("backtest", 3).read_text()  # two frames, two reports
    assert not (dump / "backtest" / "demo-trend.md").exists()  # not the old flat path
    has = {
        "backtest": engine.Backtest.get_data("BTCUSDT", "demo-trend").total_signals,
        "schedule": engine.Schedule.get_data("BTCUSDT", "demo-trend", True).total_events,
        "partial": engine.Partial.get_data("BTCUSDT", "demo-trend", True).total_events,
        "risk": engine.Risk.get_data("BTCUSDT", "demo-trend", True).total_rejections,
    }
    assert has["backtest"] > 0 and 0 in has.values(), has  # the test needs a full and an empty report
    for kind, count in has.items():
        assert keyed(kind, 2).exists() == (count > 0), f"{kind}: {count} events"
