"""The sweep dialog: what ``btk-console sweep`` asks on its command line, as fields.

It builds the same command line and checks it the same way (``console/sweep_cli.py``), so the
dashboard and the CLI accept and refuse the same sweeps with the same words. Bad input stays in the
dialog with the message under the fields; nothing the user typed is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

import engine

from .runner import SweepJob

METHODS = ("grid", "random", "optuna")


@dataclass(frozen=True, slots=True)
class SweepForm:
    """The dialog's fields as typed (the last ones are remembered for the next sweep)."""

    strategy: str
    symbol: str
    exchange: str
    frame: str
    method: str = "grid"
    metric: str = "sharpe_ratio"
    trials: str = ""
    walk_forward: str = ""
    workers: str = ""

    def argv(self) -> list[str]:
        """The ``btk-console sweep`` arguments these fields stand for."""
        out = ["--strategy", self.strategy, "--symbol", self.symbol, "--exchange", self.exchange]
        out += ["--frame", self.frame, "--method", self.method, "--metric", self.metric]
        for flag, value in (("--trials", self.trials), ("--walk-forward", self.walk_forward)):
            if value.strip():
                out += [flag, value.strip()]
        if self.workers.strip():
            out += ["--workers", self.workers.strip()]
        return out


class SweepDialog(ModalScreen[SweepJob | None]):
    """Strategy, symbol, exchange, frame, method, metric, trials, walk-forward and workers; Enter in
    a text field or the Start button checks them (``build``) and starts, Esc cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        *,
        strategies: Sequence[str],
        symbols: Sequence[str],
        exchanges: Sequence[str],
        frames: Sequence[str],
        build: Callable[[SweepForm], SweepJob],
        last: SweepForm | None = None,
    ) -> None:
        super().__init__(id="sweep-dialog")
        self.strategies, self.symbols = list(strategies), list(symbols)
        self.exchanges, self.frames = list(exchanges), list(frames)
        self.build = build
        self.last = last

    def _value(self, name: str, options: list[str]) -> str:
        v = getattr(self.last, name, None) if self.last else None
        return v if v in options else options[0]

    def compose(self) -> ComposeResult:
        metrics = list(engine.WALKER_METRICS)
        last = self.last
        with Vertical(id="dialog"):
            yield Label("Sweep a strategy's parameters", id="dialog-title")
            with Grid(id="dialog-fields"):
                for label, wid, options in (
                    ("Strategy", "sweep-strategy", self.strategies),
                    ("Symbol", "sweep-symbol", self.symbols),
                    ("Exchange", "sweep-exchange", self.exchanges),
                    ("Frame", "sweep-frame", self.frames),
                    ("Method", "sweep-method", list(METHODS)),
                    ("Metric", "sweep-metric", metrics),
                ):
                    yield Label(label)
                    value = self._value(wid.removeprefix("sweep-"), options)
                    yield Select([(o, o) for o in options], value=value, allow_blank=False, compact=True, id=wid)
                for label, wid, hint in (
                    ("Trials", "sweep-trials", "all (grid); needed for random, optuna"),
                    ("Walk-forward", "sweep-walk-forward", "TRAIN/TEST/STEP days, e.g. 20/10/10"),
                    ("Workers", "sweep-workers", "every core"),
                ):
                    yield Label(label)
                    value = getattr(last, wid.removeprefix("sweep-").replace("-", "_"), "") if last else ""
                    yield Input(value, placeholder=hint, compact=True, id=wid)
            yield Static("", id="sweep-error", markup=False)
            yield Button("Start (Enter)", id="sweep-start", compact=True)

    def on_mount(self) -> None:
        self.query_one("#sweep-error", Static).display = False
        self.query_one("#sweep-strategy", Select).focus()

    def form(self) -> SweepForm:
        def sel(wid: str) -> str:
            return str(self.query_one(f"#{wid}", Select).value)

        def text(wid: str) -> str:
            return self.query_one(f"#{wid}", Input).value

        return SweepForm(
            strategy=sel("sweep-strategy"),
            symbol=sel("sweep-symbol"),
            exchange=sel("sweep-exchange"),
            frame=sel("sweep-frame"),
            method=sel("sweep-method"),
            metric=sel("sweep-metric"),
            trials=text("sweep-trials"),
            walk_forward=text("sweep-walk-forward"),
            workers=text("sweep-workers"),
        )

    def submit(self) -> None:
        """Check the fields; start, or say what is wrong and stay."""
        try:
            job = self.build(self.form())
        except Exception as exc:  # a usage error: shown under the fields, the fields kept
            error = self.query_one("#sweep-error", Static)
            error.update(f"Cannot start: {exc}")
            error.display = True
            return
        self.dismiss(job)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()
