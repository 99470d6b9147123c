"""One registry of the console's commands: keys, the command palette and the help screen all read it.

A command has a stable id (what ``[keys]`` in btk.toml remaps), a default key, a title and the
app action it runs. Keys avoid ctrl+s, ctrl+b and ctrl+a, which terminals and tmux take.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding

__all__ = [
    "ALL_COMMANDS",
    "ATTACH_COMMANDS",
    "COMMANDS",
    "FIXED_KEYS",
    "Command",
    "bindings",
    "effective_keys",
    "validate_keymap",
]


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    key: str
    title: str
    help: str
    action: str
    footer: bool = True


COMMANDS: tuple[Command, ...] = (
    Command(
        "backtest", "b", "Backtest", "Start a backtest: pick symbol, strategy, exchange and frame", "start('backtest')"
    ),
    Command("walker", "w", "Walker", "Compare strategies side by side (pick a walker)", "start('walker')"),
    Command("live", "l", "Live", "Trade live: pick exchange, symbol and strategy", "start('live')"),
    Command("stop", "s", "Stop", "Stop the selected run (asks first)", "stop_run"),
    Command("dump", "d", "Dump", "Write every report of every run under the dump folder", "dump_reports"),
    Command("reports", "r", "Reports", "Browse the markdown reports under the dump folder", "open_reports"),
    Command(
        "sweep",
        "S",
        "Sweep",
        "Sweep a strategy's parameters (grid, random, Optuna; walk-forward): progress and results in the Research tab",
        "start_sweep",
        footer=False,
    ),
    Command(
        "trades",
        "i",
        "Trades",
        "Inspect every closed trade of the selected run: sort, filter, Enter shows one on the candle and equity charts",
        "open_trades",
        footer=False,  # the footer is full at 80 columns; the Equity pane's border says "i: every trade"
    ),
    Command(
        "history",
        "h",
        "History",
        "Compare finished backtests of every session side by side (kept under the dump folder)",
        "open_history",
        footer=False,  # the footer's room at 80 columns is taken; the palette and the help list it
    ),
    Command(
        "optimize",
        "o",
        "Optimize",
        "Write strategies with an LLM optimizer; the trace goes to the reports (r)",
        "start('optimizer')",
        footer=False,
    ),
    Command(
        "close_position",
        "c",
        "Close position",
        "Close the selected live run's position at market: a preview (side, quantity, price, fee, PnL) asks first",
        "close_position",
        footer=False,  # live only: the palette and the help list it; the footer's room is the backtest's
    ),
    Command(
        "flatten",
        "F",
        "Flatten",
        "Close every open position of the selected live strategy at market (a preview of each asks first)",
        "flatten",
        footer=False,
    ),
    Command(
        "clear_breaker",
        "X",
        "Clear breaker",
        "Allow new entries again after a circuit breaker tripped (asks first)",
        "clear_breaker",
        footer=False,
    ),
    Command(
        "next_tab",
        "right_square_bracket",
        "Next tab",
        "Show the next analysis tab (walker, risk, partial, heatmap)",
        "switch_tab(1)",
        footer=False,
    ),
    Command(
        "previous_tab",
        "left_square_bracket",
        "Previous tab",
        "Show the previous analysis tab",
        "switch_tab(-1)",
        footer=False,
    ),
    Command(
        "zoom",
        "z",
        "Zoom",
        "Fill the screen with the focused pane (Tab picks it); z again brings the dashboard back",
        "toggle_zoom",
    ),
    Command(
        "chart",
        "v",
        "Candles / equity",
        "Show the selected run's candles in the Equity pane (entries, exits; TP, SL and entry of the trade "
        "picked in the Signals pane), or its equity again",
        "toggle_chart",
        footer=False,  # the footer is full at 80 columns; the Equity pane's border says "v: candles"
    ),
    Command(
        "logs",
        "e",
        "Log",
        "Every error (type, strategy file and line, traceback), feed warning and live tick; type to filter",
        "open_logs",
        footer=False,
    ),
    Command(
        "reload",
        "ctrl+r",
        "Reload project",
        "Load btk.toml and the strategy files again after an edit; runs in progress go on",
        "reload_project",
        footer=False,
    ),
    Command("theme", "t", "Theme", "Switch to the next theme (dark, light, high contrast)", "cycle_theme"),
    Command("help", "question_mark", "Help", "Show every key and what it does", "open_help"),
    Command("quit", "q", "Quit", "Leave btk-console (asks first while a live run is active)", "request_quit"),
)

ATTACH_COMMANDS: tuple[Command, ...] = (
    Command(
        "detach",
        "ctrl+d,x",
        "Detach",
        "Leave this attached console; the daemon and every run go on (btk-console attach comes back)",
        "detach",
        footer=False,
    ),
)
"""Commands only an attached console has (console/attach.py). ``[keys]`` may name them in any
project: an in-process console accepts the table and simply has no such key."""

ALL_COMMANDS: tuple[Command, ...] = COMMANDS + ATTACH_COMMANDS

FIXED_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓", "Move in the focused list or table (in Runs: pick the run the panes show)"),
    ("Tab", "Move the focus to the next pane, field or list (shift+Tab: back); arrows and PgUp/PgDn scroll it"),
    ("Enter", "Choose the highlighted item (here: rebind the highlighted command)"),
    ("Esc", "Close a dialog or this help; go back from a report"),
    ("ctrl+p", "Open the command palette: every command by name"),
)
"""Keys the help lists beside the commands: Textual's own, not remappable."""

