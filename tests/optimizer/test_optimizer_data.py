"""SPEC 13.2 counting rules of Optimizer.get_data, get_code and dump (docs/behaviour.md 13.2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import engine
from engine.llm import LlmSettings
from engine.optimizer import PAGE_SIZE, OptimizerDataError

R1 = {"start_date": "2024-01-01", "end_date": "2024-01-02", "note": "first"}
R2 = {"start_date": "2024-01-02", "end_date": "2024-01-03"}
TEST = {"start_date": "2024-01-03", "end_date": "2024-01-04"}


def rows_source(count: int, calls: list | None = None, *, overlap: int = 0):
    """A fetch with ``count`` rows, honouring limit/offset; ``overlap`` repeats rows across pages."""

    async def fetch(symbol, start_date, end_date, limit, offset):
        if calls is not None:
            calls.append((symbol, start_date, end_date, limit, offset))
        start = max(offset - overlap, 0)
        return [{"id": i, "close": 100 + i} for i in range(start, min(offset + limit, count))]

    return fetch


def echo_prompt(log: list | None = None):
    def get_prompt(symbol, messages):
        if log is not None:
            log.append((symbol, len(messages)))
        return f"strategy for {symbol} after {len(messages)} messages"

    return get_prompt


async def test_entries_are_ranges_times_sources_with_accumulated_messages():
    prompts: list = []
    engine.add_optimizer(
        "opt",
        [R1, R2],
        TEST,
        [{"name": "a", "fetch": rows_source(3)}, {"name": "b", "fetch": rows_source(2)}, rows_source(1)],
        echo_prompt(prompts),
    )
    entries = await engine.Optimizer.get_data("BTCUSDT", "opt")
    assert len(entries) == 2 * 3
    assert [e.name for e in entries] == ["a", "b", "unknown"] * 2
    assert [len(e.messages) for e in entries] == [2, 4, 6, 2, 4, 6]  # fresh list per range
    assert prompts == [("BTCUSDT", n) for n in (2, 4, 6, 2, 4, 6)]
    assert entries[4].strategy == "strategy for BTCUSDT after 4 messages"
    assert entries[0].range.note == "first" and entries[3].range.start_date == datetime(2024, 1, 2, tzinfo=UTC)
    roles = [m.role for m in entries[2].messages]
    assert roles == ["user", "assistant"] * 3
    assert entries[0].messages[1].content == "OK"
    head, body = entries[0].messages[0].content.split("\n\n", 1)
    assert head == "Read the market data below and answer OK."
    assert json.loads(body) == [{"id": i, "close": 100 + i} for i in range(3)]


async def test_pages_of_25_until_a_short_page():
    calls: list = []
    engine.add_optimizer("opt", [R1], TEST, [rows_source(60, calls)], echo_prompt())
    entries = await engine.Optimizer.get_data("ETHUSDT", "opt")
    assert [(c[3], c[4]) for c in calls] == [(25, 0), (25, 25), (25, 50)]
    assert calls[0][:3] == ("ETHUSDT", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    assert len(json.loads(entries[0].messages[0].content.split("\n\n", 1)[1])) == 60


async def test_an_exact_multiple_of_25_needs_one_empty_page():
    calls: list = []
    engine.add_optimizer("opt", [R1], TEST, [rows_source(2 * PAGE_SIZE, calls)], echo_prompt())
    await engine.Optimizer.get_data("X", "opt")
    assert [c[4] for c in calls] == [0, 25, 50]


async def test_duplicate_ids_are_dropped_first_row_wins():
    seen: list = []

    async def on_source_data(symbol, name, rows, start, end):
        seen.append([r["id"] for r in rows])

    engine.add_optimizer(
        "opt", [R1], TEST, [rows_source(40, overlap=5)], echo_prompt(), callbacks={"on_source_data": on_source_data}
    )
    await engine.Optimizer.get_data("X", "opt")
    assert seen == [list(range(40))]


async def test_progress_before_each_source_and_once_at_one():
    events: list = []
    engine.listen_optimizer_progress(events.append)
    engine.add_optimizer("opt", [R1, R2], TEST, [rows_source(1), rows_source(1)], echo_prompt())
    await engine.Optimizer.get_data("X", "opt")
    assert [(e.processed_sources, e.total_sources, e.progress) for e in events] == [
        (0, 4, 0.0),
        (1, 4, 0.25),
        (2, 4, 0.5),
        (3, 4, 0.75),
        (4, 4, 1.0),
    ]
    assert {(e.optimizer_name, e.symbol) for e in events} == {("opt", "X")}


async def test_callbacks_are_awaited_in_order(tmp_path):
    order: list = []

    async def on_source_data(symbol, name, rows, start, end):
        order.append(("source", name, start.day))

    async def on_data(symbol, entries):
        order.append(("data", len(entries)))

    def on_code(symbol, code):  # a plain function works too
        order.append(("code", "ENTRIES" in code))

    async def on_dump(symbol, path):
        order.append(("dump", path.endswith("opt_X.py")))

    engine.add_optimizer(
        "opt",
        [R1, R2],
        TEST,
        [{"name": "a", "fetch": rows_source(1)}],
        echo_prompt(),
        callbacks={"on_source_data": on_source_data, "on_data": on_data, "on_code": on_code, "on_dump": on_dump},
    )
    target = await engine.Optimizer.dump("X", "opt", tmp_path / "out")
    assert target == tmp_path / "out" / "opt_X.py" and target.is_file()
    assert order == [("source", "a", 1), ("source", "a", 2), ("data", 2), ("code", True), ("dump", True)]


async def test_custom_user_and_assistant_messages_and_prompt_bounds():
    settings = LlmSettings(max_rows_per_source=3, max_message_chars=200)
    engine.add_optimizer(
        "opt",
        [R1],
        TEST,
        [
            rows_source(10),
            {
                "name": "custom",
                "fetch": rows_source(2),
                "user": lambda symbol, rows, name: f"{name}:{len(rows)}:" + "x" * 500,
                "assistant": lambda symbol, rows, name: f"seen {len(rows)}",
            },
        ],
        echo_prompt(),
    )
    entries = await engine.Optimizer.get_data("X", "opt", settings=settings)
    default_user = entries[0].messages[0].content
    assert json.loads(default_user.split("\n\n", 1)[1].split("\n")[0]) == [
        {"id": i, "close": 100 + i} for i in range(3)
    ]
    assert default_user.endswith("(7 more rows left out)")
    custom = entries[1].messages[2].content
    assert (
        len(custom) == 200 and custom.startswith("custom:2:x") and custom.endswith("[cut: 200 of 509 characters shown]")
    )
    assert entries[1].messages[3].content == "seen 2"


async def test_an_unknown_optimizer_names_the_registered_ones():
    engine.add_optimizer("known", [R1], TEST, [rows_source(1)], echo_prompt())
    with pytest.raises(engine.NotFoundError, match=r"optimizer nope not found .*registered: known"):
        await engine.Optimizer.get_data("X", "nope")


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("text", "fetch must return a list of rows, got str"),
        ([{"close": 1}], "row 0 is not a mapping with an 'id'"),
        ([{"id": [1]}], "row 0 has an id that cannot be compared"),
    ],
)
async def test_bad_rows_say_which_source_and_row(page, message):
    engine.add_optimizer("opt", [R1], TEST, [{"name": "feed", "fetch": lambda **kw: page}], echo_prompt())
    with pytest.raises(OptimizerDataError, match=f"optimizer opt: source feed: {message}"):
        await engine.Optimizer.get_data("X", "opt")


async def test_a_fetch_ignoring_offset_is_an_error_not_an_endless_loop():
    engine.add_optimizer("opt", [R1], TEST, [lambda **kw: [{"id": i} for i in range(25)]], echo_prompt())
    with pytest.raises(OptimizerDataError, match="full page at offset 25 held only rows already seen"):
        await engine.Optimizer.get_data("X", "opt")


async def test_get_prompt_must_return_text():
    engine.add_optimizer("opt", [R1], TEST, [rows_source(1)], lambda symbol, messages: 42)
    with pytest.raises(OptimizerDataError, match="get_prompt must return a string, got int"):
        await engine.Optimizer.get_data("X", "opt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer_name": ""}, "optimizer schema: optimizer_name must be a non-empty string"),
        ({"range_train": []}, "optimizer o: range_train must not be empty"),
        ({"range_train": [{"start_date": "2024-01-02", "end_date": "2024-01-01"}]}, r"range_train\[0\] ends"),
        ({"range_train": [{"start": "2024-01-01"}]}, r"range_train\[0\] has unknown key\(s\) start"),
        ({"range_test": "2024-01-01"}, "range_test must be {start_date, end_date, note.} or"),
        ({"source": []}, "source must not be empty"),
        ({"source": [42]}, r"source\[0\] must be a fetch function or"),
        ({"source": [{"name": "s"}]}, r"source\[0\] \(s\) has no fetch function"),
        ({"source": [{"fetch": print, "usr": print}]}, r"source\[0\] has unknown key\(s\) usr"),
        ({"get_prompt": "text"}, "get_prompt must be callable, got str"),
        ({"template": {"strategy_kind": "magic"}}, "strategy_kind must be one of ask_llm, code"),
        ({"template": {"metric": "luck"}}, "template metric must be one of sharpe_ratio"),
        ({"template": {"exchange": {"kind": "ftx"}}}, "template exchange must be a mapping with kind one of"),
        ({"template": {"exchange": {"kind": "ccxt"}}}, r"template exchange \(ccxt\) needs exchange_id"),
        ({"template": {"prefix": "1bad"}}, "template prefix must be a letter"),
        ({"template": {"colour": 1}}, r"template has unknown key\(s\) colour"),
        ({"callbacks": {"on_code": 1}}, "callback on_code must be callable"),
        ({"callbacks": {"on_finish": print}}, r"unknown callback\(s\) on_finish"),
    ],
)
def test_registration_errors_name_the_optimizer_and_the_field(kwargs, message):
    args = {
        "optimizer_name": "o",
        "range_train": [R1],
        "range_test": TEST,
        "source": [rows_source(1)],
        "get_prompt": echo_prompt(),
        **kwargs,
    }
    with pytest.raises(engine.SchemaError, match=message):
        engine.add_optimizer(**args)
    assert engine.list_optimizers() == []


def test_duplicate_and_listing():
    schema = engine.add_optimizer("o", [R1, (R2["start_date"], R2["end_date"])], TEST, [rows_source(1)], echo_prompt())
    assert engine.list_optimizers() == [schema]
    assert schema.range_train[1].end_date == datetime(2024, 1, 3, tzinfo=UTC)
    with pytest.raises(engine.DuplicateError, match="optimizer o already exist"):
        engine.add_optimizer("o", [R1], TEST, [rows_source(1)], echo_prompt())
