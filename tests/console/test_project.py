"""Loading btk.toml projects: what gets registered, how modules are imported, and the messages a
broken project gets (file, line, key, what was expected)."""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import FIXTURE_PROJECT

import engine
from console.cli import main
from console.project import PROJECT_FILE, ProjectError, load_project
from console.toml_source import scan_toml
from engine.testing import reset_engine

EXCHANGE = '[exchanges.sim]\nkind = "synthetic"\n'
FRAME = '[frames.jan]\ninterval = "1m"\nstart = 2024-01-01\nend = 2024-01-02\n'
STRATEGY = (
    "import engine\n"
    "\n"
    "async def get_signal(symbol, when, price):\n"
    "    return None\n"
    "\n"
    'engine.add_strategy("s", "5m", get_signal)\n'
)


pytestmark = pytest.mark.usefixtures("user_settings")  # never the real per-user settings


def write_project(folder: Path, toml: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    path = folder / PROJECT_FILE
    path.write_text(toml)
    return path


# --------------------------------------------------------------------------- a working project


def test_the_fixture_project_registers_its_exchanges_frames_strategies_and_walker(project_dir: Path) -> None:
    project = load_project(project_dir / PROJECT_FILE)
    assert project.name == "fixture"
    assert not project.is_demo
    assert project.source == project_dir / PROJECT_FILE
    assert project.root == project_dir
    assert project.settings_path == project_dir / "btk.ui.toml"  # beside btk.toml, never in it
    assert project.dump_dir == project_dir / "out" / "dump"
    assert project.exchanges == ["sim", "local"]
    assert project.strategies == ["momentum", "fade"]
    assert project.frames == ["short"]
    assert project.walkers == ["compare"]
    assert (project.default_exchange, project.default_frame) == ("sim", "short")
    assert (project.exchange, project.frame) == ("sim", "short")  # the names the CLI used before
    assert project.symbols[0] == "BTCUSDT" and "ETHUSDT" in project.symbols
    assert project.symbol_list_is_strict is False  # a synthetic exchange trades anything
    assert project.keys == {"backtest": "f5"}
    assert project.ui == {"theme": "textual-dark"}
    assert [p.name for p in project.modules] == ["momentum.py", "fade.py"]
    walker = engine.list_walkers()[0]
    assert (walker.exchange_name, walker.frame_name, walker.metric) == ("sim", "short", "total_pnl")
    frame = engine.list_frames()[0]
    assert frame.start_date.isoformat() == "2024-01-01T00:00:00+00:00"


async def test_a_loaded_project_can_be_backtested(project_dir: Path) -> None:
    project = load_project(project_dir / PROJECT_FILE)
    results = [
        r
        async for r in engine.Backtest.run(
            "BTCUSDT",
            strategy_name="momentum",
            exchange_name=project.default_exchange,
            frame_name=project.default_frame,
        )
    ]
    assert results, "momentum made no trade in a day of synthetic candles"
    assert engine.Backtest.get_data("BTCUSDT", "momentum").total_signals == len(
        [r for r in results if r.action == "closed"]
    )


def test_btk_toml_in_the_working_directory_wins_over_the_demo(project_dir: Path) -> None:
    assert load_project(cwd=project_dir).name == "fixture"


def test_config_may_name_the_folder_and_be_relative_to_cwd(project_dir: Path) -> None:
    assert load_project("proj", cwd=project_dir.parent).source == project_dir / PROJECT_FILE


def test_without_btk_toml_the_demo_is_loaded(tmp_path: Path, user_settings: Path) -> None:
    project = load_project(days=3)
    assert project.is_demo and project.source is None
    assert project.root == tmp_path and project.dump_dir == tmp_path / "dump"
    assert project.default_exchange == "demo-synthetic"
    assert project.default_frame == "demo-3d"
    assert project.strategies == ["demo-breakout", "demo-meanrev", "demo-trend"]
    assert project.settings_path == user_settings
    assert (project.ui, project.keys) == ({}, {})


def test_minimal_project_defaults(tmp_path: Path) -> None:
    path = write_project(tmp_path / "mini", f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}', {"s.py": STRATEGY})
    project = load_project(path)
    assert project.name == "mini"
    assert project.dump_dir == tmp_path / "mini" / "dump"
    assert project.walkers == [] and project.keys == {} and project.ui == {}
    frame = engine.list_frames()[0]
    assert frame.end_date.isoformat() == "2024-01-02T00:00:00+00:00"  # a date is 00:00 UTC


def test_offsets_and_local_datetimes_become_utc(tmp_path: Path) -> None:
    frame = '[frames.f]\ninterval = "1m"\nstart = 2024-01-01T02:00:00+02:00\nend = 2024-01-01T06:00:00\n'
    load_project(write_project(tmp_path, f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{frame}', {"s.py": STRATEGY}))
    f = engine.list_frames()[0]
    assert (f.start_date.isoformat(), f.end_date.isoformat()) == (
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T06:00:00+00:00",
    )


def test_csv_only_project_has_a_strict_symbol_list(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE_PROJECT / "data", tmp_path / "data")
    toml = f'[project]\nmodules = ["s.py"]\n[exchanges.local]\nkind = "csv"\npath = "data"\n{FRAME}'
    project = load_project(write_project(tmp_path, toml, {"s.py": STRATEGY}))
    assert project.symbols == ["BTCUSDT"] and project.symbol_list_is_strict


def test_modules_are_fresh_on_every_load_and_leave_no_trace(project_dir: Path) -> None:
    strategies = str(project_dir / "strategies")
    seen = []
    for _ in range(2):
        reset_engine()
        load_project(project_dir / PROJECT_FILE)
        get_signal = next(s for s in engine.list_strategies() if s.strategy_name == "momentum").get_signal
        module = sys.modules[get_signal.__module__]
        assert module.LOADS == ["loaded"]  # module state starts afresh
        assert get_signal.__globals__["bracket"].__globals__["IMPORTS"] == 1  # the helper ran again
        fade = next(s for s in engine.list_strategies() if s.strategy_name == "fade").get_signal
        assert fade.__globals__["bracket"] is get_signal.__globals__["bracket"]  # one helper per load
        seen.append(module)
        assert strategies not in sys.path
        assert "levels" not in sys.modules
    assert seen[0] is not seen[1] and seen[0].__name__ != seen[1].__name__


# --------------------------------------------------------------------------- broken projects

BROKEN = {
    "syntax": (
        '[project]\nname = "x"\nbad key = 1\n',
        {},
        ["btk.toml line 3, column 5: Expected '=' after a key"],
    ),
    "unknown-section": (
        f"{EXCHANGE}\n[exchange.other]\nkind = 1\n",
        {},
        ["btk.toml line 4: [exchange]: unknown section", "[project], [exchanges]", "did you mean [exchanges]?"],
    ),
    "unknown-key": (
        f"{EXCHANGE}seed = 1\nsed = 4\n{FRAME}",
        {},
        ["btk.toml line 4: [exchanges.sim] sed: unknown key; known keys: kind, seed, note (did you mean seed?)"],
    ),
    "project-key": (
        '[project]\nmodule = ["s.py"]\n',
        {},
        ["btk.toml line 2: [project] module: unknown key", "(did you mean modules?)"],
    ),
    "bad-date": (
        f'{EXCHANGE}[frames.jan]\ninterval = "1m"\nstart = "2024-13-01"\nend = 2024-01-31\n',
        {},
        ['btk.toml line 5: [frames.jan] start: expected a date or datetime, got string "2024-13-01"'],
    ),
    "time-not-date": (
        f'{EXCHANGE}[frames.jan]\ninterval = "1m"\nstart = 2024-01-01\nend = 10:00:00\n',
        {},
        ["btk.toml line 6: [frames.jan] end: expected a date or datetime, got time 10:00:00"],
    ),
    "end-before-start": (
        f'{EXCHANGE}[frames.jan]\ninterval = "1m"\nstart = 2024-02-01\nend = 2024-01-31T23:59:00Z\n',
        {},
        ["btk.toml line 6: [frames.jan] end: 2024-01-31T23:59:00Z is before start 2024-02-01T00:00:00Z"],
    ),
    "bad-interval": (
        f'{EXCHANGE}[frames.jan]\ninterval = "1min"\nstart = 2024-01-01\nend = 2024-01-02\n',
        {},
        ["btk.toml line 4: [frames.jan] interval: expected one of 1m, 3m", 'got string "1min"'],
    ),
    "frame-missing-key": (
        f'{EXCHANGE}[frames.jan]\ninterval = "1m"\nstart = 2024-01-01\n',
        {},
        ["btk.toml line 3: [frames.jan] end: missing; expected e.g. end = 2024-01-31T23:59:00Z"],
    ),
    "unknown-kind": (
        '[exchanges.sim]\nkind = "synthetc"\n',
        {},
        [
            'btk.toml line 2: [exchanges.sim] kind: unknown exchange kind string "synthetc"',
            '(did you mean "synthetic"?)',
        ],
    ),
    "missing-kind": (
        "[exchanges.sim]\nseed = 1\n",
        {},
        ['btk.toml line 1: [exchanges.sim] kind: missing; expected one of "synthetic", "csv", "ccxt"'],
    ),
    "seed-type": (
        '[exchanges.sim]\nkind = "synthetic"\nseed = "7"\n',
        {},
        ['btk.toml line 3: [exchanges.sim] seed: expected an integer, got string "7"'],
    ),
    "ccxt-id": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binanse"\nsandbox = true\n',
        {},
        [
            "btk.toml line 3: [exchanges.binance] exchange_id: the engine rejected it: "
            "unknown ccxt exchange id 'binanse'; close ids: binance"
        ],
    ),
    "ccxt-key": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\napiKey = "abc"\n',
        {},
        [
            "btk.toml line 4: [exchanges.binance] apiKey: a credential: API keys never go in btk.toml",
            "set BTK_BINANCE_API_KEY and BTK_BINANCE_SECRET",
        ],
    ),
    # issue 20 item 9: secrets by the side door, at any depth, are refused naming file, line and key
    "ccxt-key-in-options": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\n'
        '[exchanges.binance.options]\ndefaultType = "spot"\nsecret = "abc"\n',
        {},
        [
            "btk.toml line 6: [exchanges.binance] options.secret: a credential: API keys never go in btk.toml",
            "BTK_BINANCE_API_KEY and BTK_BINANCE_SECRET",
        ],
    ),
    "ccxt-key-in-headers": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\nheaders = { "X-MBX-APIKEY" = "abc" }\n',
        {},
        ["btk.toml line 4: [exchanges.binance] headers.X-MBX-APIKEY: a credential", "BTK_BINANCE_API_KEY"],
    ),
    "ccxt-auth-header": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\n\n'
        '[exchanges.binance.headers]\nAuthorization = "Bearer abc"\n',
        {},
        ["btk.toml line 6: [exchanges.binance] headers.Authorization: a credential header"],
    ),
    "ccxt-key-in-url": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\n'
        'urls = { api = { public = "https://user:pass@example.com/api" } }\n',
        {},
        [
            "btk.toml line 4: [exchanges.binance] urls.api.public: a URL with credentials (user:password@)",
            "BTK_BINANCE_API_KEY",
        ],
    ),
    "key-elsewhere": (
        '[ui]\ntheme = "x"\napi_secret = "abc"\n',
        {},
        ["btk.toml line 3: [ui] api_secret: a credential", "BTK_<EXCHANGE_ID>_API_KEY"],
    ),
    "ccxt-timeout-type": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\ntimeout = "abc"\n',
        {},
        ['btk.toml line 4: [exchanges.binance] timeout: expected a number > 0, got string "abc"'],
    ),
    "ccxt-rate-limit": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\nrateLimit = 0\n',
        {},
        ["btk.toml line 4: [exchanges.binance] rateLimit: expected a number > 0, got integer 0"],
    ),
    "ccxt-enable-rate-limit": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\nenableRateLimit = "yes"\n',
        {},
        ['btk.toml line 4: [exchanges.binance] enableRateLimit: expected true or false, got string "yes"'],
    ),
    "ccxt-symbols": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\nsymbols = "BTCUSDT"\n',
        {},
        ["btk.toml line 4: [exchanges.binance] symbols: expected an array of non-empty strings, got string"],
    ),
    "ccxt-options-table": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\noptions = 3\n',
        {},
        ["btk.toml line 4: [exchanges.binance] options: expected a table, got integer 3"],
    ),
    "ccxt-verbose": (
        '[exchanges.binance]\nkind = "ccxt"\nexchange_id = "binance"\nverbose = true\n',
        {},
        ["btk.toml line 4: [exchanges.binance] verbose: verbose is refused", "use log_requests = true instead"],
    ),
    "bom-then-an-error": (
        '\ufeff[exchanges.sim]\nkind = "synthetic"\nseed = "x"\n',
        {},
        ['btk.toml line 3: [exchanges.sim] seed: expected an integer, got string "x"'],
    ),
    "csv-path": (
        '[exchanges.local]\nkind = "csv"\npath = "nowhere/"\n',
        {},
        ["btk.toml line 3: [exchanges.local] path: nowhere/ does not exist", "relative to the folder of btk.toml"],
    ),
    "exchange-not-table": (
        '[exchanges]\nsim = "synthetic"\n',
        {},
        ["btk.toml line 2: [exchanges.sim]: expected a table of exchange options", 'got string "synthetic"'],
    ),
    "modules-type": (
        '[project]\nmodules = "s.py"\n',
        {},
        ['btk.toml line 2: [project] modules: expected an array of strings such as ["strategies/sma.py"]'],
    ),
    "module-missing": (
        f'[project]\nname = "x"\nmodules = [\n  "s.py",\n  "nope.py",\n]\n{EXCHANGE}{FRAME}',
        {"s.py": STRATEGY},
        ["btk.toml line 3: [project] modules: nope.py does not exist (expected a Python file"],
    ),
    "keys-type": (
        "[keys]\nbacktest = 5\n",
        {},
        ['btk.toml line 2: [keys] backtest: expected a key such as "b" or "f5", got integer 5'],
    ),
    "ui-type": (
        'ui = "dark"\n',
        {},
        ["btk.toml line 1: [ui]: expected a table", 'got string "dark"'],
    ),
    "walker-strategy": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}[walkers.cmp]\nexchange = "sim"\nframe = "jan"\n'
        'strategies = ["s", "t"]\n',
        {"s.py": STRATEGY},
        ['btk.toml line 12: [walkers.cmp] strategies: unknown strategy "t" (registered: s)'],
    ),
    "walker-exchange": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}[walkers.cmp]\nexchange = "simm"\nframe = "jan"\n'
        'strategies = ["s"]\n',
        {"s.py": STRATEGY},
        ['btk.toml line 10: [walkers.cmp] exchange: unknown exchange "simm" (registered: sim); did you mean "sim"?'],
    ),
    "walker-frame": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}[walkers.cmp]\nexchange = "sim"\nframe = "feb"\n'
        'strategies = ["s"]\n',
        {"s.py": STRATEGY},
        ['btk.toml line 11: [walkers.cmp] frame: unknown frame "feb" (registered: jan)'],
    ),
    "walker-metric": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}[walkers.cmp]\nexchange = "sim"\nframe = "jan"\n'
        'strategies = ["s"]\nmetric = "sharpe"\n',
        {"s.py": STRATEGY},
        ["btk.toml line 13: [walkers.cmp] metric: expected one of sharpe_ratio", "(did you mean sharpe_ratio?)"],
    ),
    "strict-symbols": (
        '[project]\nsymbols = ["BTCUSDT", "XRPUSDT"]\nmodules = ["s.py"]\n[exchanges.local]\nkind = "csv"\n'
        f'path = "data/BTCUSDT.csv"\n{FRAME}',
        {"s.py": STRATEGY, "data/BTCUSDT.csv": (FIXTURE_PROJECT / "data" / "BTCUSDT.csv").read_text()},
        ['btk.toml line 2: [project] symbols: "XRPUSDT" is not served by any exchange of this project'],
    ),
    "nothing": (
        '[project]\nname = "empty"\n',
        {},
        ["btk.toml: no exchange: add one", "; no frame: add one", "; no strategy: list a Python file"],
    ),
    "no-strategy": (
        f"{EXCHANGE}{FRAME}",
        {},
        ["btk.toml: no strategy: list a Python file that calls engine.add_strategy(...) in [project] modules"],
    ),
    "module-syntax": (
        f'[project]\nmodules = ["strategies/s.py"]\n{EXCHANGE}{FRAME}',
        {"strategies/s.py": "import engine\n\ndef broken(:\n    pass\n"},
        ["strategies/s.py line 3: syntax error:", "(listed in btk.toml [project] modules)"],
    ),
    "module-raises": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": "import engine\n\nWINDOW = 24\nRATIO = WINDOW / 0\n"},
        ["s.py line 4: importing it raised ZeroDivisionError: division by zero (listed in btk.toml [project] modules)"],
    ),
    "helper-raises": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": "import engine\nimport my_helper\n", "my_helper.py": "x = 1\nraise RuntimeError('no data')\n"},
        ["s.py line 2: importing it raised RuntimeError in my_helper.py line 2: no data"],
    ),
    "helper-syntax": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": "import my_helper2\n", "my_helper2.py": "x = = 1\n"},
        ["my_helper2.py line 1: syntax error:", "imported by s.py"],
    ),
    "module-exits": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": "import sys\nsys.exit(3)\n"},
        ["s.py line 2: it called sys.exit(3) while being imported"],
    ),
    "duplicate-strategy": (
        f'[project]\nmodules = ["s.py", "t.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": STRATEGY, "t.py": STRATEGY},
        ["t.py line 6: the engine rejected a registration: strategy s already exist"],
    ),
    "duplicate-exchange": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": 'import engine\n\nengine.add_synthetic_exchange("sim")\n'},
        ["s.py line 3: the engine rejected a registration: exchange sim already exist"],
    ),
    "bad-schema": (
        f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}',
        {"s.py": STRATEGY.replace('"5m"', '"7m"')},
        ["s.py line 6: the engine rejected a registration: strategy s: interval must be one of"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_project_gets_one_line_naming_file_line_and_key(tmp_path: Path, case: str) -> None:
    toml, files, expected = BROKEN[case]
    path = write_project(tmp_path, toml, files)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """Windows editors start files with a byte-order mark; tomllib calls it an "Invalid statement"."""
    files = {"s.py": STRATEGY}
    path = write_project(tmp_path, f'[project]\nmodules = ["s.py"]\n{EXCHANGE}{FRAME}', files)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    project = load_project(path)
    assert (project.exchanges, project.frames) == (["sim"], ["jan"])


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"^nope/btk\.toml: no such file \(expected a btk\.toml project file\)$"):
        load_project("nope/btk.toml")


