"""The session's log book: every error with where it came from, feed warnings and live ticks.

Plain data, no Textual (the log viewer, ``console/screens/logs.py``, draws it). Why a book apart
from the Signals pane's lines: that pane shows one cut line per error; a trader hunting a bug in
their strategy needs its type, the file and line it was raised at and the whole traceback (issue 14
item 7, "Log viewer"). Entries are kept newest last, up to ``LOG_BOOK_ENTRIES``; a count per run
and kind survives the cut, so "12 errors" stays true after the oldest entries are dropped.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import threading
import traceback
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import ClassVar, Literal

import engine

LOG_BOOK_ENTRIES = 5000

EntryKind = Literal["ERROR", "WARNING", "INFO", "TICK"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the book: a warning, a note, a live tick. An error of a run is an
    ``ErrorEntry``, read by the same names; here ``where`` and ``detail`` stay empty."""

    seq: int
    time: int | None  # ms: the moment it was about (a run's simulated time), None when unknown
    kind: EntryKind
    run: str  # run id, or "" for a message of the engine that names no run
    text: str  # one line: for an error, engine.describe_error's (type, file:line, function)
    where: str = ""  # an error's strategy file and line ("strategies/rsi.py:14"), when it has one
    detail: str = ""
    repeats: int = 1  # how many warnings of this shape it stands for (``LogBook.note``)
    last: str = ""  # the text of the newest of them, when there is more than one

    def matches(self, words: Iterable[str]) -> bool:
        """Every word (lower case) appears somewhere in the entry: kind, run, text (and its last
        repeat's), where or traceback."""
        hay = f"{self.kind} {self.run} {self.text} {self.last} {self.where} {self.detail}".lower()
        return all(w in hay for w in words)


class ErrorEntry:
    """An error as the book keeps it: its exception, and what the log viewer shows of it (the
    line of ``engine.describe_error``, the file and line ``engine.origin`` finds, the traceback)
    worked out the first time they are read, as the log viewer draws or searches the entry. A
    strategy that raises on every call sends ~35,000 errors a year at 15m; each traceback
    formatted as it came (Python 3.11 also parses each frame's line for its carets) took the
    console ~14 s of a run that takes 0.6 s headless, for a book that shows the newest few
    thousand when asked. The exception's frames of plain functions drop their local variables
    (``_drop_locals``): a kept traceback holds every frame it passed through, and their locals
    could be a run's arrays."""

    __slots__ = ("_shown", "exc", "run", "seq", "time")

    kind: ClassVar[EntryKind] = "ERROR"
    repeats: ClassVar[int] = 1  # each error is an entry of its own, with its traceback
    last: ClassVar[str] = ""

    def __init__(self, seq: int, exc: BaseException, run: str, when: int | None) -> None:
        self.seq, self.exc, self.run, self.time = seq, exc, run, when
        self._shown: tuple[str, str, str] | None = None
        _drop_locals(exc.__traceback__)

    @property
    def text(self) -> str:
        return self._described()[0]

    @property
    def where(self) -> str:
        return self._described()[1]

    @property
    def detail(self) -> str:
        return self._described()[2]

    matches = LogEntry.matches  # the same rule over the same names

    def _described(self) -> tuple[str, str, str]:
        if self._shown is None:
            exc = self.exc
            frame = engine.origin(exc)
            where = ""
            if frame is not None:
                try:
                    shown = os.path.relpath(frame.filename)
                except ValueError:  # another drive (Windows)
                    shown = frame.filename
                where = f"{frame.filename if shown.startswith('..') else shown}:{frame.lineno}"
            detail = _traceback_text(exc) if exc.__traceback__ is not None else ""
            self._shown = (engine.describe_error(exc), where, detail)
        return self._shown


Entry = LogEntry | ErrorEntry

_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _drop_locals(tb: TracebackType | None) -> None:
    """Clear the locals of the frames of ``tb`` that ran plain functions. Not ``traceback.
    clear_frames``: clearing the frame of a generator or coroutine finalizes it, and the frame
    that caught the error is often the engine's loop, suspended and still running (a live run in
    the console's process would stop). Those keep their locals; they are alive anyway. A frame
    still executing refuses (RuntimeError) and is left as it is."""
    while tb is not None:
        frame = tb.tb_frame
        if not frame.f_code.co_flags & _RESUMABLE:
            with contextlib.suppress(RuntimeError):
                frame.clear()
        tb = tb.tb_next


STUB_NAMES = ("__traceback_maker",)
"""The names a stand-in frame's code uses: tblib rebuilds a traceback that crossed a process
(a worker's run, console/host/errors.py) from frames that each run a stub ``raise
__traceback_maker`` with the real file, function and line."""


def _traceback_text(exc: BaseException) -> str:
    """``traceback.format_exception``'s text, without carets under the lines of stand-in frames:
    Python drew them at the stub's columns on the real line, pointing at the wrong code (every
    error of a backtest run by a worker). A frame that ran here keeps its carets."""
    shown = traceback.TracebackException.from_exception(exc)
    _drop_stub_columns(shown, exc, set())
    return "".join(shown.format()).rstrip()


def _drop_stub_columns(shown: traceback.TracebackException, exc: BaseException, seen: set[int]) -> None:
    """Walk ``exc``'s traceback beside ``shown``'s frames (one each, in order) and their chained
    exceptions alike (``seen``: a cycle of ``__context__`` is walked once)."""
    if id(exc) in seen:
        return
    seen.add(id(exc))
    tb = exc.__traceback__
    for frame in shown.stack:
        if tb is None:
            break
        if tb.tb_frame.f_code.co_names == STUB_NAMES:
            frame.colno = frame.end_colno = None
        tb = tb.tb_next
    for shown_next, exc_next in ((shown.__cause__, exc.__cause__), (shown.__context__, exc.__context__)):
        if shown_next is not None and exc_next is not None:
            _drop_stub_columns(shown_next, exc_next, seen)


