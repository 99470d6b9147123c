"""pyarrow's CSV reader (issue 13) gives exactly what numpy's parser gave: the same columns for
every file numpy could read, and the same error message, word for word, for every file it could
not (or that a check refused).

The oracle is the reader before pyarrow, still in the module as ``load_csv(parser="numpy")``.
Files are sound week-long CSVs spoiled in seeded random ways: odd cells (quoted, padded, empty,
``NaN``, ``1_000``, hex...), wrong column counts, blank and whitespace lines, Windows newlines, a
byte-order mark, impossible candles, bad timestamps, bytes that are not UTF-8.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import numpy as np
import pytest

import engine.exchanges.csv_feed as csv_feed
from engine.exchanges.csv_feed import CsvFeedError, load_csv
from engine.model import MINUTE_MS

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HEADER = "timestamp_ms,open,high,low,close,volume"

ODD_CELLS = [
    "", " ", "nan", "NaN", "-nan", "inf", "-Infinity", "1e3", "1E-2", " 5", "5 ", '"5"', "'5'", "1_000", "0x10",
    "+5", ".5", "5.", "abc", "null", "NA", "N/A", "1.5e", "-", "1,5", "\t5", "５", "1.0.0", "0", "-0", "1e400",
]  # fmt: skip


def sound_rows(rng: random.Random, n: int) -> list[list[str]]:
    rows = []
    price = 42_000.0
    for i in range(n):
        o = price
        c = round(price + rng.uniform(-20, 20), 2)
        high, low = round(max(o, c) + rng.uniform(0, 5), 2), round(min(o, c) - rng.uniform(0, 5), 2)
        volume = rng.uniform(0, 9)
        rows.append([str(T0 + i * MINUTE_MS), f"{o:.2f}", f"{high:.2f}", f"{low:.2f}", f"{c:.2f}", f"{volume:.4f}"])
        price = c
    return rows


def spoil(rng: random.Random, rows: list[list[str]]) -> None:
    """One random spoiling of the rows, in place (none if the row picked is already too broken)."""
    if not rows:
        return
    i = rng.randrange(len(rows))
    with contextlib.suppress(IndexError, ValueError):  # e.g. a value spoiled before is no longer a number
        _spoil_row(rng, rows, i)


def _spoil_row(rng: random.Random, rows: list[list[str]], i: int) -> None:
    kind = rng.randrange(9)
    if kind == 0:
        rows[i][rng.randrange(6)] = rng.choice(ODD_CELLS)
    elif kind == 1:
        rows[i].append(rng.choice(["", "1.5"]))
    elif kind == 2:
        del rows[i][rng.randrange(6)]
    elif kind == 3:
        rows.insert(i, rng.choice([[""], [" "], ["\t"]]))  # a blank or whitespace line
    elif kind == 4:
        rows[i][2] = str(float(rows[i][3]) - 1)  # high below low
    elif kind == 5:
        rows[i][0] = rng.choice([str(int(rows[i][0]) // 1000), str(int(rows[i][0]) + 1), rows[i - 1][0], "-60000"])
    elif kind == 6:
        del rows[i]  # a gap (allowed or not)
    elif kind == 7:
        rows[i][rng.randrange(6)] = "\udcff"  # written as a lone byte that is not UTF-8
    else:
        rows[i][5] = "-" + rows[i][5]  # negative volume


def write(path: Path, rng: random.Random, rows: list[list[str]]) -> None:
    newline = rng.choice(["\n", "\r\n"])
    header = rng.choice([[HEADER], ["timestamp,open,high,low,close,volume"], [], ["", HEADER]])
    lines = header + [",".join(r) for r in rows]
    text = newline.join(lines) + rng.choice([newline, "", newline + newline])
    if rng.random() < 0.2:
        text = "\ufeff" + text
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))


def outcome(path: Path, parser: str, allow_gaps: bool):
    try:
        cols = load_csv(path, parser=parser, allow_gaps=allow_gaps)  # type: ignore[arg-type]
    except CsvFeedError as exc:
        return "error", str(exc)
    return "columns", cols


def assert_read_alike(path: Path, allow_gaps: bool) -> None:
    """Both readers give the same error text, or the same read-only columns."""
    kind_np, numpy_says = outcome(path, "numpy", allow_gaps)
    kind_pa, arrow_says = outcome(path, "arrow", allow_gaps)
    assert kind_pa == kind_np, (arrow_says, numpy_says)
    if kind_np == "error":
        assert arrow_says == numpy_says
        return
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        got, want = getattr(arrow_says, name), getattr(numpy_says, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
        assert not got.flags.writeable


@pytest.mark.parametrize("seed", range(150))
def test_arrow_and_numpy_read_every_file_alike(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rows = sound_rows(rng, rng.choice([1, 2, 50, 400]))
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        spoil(rng, rows)
    if not rows:
        rows = [[""]]
    path = tmp_path / "X.csv"
    write(path, rng, rows)
    allow_gaps = rng.random() < 0.3
    assert_read_alike(path, allow_gaps)


def test_many_digits_parse_to_the_same_floats(tmp_path: Path) -> None:
    """Both parsers round decimal text to the nearest double: checked on 20k long random numbers."""
    rng = np.random.default_rng(7)
    n = 20_000
    low = rng.uniform(1e-6, 1e6, n)
    high = low * (1 + rng.uniform(0, 0.1, n))
    mid = (low + high) / 2
    lines = [HEADER] + [
        f"{T0 + i * MINUTE_MS},{m!r},{h!r},{lo!r},{m:.17g},{v:.12e}"
        for i, (m, h, lo, v) in enumerate(zip(mid.tolist(), high.tolist(), low.tolist(), rng.uniform(0, 1e9, n)))
    ]
    path = tmp_path / "D.csv"
    path.write_text("\n".join(lines) + "\n")
    a, b = load_csv(path, parser="arrow"), load_csv(path, parser="numpy")
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_a_sound_file_never_reaches_numpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed comes from pyarrow alone: numpy's parser is not called for a sound file."""
    rows = sound_rows(random.Random(1), 300)
    path = tmp_path / "S.csv"
    path.write_text("\n".join([HEADER] + [",".join(r) for r in rows]) + "\n")

    def refuse(*_args):
        raise AssertionError("numpy's parser was used")

    monkeypatch.setattr(csv_feed, "_parse_fast", refuse)
    cols = load_csv(path)
    assert cols.timestamp.tolist() == [T0 + i * MINUTE_MS for i in range(300)]


def test_unknown_parser_is_named() -> None:
    with pytest.raises(CsvFeedError, match="parser must be 'arrow' or 'numpy', got 'pandas'"):
        load_csv("whatever.csv", parser="pandas")  # type: ignore[arg-type]


@pytest.mark.parametrize("column", range(6))
@pytest.mark.parametrize("cell", ODD_CELLS)
def test_every_odd_cell_in_every_column_reads_alike(tmp_path: Path, cell: str, column: int) -> None:
    rows = sound_rows(random.Random(column), 5)
    rows[3][column] = cell
    path = tmp_path / "C.csv"
    path.write_text("\n".join([HEADER] + [",".join(r) for r in rows]) + "\n")
    assert_read_alike(path, allow_gaps=False)
