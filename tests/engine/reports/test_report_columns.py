"""Column configuration (SPEC 12.10, case 43) and table rendering (SPEC 12.1, case 35)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import config
from engine.reports import columns
from engine.reports.columns import ColumnConfigError, get_columns, get_default_columns, set_columns
from engine.reports.markdown import Column, render_table, write_report

LABELS = {
    "backtest_columns": [
        "Signal ID",
        "Symbol",
        "Position",
        "Note",
        "Open Price",
        "Close Price",
        "Take Profit",
        "Stop Loss",
        "PNL (net)",
        "Close Reason",
        "Duration (min)",
        "Open Time",
        "Close Time",
    ],
    "live_columns": [
        "Timestamp",
        "Action",
        "Symbol",
        "Signal ID",
        "Position",
        "Note",
        "Current Price",
        "Open Price",
        "Take Profit",
        "Stop Loss",
        "% to TP",
        "% to SL",
        "PNL (net)",
        "Close Reason",
        "Duration (min)",
    ],
    "schedule_columns": [
        "Timestamp",
        "Action",
        "Symbol",
        "Signal ID",
        "Position",
        "Note",
        "Current Price",
        "Entry Price",
        "Take Profit",
        "Stop Loss",
        "Wait Time (min)",
    ],
    "partial_columns": [
        "Action",
        "Symbol",
        "Strategy",
        "Signal ID",
        "Position",
        "Level %",
        "Current Price",
        "Timestamp",
        "Mode",
    ],
    "risk_columns": [
        "Symbol",
        "Strategy",
        "Signal ID",
        "Position",
        "Note",
        "Exchange",
        "Open Price",
        "Take Profit",
        "Stop Loss",
        "Current Price",
        "Active Positions",
        "Reason",
        "Timestamp",
    ],
    "heat_columns": [
        "Symbol",
        "Total PNL",
        "Sharpe",
        "PF",
        "Expect",
        "WR",
        "Avg Win",
        "Avg Loss",
        "Max DD",
        "W Streak",
        "L Streak",
        "Trades",
    ],
    "performance_columns": [
        "Metric Type",
        "Count",
        "Total (ms)",
        "Avg (ms)",
        "Min (ms)",
        "Max (ms)",
        "Std Dev (ms)",
        "Median (ms)",
        "P95 (ms)",
        "P99 (ms)",
        "Avg Wait (ms)",
        "Min Wait (ms)",
        "Max Wait (ms)",
    ],
    "walker_strategy_columns": [
        "Rank",
        "Strategy",
        "Metric",
        "Total Signals",
        "Win Rate",
        "Avg PNL",
        "Total PNL",
        "Sharpe Ratio",
        "Std Dev",
    ],
    "walker_pnl_columns": [
        "Strategy",
        "Signal ID",
        "Symbol",
        "Position",
        "PNL (net)",
        "Close Reason",
        "Open Time",
        "Close Time",
    ],
}


def good(key: str, label: str | None = None) -> dict:
    return {
        "key": key,
        "label": label or key.upper(),
        "format": lambda item, i: str(item),
        "is_visible": lambda: True,
    }


def test_default_labels_match_spec() -> None:
    defaults = get_default_columns()
    assert set(defaults) == set(LABELS)
    for name, labels in LABELS.items():
        assert [c.label for c in defaults[name]] == labels, name
        keys = [c.key for c in defaults[name]]
        assert len(keys) == len(set(keys)), name


def test_note_columns_follow_config_at_render_time() -> None:
    note_collections = {"backtest_columns", "live_columns", "schedule_columns", "risk_columns"}
    for name, cols in get_default_columns().items():
        notes = [c for c in cols if c.key == "note"]
        assert bool(notes) == (name in note_collections)
        assert all(not c.is_visible() for c in notes)
    config.set_config(CC_REPORT_SHOW_SIGNAL_NOTE=True)
    for name in note_collections:
        assert next(c for c in get_columns()[name] if c.key == "note").is_visible()


def test_render_table_structure() -> None:
    cols = [
        Column("a", "A", lambda item, i: item["a"]),
        Column("hidden", "Hidden", lambda item, i: "x", lambda: False),
        Column("i", "Index", lambda item, i: str(i)),
    ]
    table = render_table(cols, [{"a": "one"}, {"a": "two|three"}])
    assert table.split("\n") == [
        "| A | Index |",
        "| --- | --- |",
        "| one | 0 |",
        "| two\\|three | 1 |",
    ]
    assert render_table(cols, []) == "| A | Index |\n| --- | --- |"


def test_get_columns_returns_a_copy() -> None:
    got = get_columns()
    got["backtest_columns"].clear()
    got["heat_columns"] = []
    assert len(get_columns()["backtest_columns"]) == 13
    assert len(get_columns()["heat_columns"]) == 12
    defaults = get_default_columns()
    defaults["live_columns"].pop()
    assert len(get_default_columns()["live_columns"]) == 15


def test_set_columns_accepts_columns_dicts_and_objects_and_keeps_others() -> None:
    class Obj:
        key = "obj"
        label = "Obj"

        def format(self, item: object, index: int) -> str:
            return "o"

        def is_visible(self) -> bool:
            return True

    before = get_columns()
    set_columns({"heat_columns": [good("symbol", "Symbol"), Column("x", "X", lambda r, i: "x"), Obj()]})
    after = get_columns()
    assert [c.key for c in after["heat_columns"]] == ["symbol", "x", "obj"]
    assert all(isinstance(c, Column) for c in after["heat_columns"])
    for name in before:
        if name != "heat_columns":
            assert after[name] == before[name]
    set_columns(live_columns=[good("only")])
    assert [c.key for c in get_columns()["heat_columns"]] == ["symbol", "x", "obj"]
    assert [c.key for c in get_columns()["live_columns"]] == ["only"]
    columns.reset_columns()
    assert get_columns() == get_default_columns()


def test_set_columns_aggregates_every_problem_and_rolls_back() -> None:
    before = get_columns()
    bad_backtest = [
        good("ok"),
        {"label": "No key", "format": lambda r, i: "", "is_visible": lambda: True},  # 1 missing key
        {"key": "", "label": "Empty", "format": lambda r, i: "", "is_visible": lambda: True},  # 2
        {"key": "num", "label": 5, "format": lambda r, i: "", "is_visible": lambda: True},  # 3
        {"key": "fmt", "label": "F", "format": "nope", "is_visible": lambda: True},  # 4
        {"key": "vis", "label": "V", "format": lambda r, i: "", "is_visible": True},  # 5
        {"key": "camel", "label": "C", "format": lambda r, i: "", "isVisible": lambda: True},  # 6
        good("ok"),  # 7 duplicate
        "not a column",  # 8
        {"key": "nolabel", "format": lambda r, i: "", "is_visible": lambda: True},  # 9
    ]
    with pytest.raises(ColumnConfigError) as info:
        set_columns(
            {"backtest_columns": bad_backtest, "heat_columns": [good("fine")]},
            live_columns="not a list",
            bogus_columns=[],
        )
    problems = info.value.problems
    text = str(info.value)
    assert isinstance(info.value, ValueError)
    expected_fragments = [
        "backtest_columns[1]: missing field 'key'",
        "backtest_columns[2]: 'key' must be a non-empty string",
        "backtest_columns[3]: 'label' must be a non-empty string, got 5",
        "backtest_columns[4]: 'format' must be callable",
        "backtest_columns[5]: 'is_visible' must be callable",
        "backtest_columns[6]: missing field 'is_visible' (found 'isVisible'",
        "backtest_columns[7]: duplicate key 'ok' (first used at index 0)",
        "backtest_columns[8]: expected a Column or a mapping, got str",
        "backtest_columns[9]: missing field 'label'",
        "live_columns: expected a list of columns, got str",
        "bogus_columns: unknown column collection",
    ]
    for fragment in expected_fragments:
        assert any(fragment in p for p in problems), fragment
        assert fragment in text
    assert len(problems) == len(expected_fragments)
    # nothing changed, not even the valid heat_columns update
    assert get_columns() == before


def test_set_columns_unsafe_skips_validation_but_not_names() -> None:
    set_columns({"partial_columns": [good("dup"), good("dup")]}, unsafe=True)
    assert [c.key for c in get_columns()["partial_columns"]] == ["dup", "dup"]
    with pytest.raises(ColumnConfigError):
        set_columns({"nope": []}, unsafe=True)
    with pytest.raises(ColumnConfigError):
        set_columns({"risk_columns": "x"}, unsafe=True)


def test_write_report(tmp_path) -> None:
    target = tmp_path / "dump" / "backtest" / "s.md"
    assert write_report(target, "# T\nline") == target
    assert target.read_text(encoding="utf-8") == "# T\nline"
    write_report(target, "again")
    assert target.read_text(encoding="utf-8") == "again"
    assert [p.name for p in target.parent.iterdir()] == ["s.md"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="ab|\n\r \\", max_size=6), min_size=3, max_size=3), max_size=6))
def test_render_table_escapes_exactly_the_cells_that_need_it(rows: list[list[str]]) -> None:
    """The table escapes per cell only when the row holds a "|" or a line break (issue 13: the
    check per cell was a sizeable part of rendering 5,264 rows); it must equal escaping every cell."""
    from engine.reports.markdown import escape_cell

    cols = [Column(f"c{j}", f"C{j}", lambda r, i, j=j: r[j]) for j in range(3)]
    expected = ["| C0 | C1 | C2 |", "| --- | --- | --- |"]
    expected += ["| " + " | ".join(escape_cell(c) for c in row) + " |" for row in rows]
    assert render_table(cols, rows) == "\n".join(expected)
