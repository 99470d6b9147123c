"""Issue 16, the console's part: the Account pane, fills in the signal log, a position's quantity,
``c`` and ``F`` with a preview of the exit, a tripped breaker in the header until ``X`` clears it,
and the broker in the live start dialog (README "Orders and accounts").

Every live run here trades the demo's synthetic exchange through the real paper broker; live time
is a SteppedClock, so every wait waits on the loop sleeping, never on the wall clock."""

from __future__ import annotations

import pytest
from conftest import LIVE_T0, SteppedClock, finish_runs, flush_bridge, live_app, live_tick, start_live, wait_until
from screen_text import screen_lines, screen_text

import engine
from console.broker_choice import broker_for
from console.preview import preview_close
from console.screens.close import ClosePreviewScreen
from console.screens.dialogs import ConfirmScreen, StartDialog
from console.state import DashboardState, Part, PositionView
from console.widgets.account import AccountPane
from console.widgets.header import BtkHeader
from console.widgets.panes import PositionsPane, SignalsPane

RID = "live:BTCUSDT:probe"
SIZES = [(80, 24), (160, 50)]


def pane_text(app, pane_type) -> str:
    """What the terminal shows inside ``pane_type``'s box (borders excluded)."""
    region = app.screen.query_one(pane_type).region
    lines = screen_lines(app)[region.y + 1 : region.bottom - 1]
    return "\n".join(line[region.x + 1 : region.right - 1] for line in lines)


def log_kinds(app) -> list[str]:
    return [line.kind for line in app.state.log_of(RID)]


def stepped_live_app(tmp_path):
    """The live test app on a stepped clock the test moves (``live_tick``)."""
    clock = SteppedClock(LIVE_T0)
    engine.set_clock(clock)
    return live_app(tmp_path / "dump"), clock


async def account_shown(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state.accounts.get("paper") is not None)
    await flush_bridge(pilot)
    await pilot.pause()


# ---------------------------------------------------------------------------------- pure state
def _snap(**kw) -> engine.AccountSnapshot:
    base = dict(broker="paper", currency="USDT", balance=9_750.0, equity=9_999.5, realised_pnl=0.0)
    base.update(fees_paid=0.25, day_pnl=-0.5, open_orders=0, positions={"BTCUSDT": 0.004}, timestamp=LIVE_T0)
    base.update(kw)
    return engine.AccountSnapshot(**base)


def test_a_breaker_stays_in_the_alert_until_it_is_cleared() -> None:
    state = DashboardState()
    assert state.apply([_snap()]) == Part.ACCOUNT and state.alert() is None
    tripped = engine.BreakerEvent("paper", "max_drawdown", "equity fell 3% from its peak", 9_700.0, LIVE_T0)
    assert state.apply([tripped]) == Part.HEADER | Part.ACCOUNT
    assert state.alert() == "CLOSE-ONLY: paper max_drawdown (X clears)"
    assert state.accounts["paper"].breaker == "max_drawdown"
    state.apply([_snap(breaker="max_drawdown", equity=9_690.0)])  # later snapshots keep saying it
    assert "max_drawdown" in state.alert()
    state.apply([engine.BreakerEvent("paper", None, "cleared by request", 9_690.0, LIVE_T0)])
    assert state.alert() is None and state.accounts["paper"].breaker is None


def test_a_restart_snapshot_with_a_breaker_trips_the_header() -> None:
    state = DashboardState()
    assert Part.HEADER in state.apply([_snap(breaker="daily_loss")])
    assert "daily_loss" in state.alert()


def test_the_preview_books_what_the_paper_broker_would() -> None:
    pos = PositionView(RID, "s1", "BTCUSDT", "probe", "long", 60_000.0, 61_200.0, 58_800.0, 60_600.0, 0, 0, 0.0)
    pos.quantity = 0.005
    p = preview_close(pos, slippage=0.1, fee=0.1)
    assert (p.side, p.quantity) == ("sell", 0.005)
    assert p.price == pytest.approx(60_600.0 * 0.999)
    assert p.fee == pytest.approx(0.005 * 60_000.0 * 0.001)  # CC_PERCENT_FEE of the entry's cost
    percent = engine.pnl_percentage("long", 60_000.0, 60_600.0, 0.1, 0.1)
    assert p.pnl_percent == pytest.approx(percent) and p.pnl == pytest.approx(300.0 * percent / 100)
    short = preview_close(
        PositionView(RID, "s2", "BTCUSDT", "probe", "short", 60_000.0, 0, 0, 59_000.0, 0, 0, 0), 0.1, 0.1
    )
    assert short.side == "buy" and short.quantity is None and short.pnl is None and short.price > 59_000.0


