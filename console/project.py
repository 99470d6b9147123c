"""Loading a project: what the console and the headless commands run.

A project is a ``btk.toml`` file (DESIGN section 5) plus the strategy files it lists, or, when
there is none, the embedded demo. ``load_project`` registers everything with the engine and
returns a :class:`Project` that says what was registered, so the console's pickers and the
headless commands never have to look at the TOML themselves.

Why the loader is this careful about messages: a btk.toml is hand-written by someone who wants to
run a backtest, not to debug a loader. Every :class:`ProjectError` is one line that names the file,
where possible the line, the key path (``[frames.jan] start``) and what was expected; the console
shows it on an error screen and the CLI prints it as is.

Dates: TOML datetimes with an offset are converted to UTC, local datetimes are taken as UTC, and a
plain date means 00:00 UTC of that day (as the engine's ``add_frame`` does).

``load_project`` registers into the active engine (``engine.active_engine()``, the process's default
one unless another is activated) and assumes it is clean: one project per engine. If loading fails
part way, what was registered so far stays in that engine, so load into a fresh ``engine.Engine()``
(``with fresh.activate(): load_project(...)``) when the one in use must stay untouched.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import itertools
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from .sections import check_keys_section, check_known_keys, check_table, check_ui_section
from .settings import load_settings, merge_settings, ui_state_path, user_settings_path
from .toml_source import (
    PROJECT_FILE,
    ProjectError,
    TomlSource,
    _first_line,
    _suggest,
    describe,
    display_path,
    read_toml,
)

SECTIONS = ("project", "exchanges", "frames", "walkers", "keys", "ui", "llm", "broker")
BROKER_KINDS = ("paper", "ccxt")
BROKER_KEYS = {
    "paper": ("kind", "name", "balance", "quote_amount", "currency"),
    "ccxt": (
        "kind",
        "name",
        "exchange",
        "sandbox",
        "real_money",
        "quote_amount",
        "currency",
        "protective_stop",
        "api_key_env",
        "secret_env",
        "password_env",
    ),
}
PROJECT_KEYS = ("name", "dump_dir", "modules", "symbols")
EXCHANGE_KINDS = ("synthetic", "csv", "ccxt", "catalog")
EXCHANGE_KEYS: dict[str, tuple[str, ...] | None] = {
    "synthetic": ("kind", "seed", "note"),
    "csv": ("kind", "path", "symbol", "allow_gaps", "note"),
    "catalog": ("kind", "path", "exchange", "note"),
    "ccxt": None,  # exchange_id, sandbox and any other option go to engine.add_ccxt_exchange
}
FRAME_KEYS = ("interval", "start", "end", "note")
WALKER_KEYS = ("exchange", "frame", "strategies", "metric", "note")


@dataclass(slots=True)
class Project:
    """What a loaded project registered with the engine, and where its files and settings live.

    The name lists are in registration order, so "the first one" (the default in pickers and in
    the headless commands) is the first one the user wrote.
    """

    name: str
    source: Path | None  # the btk.toml, or None for the embedded demo
    root: Path  # the folder of btk.toml (the working directory for the demo)
    dump_dir: Path  # where reports go, already resolved against root
    exchanges: list[str]
    strategies: list[str]
    frames: list[str]
    walkers: list[str]
    symbols: list[str]
    default_exchange: str
    default_frame: str
    settings_path: Path  # where the console saves [ui]/[keys]: btk.ui.toml beside btk.toml, or the per-user file
    symbol_list_is_strict: bool = False  # False when any exchange trades any symbol (synthetic)
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key
    declared_keys: dict[str, str] = field(default_factory=dict)  # what btk.toml's own [keys] says
    ui: dict[str, Any] = field(default_factory=dict)  # what the console remembers (theme, choices)
    is_demo: bool = False
    modules: list[Path] = field(default_factory=list)  # the strategy files that were imported
    notes: list[str] = field(default_factory=list)  # non-fatal problems worth showing the user

    @property
    def exchange(self) -> str:
        """The default exchange (the name the headless CLI used before projects had several)."""
        return self.default_exchange

    @property
    def frame(self) -> str:
        """The default frame (kept for callers written before projects had several)."""
        return self.default_frame


# --------------------------------------------------------------------------- checking values


def _check_str(src: TomlSource, path: Sequence[str], value: Any, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise src.error(path, f"expected a non-empty string such as {example}, got {describe(value)}")
    return value


def _check_str_list(src: TomlSource, path: Sequence[str], value: Any, example: str) -> list[str]:
    if not isinstance(value, list):
        raise src.error(path, f"expected an array of strings such as {example}, got {describe(value)}")
    for n, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise src.error(path, f"item {n + 1}: expected a non-empty string, got {describe(item)}")
    return value


def _check_bool(src: TomlSource, path: Sequence[str], value: Any) -> bool:
    if not isinstance(value, bool):
        raise src.error(path, f"expected true or false, got {describe(value)}")
    return value


def _check_moment(src: TomlSource, path: Sequence[str], value: Any) -> datetime:
    """A TOML datetime (offset converted, local taken as UTC) or date (00:00 UTC) as aware UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    hint = " (write it without quotes, e.g. 2024-01-01T00:00:00Z)" if isinstance(value, str) else ""
    raise src.error(path, f"expected a date or datetime, got {describe(value)}{hint}")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- the demo


