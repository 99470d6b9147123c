"""btk.toml's [broker] section: the paper account a project's live runs trade (README "Orders
and accounts"), and the messages a wrong one gets (file, line, key, what was expected)."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from console.project import PROJECT_FILE, ProjectError, load_project
from engine.testing import reset_engine

BASE = (
    '[project]\nmodules = ["s.py"]\n'
    '[exchanges.sim]\nkind = "synthetic"\n'
    '[frames.jan]\ninterval = "1m"\nstart = 2024-01-01\nend = 2024-01-02\n'
)
STRATEGY = (
    "import engine\n\nasync def get_signal(symbol, when, price):\n    return None\n\n"
    'engine.add_strategy("s", "5m", get_signal)\n'
)

pytestmark = pytest.mark.usefixtures("user_settings")


def project(tmp_path: Path, broker: str) -> Path:
    (tmp_path / "s.py").write_text(STRATEGY)
    path = tmp_path / PROJECT_FILE
    path.write_text(BASE + broker)
    return path


def test_a_broker_section_registers_the_paper_account_live_runs_use_by_default(tmp_path: Path) -> None:
    load_project(project(tmp_path, '[broker]\nkind = "paper"\nbalance = 2500\nquote_amount = 50\n'))
    broker = engine.brokers.desk.default_broker()
    assert isinstance(broker, engine.PaperBroker)
    assert (broker.name, broker.start_balance, broker.quote_amount) == ("paper", 2500.0, 50.0)
    reset_engine()  # a project loaded again (the console's reload starts from a clean engine too)
    engine.add_broker(engine.PaperBroker("paper", balance=1))
    load_project(project(tmp_path, "[broker]\nbalance = 900\n"))  # the project's broker takes its place
    assert engine.brokers.desk.default_broker().start_balance == 900.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[broker]\nkind = "ccxt2"\n', 'line 10: [broker] kind: unknown broker kind string "ccxt2"'),
        ("[broker]\nbalance = -5\n", "line 10: [broker] balance: expected a number > 0"),
        ("[broker]\nquote_amount = true\n", "line 10: [broker] quote_amount: expected a number > 0"),
        ("[broker]\nbalanse = 5\n", "line 10: [broker] balanse: unknown key"),
    ],
)
def test_a_wrong_broker_section_names_file_line_and_key(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ProjectError) as info:
        load_project(project(tmp_path, section))
    assert message in str(info.value) and PROJECT_FILE in str(info.value)


# --------------------------------------------------------------------------- kind = "ccxt"

CCXT_TABLES = '[exchanges.bn]\nkind = "ccxt"\nexchange_id = "binance"\nsandbox = {sandbox}\n'


def ccxt_project(tmp_path: Path, broker: str, *, sandbox: bool = True) -> Path:
    (tmp_path / "s.py").write_text(STRATEGY)
    path = tmp_path / PROJECT_FILE
    path.write_text(BASE + CCXT_TABLES.format(sandbox=str(sandbox).lower()) + broker)
    return path


def line_of(path: Path, text: str) -> int:
    """The line of ``text`` in the [broker] table (from its header on)."""
    lines = path.read_text().splitlines()
    header = lines.index("[broker]")
    return next(n for n, line in enumerate(lines[header:], header + 1) if line.startswith(text))


def test_a_ccxt_broker_section_registers_a_ccxt_broker_on_its_exchange_table(tmp_path: Path) -> None:
    section = (
        '[broker]\nkind = "ccxt"\nexchange = "bn"\nsandbox = true\nquote_amount = 50\n'
        'api_key_env = "MY_BN_KEY"\nsecret_env = "MY_BN_SECRET"\n'
    )
    load_project(ccxt_project(tmp_path, section))
    [broker] = [b for b in engine.list_brokers() if b.name == "bn"]
    assert isinstance(broker, engine.CcxtBroker)
    assert broker.quote_amount == 50.0 and broker.protective_stop is True
    assert broker.key_env == {"apiKey": "MY_BN_KEY", "secret": "MY_BN_SECRET"}
    assert broker.feed.exchange_id == "binance" and broker.feed.sandbox is True
    from console.broker_choice import broker_for

    choice = broker_for("bn")
    assert choice.name == "bn" and not choice.real_money and "SANDBOX" in choice.text


async def test_the_ccxt_broker_reads_its_keys_from_the_variables_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("MY_BN_KEY", "MY_BN_SECRET", "BTK_BINANCE_API_KEY", "BTK_BINANCE_SECRET"):
        monkeypatch.delenv(var, raising=False)
    section = '[broker]\nkind = "ccxt"\nexchange = "bn"\napi_key_env = "MY_BN_KEY"\nsecret_env = "MY_BN_SECRET"\n'
    load_project(ccxt_project(tmp_path, section))
    [broker] = [b for b in engine.list_brokers() if b.name == "bn"]
    with pytest.raises(engine.BrokerError, match="MY_BN_KEY and MY_BN_SECRET"):
        await broker.start()  # no key in the environment: refused before anything is sent


def test_a_real_money_ccxt_broker_needs_real_money_true(tmp_path: Path) -> None:
    path = ccxt_project(tmp_path, '[broker]\nkind = "ccxt"\nexchange = "bn"\n', sandbox=False)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    text = str(info.value)
    assert f"line {line_of(path, '[broker]')}: [broker]:" in text
    assert "REAL orders with real money on binance" in text and "real_money = true" in text and 'kind = "paper"' in text
    reset_engine()
    path = ccxt_project(tmp_path, '[broker]\nkind = "ccxt"\nexchange = "bn"\nreal_money = true\n', sandbox=False)
    load_project(path)
    from console.broker_choice import broker_for

    assert broker_for("bn").real_money  # and the console asks once more before a live run starts


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ('[broker]\nkind = "ccxt"\n', "kind", "exchange: missing; expected the name of a ccxt exchange table"),
        ('[broker]\nkind = "ccxt"\nexchange = "sim"\n', "exchange", '"sim" is not a ccxt exchange table'),
        ('[broker]\nkind = "ccxt"\nexchange = "bn"\nsandbox = false\n', "sandbox", "[exchanges.bn] has sandbox = true"),
        ('[broker]\nkind = "ccxt"\nexchange = "bn"\nreal_money = true\n', "real_money", "is a sandbox (test money)"),
        ('[broker]\nkind = "ccxt"\nexchange = "bn"\nsandbox = "yes"\n', "sandbox", "expected true or false"),
        ('[broker]\nkind = "ccxt"\nexchange = "bn"\nbalance = 5\n', "balance", "unknown key"),
        (
            '[broker]\nkind = "ccxt"\nexchange = "bn"\napi_key_env = "xK9-pasted-key-7Qz"\n',
            "api_key_env",
            "expected the NAME of an environment variable",
        ),
    ],
)
def test_a_wrong_ccxt_broker_section_names_file_line_and_key(
    tmp_path: Path, section: str, key: str, message: str
) -> None:
    path = ccxt_project(tmp_path, section)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    text = str(info.value)
    line = line_of(path, key) if key != "kind" else line_of(path, "[broker]")
    assert message in text and PROJECT_FILE in text and f"line {line}" in text, text
    assert "xK9-pasted-key-7Qz" not in text  # a key pasted by mistake is never repeated
