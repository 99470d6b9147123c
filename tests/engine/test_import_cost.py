"""``import engine`` stays light: pyarrow (the CSV reader, the catalog) is loaded when first used,
not by every backtest that reads neither (it costs ~27 MB of memory)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_does_not_load_pyarrow() -> None:
    code = "import sys, engine; print('pyarrow' in sys.modules); engine.Catalog; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
