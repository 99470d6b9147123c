"""API keys with the real ccxt ``binance`` client against the loopback server (issue 20 items 4 and 5).

Keys are set in the environment as a user would. Candles are public: a key the venue rejects must
not stop them (item 5); it is reported once, naming what to check. ccxt's ``verbose`` prints request
headers, the key among them, so it is refused (item 4); and no output of a run (stdout, stderr, the
log file, reports, the state folder, the console's screen) ever holds the key or the secret.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import engine as e
from console import headless_live
from console.project import load_project
from console.toml_source import ProjectError
from engine.candles import CandleError
from engine.exchanges.ccxt_feed import CcxtFeed
from engine.model import MINUTE_MS
from tests.console.conftest import LIVE_T0, SteppedClock, fixed_clock, flush_bridge, wait_until
from tests.exchanges.binance_server import BinanceServer, ccxt_options

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 10 * 1440 * MINUTE_MS
SYMBOL = "BTCUSDT"
KEY, SECRET = "k3y-AbCdEfGh-0123456789", "s3cr3t-ZyXwVuT-9876543210"


@pytest.fixture(autouse=True)
async def close_exchanges() -> Any:
    yield
    await e.close_ccxt_exchanges()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTK_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BTK_BINANCE_SECRET", SECRET)


def as_configured(base_url: str, **extra: Any) -> dict[str, Any]:
    """The loopback options with ccxt's own default for currencies (``fetchCurrencies`` on), as a
    user's btk.toml has it: with keys, ccxt's ``load_markets`` then makes a signed call."""
    options = ccxt_options(base_url, **extra)
    options["options"] = {k: v for k, v in options["options"].items() if k != "fetchCurrencies"}
    return options


def feed_of(schema: Any) -> CcxtFeed:
    return schema.get_candles.__self__


def key_errors(errors: list[BaseException]) -> list[str]:
    return [str(x) for x in errors if "API key" in str(x)]


# --------------------------------------------------------------------------- item 5: keys never block candles


async def test_a_rejected_key_does_not_stop_candles_and_is_reported_once(keys, monkeypatch) -> None:
    e.set_clock(e.SimulatedClock(NOW, speed=0))
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    with BinanceServer(now_ms=NOW) as server:
        server.reject_keys()
        feed = feed_of(e.add_ccxt_exchange("bn", **as_configured(server.base_url)))
        since = datetime.fromtimestamp(DAY0 / 1000, tz=UTC)
        rows = await feed.get_candles(SYMBOL, "1m", since, 5)
        assert rows == server.ohlcv(SYMBOL, "1m", DAY0, 5)
        again = await feed.get_candles("ETHUSDT", "1m", since, 5)
        assert again == server.ohlcv("ETHUSDT", "1m", DAY0, 5)
        data = [r for r in server.requests if r.path in ("/api/v3/exchangeInfo", "/api/v3/klines")]
        assert data and not any(r.signed for r in data)  # market data carries no credentials
        checks = [r for r in server.requests if r.signed]
        assert [(r.path, r.status) for r in checks] == [("/api/v3/account", 401)]  # one check, once
    (message,) = key_errors(errors)
    assert "binance rejected the API key in BTK_BINANCE_API_KEY" in message
    assert "-2015" in message and "Invalid API-key, IP, or permissions" in message
    for what in ("secret", "permissions", "IP whitelist", "sandbox", "candles"):
        assert what in message
    assert KEY not in message and SECRET not in message


async def test_an_accepted_key_is_checked_once_and_reports_nothing(keys) -> None:
    e.set_clock(e.SimulatedClock(NOW, speed=0))
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    with BinanceServer(now_ms=NOW) as server:
        feed = feed_of(e.add_ccxt_exchange("bn", **as_configured(server.base_url)))
        await feed.market(SYMBOL)
        await feed.market("ETHUSDT")
        assert [(r.path, r.status) for r in server.requests if r.signed] == [("/api/v3/account", 200)]
    assert errors == []


async def test_without_keys_no_signed_call_is_made(monkeypatch) -> None:
    monkeypatch.delenv("BTK_BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BTK_BINANCE_SECRET", raising=False)
    with BinanceServer(now_ms=NOW) as server:
        feed = feed_of(e.add_ccxt_exchange("bn", **as_configured(server.base_url)))
        await feed.market(SYMBOL)
        assert [r.path for r in server.requests] == ["/api/v3/exchangeInfo"]


def _probe(name: str = "probe") -> None:
    """Opens one long position at its first call (so a run has something to save and report)."""
    calls = {"n": 0}

    def probe(symbol, when, price):
        calls["n"] += 1
        if calls["n"] > 1:
            return None
        return {"position": "long", "price_take_profit": price * 1.02, "price_stop_loss": price * 0.98,
                "minute_estimated_time": 30}  # fmt: skip

    e.add_strategy(name, "1m", probe)


async def test_a_backtest_and_a_live_run_are_served_candles_with_a_rejected_key(keys) -> None:
    errors: list[BaseException] = []
    e.listen_error(errors.append)
    with BinanceServer(now_ms=lambda: e.get_clock().now()) as server:
        server.reject_keys()
        e.add_ccxt_exchange("bn", **as_configured(server.base_url))
        _probe()
        _probe("live-probe")
        e.add_frame("hour", "1m", LIVE_T0 - 120 * MINUTE_MS, LIVE_T0 - 60 * MINUTE_MS)
        e.set_clock(e.SimulatedClock(LIVE_T0, speed=0))  # a backtest: retry sleeps move it on
        run = e.Backtest.run(SYMBOL, strategy_name="probe", exchange_name="bn", frame_name="hour")

        async def collect() -> list:
            return [r async for r in run]

        done = await asyncio.wait_for(collect(), timeout=120)
        assert not any(isinstance(x, CandleError) for x in errors)
        assert len(done) == 1  # the probe's position ran its course on candles from the exchange
        clock = SteppedClock(LIVE_T0)
        e.set_clock(clock)
        opened: list = []
        e.listen_signal_live(lambda r: opened.append(r) if r.action == "opened" else None)

        async def trade() -> None:
            async for _ in e.Live.run(SYMBOL, strategy_name="live-probe", exchange_name="bn"):
                pass

        task = asyncio.ensure_future(trade())
        for _ in range(3):
            await asyncio.wait_for(clock.until_sleeping(), timeout=60)
            clock.step()
        await asyncio.wait_for(clock.until_sleeping(), timeout=60)
        e.Live.stop(SYMBOL, "live-probe")
        await asyncio.wait_for(task, timeout=60)
    assert len(opened) == 1
    assert not any(isinstance(x, CandleError) for x in errors)
    assert len(key_errors(errors)) == 1  # one report for the whole process, not per run or tick


# --------------------------------------------------------------------------- item 4: nothing prints a key


def test_verbose_is_refused_at_registration_saying_what_to_use_instead() -> None:
    with pytest.raises(e.CcxtFeedError, match=r"verbose.*prints every request's headers.*API key") as info:
        e.add_ccxt_exchange("bn", "binance", verbose=True)
    assert "log_requests" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert e.list_exchanges() == []


def _write_project(root: Path, base_url: str, **extra: Any) -> Path:
    (root / "probe.py").write_text(
        "import engine\n"
        "calls = []\n"
        "def probe(symbol, when, price):\n"
        "    calls.append(when)\n"
        "    if len(calls) > 1:\n"
        "        return None\n"
        "    return {'position': 'long', 'price_take_profit': price * 1.02, 'price_stop_loss': price * 0.98,\n"
        "            'minute_estimated_time': 600}\n"
        "engine.add_strategy('probe', '1m', probe)\n"
    )
    exchange = {"kind": "ccxt", **as_configured(base_url), "symbols": [SYMBOL], **extra}
    document = {
        "project": {"name": "desk", "modules": ["probe.py"], "symbols": [SYMBOL], "dump_dir": "dump"},
        "exchanges": {"binance": exchange},
        "frames": {"day": {"interval": "1m", "start": "2024-02-29T00:00:00Z", "end": "2024-02-29T01:00:00Z"}},
    }
    text = tomli_w.dumps(document).replace('"2024-02-29T00:00:00Z"', "2024-02-29T00:00:00Z")
    path = root / "btk.toml"
    path.write_text(text.replace('"2024-02-29T01:00:00Z"', "2024-02-29T01:00:00Z"))
    return path


def test_verbose_in_btk_toml_is_refused_naming_file_and_line(tmp_path: Path, keys) -> None:
    path = _write_project(tmp_path, "http://127.0.0.1:9", verbose=True)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    message = str(info.value)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("verbose"))
    assert message.startswith(f"btk.toml line {line}: [exchanges.binance] verbose: ")
    assert "log_requests" in message and KEY not in message


async def test_no_output_of_a_run_holds_the_key_or_the_secret(tmp_path: Path, keys, monkeypatch, capfd) -> None:
    monkeypatch.setenv("BTK_SETTINGS", str(tmp_path / "user-settings.toml"))
    clock = SteppedClock(LIVE_T0)
    e.set_clock(clock)
    with BinanceServer(now_ms=clock.now) as server:
        server.reject_keys()
        server.fail_next(1, 503, path="klines", body=f"upstream echoed apiKey={KEY} secret={SECRET}")
        project = load_project(_write_project(tmp_path, server.base_url, log_requests=True))

        # headless: three ticks, an open position, a stop, a report
        out, err = io.StringIO(), io.StringIO()
        task = asyncio.ensure_future(
            headless_live.run_live([(SYMBOL, "probe")], "binance", project.dump_dir, out, err, install_signals=False)
        )
        for n in range(3):
            await asyncio.wait_for(clock.until_sleeping(), timeout=60)
            if n < 2:
                clock.step()
        e.Live.stop(SYMBOL, "probe")
        assert await asyncio.wait_for(task, timeout=60) == 0
        assert " OPENED " in out.getvalue()  # candles were served
        assert err.getvalue().count("rejected the API key") == 1

        # the console: a live run on the same project, its screen exported
        from console.app import BtkApp

        project.ui["last_live"] = {"symbol": SYMBOL, "strategy": "probe", "exchange": "binance"}
        app = BtkApp(project, clock=fixed_clock, save_settings=False, dump_dir=tmp_path / "console-dump")
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("l")
            await pilot.press("enter")
            await wait_until(pilot, lambda: clock.sleeping)
            await flush_bridge(pilot)
            clock.step()
            await wait_until(pilot, lambda: clock.sleeping)
            await flush_bridge(pilot)
            screen = app.export_screenshot()
            app.exit()
    captured = capfd.readouterr()
    texts = {"stdout": out.getvalue() + captured.out, "stderr": err.getvalue() + captured.err, "screen": screen}
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".py" and p.name != "btk.toml"]
    assert any(p.name == "live.log" for p in files) and any(p.suffix == ".md" for p in files)
    assert any("signal" in p.parts for p in files)  # the state folder
    for p in files:
        texts[str(p.relative_to(tmp_path))] = p.read_bytes().decode("utf-8", "replace")
    assert "binance request http" in texts["dump/logs/live.log"]  # log_requests wrote the requests there, without keys
    for where, text in texts.items():
        assert KEY not in text, f"the API key is in {where}"
        assert SECRET not in text, f"the secret is in {where}"
