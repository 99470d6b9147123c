"""The parent side of the crash test: start a live run (tests/crash/child.py) in a subprocess,
SIGKILL it at a chosen moment, look at what it left on disk, restart it, and check the result.

The parent drives each run's simulated clock: the child stops before every step (a ``parked``
announcement) and waits for a byte on a FIFO, so a kill planned "k simulated minutes after the
open" lands k minutes after the open whatever the machine's speed: between two ticks (the run is
parked) or during the next tick (the parent lets it step, then kills it after a short random wall
delay).

Runs are forked by the child module's fork server (``python -m tests.crash.child --serve``), which
has imported the engine once: a run costs a fork, not an interpreter start (about 0.3 s each, which
200 runs cannot afford). Each run is still its own process with a fresh engine, killed with a real
SIGKILL by its pid.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.brokers.store import account_docs, order_docs, paper_docs
from engine.persist.adapters import _check_levels, _check_positions, _check_row
from engine.persist.base import TEMP_PREFIX
from engine.persist.lock import LOCK_NAME
from tests.crash import child
from tests.crash.child import MAIN, MINUTE, PAUSE_PHASES, RISK, SCHEDULED, T0
from tests.crash.sqlite_store import DB_NAME, read_documents

__all__ = [
    "CATEGORIES",
    "DiskState",
    "DiskTrouble",
    "ForkServer",
    "Outcome",
    "Plan",
    "make_plans",
    "read_events",
    "read_state",
    "run_iteration",
    "summary",
]

REPO = Path(__file__).resolve().parents[2]
# a safety net for a hang only: a run takes about a second, but 60 s was once reached on a machine
# running three crash suites at once
RUN_TIMEOUT_S = 300
DUMP_WAIT_S = 30  # a safety net: a stuck run's event loop answers SIGUSR1 at once
_DOMAIN_CHECKS = {"signal": _check_row, "schedule": _check_row, "risk": _check_positions, "partial": _check_levels}
# the broker's documents (order records, the paper account, the account book): parsed and checked
# with the engine's own rules, so a half-written one fails the test like a signal's would
_BROKER_DOMAINS = {d.domain: d._validate for d in (order_docs, paper_docs, account_docs)}
_DOMAIN_CHECKS.update(_BROKER_DOMAINS)


# --------------------------------------------------------------------------- processes


class ForkServer:
    """``python -m tests.crash.child --serve``: forks one run at a time on request."""

    def __init__(self, preload: list[str] | tuple[str, ...] = ()) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.crash.child", "--serve", *preload],
            cwd=REPO,
            env=env,  # single-threaded numpy: forking is safe
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = b""
        self.busy = False

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the server reaps the last child and exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.selector.close()

    def read(self, deadline: float) -> dict | None:
        """The next line the server or its child printed, or None at ``deadline``."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                if time.monotonic() >= deadline:
                    return None
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                raise AssertionError(f"the fork server ended (exit {self.proc.poll()})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self, argv: list[str]) -> Child:
        assert not self.busy, "one run at a time"
        self.proc.stdin.write((json.dumps(argv) + "\n").encode())  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        reply = self.read(time.monotonic() + RUN_TIMEOUT_S)
        assert reply is not None and "spawned" in reply, reply
        self.busy = True
        return Child(self, reply["spawned"])


@dataclass
class Child:
    server: ForkServer
    pid: int
    code: int | None = None  # exit code, negative for a signal (once the server reported it)

    def next_event(self, deadline: float) -> dict | None:
        """The next event the run announced, or None once it ended or at ``deadline``."""
        while self.code is None:
            item = self.server.read(deadline)
            if item is None:
                return None
            if "exited" in item:
                assert item["exited"] == self.pid, item
                self.code = item["code"]
                self.server.busy = False
                return None
            return item
        return None

    def kill(self) -> None:
        """SIGKILL; the pid is still this child's: the server reaps it only on the next request."""
        if self.code is None:
            os.kill(self.pid, signal.SIGKILL)

    def join(self, timeout: float = RUN_TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while self.code is None:
            if self.next_event(deadline) is None and self.code is None and time.monotonic() >= deadline:
                self.give_up(f"did not end within {timeout} s")
        return self.code

    def give_up(self, why: str) -> None:
        """Ask the run where it waits (SIGUSR1: its tasks' stacks go to its stderr log), kill it, fail."""
        if self.code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGUSR1)
            deadline = time.monotonic() + DUMP_WAIT_S  # it announces "dumped" once the stacks are written
            while (item := self.next_event(deadline)) is not None and item.get("ev") != "dumped":
                pass
        self.kill()
        raise AssertionError(f"run {self.pid} {why}; its stderr log has its tasks' stacks")


# --------------------------------------------------------------------------- kill moments


@dataclass(frozen=True)
class Plan:
    """When to kill the first run: inside its ``write``-th state write at ``phase``, or at the
    ``steps``-th step after the ``nth`` announcement of ``after`` (``started``, ``opened``, ``state``,
    ...): while parked there (``within_ms`` None) or ``within_ms`` into the tick that follows.
    ``fail`` (start, count, errno) makes state writes start..start+count-1 fail first."""

    write: int | None = None
    phase: str | None = None
    after: str | None = None
    nth: int = 1
    steps: int = 1
    within_ms: float | None = None
    fail: tuple[int, int, int] | None = None

    def __str__(self) -> str:
        if self.write is not None:
            return f"in write {self.write} at {self.phase}"
        where = "parked" if self.within_ms is None else f"{self.within_ms:.1f} ms into the tick"
        text = f"{self.steps} steps after {self.after} #{self.nth}, {where}"
        if self.fail is not None:
            start, count, code = self.fail
            text += f"; writes {start}..{start + count - 1} fail with {errno.errorcode[code]}"
        return text


TIMED = (  # (announcement, occurrence, max simulated minutes after it)
    ("started", 1, 4),  # before the open (at the 4th tick) or inside its flush
    ("started", 1, 4),
    ("started", 1, 4),
    ("opened", 1, 14),  # while open (14 minutes)
    ("opened", 1, 14),
    ("partial", 1, 4),  # right after a milestone (and its write)
    ("scheduled", 1, 3),
    ("closed", 1, 6),  # after the close, while the limit entry still waits (7 minutes)
    ("closed", 1, 6),
)
FAIL_ERRNOS = (errno.ENOSPC, errno.EROFS)
FAIL_SPELLS = (  # (failing writes, steps after the failure to kill at): writable again at the next
    (1, (2, 6)),  # tick, so resumed before the kill; or failing until the kill, so close-only at it
    (10_000, (1, 6)),
)
MAX_STEPS = 3_000  # a run that never ends by itself (a bug) is killed here and fails the test


def make_plans(
    rng: random.Random, count: int, adapter: str, writes: int, tick_ms: float = 1.0, state_writes: int | None = None
) -> list[Plan]:
    """``count`` kill moments: 40 % inside a write (write number uniform in 1..``writes``, the
    phases in turn), 20 % a few steps after an injected write failure (ENOSPC or EROFS at a
    signal-state write uniform in 1..``state_writes``, default ``writes``), the rest a random
    number of steps after an announcement (``TIMED`` in turn); those not inside a write are half
    between ticks, half inside the next one (up to ``tick_ms`` into it)."""
    phases = PAUSE_PHASES[adapter]
    n_write, n_fail = count * 2 // 5, count // 5
    plans = [Plan(write=rng.randint(1, writes), phase=phases[i % len(phases)]) for i in range(n_write)]
    for i in range(count - n_write):
        within = None if i % 2 else rng.uniform(0, tick_ms)
        if i < n_fail:
            failing, (low, high) = FAIL_SPELLS[i % 2]
            fail = (rng.randint(1, state_writes or writes), failing, FAIL_ERRNOS[(i // 2) % 2])
            plans.append(Plan(after="state", steps=rng.randint(low, high), within_ms=within, fail=fail))
            continue
        after, nth, max_steps = TIMED[i % len(TIMED)]
        plans.append(Plan(after=after, nth=nth, steps=rng.randint(1, max_steps), within_ms=within))
    rng.shuffle(plans)
    return plans


# --------------------------------------------------------------------------- what is on disk


@dataclass
class DiskState:
    """The live state of both pairs as a restart would find it."""

    main_traded: bool = False  # the main pair's pending-slot document exists (written at the open)
    main_pending: str | None = None
    main_scheduled: str | None = None
    limit_pending: str | None = None
    limit_scheduled: str | None = None
    risk: list[str] = field(default_factory=list)
    levels: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    temp_files: list[str] = field(default_factory=list)  # unfinished writes (JSON store)
    journal: bool = False  # a non-empty write-ahead log next to the database (SQLite store)
    documents: int = 0

    def open_entities(self) -> list[str]:
        """What is still open: signals in a slot, risk positions, partial levels."""
        slots = {
            "main position": self.main_pending,
            "main scheduled": self.main_scheduled,
            "limit position": self.limit_pending,
            "limit scheduled": self.limit_scheduled,
        }
        out = [name for name, value in slots.items() if value is not None]
        return out + [f"risk position {k}" for k in self.risk] + [f"levels of {k}" for k in self.levels]


def _take(state: DiskState, entity: str, value: Any) -> None:
    """Put one parsed, validated document into ``state``; ``entity`` is ``domain/name/id``."""
    domain, name, _id = entity.split("/")
    if domain in _BROKER_DOMAINS:
        state.documents += 1
        return
    if domain in ("signal", "schedule"):
        pair = "main" if name == "_".join(MAIN) else "limit"
        slot = "pending" if domain == "signal" else "scheduled"
        setattr(state, f"{pair}_{slot}", None if value is None else value["id"])
        state.main_traded |= pair == "main" and slot == "pending"
    elif domain == "risk":
        assert name == RISK, entity
        state.risk = sorted(key for key, _ in value)
    elif domain == "partial" and name == "_".join(MAIN):
        state.levels = value
    elif domain == "partial":
        assert value == {}, f"{entity}: the limit pair never reaches a milestone, found {value}"
    state.documents += 1


def _parse(entity: str, text: str) -> Any:
    """A state document as the engine reads it; raises if it is damaged (half-written)."""
    value = json.loads(text)
    _DOMAIN_CHECKS[entity.split("/")[0]](value)
    return value


def read_state(run_dir: Path, adapter: str) -> DiskState:
    """Parse every state document under ``run_dir/dump/data``; AssertionError names any that is
    not a complete, valid document."""
    base = run_dir / "dump" / "data"
    state = DiskState()
    if adapter == "sqlite":
        db = base / DB_NAME
        if not db.exists():
            return state
        journal = base / f"{DB_NAME}-wal"
        state.journal = journal.exists() and journal.stat().st_size > 0
        # check a copy, so the restart still meets the database exactly as the crash left it
        check = run_dir / "check"
        shutil.rmtree(check, ignore_errors=True)
        check.mkdir()
        shutil.copy2(db, check / DB_NAME)
        if state.journal:
            shutil.copy2(journal, check / journal.name)
        try:
            docs = read_documents(check / DB_NAME)
        except sqlite3.DatabaseError as exc:
            raise AssertionError(f"{db}: damaged database: {exc}") from exc
        for entity, entity_id, body in docs:
            try:
                _take(state, f"{entity}/{entity_id}", _parse(entity, body))
            except ValueError as exc:
                raise AssertionError(f"{db}: half-written document {entity}/{entity_id}: {exc}: {body!r}") from exc
        return state
    for path in sorted(base.rglob("*")) if base.exists() else []:
        if path.is_dir():
            continue
        rel = path.relative_to(base)
        if path.name == LOCK_NAME:  # the one-writer lock (held by the run, released by its death)
            continue
        if path.name.startswith(TEMP_PREFIX):
            state.temp_files.append(str(rel))
            continue
        assert path.suffix == ".json" and len(rel.parts) == 3, f"unexpected file {path}"
        entity = f"{rel.parts[0]}/{rel.parts[1]}/{path.stem}"
        text = path.read_text(encoding="utf-8")
        try:
            _take(state, entity, _parse(entity, text))
        except ValueError as exc:
            raise AssertionError(f"{path}: half-written state file: {exc}: {text!r}") from exc
    return state


def read_events(run_dir: Path) -> list[dict]:
    """The events log; every line must be whole (each was one write(2))."""
    path = run_dir / child.EVENTS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def last_instant(run_dir: Path, events: list[dict]) -> int:
    """The latest simulated time the run is known to have reached."""
    clock = run_dir / child.CLOCK
    text = clock.read_text().strip() if clock.exists() else ""
    return max([T0, int(text or 0), *(ev["now"] for ev in events)])


# --------------------------------------------------------------------------- one iteration


@dataclass
class Outcome:
    plan: Plan
    category: str  # where the main position was: before-open | while-open | after-close | not-killed
    phase: str | None = None  # the write phase the run was stopped in, if it was
    restored: list[str] = field(default_factory=list)  # what the restart put back
    temp_files: int = 0
    journal: bool = False
    lost: list[str] = field(default_factory=list)  # on disk, never announced: the kill came inside the flush
    aligned: bool = False  # the kill cut a flush short; the restart aligned risk/levels with the position
    close_reason: str | None = None
    close_only: bool = False  # the first run was killed while its state was not writable
    resumed: bool = False  # the first run's state became writable again before the kill
    withheld: list[str] = field(default_factory=list)  # done in memory, never written, never announced


class DiskTrouble(Protocol):
    """Something done to the state folder's disk while the first run is parked at the ``steps``-th
    step after the first ``after`` announcement (``start``), and undone before the restart (``heal``)."""

    after: str
    steps: int

    def start(self) -> None: ...
    def heal(self) -> None: ...


def run_iteration(
    server: ForkServer, run_dir: Path, adapter: str, plan: Plan, extra: list[str], trouble: DiskTrouble | None = None
) -> Outcome:
    """Kill a first run at ``plan``, restart it to the end, and check everything (AssertionError
    with the run directory on any violation). ``trouble`` breaks the disk during the first run and
    is healed before the restart."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fifo = run_dir / "steps"
    if not fifo.exists():
        os.mkfifo(fifo)
    go = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # never blocks; the child reads a byte per step
    try:
        base_argv = ["--dir", str(run_dir), "--adapter", adapter, "--steps", str(fifo), *extra]
        argv = [*base_argv, "--run", "1"]
        if plan.write is not None:
            argv += ["--pause-write", str(plan.write), "--pause-phase", str(plan.phase)]
        if plan.fail is not None:
            argv += ["--fail-writes", ":".join(map(str, plan.fail))]
        first = server.start(argv)
        try:
            _drive(first, go, plan, trouble)
        except BaseException:
            first.kill()
            raise
        finally:
            code = first.join()
            if trouble is not None:
                trouble.heal()
        where = f"{run_dir} (plan: {plan})"
        assert code in (-signal.SIGKILL, 0), f"{where}: first run ended with {code}; see stderr-1.log"
        _drain(go)  # a step the killed run never took must not move the restart's clock

        events1 = read_events(run_dir)
        at_kill = read_state(run_dir, adapter)  # raises on a half-written document
        paused = next((ev for ev in events1 if ev["ev"] == "paused"), None)
        category = _category(code, at_kill)
        start = last_instant(run_dir, events1) + MINUTE

        second = server.start([*base_argv, "--run", "2", "--start-ms", str(start)])
        _drive(second, go, Plan(after="never"))
        code2 = second.join()
        assert code2 == 0, f"{where}: restart ended with {code2}; see stderr-2.log"
    finally:
        os.close(go)
    events = read_events(run_dir)
    final = read_state(run_dir, adapter)
    outcome = Outcome(plan, category, paused["phase"] if paused else None, temp_files=len(at_kill.temp_files))
    outcome.journal = at_kill.journal
    states = [ev["writable"] for ev in events1 if ev["ev"] == "state"]
    outcome.close_only = bool(states) and not states[-1] and code != 0
    outcome.resumed = True in states
    _check(where, events, at_kill, final, outcome)
    return outcome


def _drive(child: Child, go: int, plan: Plan, trouble: DiskTrouble | None = None) -> None:
    """Step the child's clock until it ends, or kill it where ``plan`` says."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    seen: Counter[str] = Counter()
    countdown: int | None = None
    trouble_in: int | None = None
    steps = 0
    while (item := child.next_event(deadline)) is not None or child.code is None:
        if item is None:  # no event and no exit before the deadline: a hang
            child.give_up(f"announced nothing for {RUN_TIMEOUT_S} s (plan: {plan})")
        ev = item["ev"]
        if ev == "paused":
            child.kill()
            return
        if ev != "parked":
            seen[ev] += 1
            if countdown is None and ev == plan.after and seen[ev] == plan.nth:
                countdown = plan.steps
            if trouble is not None and trouble_in is None and ev == trouble.after:
                trouble_in = trouble.steps
            continue
        steps += 1
        if trouble_in is not None:
            trouble_in -= 1
            if trouble_in == 0:
                trouble.start()  # type: ignore[union-attr]
        if steps > MAX_STEPS:
            child.kill()
            raise AssertionError(f"{child.pid} still running after {MAX_STEPS} steps (plan: {plan})")
        if countdown is not None:
            countdown -= 1
            if countdown <= 0:
                kill_within(child, go, plan.within_ms)
                return
        os.write(go, b".")


def kill_within(child: Child, go: int, within_ms: float | None) -> None:
    """The kill: where the child is parked (``within_ms`` None), or ``within_ms`` into the tick
    it is let go to (the moment is the plan's, drawn from the seed: a kill moment, not a wait)."""
    if within_ms is not None:
        os.write(go, b".")
        time.sleep(within_ms / 1000)  # somewhere inside the next tick
    child.kill()


def _drain(go: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(go, 4096):
            pass


def _is(ev: dict, name: str, pair: tuple[str, str]) -> bool:
    return ev["ev"] == name and (ev.get("symbol"), ev.get("strategy")) == pair


def _category(code: int, at_kill: DiskState) -> str:
    """Where the main position was when the first run died, by what it left on disk."""
    if code == 0:
        return "not-killed"
    if at_kill.main_pending is not None:
        return "while-open"
    return "after-close" if at_kill.main_traded else "before-open"


def _check(where: str, events: list[dict], at_kill: DiskState, final: DiskState, out: Outcome) -> None:
    run1 = [ev for ev in events if ev["run"] == 1]
    run2 = [ev for ev in events if ev["run"] == 2]
    assert [ev["ev"] for ev in run2 if ev["ev"] in ("started", "finished")] == ["started", "finished"], where

    # 1. the restart put back exactly what was on disk
    restored = {(ev["symbol"], ev["strategy"]): ev for ev in run2 if ev["ev"] == "restored"}
    assert set(restored) == {MAIN, SCHEDULED}, f"{where}: restored {sorted(restored)}"
    # (the pending slot is written first in a flush: a kill inside one leaves the risk position and
    # the levels a step behind it, and the restart aligns them with the position)
    got = restored[MAIN]
    assert (got["pending"], got["scheduled"]) == (at_kill.main_pending, at_kill.main_scheduled), f"{where}: {got}"
    key = ":".join(reversed(MAIN))
    risk = sorted((set(at_kill.risk) - {key}) | ({key} if at_kill.main_pending else set()))
    assert got["risk"] == risk, f"{where}: risk positions {got['risk']} restored, {at_kill.risk} on disk"
    levels = {k: v for k, v in at_kill.levels.items() if k == at_kill.main_pending}
    assert got["levels"] == levels, f"{where}: levels {got['levels']} restored, {at_kill.levels} on disk"
    if (risk, levels) != (at_kill.risk, at_kill.levels):
        out.aligned = True
    lim = restored[SCHEDULED]
    assert (lim["pending"], lim["scheduled"]) == (at_kill.limit_pending, at_kill.limit_scheduled), f"{where}: {lim}"
    out.restored = [
        name
        for name, present in (
            ("position", at_kill.main_pending),
            ("scheduled entry", at_kill.limit_scheduled),
            ("risk positions", at_kill.risk),
            ("partial levels", at_kill.levels),
        )
        if present
    ]

    # 2. unfinished writes were cleaned up by the restart, and nothing else went wrong
    removed = [ev["message"] for ev in run2 if ev["ev"] == "error" and "unfinished write" in ev["message"]]
    assert len(removed) == len(at_kill.temp_files), f"{where}: temp files {at_kill.temp_files}, removed {removed}"
    others = [ev for ev in events if ev["ev"] == "error" and "unfinished write" not in ev["message"]]
    if any(ev["ev"] == "state" for ev in run1):  # a write failure, reported once when the state became unwritable
        reported = [ev for ev in others if ev["run"] == 1 and ev["message"].startswith("CLOSE-ONLY: state not")]
        assert len(reported) <= 1 and (reported or not out.resumed), f"{where}: close-only reports {reported}"
        others = [ev for ev in others if ev not in reported]
    assert not others, f"{where}: errors {others}"
    assert not final.temp_files, f"{where}: left behind {final.temp_files}"

    # 3. the main position: opened once, closed once, same signal
    opened = [ev["id"] for ev in events if _is(ev, "opened", MAIN)]
    closed = [ev for ev in events if _is(ev, "closed", MAIN)]
    assert len(opened) <= 1 and len(closed) <= 1, f"{where}: opened {opened}, closed {closed}"
    position = opened[0] if opened else got["pending"]
    if not opened:  # the kill came inside the open's flush, after the position's document
        assert position is not None, f"{where}: the main position never opened"
        out.lost.append("opened")
    if closed:
        assert closed[0]["id"] == position, f"{where}: opened {position}, closed {closed[0]['id']}"
        out.close_reason = closed[0]["reason"]
    else:  # the kill came inside the close's flush, after the position's document
        assert any(ev["run"] == 1 for ev in events if _is(ev, "opened", MAIN)) and at_kill.main_pending is None, (
            f"{where}: the main position {position} never closed"
        )
        out.lost.append("closed")
    # no position of the limit pair, and the scheduled entry: scheduled once, cancelled once
    assert not [ev for ev in events if _is(ev, "opened", SCHEDULED) or _is(ev, "closed", SCHEDULED)], where
    scheduled = [ev["id"] for ev in events if _is(ev, "scheduled", SCHEDULED)]
    cancelled = [ev["id"] for ev in events if _is(ev, "cancelled", SCHEDULED)]
    assert len(scheduled) <= 1 and len(cancelled) <= 1, f"{where}: scheduled {scheduled}, cancelled {cancelled}"
    entry = scheduled[0] if scheduled else lim["scheduled"]
    if not scheduled:
        assert entry is not None, f"{where}: the limit entry was never scheduled"
        out.lost.append("scheduled")
    if cancelled:
        assert cancelled == [entry], f"{where}: scheduled {entry}, cancelled {cancelled}"
    else:
        assert at_kill.limit_scheduled is None and any(_is(ev, "scheduled", SCHEDULED) for ev in run1), (
            f"{where}: the limit entry {entry} was never cancelled"
        )
        out.lost.append("cancelled")

    # 4. milestones: each announced once, and only once it was on disk
    partial = _milestones(events)
    assert len(partial) == len(set(partial)), f"{where}: a milestone was announced twice: {partial}"
    assert {p[0] for p in partial} <= {position}, f"{where}: milestones of {partial}"
    if at_kill.main_pending is not None:
        announced = [(k, lv) for sid, k, lv in _milestones(run1) if sid == at_kill.main_pending]
        on_disk = at_kill.levels.get(at_kill.main_pending, {})
        persisted = {("profit", lv) for lv in on_disk.get("profitLevels", [])}
        persisted |= {("loss", lv) for lv in on_disk.get("lossLevels", [])}
        missing = sorted(set(announced) - persisted)
        assert not missing, f"{where}: milestones {missing} were announced but not on disk at the kill"

    # 5. nothing is left open
    assert not final.open_entities(), f"{where}: still open at the end: {final.open_entities()}"

    # 6. what was announced is what a restart finds: no position (or entry) announced closed (or
    # cancelled) is ever restored, and none announced opened (or scheduled) is ever missing after
    # the restart, unless its end was already on disk (the kill fell between that write and its
    # announcement: the "written but never announced" line of the summary)
    ended = {ev["id"] for ev in run1 if ev["ev"] in ("closed", "cancelled")}
    back = {(pair, slot): restored[pair][slot] for pair in (MAIN, SCHEDULED) for slot in ("pending", "scheduled")}
    assert not ended & set(back.values()), f"{where}: announced closed, yet restored: {ended & set(back.values())}"
    for ev in run1:
        if ev["ev"] not in ("opened", "scheduled") or ev["id"] in ended:
            continue
        pair, slot = (ev["symbol"], ev["strategy"]), "pending" if ev["ev"] == "opened" else "scheduled"
        if back[(pair, slot)] != ev["id"]:
            prefix = "main" if pair == MAIN else "limit"
            on_disk = getattr(at_kill, f"{prefix}_{slot}")
            assert on_disk is None, f"{where}: announced {ev['ev']} {ev['id']}, restored {back[(pair, slot)]}"
    # killed while close-only: what run 1 did but could not write, it never announced; the restart
    # did it (and announced it) again
    for kind in ("opened", "scheduled"):
        announced_by = {ev["run"] for ev in events if ev["ev"] == kind}
        if out.close_only and announced_by == {2}:
            out.withheld.append(kind)


def _milestones(events: list[dict]) -> list[tuple[str, str, int]]:
    return [(ev["id"], ev["kind"], ev["level"]) for ev in events if ev["ev"] == "partial"]


# --------------------------------------------------------------------------- the report


CATEGORIES = ("before-open", "while-open", "after-close", "not-killed")


def summary(adapter: str, outcomes: list[Outcome], seconds: float) -> str:
    """A plain-text table of what the kills hit and what the restarts restored."""
    phases = PAUSE_PHASES[adapter]
    cells = Counter((o.category, o.phase or "timed") for o in outcomes)
    restored = Counter(r for o in outcomes for r in o.restored)
    lost = Counter(x for o in outcomes for x in o.lost)
    reasons = Counter(o.close_reason for o in outcomes if o.close_reason)
    withheld = Counter(x for o in outcomes for x in o.withheld)
    columns = ("timed", *phases)
    width = max(len(c) for c in columns) + 2
    rows = [
        f"crash test, {adapter} store: {len(outcomes)} kills in {seconds:.1f} s",
        "  main position at the kill   " + "".join(f"{c:>{width}}" for c in ("total", *columns)),
    ]
    for cat in CATEGORIES:
        counts = [cells[(cat, c)] for c in columns]
        rows.append(f"    {cat:<26}" + "".join(f"{n:>{width}}" for n in (sum(counts), *counts)))
    totals = [sum(cells[(cat, c)] for cat in CATEGORIES) for c in columns]
    rows.append(f"    {'all':<26}" + "".join(f"{n:>{width}}" for n in (sum(totals), *totals)))
    rows += [
        "  restored by the restart (from what the kill left on disk)",
        *(f"    {r:<26}{restored[r]:>5}" for r in ("position", "scheduled entry", "risk positions", "partial levels")),
        "  left by the kill",
        f"    {'temp files (removed)':<26}{sum(o.temp_files for o in outcomes):>5}",
        f"    {'sqlite write-ahead log':<26}{sum(o.journal for o in outcomes):>5}",
        f"    {'half-written documents':<26}{0:>5}  (any one fails the test)",
        f"    {'flush cut short (aligned)':<26}{sum(o.aligned for o in outcomes):>5}",
        "  written but never announced (kill inside the flush): "
        + (", ".join(f"{k} {v}" for k, v in sorted(lost.items())) or "none"),
        "  main position closed by: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())),
        f"  state writes failing (ENOSPC/EROFS injected): {sum(o.plan.fail is not None for o in outcomes)} runs; "
        f"killed while close-only {sum(o.close_only for o in outcomes)}, "
        f"resumed before the kill {sum(o.resumed for o in outcomes)}",
        "  announced only by the restart (the first run was close-only at the kill): "
        + (", ".join(f"{k} {v}" for k, v in sorted(withheld.items())) or "none"),
    ]
    return "\n".join(rows)
