"""The event bus: ordered awaited delivery, once-listeners, filters, reactivex interop (SPEC 1.8)."""

from __future__ import annotations

import asyncio

import pytest
import reactivex.operators as ops

import engine as e
from engine import events


async def test_listeners_are_called_in_subscription_order_and_async_ones_are_awaited() -> None:
    seen: list[tuple[str, int]] = []

    async def slow(v: int) -> None:
        await asyncio.sleep(0)
        seen.append(("async", v))

    events.signal.listen(lambda v: seen.append(("first", v)))
    events.signal.listen(slow)
    events.signal.listen(lambda v: seen.append(("last", v)))
    await events.signal.emit(1)
    await events.signal.emit(2)
    assert seen == [("first", 1), ("async", 1), ("last", 1), ("first", 2), ("async", 2), ("last", 2)]


async def test_an_async_listener_never_runs_two_calls_at_once_even_with_concurrent_emitters() -> None:
    running = 0
    peak = 0
    order: list[int] = []

    async def listener(v: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        order.append(v)
        running -= 1

    events.signal.listen(listener)
    await asyncio.gather(*(events.signal.emit(k) for k in range(5)))
    assert peak == 1
    assert order == [0, 1, 2, 3, 4]


async def test_a_raising_listener_does_not_starve_the_others_and_the_error_reaches_the_emitter() -> None:
    got: list[int] = []

    def bad(v: int) -> None:
        raise ValueError("listener bug")

    events.signal.listen(bad)
    events.signal.listen(got.append)
    with pytest.raises(ValueError, match="listener bug"):
        await events.signal.emit(7)
    assert got == [7]


async def test_once_fires_for_the_first_match_only_and_unsubscribes() -> None:
    got: list[int] = []
    e.listen_signal_once(lambda v: v > 2, got.append)
    for v in range(6):
        await events.signal.emit(v)
    assert got == [3]
    assert not events.signal.has_subscribers()


async def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    got: list[int] = []
    unsubscribe = e.listen_signal(got.append)
    await events.signal.emit(1)
    unsubscribe()
    unsubscribe()
    await events.signal.emit(2)
    assert got == [1]


async def test_action_filters_declare_interest_so_the_engine_can_skip_idle_frames() -> None:
    assert not events.signal.subscribers_want("idle")
    unsubscribe = e.listen_signal(lambda r: None, actions=("closed",))
    assert events.signal.subscribers_want("closed")
    assert not events.signal.subscribers_want("idle")
    unsubscribe()
    e.listen_signal(lambda r: None)
    assert events.signal.subscribers_want("idle")


async def test_reactivex_operators_work_on_the_streams() -> None:
    got: list[int] = []
    events.signal.pipe(ops.filter(lambda v: v % 2 == 0), ops.map(lambda v: v * 10)).subscribe(got.append)
    for v in range(5):
        await events.signal.emit(v)
    assert got == [0, 20, 40]


async def test_next_waits_for_the_next_matching_value() -> None:
    waiter = asyncio.ensure_future(events.signal.next(lambda v: v == "b"))
    await asyncio.sleep(0)
    await events.signal.emit("a")
    await events.signal.emit("b")
    assert await waiter == "b"
    assert not events.signal.has_subscribers()


async def test_a_failing_error_listener_never_breaks_a_run() -> None:
    def bad_error_listener(exc: BaseException) -> None:
        raise RuntimeError("broken error handler")

    e.listen_error(bad_error_listener)
    await events.report_error(ValueError("something"))  # must not raise


def test_listen_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="expected a callable"):
        e.listen_signal(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the reactivex face


async def test_a_reactivex_subscriber_takes_its_turn_in_subscription_order_behind_an_awaited_listener() -> None:
    seen: list[str] = []

    async def slow(v: int) -> None:
        await asyncio.sleep(0)
        seen.append(f"async {v}")

    events.signal.listen(lambda v: seen.append(f"first {v}"))
    events.signal.listen(slow)
    events.signal.pipe(ops.map(lambda v: v * 10)).subscribe(lambda v: seen.append(f"rx {v}"))
    events.signal.listen(lambda v: seen.append(f"last {v}"))
    await events.signal.emit(1)
    assert seen == ["first 1", "async 1", "rx 10", "last 1"]


async def test_a_piped_subscription_declares_interest_in_every_action_until_disposed() -> None:
    assert not events.signal.wants("idle")
    subscription = events.signal.pipe(ops.filter(lambda r: True)).subscribe(lambda r: None)
    assert events.signal.has_subscribers()
    assert events.signal.wants("idle")
    assert events.signal.subscribers_want("closed")
    subscription.dispose()
    subscription.dispose()  # disposing twice is harmless
    assert not events.signal.has_subscribers()
    assert not events.signal.wants("idle")


async def test_an_operator_that_completes_unsubscribes_itself_from_the_stream() -> None:
    got: list[list[int]] = []
    completed: list[bool] = []
    events.signal.pipe(ops.buffer_with_count(2), ops.take(2)).subscribe(
        got.append, on_completed=lambda: completed.append(True)
    )
    for v in range(6):
        await events.signal.emit(v)
    assert got == [[0, 1], [2, 3]]
    assert completed == [True]
    assert not events.signal.has_subscribers()


async def test_an_observable_can_be_awaited_for_its_first_matching_value() -> None:
    async def first_big() -> int:
        return await events.signal.pipe(ops.filter(lambda v: v > 1), ops.first())

    waiter = asyncio.ensure_future(first_big())
    await asyncio.sleep(0)
    for v in range(4):
        await events.signal.emit(v)
    assert await waiter == 2
    assert not events.signal.has_subscribers()


async def test_a_raising_reactivex_subscriber_reaches_the_emitter_but_an_operators_failure_goes_to_on_error() -> None:
    got: list[int] = []
    failures: list[BaseException] = []
    events.signal.pipe(ops.map(lambda v: 1 // v)).subscribe(on_error=failures.append)  # 1 // 0 fails inside
    events.signal.subscribe(lambda v: [][v])  # a subscriber's own bug
    events.signal.listen(got.append)
    with pytest.raises(IndexError):
        await events.signal.emit(0)
    assert got == [0]  # the listener after it still had the value
    assert len(failures) == 1 and isinstance(failures[0], ZeroDivisionError)  # the pipeline ends with an error


def test_emit_soon_without_an_event_loop_reaches_reactivex_subscribers_and_hooks() -> None:
    got: list[int] = []
    events.signal.pipe(ops.map(lambda v: v + 1)).subscribe(got.append)
    events.signal.emit_soon(41)
    assert got == [42]