def load_demo(days: int | None = None, *, cwd: Path | None = None) -> Project:
    """The embedded demo; its [ui]/[keys] come from the per-user settings file."""
    import engine

    from . import demo

    root = (cwd or Path.cwd()).absolute()
    info = demo.register()
    frame = demo.ensure_frame(days) if days else str(info["frame"])
    settings_path = user_settings_path()
    notes: list[str] = []
    try:
        ui, keys = load_settings(settings_path)
    except ProjectError as exc:  # the console shows it and carries on with its defaults
        ui, keys = {}, {}
        notes.append(f"{exc} (using default settings)")
    return Project(
        name="demo",
        source=None,
        root=root,
        dump_dir=root / "dump",
        exchanges=[e.exchange_name for e in engine.list_exchanges()],
        strategies=list(cast(list[str], info["strategies"])),
        frames=[f.frame_name for f in engine.list_frames()],
        walkers=[w.walker_name for w in engine.list_walkers()],
        symbols=list(cast(list[str], info["symbols"])),
        default_exchange=str(info["exchange"]),
        default_frame=frame,
        settings_path=settings_path,
        symbol_list_is_strict=False,  # the synthetic feed trades any symbol
        keys=keys,
        ui=ui,
        is_demo=True,
        notes=notes,
    )


# --------------------------------------------------------------------------- btk.toml


def load_project(
    config: str | os.PathLike[str] | None = None, *, days: int | None = None, cwd: Path | None = None
) -> Project:
    """The project of ``config`` (a btk.toml, or a folder holding one), else ``cwd/btk.toml``,
    else the embedded demo (``days`` sets the demo frame's length; a btk.toml has its own frames)."""
    base = (cwd or Path.cwd()).absolute()
    if config is not None:
        path = Path(config).expanduser()
        path = path if path.is_absolute() else base / path
        if path.is_dir():
            path = path / PROJECT_FILE
        return _load_file(path, days)
    if (base / PROJECT_FILE).is_file():
        return _load_file(base / PROJECT_FILE, days)
    return load_demo(days, cwd=base)


