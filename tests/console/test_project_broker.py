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
