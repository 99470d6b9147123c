"""The candles a sweep prepares once for its workers (engine/research/shared.py): written to an
Arrow file and mapped back as the very columns the exchange gave, without importing pandas (pyarrow's
``pa.array``/``pa.table`` do: ~0.4 CPU s at the start of every sweep)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
from pathlib import Path
import numpy as np
import engine as e
from engine.research.shared import prepare_shared, read_shared
from engine.registry import exchanges

e.add_synthetic_exchange("synthetic", seed=5)
t0 = 1_704_067_200_000
shared = prepare_shared("synthetic", ("BTCUSDT", "ETH/USDT"), t0, t0 + 2 * 86_400_000, Path(sys.argv[1]))
mapped = read_shared(shared).columns
source = exchanges.get("synthetic", "test").columns
same = []
for symbol in ("BTCUSDT", "ETH/USDT"):
    cols = source.columns(symbol, "1m", t0, t0 + 2 * 86_400_000)
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        a, b = getattr(cols, name), mapped[symbol][name]
        same.append(a.dtype == b.dtype and np.array_equal(a, b) and not b.flags.writeable)
print(len(mapped["BTCUSDT"]["close"]), all(same), "pandas" in sys.modules)
"""


def test_prepared_candles_are_the_exchanges_own_and_need_no_pandas(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["2880", "True", "False"]