def _load_file(path: Path, days: int | None) -> Project:
    import engine

    data, src = read_toml(path)  # a missing file: "btk.toml: no such file (expected ...)"
    root = path.parent
    _refuse_secrets(src, data)
    for section, value in data.items():
        if section not in SECTIONS:
            hint = _suggest(section, SECTIONS)
            known = ", ".join(f"[{s}]" for s in SECTIONS)
            raise src.error(
                (section,), f"unknown section; known sections: {known}" + (f" (did you mean [{hint}]?)" if hint else "")
            )
        check_table(src, (section,), value)

    # Check everything that needs no engine first, so a typo fails before anything is registered.
    settings = _check_project_section(src, data.get("project", {}), root)
    _check_llm_section(src, data.get("llm", {}))
    exchange_specs = [_check_exchange(src, name, table, root) for name, table in data.get("exchanges", {}).items()]
    frame_specs = [_check_frame(src, name, table) for name, table in data.get("frames", {}).items()]
    walker_specs = [_check_walker(src, name, table) for name, table in data.get("walkers", {}).items()]
    declared_keys = check_keys_section(src, data.get("keys", {}))
    declared_ui = check_ui_section(src, data.get("ui", {}))
    notes: list[str] = []
    settings_path = ui_state_path(path)
    try:
        saved_ui, saved_keys = load_settings(settings_path)
    except ProjectError as exc:  # the console's own file: shown, then btk.toml's tables are used
        saved_ui, saved_keys = {}, {}
        notes.append(f"{exc} (using {src.name}'s [ui]/[keys])")
    ui = merge_settings(declared_ui, saved_ui, "ui", settings_path.name, notes)
    keys = merge_settings(declared_keys, saved_keys, "keys", settings_path.name, notes)
    broker_spec = _check_broker(src, data["broker"], data.get("exchanges", {})) if "broker" in data else None

    before = _registered()
    for register in exchange_specs:
        register()
    if broker_spec is not None:  # after the exchanges: a ccxt broker trades on one of them
        broker_spec()
    for register in frame_specs:
        register()
    modules = settings["modules"]
    import_module_files(modules, listed_in=f"{src.name} [project] modules", root=root)
    for register in walker_specs:
        register()
    after = _registered()
    new = {kind: [n for n in names if n not in before[kind]] for kind, names in after.items()}

    missing = []
    if not new["exchanges"]:
        missing.append('no exchange: add one, e.g. [exchanges.sim] with kind = "synthetic"')
    if not new["frames"]:
        missing.append(
            'no frame: add one, e.g. [frames.jan] with interval = "1m", '
            "start = 2024-01-01T00:00:00Z, end = 2024-01-31T23:59:00Z"
        )
    if not new["strategies"]:
        missing.append(
            "no strategy: list a Python file that calls engine.add_strategy(...) in [project] modules, "
            'e.g. modules = ["strategies/my_strategy.py"]'
        )
    if missing:
        raise ProjectError(f"{src.name}: " + "; ".join(missing))

    schemas = {e.exchange_name: e for e in engine.list_exchanges()}
    ours = [schemas[n] for n in new["exchanges"]]
    strict = not any(_trades_any_symbol(e) for e in ours)
    served = list(dict.fromkeys(s for e in ours for s in e.symbols))
    symbols = settings["symbols"]
    if symbols is None:
        symbols = served
    elif strict:
        for symbol in symbols:
            if symbol not in served:
                raise src.error(
                    ("project", "symbols"),
                    f"{json.dumps(symbol)} is not served by any exchange of this project "
                    f"(available: {', '.join(served) or 'none'})",
                )
    if days:
        notes.append(f"days={days} applies to the demo only; {src.name} defines its own [frames]")
    return Project(
        name=settings["name"],
        source=path,
        root=root,
        dump_dir=settings["dump_dir"],
        exchanges=new["exchanges"],
        strategies=new["strategies"],
        frames=new["frames"],
        walkers=new["walkers"],
        symbols=list(symbols),
        default_exchange=new["exchanges"][0],
        default_frame=new["frames"][0],
        settings_path=settings_path,
        declared_keys=declared_keys,
        symbol_list_is_strict=strict,
        keys=keys,
        ui=ui,
        is_demo=False,
        modules=modules,
        notes=notes,
    )


def _check_llm_section(src: TomlSource, value: dict[str, Any]) -> None:
    """``[llm]``: the optimizer's model (engine/llm/settings.py); checked here so a typo names its
    line, read again by ``btk-console optimize`` (with the environment on top)."""
    from engine import LlmSettings

    try:
        LlmSettings.from_mapping(value)
    except ValueError as exc:
        key = next((k for k in value if f"] {k}:" in str(exc)), None)
        raise src.error(("llm", key) if key else ("llm",), str(exc).split(": ", 1)[-1]) from None


def _registered() -> dict[str, list[str]]:
    import engine

    return {
        "exchanges": [e.exchange_name for e in engine.list_exchanges()],
        "frames": [f.frame_name for f in engine.list_frames()],
        "strategies": [s.strategy_name for s in engine.list_strategies()],
        "walkers": [w.walker_name for w in engine.list_walkers()],
    }


