"""``btk-console doctor``: each check on real parts (the demo, a btk.toml whose ccxt exchange is the
loopback Binance server through the real ccxt client, a closed port, a quarantined document, a
broken file); exit 1 exactly when something is wrong, and key values never printed."""

from __future__ import annotations

import io
import socket
from datetime import UTC, datetime

import tomli_w
from conftest import LIVE_T0

import engine
from console.cli import main
from engine.testing import reset_engine as engine_reset
from tests.exchanges.binance_server import BinanceServer, ccxt_options

KEY, SECRET = "doctor-key-7f3a9c", "doctor-secret-91be44"


def _doctor(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["doctor", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _project(root, base_url: str, *, sandbox: bool = False) -> str:
    (root / "idle.py").write_text('import engine\n\nengine.add_strategy("idle", "1m", lambda s, w, p: None)\n')
    exchange = {"kind": "ccxt", **ccxt_options(base_url, sandbox=sandbox), "symbols": ["BTCUSDT"]}
    document = {
        "project": {"name": "desk", "symbols": ["BTCUSDT"], "dump_dir": "dump", "modules": ["idle.py"]},
        "exchanges": {"binance": exchange},
        "frames": {
            "jan": {
                "interval": "1m",
                "start": datetime(2024, 1, 1, tzinfo=UTC),
                "end": datetime(2024, 1, 2, tzinfo=UTC),
            }
        },
    }
    (root / "btk.toml").write_text(tomli_w.dumps(document))
    return str(root / "btk.toml")


def test_the_demo_is_healthy(tmp_path) -> None:
    code, out, _ = _doctor("--dump-dir", str(tmp_path / "dump"))
    assert code == 0, out
    assert "ok    exchange demo-synthetic: synthetic market" in out and out.endswith("no problems\n")


def test_a_reachable_ccxt_exchange_with_its_keys_set_and_not_printed(tmp_path, monkeypatch) -> None:
    engine.set_clock(engine.SimulatedClock(LIVE_T0, speed=0))
    monkeypatch.setenv("BTK_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BTK_BINANCE_SECRET", SECRET)
    with BinanceServer(now_ms=LIVE_T0) as server:
        code, out, err = _doctor("--config", _project(tmp_path, server.base_url))
    assert code == 0, out
    assert "ok    exchange binance: REAL exchange (sandbox = false), reachable" in out
    assert "ok    keys binance: set: BTK_BINANCE_API_KEY, BTK_BINANCE_SECRET (values not shown)" in out
    assert KEY not in out + err and SECRET not in out + err


def test_missing_keys_fail_on_the_real_exchange_and_warn_on_the_sandbox(tmp_path, monkeypatch) -> None:
    engine.set_clock(engine.SimulatedClock(LIVE_T0, speed=0))
    monkeypatch.delenv("BTK_BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BTK_BINANCE_SECRET", raising=False)
    with BinanceServer(now_ms=LIVE_T0) as server:
        code, out, _ = _doctor("--config", _project(tmp_path, server.base_url))
    assert code == 1 and "FAIL  keys binance: not set: BTK_BINANCE_API_KEY, BTK_BINANCE_SECRET" in out
    assert out.endswith("1 problem(s)\n")
    engine_reset()
    engine.set_clock(engine.SimulatedClock(LIVE_T0, speed=0))
    with BinanceServer(now_ms=LIVE_T0) as server:
        code, out, _ = _doctor("--config", _project(tmp_path, server.base_url, sandbox=True))
    assert code == 0 and "warn  keys binance: not set:" in out and "sandbox (testnet), reachable" in out
    engine_reset()
    engine.set_clock(engine.SimulatedClock(LIVE_T0, speed=0))
    with BinanceServer(now_ms=LIVE_T0) as server:
        code, out, _ = _doctor("--config", _project(tmp_path, server.base_url, sandbox=True))
    assert code == 0 and "warn  keys binance: not set:" in out and "sandbox (testnet), reachable" in out


def test_an_unreachable_exchange_fails(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BTK_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BTK_BINANCE_SECRET", SECRET)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, _ = _doctor("--config", _project(tmp_path, f"http://127.0.0.1:{port}"))
    assert code == 1 and "FAIL  exchange binance: REAL exchange (sandbox = false), not reachable for BTCUSDT" in out


def test_a_quarantined_document_and_a_broken_config_fail(tmp_path) -> None:
    held = tmp_path / "dump" / "data" / "quarantine" / "signal" / "20240301-BTCUSDT.json"
    held.parent.mkdir(parents=True)
    held.write_text("{")
    code, out, _ = _doctor("--dump-dir", str(tmp_path / "dump"))
    assert code == 1 and "FAIL  state folder: 1 quarantined document(s) wait for you: quarantine/signal/" in out

    (tmp_path / "btk.toml").write_text("[project\n")
    code, out, _ = _doctor("--config", str(tmp_path / "btk.toml"))
    assert code == 1 and out.startswith("FAIL  config: ")
