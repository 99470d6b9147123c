"""Exceptions across the worker's pipe (console/host/errors.py): ``pack`` sends an exception as
itself when it makes the round trip, else a ``Packed`` look-alike; it tries each shape of
exception once, and every other shape each time."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading

import engine
from console.host import errors
from console.host.errors import Packed, pack, unpack


class TwoArgs(Exception):
    """Unpickling calls ``TwoArgs(message)``: it cannot come back whole."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


class Plain(Exception):
    pass


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def _count_tries(monkeypatch) -> list[int]:
    tries: list[int] = []
    dumps = errors.ForkingPickler.dumps

    def counting(obj, *args, **kw):
        tries.append(1)
        return dumps(obj, *args, **kw)

    monkeypatch.setattr(errors.ForkingPickler, "dumps", counting)
    return tries


def test_a_plain_shape_is_tried_once_and_then_sent_as_itself(monkeypatch) -> None:
    """Errors of one class with plain arguments and the engine's context and notes (a strategy
    that raises on every call): the first is tried, the rest go as they are."""
    monkeypatch.setattr(errors, "_ROUND_TRIPPED", set())
    tries = _count_tries(monkeypatch)
    ctx = engine.ErrorContext("BTCUSDT", "s", True, 1, "get_signal")
    sent = []
    for n in range(3):
        exc = _raised(Plain(f"bad day {n}"))
        engine.errors.annotate(exc, ctx, "while asking for a signal")
        sent.append(pack(exc))
    assert len(tries) == 1
    assert all(isinstance(s, Plain) for s in sent)
    back = pickle.loads(pickle.dumps(sent[2]))
    assert str(back) == "bad day 2" and engine.context_of(back) == ctx


def test_a_class_that_cannot_come_back_is_tried_and_described_every_time(monkeypatch) -> None:
    monkeypatch.setattr(errors, "_ROUND_TRIPPED", set())
    tries = _count_tries(monkeypatch)
    for _ in range(2):
        packed = pack(_raised(TwoArgs("bad", "day")))
        assert isinstance(packed, Packed)
        back = unpack(packed)
        assert type(back).__name__ == "TwoArgs" and str(back) == "bad day" and back.__traceback__ is not None
    assert len(tries) == 2


def test_another_shape_of_a_class_seen_is_tried_again(monkeypatch) -> None:
    """A class that made the trip with plain arguments does not vouch for an instance holding
    something else (a lock here: it does not pickle), nor for one chained to another error."""
    monkeypatch.setattr(errors, "_ROUND_TRIPPED", set())
    tries = _count_tries(monkeypatch)
    assert isinstance(pack(_raised(Plain("first"))), Plain)
    odd = _raised(Plain("second"))
    odd.lock = threading.Lock()  # type: ignore[attr-defined]
    packed = pack(odd)
    assert isinstance(packed, Packed) and "lock" not in packed.state
    try:
        try:
            raise KeyError("inner")
        except KeyError:
            raise Plain("outer")  # noqa: B904  chained on purpose
    except Plain as chained:
        assert pack(chained) is chained
    assert isinstance(pack(_raised(Plain("a", 1.5))), Plain)  # two arguments: its own shape
    assert len(tries) == 4


def test_the_worker_forwards_the_engines_notes_but_not_its_echo_of_a_published_error() -> None:
    """The error goes on its stream; its echo in the log (``error: ...``) would be dropped by the
    console's log book anyway, one record made and dropped an error."""
    from console.host.child import ForwardingLogger

    class Out:
        def __init__(self) -> None:
            self.items: list[tuple[str, object]] = []

        def add(self, kind: str, value: object) -> None:
            self.items.append((kind, value))

    out = Out()
    log = ForwardingLogger(out)  # type: ignore[arg-type]
    log.warning("get_candles BTCUSDT 15m: 13 of 14 candles")
    log.warning("error: KeyError('rsi14')")
    log.warning("exit: RuntimeError('gone')")
    log.info("error: an info note is not an echo")
    assert out.items == [
        ("log", ("warning", "get_candles BTCUSDT 15m: 13 of 14 candles")),
        ("log", ("info", "error: an info note is not an echo")),
    ]


SHAPES = """
import pickle, traceback
from multiprocessing.reduction import ForkingPickler

from tblib import pickling_support

from console.host import errors


def inner(n):
    raise ValueError(f"bad {n}")


def outer(n):
    inner(n)


def caught(n):
    try:
        outer(n)
    except ValueError as exc:
        return exc


pickling_support.install()
by_tblib = pickle.loads(pickle.dumps(caught(1)))  # each traceback as tblib's frames
errors.install()
first, second = (pickle.loads(ForkingPickler.dumps(caught(n))) for n in (1, 2))
assert traceback.format_exception(first) == traceback.format_exception(by_tblib)
assert first.__traceback__ is second.__traceback__  # built once, shared
assert str(second) == "bad 2" and traceback.extract_tb(second.__traceback__)[-1].name == "inner"
print("ok")
"""


def test_a_traceback_goes_as_its_shape_and_comes_back_as_tblib_built_it_once_for_all_alike() -> None:
    """In a fresh interpreter (``install`` changes how the process pickles): the traceback reads
    as tblib's did, line for line, and two errors raised along the same lines share one."""
    proc = subprocess.run([sys.executable, "-c", SHAPES], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok"]