def exchange_symbols(project: Project) -> dict[str, list[str] | None]:
    """Per exchange of the project: the project's symbols it has, or None when it trades any
    (the start dialog offers only what the chosen exchange has: issue 14 item 8)."""
    import engine

    schemas = {e.exchange_name: e for e in engine.list_exchanges()}
    out: dict[str, list[str] | None] = {}
    for name in project.exchanges:
        schema = schemas.get(name)
        if schema is None or _trades_any_symbol(schema):
            out[name] = None
        else:
            out[name] = [s for s in project.symbols if s in schema.symbols] or list(schema.symbols)
    return out


def _trades_any_symbol(schema: Any) -> bool:
    """A synthetic market invents candles for any symbol; an exchange that lists no symbols may
    serve any, so neither makes the symbol list a closed set."""
    from engine import SyntheticFeed

    return isinstance(schema.columns, SyntheticFeed) or not schema.symbols


def _check_project_section(src: TomlSource, value: Any, root: Path) -> dict[str, Any]:
    table = check_table(src, ("project",), value)
    check_known_keys(src, ("project",), table, PROJECT_KEYS)
    name = root.name or "project"
    if "name" in table:
        name = _check_str(src, ("project", "name"), table["name"], '"my-project"')
    dump_dir = root / "dump"
    if "dump_dir" in table:
        dump_dir = root / Path(_check_str(src, ("project", "dump_dir"), table["dump_dir"], '"dump"')).expanduser()
    modules: list[Path] = []
    for entry in _check_str_list(src, ("project", "modules"), table.get("modules", []), '["strategies/sma.py"]'):
        module_path = root / Path(entry).expanduser()
        if not module_path.exists():
            raise src.error(
                ("project", "modules"),
                f"{entry} does not exist (expected a Python file, relative to the folder of {src.name})",
            )
        if not module_path.is_file() or module_path.suffix != ".py":
            raise src.error(("project", "modules"), f"{entry} is not a .py file")
        if module_path in modules:
            raise src.error(("project", "modules"), f"{entry} is listed twice")
        modules.append(module_path)
    symbols = None
    if "symbols" in table:
        symbols = _check_str_list(src, ("project", "symbols"), table["symbols"], '["BTCUSDT", "ETHUSDT"]')
        if not symbols:
            raise src.error(("project", "symbols"), "expected at least one symbol (or leave the key out)")
    return {"name": name, "dump_dir": dump_dir, "modules": modules, "symbols": symbols}


_GENERIC_ENV = {
    f: f"BTK_<EXCHANGE_ID>_{v}" for f, v in (("apiKey", "API_KEY"), ("secret", "SECRET"), ("password", "PASSWORD"))
}


def _refuse_secrets(src: TomlSource, data: dict[str, Any]) -> None:
    """No credential anywhere in the file (any depth, header tables, URLs): keys come from the
    environment, so a btk.toml can be committed, shared and shown on screen."""
    from engine import credential_env_vars, secrets_in

    for path, what in secrets_in(data):
        table = data.get("exchanges", {}).get(path[1]) if path[0] == "exchanges" and len(path) > 2 else None
        exchange_id = table.get("exchange_id") if isinstance(table, dict) else None
        env = credential_env_vars(exchange_id) if isinstance(exchange_id, str) else _GENERIC_ENV
        raise src.error(
            path,
            f"{what}: API keys never go in {src.name} (it gets committed, shared and shown); set "
            f"{env['apiKey']} and {env['secret']} (and {env['password']} if the exchange needs one) "
            "in the environment instead",
        )


def _engine_call(src: TomlSource, path: Sequence[str], fn: Callable[[], Any]) -> None:
    """Run a registration; what the engine rejects is reported at the table that asked for it."""
    try:
        fn()
    except (ValueError, TypeError, LookupError) as exc:
        raise src.error(path, f"the engine rejected it: {_first_line(exc)}") from None