def test_broker_for_names_paper_unless_a_broker_has_the_exchange_name() -> None:
    assert broker_for("demo-synthetic").name == "paper" and not broker_for("demo-synthetic").real_money
    engine.add_broker(engine.PaperBroker("demo-synthetic", balance=500))
    choice = broker_for("demo-synthetic")
    assert (choice.name, choice.kind, choice.real_money) == ("demo-synthetic", "paper", False)


# ---------------------------------------------------------------------------------- pilot tests
@pytest.mark.parametrize("size", SIZES)
async def test_account_pane_fills_and_quantity_of_a_paper_live_run(tmp_path, no_settings, size) -> None:
    app, clock = stepped_live_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        assert not app.screen.query_one(AccountPane).display  # no account before a live run
        await start_live(pilot, clock)
        await account_shown(pilot)
        (pos,) = app.state.positions_of(RID)
        snap = app.state.accounts["paper"]
        assert pos.quantity is not None and pos.quantity == pytest.approx(snap.positions["BTCUSDT"])
        assert snap.balance < 10_000  # the entry's cost and fee left the balance
        account = pane_text(app, AccountPane)
        assert f"Equity {snap.equity:,.2f}" in account
        assert "0 open orders" in account and "trading" in account  # second line: no breaker
        # the position row shows the quantity (last column, kept at every width)
        row = [str(c) for c in app.screen.query_one(PositionsPane).table.get_row_at(0)]
        assert row[-1] == f"{pos.quantity:.6g}"
        assert f"{pos.quantity:.6g}" in pane_text(app, PositionsPane)
        # the fill is a line in the signal log (the desk records it before the tick announces OPENED)
        kinds = log_kinds(app)
        assert kinds.count("FILL") == 1 and kinds.count("OPENED") == 1
        fill = next(line for line in app.state.log_of(RID) if line.kind == "FILL")
        assert fill.side == "buy" and f"{pos.quantity:g} at" in fill.detail
        assert "FILL" in pane_text(app, SignalsPane)
        assert "Account" in screen_text(app)


@pytest.mark.parametrize("size", SIZES)
async def test_c_previews_the_close_then_closes_at_market(tmp_path, no_settings, size) -> None:
    app, clock = stepped_live_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await start_live(pilot, clock)
        await account_shown(pilot)
        await live_tick(pilot, clock, 2)
        (pos,) = app.state.positions_of(RID)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ClosePreviewScreen))
        await pilot.pause()
        (preview,) = app.screen.previews
        assert preview.side == "sell" and preview.quantity == pos.quantity
        assert preview.price == pytest.approx(pos.last_price * (1 - app.state.slippage / 100))
        shown = screen_text(app)
        assert "SELL market" in shown and f"{pos.quantity:.6g}" in shown and "Net PnL" in shown
        assert f"{preview.fee:,.2f}" in shown and f"{preview.pnl:,.2f}" in shown and f"{preview.price:,.2f}" in shown
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, ClosePreviewScreen)
        await live_tick(pilot, clock)  # the loop closes it at its next wake-up
        await wait_until(pilot, lambda: not app.state.positions_of(RID))
        await flush_bridge(pilot)
        closed = next(line for line in app.state.log_of(RID) if line.kind == "CLOSED")
        assert closed.detail == "manual"
        fills = [line for line in app.state.log_of(RID) if line.kind == "FILL"]
        assert [f.side for f in fills] == ["buy", "sell"]
        snap = app.state.accounts["paper"]
        assert snap.positions.get("BTCUSDT", 0) == 0 and snap.balance == pytest.approx(snap.equity)
        assert f"Equity {snap.equity:,.2f}" in pane_text(app, AccountPane)