def test_a_file_outside_the_working_directory_is_named_by_its_full_path(tmp_path: Path) -> None:
    path = write_project(tmp_path / "elsewhere", "[project]\nnam = 1\n")
    (tmp_path / "inside").mkdir()
    os.chdir(tmp_path / "inside")  # the autouse fixture restores the directory
    with pytest.raises(ProjectError, match=rf"^{re.escape(str(path))} line 2: \[project\] nam: unknown key"):
        load_project(path)


def test_an_unknown_key_without_a_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_project(tmp_path, '[frames.jan]\ninterval = "1m"\nzzz = 1\n')
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert str(info.value) == "btk.toml line 3: [frames.jan] zzz: unknown key; known keys: interval, start, end, note"


def test_the_scan_finds_keys_in_tricky_layouts() -> None:
    text = (
        "# a comment\n"
        'top = "x"\n'
        '[ "quoted table" . inner ]\n'
        "arr = [\n"
        "  [1, 2],\n"
        "  [3],\n"
        "]\n"
        's = """\n'
        "[not_a_table]\n"
        'k = "v"\n'
        '"""\n'
        "dotted.key = 1\n"
        "[[arr_of_tables]]\n"
    )
    lines = {tuple(line.path): line.number for line in scan_toml(text) if line.kind != "value" and line.path}
    assert lines == {
        ("top",): 2,
        ("quoted table", "inner"): 3,
        ("quoted table", "inner", "arr"): 4,
        ("quoted table", "inner", "s"): 8,
        ("quoted table", "inner", "dotted", "key"): 12,
        ("arr_of_tables",): 13,
    }