def _check_broker(src: TomlSource, value: Any, exchanges: Any) -> Callable[[], None]:
    """``[broker]``: the account live runs trade (README "Orders and accounts"). ``kind = "paper"``
    with ``balance``, ``quote_amount`` (what one entry costs) and ``currency``; registered under
    ``name`` (default ``paper``, the broker a live run uses when it names none). ``kind = "ccxt"``:
    see ``_check_ccxt_broker``."""
    import engine

    path = ("broker",)
    table = check_table(src, path, value, "a table of broker options")
    kinds = ", ".join(f'"{k}"' for k in BROKER_KINDS)
    kind = table.get("kind", "paper")
    if kind not in BROKER_KINDS:
        raise src.error((*path, "kind"), f"unknown broker kind {describe(kind)}; expected one of {kinds}")
    check_known_keys(src, path, table, BROKER_KEYS[kind])
    if kind == "ccxt":
        return _check_ccxt_broker(src, table, exchanges)
    options: dict[str, Any] = {}
    for key in ("balance", "quote_amount"):
        if key in table:
            got = table[key]
            if isinstance(got, bool) or not isinstance(got, int | float) or not got > 0:
                raise src.error((*path, key), f"expected a number > 0, got {describe(got)}")
            options[key] = float(got)
    if "currency" in table:
        options["currency"] = _check_str(src, (*path, "currency"), table["currency"], '"USDT"')
    name = _check_str(src, (*path, "name"), table["name"], '"paper"') if "name" in table else "paper"
    options.setdefault("balance", engine.get_config()["CC_PAPER_BALANCE"])
    return lambda: _engine_call(src, path, lambda: engine.add_broker(engine.PaperBroker(name, **options), replace=True))


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_ENV = (("api_key_env", "apiKey"), ("secret_env", "secret"), ("password_env", "password"))


def _check_ccxt_broker(src: TomlSource, table: dict[str, Any], exchanges: Any) -> Callable[[], None]:
    """``[broker] kind = "ccxt"``: real orders on the ccxt exchange table named by ``exchange``
    (its ccxt id, options and ``sandbox`` are the broker's: a run never watches one venue and
    trades on another). Dry run and real money are told apart on purpose, as in freqtrade: a
    venue that is not a sandbox spends real money, so the table must say ``real_money = true``;
    ``sandbox``, when given, must agree with the exchange table's (the file says twice which
    venue gets the orders). Keys come from the environment only: ``api_key_env``,
    ``secret_env`` and ``password_env`` name the variables (default ``BTK_<ID>_API_KEY`` ...)."""
    import engine

    path = ("broker",)
    if "exchange" not in table:
        raise src.error(
            (*path, "exchange"), 'missing; expected the name of a ccxt exchange table, e.g. exchange = "binance"'
        )
    name = _check_str(src, (*path, "exchange"), table["exchange"], '"binance"')
    ex_table = exchanges.get(name) if isinstance(exchanges, dict) else None
    if not isinstance(ex_table, dict) or ex_table.get("kind") != "ccxt":
        ccxt_tables = [n for n, t in (exchanges or {}).items() if isinstance(t, dict) and t.get("kind") == "ccxt"]
        known = ", ".join(ccxt_tables) or 'none: add one, e.g. [exchanges.binance] kind = "ccxt"'
        raise src.error(
            (*path, "exchange"), f"{describe(name)} is not a ccxt exchange table of {src.name}; ccxt tables: {known}"
        )
    venue_sandbox = ex_table.get("sandbox", False) is True
    for key in ("sandbox", "real_money", "protective_stop"):
        if key in table and not isinstance(table[key], bool):
            raise src.error((*path, key), f"expected true or false, got {describe(table[key])}")
    if "sandbox" in table and table["sandbox"] != venue_sandbox:
        raise src.error(
            (*path, "sandbox"),
            f"sandbox = {str(table['sandbox']).lower()} but [exchanges.{name}] has sandbox = "
            f"{str(venue_sandbox).lower()}: the broker trades where the exchange table points; make them agree",
        )
    real_money = table.get("real_money", False)
    exchange_id = ex_table.get("exchange_id", name)
    if not venue_sandbox and not real_money:
        raise src.error(
            path,
            f"this broker would place REAL orders with real money on {exchange_id} ([exchanges.{name}] is not a "
            'sandbox): set real_money = true in [broker] to confirm; for a dry run use kind = "paper", or '
            f"sandbox = true in [exchanges.{name}] with a testnet key",
        )
    if venue_sandbox and real_money:
        raise src.error(
            (*path, "real_money"),
            f"real_money = true but [exchanges.{name}] is a sandbox (test money): remove real_money, or set "
            f"sandbox = false in [exchanges.{name}] to trade for real",
        )
    key_env: dict[str, str] = {}
    for key, cred in _KEY_ENV:
        if key in table:
            var = table[key]
            if not isinstance(var, str) or not _ENV_NAME.fullmatch(var):
                raise src.error(
                    (*path, key),
                    "expected the NAME of an environment variable (letters, digits, _), such as "
                    f'"MY_{cred.upper()}"; the key itself never goes in {src.name}',
                )
            key_env[cred] = var
    options: dict[str, Any] = {"protective_stop": table.get("protective_stop", True), "real_money": real_money}
    if "quote_amount" in table:
        got = table["quote_amount"]
        if isinstance(got, bool) or not isinstance(got, int | float) or not got > 0:
            raise src.error((*path, "quote_amount"), f"expected a number > 0, got {describe(got)}")
        options["quote_amount"] = float(got)
    if "currency" in table:
        options["currency"] = _check_str(src, (*path, "currency"), table["currency"], '"USDT"')
    broker_name = _check_str(src, (*path, "name"), table["name"], f'"{name}"') if "name" in table else name
    if key_env:
        options["key_env"] = key_env

    def register() -> None:
        try:
            broker = engine.CcxtBroker(name, name=broker_name, **options)
        except engine.BrokerError as exc:
            raise src.error(path, f"the engine rejected it: {_first_line(exc)}") from None
        _engine_call(src, path, lambda: engine.add_broker(broker, replace=True))

    return register