@pytest.mark.parametrize("size", SIZES)
async def test_flatten_previews_every_position_and_closes_them(tmp_path, no_settings, size) -> None:
    app, clock = stepped_live_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await start_live(pilot, clock)
        await account_shown(pilot)
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, ClosePreviewScreen))
        await pilot.pause()
        assert "Flatten: close 1 position of probe" in screen_text(app)
        await pilot.press("n")  # nothing happens on no
        await pilot.pause()
        await live_tick(pilot, clock)
        assert app.state.positions_of(RID)
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, ClosePreviewScreen))
        await pilot.press("y")
        await live_tick(pilot, clock)
        await wait_until(pilot, lambda: not app.state.positions_of(RID))
        await flush_bridge(pilot)
        assert log_kinds(app).count("FILL") == 2


async def test_c_without_a_live_position_says_what_to_select(tmp_path, no_settings) -> None:
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ClosePreviewScreen)
        assert any("Select a live run" in str(n.message) for n in app._notifications)


@pytest.mark.parametrize("size", SIZES)
async def test_a_tripped_breaker_stays_in_the_header_until_shift_x_clears_it(tmp_path, no_settings, size) -> None:
    # a drawdown limit so small that the first dip of the open position's equity trips it: a real
    # trip of the account book, published on listen_breaker
    engine.set_config(CC_MAX_DRAWDOWN_PERCENT=0.001, unsafe=True)
    app, clock = stepped_live_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await start_live(pilot, clock)
        for _ in range(30):  # the position's mark-to-market at each tick: the first dip trips it
            if "paper" in app.state.breakers:
                break
            await live_tick(pilot, clock)
        assert "paper" in app.state.breakers
        await flush_bridge(pilot)
        header = str(app.screen.query_one(BtkHeader).render())
        assert "CLOSE-ONLY: paper max_drawdown" in header
        assert "CLOSE-ONLY: max_draw" in pane_text(app, AccountPane)  # cut at 80x24, whole at 160x50
        await live_tick(pilot, clock, 3)  # it stays while time passes
        assert "CLOSE-ONLY: paper max_drawdown" in str(app.screen.query_one(BtkHeader).render())
        await pilot.press("X")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert "max_drawdown" in screen_text(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: "paper" not in app.state.breakers)
        await flush_bridge(pilot)
        assert "CLOSE-ONLY" not in str(app.screen.query_one(BtkHeader).render())
        assert "trading" in pane_text(app, AccountPane)


async def test_the_live_dialog_shows_the_paper_broker(tmp_path, no_settings) -> None:
    app = live_app(tmp_path / "dump")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        assert isinstance(app.screen, StartDialog)
        assert "paper: simulated account" in screen_text(app)


class VenueBroker(engine.PaperBroker):
    """A broker that says it is a ccxt broker on a real venue (its feed is a real ccxt client for
    binance, sandbox off); it never gets to place anything: the test answers no."""

    kind = "ccxt"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.feed = engine.CcxtFeed("binance", sandbox=False)


async def test_a_real_money_broker_asks_once_more_and_no_starts_nothing(tmp_path, no_settings) -> None:
    app, clock = stepped_live_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        exchange = app.project.default_exchange
        engine.add_broker(VenueBroker(exchange))
        await pilot.press("l")
        await pilot.pause()
        assert "REAL money" in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert app.screen.id == "confirm-real-money" and "real money" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert RID not in app.state.runs and not clock.sleeping  # nothing started, no order


def test_the_commands_are_in_the_registry_with_their_keys() -> None:
    from console.commands import COMMANDS, effective_keys

    keys = effective_keys({})
    assert (keys["close_position"], keys["flatten"], keys["clear_breaker"]) == ("c", "F", "X")
    assert {"close_position", "flatten", "clear_breaker"} <= {c.id for c in COMMANDS}


async def test_the_runs_pane_keeps_the_live_run_in_view_when_the_account_pane_takes_room(tmp_path, no_settings) -> None:
    from console.widgets.panes import RunsPane

    app, clock = stepped_live_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await pilot.press("enter")  # all strategies: the Runs pane fills with backtests
        await finish_runs(pilot)
        await start_live(pilot, clock)
        await account_shown(pilot)
        await live_tick(pilot, clock)
        assert app.screen.query_one(RunsPane).selected == RID

        def shown() -> bool:  # the scroll lands after a refresh: wait for it (a safety limit only)
            runs = pane_text(app, RunsPane)
            return "probe" in runs and "live" in runs

        await wait_until(pilot, shown, limit=60)  # the row the header describes is on screen