FORBIDDEN_KEYS = frozenset({"ctrl+s", "ctrl+b", "ctrl+a"})

_KEY_NAMES = {"?": "question_mark", " ": "space", "[": "left_square_bracket", "]": "right_square_bracket"}


def _normal(key: str) -> str:
    """A key as Textual names it; one letter keeps its case (``F`` is shift+f, not ``f``)."""
    key = _KEY_NAMES.get(key, key).strip()
    return key if len(key) == 1 else key.lower()


def validate_keymap(keymap: Mapping[str, str], commands: Iterable[Command] = COMMANDS) -> list[str]:
    """Problems with a ``[keys]`` table: unknown ids, empty or reserved keys, one key twice among
    ``commands`` (the console's own: an attached one adds ``ATTACH_COMMANDS``)."""
    problems: list[str] = []
    commands = tuple(commands)
    ids = {c.id for c in ALL_COMMANDS}
    for cid, key in keymap.items():
        if cid not in ids:
            problems.append(f"[keys] {cid}: unknown command; commands are {', '.join(sorted(ids))}")
        elif not isinstance(key, str) or not key.strip():
            problems.append(f'[keys] {cid}: expected a key such as "x" or "f5", got {key!r}')
        elif _normal(key) in FORBIDDEN_KEYS:
            problems.append(f"[keys] {cid}: {key} is taken by terminals and tmux; pick another key")
    usable = {k: v for k, v in keymap.items() if k in ids and isinstance(v, str) and v.strip()}
    keys = effective_keys(usable, commands)
    seen: dict[str, str] = {}
    for cid, key in keys.items():
        for k in key.split(","):
            k = _normal(k)
            if k in seen:
                problems.append(f"[keys] {cid} and {seen[k]} both use {k}")
            seen[k] = cid
    return problems


def effective_keys(keymap: Mapping[str, str], commands: Iterable[Command] = COMMANDS) -> dict[str, str]:
    """Command id -> key after applying ``keymap`` over the defaults (of ``commands``)."""
    return {c.id: _normal_keys(keymap.get(c.id, c.key)) for c in commands}


def _normal_keys(key: str) -> str:
    """``_normal`` of each key of a binding that lists several (``ctrl+d,x``)."""
    return key if key == "," else ",".join(_normal(k) for k in key.split(","))


def display_key(key: str) -> str:
    return {v: k for k, v in _KEY_NAMES.items() if k != " "}.get(key, key)


def bindings(commands: Iterable[Command] = COMMANDS) -> list[Binding]:
    """Textual bindings with ids, so ``App.set_keymap`` can remap them."""
    return [Binding(c.key, c.action, c.title, show=c.footer, id=c.id) for c in commands]
