"""The worker's messages on its pipe to the console: pickled with protocol 5, their large buffers
(a batch's numpy columns) out of band.

A frame is what ``multiprocessing``'s ``Connection.send_bytes`` writes, a big-endian length (4
bytes; -1 and 8 bytes past 2 GiB) and then the body, so ``Connection.poll`` and a plain
``Connection.send`` (the worker's ``("ready",)``) share the pipe with it. Its body:

    b"B" | u32 count | u64 pickle length | count x u64 buffer lengths | pickle | buffer 1 | ...

Pickled in band, a batch's columns (~5 MB a run on the engine benchmark) were copied three times in
the worker, on the run's critical path: into bytes by the array's reduction, into the pickler's
file, and with the frame's length in front of them; and twice more in the console's reader. Here
the worker hands the frame as its parts to one ``sendmsg`` (the kernel copies them once), and the
console reads a body into one ``bytearray`` and unpickles the columns as slices of it.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from .fast_pickle import rebuild  # noqa: F401  the worker's pickles name it (``decode``)

__all__ = ["MAX_PARTS", "Frames", "decode", "encode", "joined", "receive"]

MARK = b"B"
"""The first byte of a body framed here; a plain ``Connection.send`` body is a pickle (``\\x80``)."""

MAX_PARTS = 512
"""Parts one ``sendmsg`` takes at most (the system's limit is ``IOV_MAX``, 1,024 on Linux): a
message with more buffers goes as one joined bytes object."""

_SHORT = 0x7FFFFFFF  # the largest body the 4-byte length frames (Connection's rule)


def encode(message: Any) -> tuple[bytes, list[memoryview | bytes]]:
    """``message`` framed: the frame's length, and the body's parts (its head, the pickle, then
    each out-of-band buffer). Raises what pickling raises. The buffers are views of the objects'
    own memory (no copy): a caller that keeps the parts past the moment it writes them joins them
    first (``joined``)."""
    buffers: list[pickle.PickleBuffer] = []
    file = io.BytesIO()
    ForkingPickler(file, 5, True, buffers.append).dump(message)
    data = file.getbuffer()
    raws = [b.raw() for b in buffers]
    head = struct.pack(f"!cIQ{len(raws)}Q", MARK, len(raws), len(data), *(r.nbytes for r in raws))
    size = len(head) + len(data) + sum(r.nbytes for r in raws)
    frame = struct.pack("!i", size) if size <= _SHORT else struct.pack("!iQ", -1, size)
    body: list[memoryview | bytes] = [head, data, *raws]
    if len(body) >= MAX_PARTS:
        return frame, [joined(body)]
    return frame, body


def joined(parts: list[memoryview | bytes]) -> bytes:
    """The parts as one bytes object (a copy: it holds nothing of the objects)."""
    return b"".join(parts)


def decode(body: bytes | bytearray) -> Any:
    """The message a body holds, its columns reading the body's memory (read-only from bytes).
    The worker's pickles name ``fast_pickle.rebuild``: its module is imported with this one, not
    by the first message's unpickling (2 ms of the console's, as a run starts)."""
    if body[:1] != MARK:  # a plain Connection.send
        return ForkingPickler.loads(body)
    count, length = struct.unpack_from("!IQ", body, 1)
    sizes = struct.unpack_from(f"!{count}Q", body, 13)
    view = memoryview(body)
    at = 13 + 8 * count
    data = view[at : at + length]
    at += length
    buffers = []
    for size in sizes:
        buffers.append(view[at : at + size])
        at += size
    if at != len(body):
        raise ValueError(f"a worker's message of {len(body)} bytes holds {at}: its frame is broken")
    return pickle.loads(data, buffers=buffers)


def receive(conn: Connection) -> Any:
    """The next message the worker sent, waiting for it (what ``Connection.recv`` was for a plain
    pickle); EOFError once the pipe is closed. Read by ``Frames``, as the console's loop reads."""
    frames, fd = Frames(), conn.fileno()
    while True:
        n = os.readv(fd, [frames.room()])
        if n == 0:
            raise EOFError("the worker's pipe closed")
        body = frames.took(n)
        if body is not None:
            return decode(body)


class Frames:
    """Frames read as the pipe has bytes for them, without waiting (the console's event loop reads
    a worker's pipe when it is readable): ``room`` is where the next bytes go, ``took`` says how
    many came and gives a body once a whole one is in."""

    __slots__ = ("_body", "_buf", "_view")

    def __init__(self) -> None:
        self._expect_length(4)

    def _expect_length(self, size: int) -> None:
        self._body = False
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)

    def room(self) -> memoryview:
        return self._view

    def took(self, n: int) -> bytearray | None:
        self._view = self._view[n:]
        if self._view:
            return None
        buf = self._buf
        if self._body:
            self._expect_length(4)
            return buf
        size = struct.unpack("!i", buf)[0] if len(buf) == 4 else struct.unpack("!Q", buf)[0]
        if size == -1:  # a body past 2 GiB: its length follows in 8 bytes
            self._expect_length(8)
            return None
        self._body = True
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        if not size:
            return self.took(0)
        return None