def _check_exchange(src: TomlSource, name: str, value: Any, root: Path) -> Callable[[], None]:
    import engine

    path = ("exchanges", name)
    table = check_table(src, path, value, "a table of exchange options")
    kinds = ", ".join(f'"{k}"' for k in EXCHANGE_KINDS)
    if "kind" not in table:
        raise src.error((*path, "kind"), f"missing; expected one of {kinds}")
    kind = table["kind"]
    if kind not in EXCHANGE_KINDS:
        hint = _suggest(kind, EXCHANGE_KINDS) if isinstance(kind, str) else None
        raise src.error(
            (*path, "kind"),
            f"unknown exchange kind {describe(kind)}; expected one of {kinds}"
            + (f' (did you mean "{hint}"?)' if hint else ""),
        )
    known = EXCHANGE_KEYS[kind]
    if known is not None:
        check_known_keys(src, path, table, known)
    note = _check_str(src, (*path, "note"), table["note"], '"my market"') if "note" in table else None

    if kind == "synthetic":
        seed = table.get("seed", 42)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise src.error((*path, "seed"), f"expected an integer, got {describe(seed)}")
        return lambda: _engine_call(src, path, lambda: engine.add_synthetic_exchange(name, seed=seed, note=note))

    if kind == "csv":
        if "path" not in table:
            raise src.error((*path, "path"), 'missing; expected the CSV file or folder, e.g. path = "data/"')
        raw = _check_str(src, (*path, "path"), table["path"], '"data/"')
        data_path = root / Path(raw).expanduser()
        if not data_path.exists():
            raise src.error(
                (*path, "path"),
                f"{raw} does not exist (expected a .csv file or a folder of <SYMBOL>.csv files, "
                f"relative to the folder of {src.name})",
            )
        symbol = _check_str(src, (*path, "symbol"), table["symbol"], '"BTCUSDT"') if "symbol" in table else None
        gaps = _check_bool(src, (*path, "allow_gaps"), table["allow_gaps"]) if "allow_gaps" in table else False
        return lambda: _engine_call(
            src,
            (*path, "path"),
            lambda: engine.add_csv_exchange(name, data_path, symbol=symbol, allow_gaps=gaps, note=note),
        )

    if kind == "catalog":  # the local catalog (btk-console data ...): path defaults to data/ beside btk.toml
        raw = _check_str(src, (*path, "path"), table["path"], '"data/"') if "path" in table else "data"
        folder = _check_str(src, (*path, "exchange"), table["exchange"], '"binance"') if "exchange" in table else None
        root_dir = root / Path(raw).expanduser()
        return lambda: _engine_call(
            src, (*path, "kind"), lambda: engine.add_catalog_exchange(name, root_dir, exchange=folder, note=note)
        )

    # ccxt: a real exchange; keys come from the environment only (never from btk.toml)
    if "exchange_id" not in table:
        raise src.error((*path, "exchange_id"), 'missing; expected the ccxt id, e.g. exchange_id = "binance"')
    _check_str(src, (*path, "exchange_id"), table.get("exchange_id"), '"binance"')
    for key, option in table.items():
        problem = engine.ccxt_option_problem(key, option)
        if problem is not None:
            raise src.error((*path, key), problem if key == "verbose" else f"{problem}, got {describe(option)}")
    options = {k: v for k, v in table.items() if k != "kind"}
    if options.get("cache"):  # the catalog backtests read first: data/ beside btk.toml, or the folder named
        options["cache"] = root / Path("data" if options["cache"] is True else options["cache"]).expanduser()
    return lambda: _engine_call(src, (*path, "exchange_id"), lambda: engine.add_ccxt_exchange(name, **options))


