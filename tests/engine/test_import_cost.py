"""``import engine`` stays light: pyarrow (the CSV reader, writing the catalog, reading a catalog file
without its stamp) is loaded when first used, not by every backtest that needs none of them (it
costs ~27 MB of memory and ~50 ms of a fresh process's start)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_does_not_load_pyarrow() -> None:
    code = (
        "import sys, tempfile, engine; print('pyarrow' in sys.modules); cat = engine.Catalog(tempfile.mkdtemp()); "
        "print('pyarrow' in sys.modules); from engine.data.imports import import_synthetic; "
        "import_synthetic(cat, 'x', 'BTCUSDT', 1_704_067_200_000, 1_704_067_800_000); print('pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True"]  # writing a file needs it
