"""Issue 14 item 8 in the console: a run on data that does not exist fails with its one reason.

Headless, ``btk-console backtest`` and ``walker`` exit 1 with one error line naming the symbol, the
file or the frame (no 138,240 errors, no table of zeros); the dashboard shows such a run as failed.
The fixture project's ``local`` exchange is a folder holding only ``BTCUSDT.csv`` (2024-01-01,
00:00 to 00:59).
"""

from __future__ import annotations

import io
from pathlib import Path

from conftest import finish_runs, fixed_clock

from console.app import BtkApp
from console.cli import main
from console.project import load_project


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def add_to_toml(project_dir: Path, text: str) -> None:
    toml = project_dir / "btk.toml"
    toml.write_text(toml.read_text().replace("[walkers.compare]", text + "\n[walkers.compare]"))


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_headless_backtest_on_a_symbol_the_exchange_lacks_exits_1_with_one_line(project_dir: Path) -> None:
    code, out, err = run("backtest", "--config", str(project_dir), "--exchange", "local", "--symbol", "ETHUSDT")
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith("error: ETHUSDT momentum, ETHUSDT fade failed: CsvSymbolError: ")
    assert line.endswith("no data for symbol 'ETHUSDT'; available: BTCUSDT")
    assert "warning:" not in err and "Traceback" not in err
    assert out == ""  # no table of zeros


def test_headless_backtest_on_a_frame_outside_the_data_exits_1_with_one_line(project_dir: Path) -> None:
    add_to_toml(project_dir, '[frames.february]\ninterval = "1m"\nstart = 2024-02-01\nend = 2024-02-02\n')
    code, out, err = run("backtest", "--config", str(project_dir), "--exchange", "local", "--frame", "february")
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith("error: BTCUSDT momentum, BTCUSDT fade failed: OutsideDataError: ")
    assert "no candles for BTCUSDT on exchange local in frame february (2024-02-01T00:00:00Z" in line
    assert line.endswith("its data covers 2024-01-01T00:00:00Z .. 2024-01-01T00:59:00Z")
    assert "warning:" not in err and out == ""


def test_headless_walker_on_a_symbol_the_exchange_lacks_fails_once(project_dir: Path) -> None:
    toml = project_dir / "btk.toml"
    on_sim = 'exchange = "sim"\nframe = "short"'
    toml.write_text(toml.read_text().replace(on_sim, on_sim.replace("sim", "local")))
    code, _out, err = run("walker", "--config", str(project_dir), "--symbol", "ETHUSDT")
    assert code == 1
    [line] = error_lines(err)
    assert line.startswith("error: walker compare on ETHUSDT failed: ")
    assert "no data for symbol 'ETHUSDT'" in line
    assert "skipped" not in err and "Traceback" not in err


async def test_the_dashboard_shows_a_run_on_a_missing_symbol_as_failed(project_dir: Path) -> None:
    project = load_project(project_dir / "btk.toml")
    app = BtkApp(project, clock=fixed_clock, save_settings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.start_backtest("ETHUSDT", "momentum", "local", "short")
        await finish_runs(pilot)
        (run,) = app.state.runs.values()
        assert run.status == "failed"
        assert run.error.startswith("CsvSymbolError: ") and "no data for symbol 'ETHUSDT'" in run.error
        assert run.errors == 0 and run.trades == 0  # one reason, not an error per frame
        assert app.is_running
