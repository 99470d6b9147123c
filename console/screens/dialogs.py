"""Modal screens: the start dialog, a yes/no confirmation, the help screen, and the error screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from ..commands import ALL_COMMANDS, FIXED_KEYS, display_key
from ..frames import frame_label

ALL = "*"


@dataclass(frozen=True, slots=True)
class StartChoice:
    mode: str
    symbol: str  # or "*" for all
    strategy: str  # strategy (or walker) name, or "*" for all
    exchange: str
    frame: str


FIXED_MODES = ("walker", "optimizer")
"""Modes whose choice names its own exchange and frames: the dialog asks only symbol and name."""


class StartDialog(ModalScreen[StartChoice | None]):
    """Pick what to run. Focus starts on the strategy list with the last choice highlighted, so
    ``b`` then ``Enter`` runs the last backtest again; Tab reaches symbol, exchange and frame."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        mode: str,
        *,
        symbols: list[str],
        strategies: list[str],
        exchanges: list[str],
        frames: list[str],
        last: dict | None = None,
        note: str = "",
        descriptions: dict[str, str] | None = None,
        symbols_of: dict[str, list[str] | None] | None = None,
        brokers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(id="start-dialog")
        self.brokers = brokers or {}  # live: exchange -> the broker its run trades through (shown)
        self.symbols_of = symbols_of or {}  # exchange -> the symbols it has (None: any)
        self.mode = mode
        self.symbols, self.strategies, self.exchanges, self.frames = symbols, strategies, exchanges, frames
        self.last = last or {}
        self.note = note
        self.descriptions = descriptions or {}

    def _pick(self, key: str, options: list[str], allow_all: bool = False) -> str:
        value = self.last.get(key)
        if value in options or (allow_all and value == ALL):
            return value
        return options[0] if options else ""

    def _symbols_for(self, exchange: str | None) -> list[str]:
        """The symbols the exchange has (issue 14 item 8): a run on a symbol it lacks has no data."""
        has = self.symbols_of.get(exchange) if exchange else None
        return list(self.symbols) if has is None else [s for s in self.symbols if s in has] or list(has)

    def _symbol_options(self, symbols: list[str]) -> list[tuple[str, str]]:
        return [("all symbols", ALL), *((s, s) for s in symbols)]

    def compose(self) -> ComposeResult:
        exchange = self._pick("exchange", self.exchanges) if self.mode not in FIXED_MODES else None
        symbols = self._symbols_for(exchange)
        title = {
            "backtest": "Start a backtest",
            "walker": "Start a walker",
            "live": "Start live trading",
            "optimizer": "Write strategies with an optimizer",
        }[self.mode]
        with Vertical(id="dialog"):
            yield Label(title, id="dialog-title")
            if self.note:
                yield Static(self.note, id="dialog-note")
            with Grid(id="dialog-fields"):
                yield Label("Symbol")
                yield Select(
                    self._symbol_options(symbols),
                    value=self._pick("symbol", symbols, allow_all=True),
                    allow_blank=False,
                    compact=True,
                    id="symbol",
                )
                if self.mode not in FIXED_MODES:  # a walker names its own exchange and frame
                    yield Label("Exchange")
                    yield Select(
                        [(e, e) for e in self.exchanges],
                        value=self._pick("exchange", self.exchanges),
                        allow_blank=False,
                        compact=True,
                        id="exchange",
                    )
                if self.mode == "live":  # which account the orders go to (README "Orders and accounts")
                    yield Label("Broker")
                    yield Static(self.brokers.get(exchange or "", "paper"), id="broker", markup=False)
                if self.mode == "backtest":
                    yield Label("Frame")
                    yield Select(
                        [(frame_label(f), f) for f in self.frames],  # with its dates (issue 14 item 14)
                        value=self._pick("frame", self.frames),
                        allow_blank=False,
                        compact=True,
                        id="frame",
                    )
            label = {"walker": "Walker", "optimizer": "Optimizer"}.get(self.mode, "Strategy")
            yield Label(f"{label} (Enter starts, Esc cancels)", id="dialog-list-label")
            options = [Option(self._label(name), id=name) for name in self.strategies]
            if self.mode == "backtest" and len(self.strategies) > 1:
                options.insert(0, Option(f"all {len(self.strategies)} strategies", id=ALL))
            yield OptionList(*options, id="strategy")

    def _label(self, name: str) -> str | Text:
        about = self.descriptions.get(name)
        if not about:
            return name
        return Text.assemble((name, "bold"), "  ", (about, "dim"))

    def on_mount(self) -> None:
        options = self.query_one("#strategy", OptionList)
        wanted = self.last.get("strategy")
        if wanted:
            try:
                options.highlighted = options.get_option_index(wanted)
            except Exception:  # the strategy is gone from the project
                options.highlighted = 0
        elif options.option_count:
            options.highlighted = 0
        options.focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "exchange":
            return
        if self.mode == "live":
            self.query_one("#broker", Static).update(self.brokers.get(str(event.value), "paper"))
        symbol_select = self.query_one("#symbol", Select)
        symbols = self._symbols_for(str(event.value))
        keep = symbol_select.value if symbol_select.value in (ALL, *symbols) else ALL
        symbol_select.set_options(self._symbol_options(symbols))
        symbol_select.value = keep

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        fixed = self.mode in FIXED_MODES  # the app reads exchange and frame from the walker
        frame = self.query_one("#frame", Select).value if self.mode == "backtest" else ""
        exchange = "" if fixed else self.query_one("#exchange", Select).value
        self.dismiss(
            StartChoice(
                mode=self.mode,
                symbol=str(self.query_one("#symbol", Select).value),
                strategy=str(event.option.id),
                exchange=str(exchange),
                frame=str(frame),
            )
        )