FOLDED: frozenset[EntryKind] = frozenset({"WARNING"})
"""Kinds whose repeats fold into one entry (``LogBook.note``): not errors (each has its
traceback), nor live ticks (each is a sign of life at its own time)."""

FOLD_WITHIN = 32
"""How far back (entries) a warning looks for one of its shape to count into."""

FOLD_KEYS = 1_000
"""Shapes remembered at most (then forgotten all at once: a shape that comes again starts anew)."""

_NUMBERS = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"  # a time
    r"|(?<!\w)\d[\d,]*(?:\.\d+)?(?!\w)"  # a number standing alone (not 5m's, not a name's)
)


def _shape(text: str) -> str:
    """A note's words with its times and numbers masked: the same warning about another candle
    or moment. A number that is part of a word stays (``5m`` and ``15m`` are other warnings)."""
    return _NUMBERS.sub("#", text)


class LogBook:
    """Entries in arrival order; ``version`` moves with every entry (a viewer redraws on it)."""

    def __init__(self, maxlen: int = LOG_BOOK_ENTRIES) -> None:
        self.entries: deque[Entry] = deque(maxlen=maxlen)
        self.version = 0
        self.counts: dict[tuple[str, EntryKind], int] = {}  # (run, kind) -> entries ever added
        self.first_error: dict[str, Entry] = {}  # run -> its first error (a toast names it)
        self.live_log: str | None = None  # the console's live log file, once a live run opened it
        self._lock = threading.Lock()  # a logging record may come from another thread
        self._folds: dict[tuple[EntryKind, str, str], int] = {}  # (kind, run, shape) -> its entry's seq

    def add(self, entry: Entry) -> Entry:
        with self._lock:
            self.entries.append(entry)
            self._counted(entry)
        return entry

    def _counted(self, entry: Entry) -> None:
        self.version += 1
        key = (entry.run, entry.kind)
        self.counts[key] = self.counts.get(key, 0) + 1
        if entry.kind == "ERROR" and entry.run:
            self.first_error.setdefault(entry.run, entry)

    def next_seq(self) -> int:
        return self.version

    def error(self, exc: BaseException, run: str, when: int | None) -> Entry:
        return self.add(ErrorEntry(self.version, exc, run, when))

    def note(self, kind: EntryKind, text: str, run: str = "", when: int | None = None) -> Entry:
        """A line of ``kind``. A warning of the same shape (the same words, other numbers:
        ``get_candles BTCUSDT 5m: 50 of 51 candles before <time>``, which SPEC 4.1 gives at every
        call off the candles' grid) as one of its run among the newest ``FOLD_WITHIN`` entries is
        counted into that one rather than added: the demo's walker gave the log ~5,000 such
        lines, two shapes taking turns. The counts stay per warning."""
        with self._lock:
            key = (kind, run, _shape(text)) if kind in FOLDED else None
            into = self._into(key) if key is not None else None
            if into is not None:
                at, first = into
                entry = replace(first, repeats=first.repeats + 1, last=text)
                self.entries[at] = entry
            else:
                entry = LogEntry(self.version, when, kind, run, text)
                self.entries.append(entry)
                if key is not None:
                    if len(self._folds) > FOLD_KEYS:
                        self._folds.clear()
                    self._folds[key] = entry.seq
            self._counted(entry)
        return entry

    def _into(self, key: tuple[EntryKind, str, str]) -> tuple[int, LogEntry] | None:
        """Where the entry of ``key`` is, if it is among the newest ``FOLD_WITHIN``."""
        seq = self._folds.get(key)
        if seq is None:
            return None
        entries = self.entries
        for at in range(-1, -min(FOLD_WITHIN, len(entries)) - 1, -1):
            entry = entries[at]
            if entry.seq == seq and type(entry) is LogEntry:
                return at, entry
        return None

    def forget_run(self, run: str) -> None:
        """A run started again under the same id: its count and first error start afresh (its
        old entries stay in the book, they happened)."""
        self.first_error.pop(run, None)
        for key in [k for k in self.counts if k[0] == run]:
            del self.counts[key]

    def count(self, kind: EntryKind, run: str | None = None) -> int:
        return sum(n for (r, k), n in self.counts.items() if k == kind and (run is None or r == run))

    def matching(self, query: str, limit: int | None = None) -> list[Entry]:
        """The entries whose text holds every word of ``query`` (all when it is blank), oldest
        first; ``limit`` keeps the newest of them."""
        words = query.lower().split()
        found = [e for e in self.entries if e.matches(words)] if words else list(self.entries)
        return found[-limit:] if limit else found


class LogBookHandler(logging.Handler):
    """The engine's logger messages (feed warnings, persistence and broker notes) into the book.
    A record may come from any thread: the book takes it under its lock."""

    def __init__(self, book: LogBook, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.book = book

    ECHOES = ("error: ", "exit: ")
    """The engine logs each error it publishes as a warning (engine/events.py ``report_error``);
    the book has that error from the stream already, with its traceback: the echo is skipped."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if message.startswith(self.ECHOES):
                return
            kind: EntryKind = "ERROR" if record.levelno >= logging.ERROR else "WARNING"
            if record.levelno < logging.WARNING:
                kind = "INFO"
            self.book.note(kind, message, when=int(record.created * 1000))  # when it was logged
        except Exception:  # a log record must never take the console down
            self.handleError(record)
