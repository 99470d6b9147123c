"""One registry of the console's commands: keys, the command palette and the help screen all read it.

A command has a stable id (what ``[keys]`` in btk.toml remaps), a default key, a title and the
app action it runs. Keys avoid ctrl+s, ctrl+b and ctrl+a, which terminals and tmux take.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding

__all__ = ["COMMANDS", "FIXED_KEYS", "Command", "bindings", "effective_keys", "validate_keymap"]


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
    Command("theme", "t", "Theme", "Switch to the next theme (dark, light, high contrast)", "cycle_theme"),
    Command("help", "question_mark", "Help", "Show every key and what it does", "open_help"),
    Command("quit", "q", "Quit", "Leave btk-console (asks first while a live run is active)", "request_quit"),
)

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


def validate_keymap(keymap: Mapping[str, str]) -> list[str]:
    """Problems with a ``[keys]`` table: unknown ids, empty or reserved keys, one key twice."""
    problems: list[str] = []
    ids = {c.id for c in COMMANDS}
    for cid, key in keymap.items():
        if cid not in ids:
            problems.append(f"[keys] {cid}: unknown command; commands are {', '.join(sorted(ids))}")
        elif not isinstance(key, str) or not key.strip():
            problems.append(f'[keys] {cid}: expected a key such as "x" or "f5", got {key!r}')
        elif _normal(key) in FORBIDDEN_KEYS:
            problems.append(f"[keys] {cid}: {key} is taken by terminals and tmux; pick another key")
    keys = effective_keys({k: v for k, v in keymap.items() if k in ids and isinstance(v, str) and v.strip()})
    seen: dict[str, str] = {}
    for cid, key in keys.items():
        for k in key.split(","):
            k = _normal(k)
            if k in seen:
                problems.append(f"[keys] {cid} and {seen[k]} both use {k}")
            seen[k] = cid
    return problems


def effective_keys(keymap: Mapping[str, str]) -> dict[str, str]:
    """Command id -> key after applying ``keymap`` over the defaults."""
    return {c.id: _normal(keymap.get(c.id, c.key)) for c in COMMANDS}


def display_key(key: str) -> str:
    return {v: k for k, v in _KEY_NAMES.items() if k != " "}.get(key, key)


def bindings(commands: Iterable[Command] = COMMANDS) -> list[Binding]:
    """Textual bindings with ids, so ``App.set_keymap`` can remap them."""
    return [Binding(c.key, c.action, c.title, show=c.footer, id=c.id) for c in commands]
