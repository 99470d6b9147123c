"""The worker's messages on its pipe (console/host/wire.py): pickled with their numpy columns out of
band, written as parts, read into one buffer; what comes out equals what went in, whatever the
arrays' layout, and a message the pipe took only part of is written whole and as it was sent."""

from __future__ import annotations

import socket
import threading
from multiprocessing import Pipe
from multiprocessing.connection import Connection

import numpy as np
import pytest

from console.host import child, wire


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    grid = rng.normal(size=(40, 6))
    return {
        "c": grid,
        "f": np.asfortranarray(grid),
        "strided": grid[:, ::2],  # not contiguous: pickled in band
        "rows": grid[5:9],
        "ints": np.arange(17, dtype=np.int64),
        "bools": np.array([True, False, True]),
        "empty": np.empty((0, 3)),
        "scalar": np.array(2.5),
        "int8": np.array([0, 1, 2], dtype=np.int8),
    }


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a
    )


def test_a_message_comes_back_equal_with_its_columns_read_from_the_body() -> None:
    arrays = _arrays()
    message = ("batch", [("trades", arrays), ("log", ("info", "é ok")), ("raw", b"\x00\x80B")], None)
    frame, body = wire.encode(message)
    # the contiguous arrays go out of band as views of their own memory (no copy in the worker)
    contiguous = [a for a in arrays.values() if (a.flags.c_contiguous or a.flags.f_contiguous) and a.size]
    assert len(body) - 2 >= len(contiguous)
    assert any(np.shares_memory(np.frombuffer(part, dtype=np.uint8), arrays["c"]) for part in body[2:])
    whole = bytearray(wire.joined(body))
    assert int.from_bytes(frame, "big") == len(whole)
    kind, items, status = wire.decode(whole)
    assert kind == "batch" and status is None and items[1:] == message[1][1:]
    back = items[0][1]
    assert _same(back, arrays)
    assert back["f"].flags.f_contiguous and back["c"].flags.c_contiguous
    assert np.shares_memory(back["c"], np.frombuffer(whole, dtype=np.uint8))  # read in place


def test_a_message_of_more_buffers_than_one_write_takes_goes_joined() -> None:
    many = [np.full(3, float(k)) for k in range(wire.MAX_PARTS + 5)]
    _, body = wire.encode(("batch", many, "s"))
    assert len(body) == 1
    assert [a.tolist() for a in wire.decode(body[0])[1]] == [a.tolist() for a in many]


def test_a_broken_body_says_so() -> None:
    _, body = wire.encode(("batch", [np.arange(10.0)], None))
    whole = wire.joined(body)
    with pytest.raises(ValueError, match="frame is broken"):
        wire.decode(whole + b"extra")


def test_frames_and_plain_messages_share_the_pipe_and_end_with_eof() -> None:
    """The worker says ``ready`` with a plain ``Connection.send``; the console reads both kinds."""
    ours, theirs = socket.socketpair()
    worker, console = Connection(ours.detach()), Connection(theirs.detach())
    worker.send(("ready",))
    out = child.Outbox(worker)  # no writer: each message whole through the connection
    arrays = _arrays()
    out.send(("batch", [("trades", arrays)], "status"))
    assert wire.receive(console) == ("ready",)
    got = wire.receive(console)
    assert got[2] == "status" and _same(got[1][0][1], arrays)
    worker.close()
    with pytest.raises(EOFError):
        wire.receive(console)


def test_what_the_pipe_took_in_part_arrives_whole_and_as_it_was_when_sent() -> None:
    """Messages of a few MB of columns, far more than the pipe holds while nobody reads: the first
    is written in part by ``send`` and the rest by the writer, the others by the writer. The rest
    was joined when it was handed over, so the engine changing its arrays after ``send`` (as it
    may, once ``send`` returned) changes nothing of what arrives."""
    ours, theirs = Pipe()
    out = child.Outbox(ours)
    out.start_writer()
    room = out.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    columns = [np.arange(room // 8 + 1000, dtype=np.float64) + n for n in range(4)]
    for n, column in enumerate(columns):
        out.send(("batch", [("trades", column)], n))
        column[:] = -1.0  # the engine's memory moves on
    assert out.handed == 4 and out.now_count == 0  # the first in part, then the writer
    got: list[tuple] = []
    reader = threading.Thread(target=lambda: got.extend(wire.receive(theirs) for _ in range(4)))
    reader.start()
    out.close()
    reader.join()
    assert [m[2] for m in got] == [0, 1, 2, 3]
    for n, m in enumerate(got):
        assert np.array_equal(m[1][0][1], np.arange(room // 8 + 1000, dtype=np.float64) + n)