def _check_frame(src: TomlSource, name: str, value: Any) -> Callable[[], None]:
    import engine

    path = ("frames", name)
    table = check_table(src, path, value, "a table of frame options")
    check_known_keys(src, path, table, FRAME_KEYS)
    for key, example in (("interval", '"1m"'), ("start", "2024-01-01T00:00:00Z"), ("end", "2024-01-31T23:59:00Z")):
        if key not in table:
            raise src.error((*path, key), f"missing; expected e.g. {key} = {example}")
    interval = table["interval"]
    if interval not in engine.FRAME_INTERVALS:
        hint = " or ".join(f'"{i}"' for i in difflib.get_close_matches(str(interval), engine.FRAME_INTERVALS, n=1))
        raise src.error(
            (*path, "interval"),
            f"expected one of {', '.join(engine.FRAME_INTERVALS)}, got {describe(interval)}"
            + (f" (did you mean {hint}?)" if hint else ""),
        )
    start = _check_moment(src, (*path, "start"), table["start"])
    end = _check_moment(src, (*path, "end"), table["end"])
    if end < start:
        raise src.error((*path, "end"), f"{_utc(end)} is before start {_utc(start)}")
    note = _check_str(src, (*path, "note"), table["note"], '"January 2024"') if "note" in table else None
    return lambda: _engine_call(src, path, lambda: engine.add_frame(name, interval, start, end, note=note))


def _check_walker(src: TomlSource, name: str, value: Any) -> Callable[[], None]:
    import engine

    path = ("walkers", name)
    table = check_table(src, path, value, "a table of walker options")
    check_known_keys(src, path, table, WALKER_KEYS)
    for key, example in (("exchange", '"sim"'), ("frame", '"jan"'), ("strategies", '["a", "b"]')):
        if key not in table:
            raise src.error((*path, key), f"missing; expected e.g. {key} = {example}")
    exchange = _check_str(src, (*path, "exchange"), table["exchange"], '"sim"')
    frame = _check_str(src, (*path, "frame"), table["frame"], '"jan"')
    strategies = _check_str_list(src, (*path, "strategies"), table["strategies"], '["a", "b"]')
    if not strategies:
        raise src.error((*path, "strategies"), "expected at least one strategy name")
    metric = table.get("metric", "sharpe_ratio")
    if metric not in engine.WALKER_METRICS:
        hint = _suggest(str(metric), engine.WALKER_METRICS)
        raise src.error(
            (*path, "metric"),
            f"expected one of {', '.join(engine.WALKER_METRICS)}, got {describe(metric)}"
            + (f" (did you mean {hint}?)" if hint else ""),
        )
    note = _check_str(src, (*path, "note"), table["note"], '"compare"') if "note" in table else None

    def register() -> None:
        # References are checked only now: strategies come from the modules imported before.
        for key, kind, wanted, names in (
            ("exchange", "exchange", [exchange], [e.exchange_name for e in engine.list_exchanges()]),
            ("frame", "frame", [frame], [f.frame_name for f in engine.list_frames()]),
            ("strategies", "strategy", strategies, [s.strategy_name for s in engine.list_strategies()]),
        ):
            for item in wanted:
                if item not in names:
                    hint = _suggest(item, names)
                    raise src.error(
                        (*path, key),
                        f"unknown {kind} {json.dumps(item)} (registered: {', '.join(names) or 'none'})"
                        + (f"; did you mean {json.dumps(hint)}?" if hint else ""),
                    )
        _engine_call(src, path, lambda: engine.add_walker(name, exchange, frame, strategies, metric=metric, note=note))

    return register