# --------------------------------------------------------------------------- the headless CLI


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_backtests_a_project_given_with_config(project_dir: Path) -> None:
    code, out, err = run("backtest", "--config", str(project_dir / PROJECT_FILE))
    assert code == 0, err
    rows = [line.split()[:2] for line in out.splitlines()[2:4]]
    assert rows == [["BTCUSDT", "momentum"], ["BTCUSDT", "fade"]]
    for name in ("momentum", "fade"):
        # keyed by exchange, frame and symbol, as the console's ``d`` writes them
        report = (project_dir / "out" / "dump" / "backtest" / "sim" / "short" / "BTCUSDT" / f"{name}.md").read_text()
        assert report.startswith(f"# Backtest Report: {name}")
    assert "done (1,440 frames)" in err
    assert "reports written under proj/out/dump/backtest/" in out


def test_cli_finds_btk_toml_in_the_working_directory(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    code, out, err = run("backtest", "--strategy", "fade", "--symbol", "ETHUSDT", "--dump-dir", "elsewhere")
    assert code == 0, err
    assert out.splitlines()[2].split()[:2] == ["ETHUSDT", "fade"]
    assert (project_dir / "elsewhere" / "backtest" / "sim" / "short" / "ETHUSDT" / "fade.md").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--days", "3"], "--days sets the demo's frame; proj/btk.toml has [frames]: use --frame"),
        (["--frame", "long"], "unknown frame 'long' (available: short)"),
        (["--exchange", "nope"], "unknown exchange 'nope' (available: sim, local)"),
        (["--strategy", "demo-trend"], "unknown strategy 'demo-trend' (available: momentum, fade)"),
    ],
)
def test_cli_rejects_names_the_project_does_not_have(project_dir: Path, extra: list[str], message: str) -> None:
    code, out, err = run("backtest", "--config", str(project_dir), *extra)
    assert code == 2 and out == ""
    assert err == f"btk-console: error: {message}\n"


def test_cli_prints_a_project_error_as_one_line(tmp_path: Path) -> None:
    write_project(tmp_path, '[frames.jan]\ninterval = "1m"\nstart = "yesterday"\nend = 2024-01-02\n')
    code, out, err = run("backtest")
    assert code == 2 and out == ""
    assert err == (
        "btk-console: error: btk.toml line 3: [frames.jan] start: expected a date or datetime, "
        'got string "yesterday" (write it without quotes, e.g. 2024-01-01T00:00:00Z)\n'
    )