class ConfirmScreen(ModalScreen[bool]):
    """A question with a yes and a no key; Enter means yes, Esc means no."""

    BINDINGS = [
        Binding("y,enter", "dismiss(True)", "Yes"),
        Binding("n,escape", "dismiss(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", id: str = "confirm") -> None:
        super().__init__(id=id)
        self.question, self.detail, self.yes = question, detail, yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="dialog-title")
            if self.detail:
                yield Static(self.detail, id="dialog-note")
            yield Static(
                Text.assemble(("y", "bold"), f"/Enter {self.yes}    ", ("n", "bold"), "/Esc Cancel"), id="dialog-keys"
            )


class HelpScreen(ModalScreen[None]):
    """Every key (after remapping) and what it does. Enter on a row, then a key, rebinds it; the
    app checks the key and saves it under ``[keys]``."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keys: dict[str, str]) -> None:
        super().__init__(id="help")
        self.keys = dict(keys)
        self.commands = [c for c in ALL_COMMANDS if c.id in self.keys]  # this console's: attached adds detach
        self.rebinding: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Keys", id="dialog-title")
            yield DataTable(id="help-table", cursor_type="row")
            yield Static(
                "Enter on a command, then press a key, to rebind it (saved under [keys] in btk.toml).",
                id="dialog-note",
                markup=False,  # "[keys]" is text, not a style tag
            )

    def on_mount(self) -> None:
        """The "Does" column gets the width its longest line needs, up to what the screen leaves
        beside the other two; longer lines wrap onto a taller row instead of being cut."""
        table = self.query_one(DataTable)
        keys = [self._key_text(c.id) for c in self.commands]
        id_width = max(len(c.id) for c in self.commands)
        key_width = max(len("Key"), *(k.cell_len for k in keys), *(len(k) for k, _ in FIXED_KEYS))
        does = [c.help for c in self.commands] + [d for _, d in FIXED_KEYS]
        gaps = 2 * table.cell_padding * 3 + table.styles.scrollbar_size_vertical
        frame = 2 + 4  # the dialog's border and padding (btk.tcss #dialog)
        room = int(self.app.size.width * 0.95) - frame - gaps - id_width - key_width
        does_width = max(20, min(max(map(len, does)), room))
        self.query_one("#dialog").styles.width = id_width + key_width + does_width + gaps + frame
        table.styles.max_height = max(6, self.app.size.height - 10)  # title, note and frame keep the rest
        table.add_column("Id", key="id", width=id_width)
        table.add_column("Key", key="key", width=key_width)
        table.add_column("Does", key="does", width=does_width)
        for c, key in zip(self.commands, keys):
            table.add_row(c.id, key, c.help, key=c.id, height=None)
        for key, help_text in FIXED_KEYS:
            table.add_row("", Text(key, style="bold"), help_text, key=f"fixed:{key}", height=None)
        table.focus()

    def _key_text(self, cid: str) -> Text:
        return Text(display_key(self.keys.get(cid, "")), style="bold")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        note = self.query_one("#dialog-note", Static)
        if str(event.row_key.value).startswith("fixed:"):
            note.update(f"{str(event.row_key.value)[6:]} is Textual's own key and cannot be rebound.")
            return
        self.rebinding = str(event.row_key.value)
        note.update(f"Press the new key for {self.rebinding} (Esc keeps {display_key(self.keys[self.rebinding])}).")

    def on_key(self, event) -> None:
        if self.rebinding is None or event.key in ("enter", "up", "down"):
            return
        event.stop()
        event.prevent_default()
        cid, self.rebinding = self.rebinding, None
        note = self.query_one("#dialog-note", Static)
        if event.key == "escape":
            note.update("Rebinding cancelled.")
            return
        problem = self.app.rebind(cid, event.key)
        if problem:
            note.update(problem)
            return
        self.keys = dict(self.app.keys)
        table = self.query_one(DataTable)
        for c in self.commands:
            table.update_cell(c.id, "key", self._key_text(c.id))
        # an attached console saves no settings (the daemon's project owns btk.toml): it says so
        saved = getattr(self.app, "save_settings_enabled", True)
        where = "saved" if saved else "this session only: [keys] in the project's btk.toml keeps it"
        note.update(f"{cid} is now on {display_key(event.key)} ({where}).")

    def action_close(self) -> None:
        if self.rebinding is None:
            self.dismiss(None)


class ErrorScreen(Screen[None]):
    """The project could not be loaded: what was wrong and where; q leaves."""

    BINDINGS = [Binding("q,escape", "app.exit", "Quit")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__(id="error-screen")
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="error-box"):
            yield Label(self.title_text, id="error-title")
            yield Static(self.message, id="error-message", markup=False)
            yield Static("Fix the file and start btk-console again.   q  quit", id="error-hint")