# --------------------------------------------------------------------------- strategy modules

_module_numbers = itertools.count(1)


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _found_in(folder: Path, module: ModuleType) -> bool:
    """Whether ``module`` is the one ``import <its name>`` finds in ``folder`` (a helper next to a
    strategy file), rather than something that merely lives below it (a virtualenv's numpy)."""
    origin = getattr(module, "__file__", None)
    if not origin:
        return False
    relative = Path(*module.__name__.split("."))
    return any(_same_file(origin, folder / c) for c in (relative.with_suffix(".py"), relative / "__init__.py"))


def import_module_files(
    paths: Sequence[Path], *, listed_in: str = PROJECT_FILE, root: Path | None = None
) -> list[ModuleType]:
    """Execute strategy files, in order, as fresh modules; failures become one-line ProjectErrors.

    Isolation: every file becomes a new module object under a unique name
    (``_btk_project_<n>_<stem>``), so importing the same file again (a second load in the same
    process, as tests do) runs it again and shares no state with the first import. The module
    stays in ``sys.modules`` under that name (dataclasses, pickling and tracebacks look modules up
    there). A file's folder is on ``sys.path`` only while that file runs, so helpers next to it can
    be imported. Helpers imported that way are shared by the files of this call (ordinary Python
    semantics: one ``levels`` module for the whole project) and dropped from ``sys.modules`` at
    the end, so the next load imports them afresh too (the strategies keep their references).
    A helper whose name was already in ``sys.modules`` before (say ``utils``) is the one already
    there: give helpers distinctive names.
    """
    known = set(sys.modules)
    folders: list[Path] = []
    modules = []
    try:
        for path in paths:
            folders.append(path.parent)
            modules.append(_exec_file(path, listed_in, root or path.parent))
    finally:
        for added in set(sys.modules) - known:
            helper = sys.modules.get(added)
            if helper is not None and any(_found_in(folder, helper) for folder in folders):
                del sys.modules[added]
    return modules


def import_module_file(path: Path, *, listed_in: str = PROJECT_FILE, root: Path | None = None) -> ModuleType:
    """One strategy file as a fresh module (see ``import_module_files`` for the isolation)."""
    return import_module_files([path], listed_in=listed_in, root=root)[0]


def _exec_file(path: Path, listed_in: str, root: Path) -> ModuleType:
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_btk_project_{next(_module_numbers)}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProjectError(f"{display_path(path)}: cannot be imported as a Python module (listed in {listed_in})")
    module = importlib.util.module_from_spec(spec)
    entry = str(path.parent)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # files written a moment ago (tests, editors) must be seen
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        where = display_path(Path(exc.filename)) if exc.filename else display_path(path)
        line = f" line {exc.lineno}" if exc.lineno else ""
        via = "" if not exc.filename or _same_file(exc.filename, path) else f", imported by {display_path(path)}"
        raise ProjectError(f"{where}{line}: syntax error: {exc.msg} (listed in {listed_in}{via})") from None
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise _import_error(path, exc, listed_in, root) from None
    finally:
        with contextlib.suppress(ValueError):  # the module may have taken it out itself
            sys.path.remove(entry)
    return module


def _import_error(path: Path, exc: BaseException, listed_in: str, root: Path) -> ProjectError:
    from engine import DuplicateError, NotFoundError, SchemaError

    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if _same_file(f.filename, path)]
    line = f" line {ours[-1].lineno}" if ours and ours[-1].lineno else ""
    deeper = ""
    if frames and not _same_file(frames[-1].filename, path):
        last = frames[-1]
        inner = Path(last.filename)
        if inner.is_absolute() and inner.is_relative_to(root):  # a helper of the project, worth naming
            deeper = f" in {display_path(inner)} line {last.lineno}"
    if isinstance(exc, SchemaError | DuplicateError | NotFoundError):
        what = f"the engine rejected a registration{deeper}: {_first_line(exc)}"
    elif isinstance(exc, SystemExit):
        what = f"it called sys.exit({exc.code!r}) while being imported"
    else:
        what = f"importing it raised {type(exc).__name__}{deeper}: {_first_line(exc)}"
    return ProjectError(f"{display_path(path)}{line}: {what} (listed in {listed_in})")
