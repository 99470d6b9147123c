"""The console session: the runs it started, as plain data (no Textual in here).

The app starts and stops runs and keeps their handles here; the dashboard folds the bridge's
batches through ``fold`` and draws from ``state``. Every handle is an ``engine.RunHandle``, so
the session polls a backtest, a walker and a live run alike; only what a run *is* (its
``RunView.mode``) decides what there is to poll.
"""

from __future__ import annotations

from typing import Any

import engine

from .state import DashboardState, Part, RunView


class Session:
    """``state`` (what the panes show), the handles of the runs still going (a finished run's
    handle is dropped, so a long session polls nothing for its finished runs), and the run the
    panes follow (``selected``: the dashboard moves it with the cursor, a new run takes it)."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.handles: dict[str, engine.RunHandle[Any]] = {}
        self.selected: str | None = None

    def fold(self, events: list[Any], now: int) -> Part:
        """Fold in a batch and poll the active runs; returns the parts that changed. While
        nothing runs this touches nothing: a long session's finished runs cost nothing per batch."""
        state = self.state
        state.tick_live(now)  # live ages and clocks move every redraw
        changed = state.apply(events) if events else Part.NONE
        if state.active_live_runs():
            changed |= Part.POSITIONS | Part.SCHEDULED | Part.PROGRESS  # ages, last tick, price
        polled = False
        for rid, handle in self.handles.items():
            run = state.runs.get(rid)
            if run is None or run.status not in ("running", "stopping") or run.mode == "live":
                continue  # a live run has no frames to count
            changed |= Part.PROGRESS  # its elapsed time moves
            st = handle.status()
            if (st.processed_frames, st.total_frames, st.progress) != (run.processed, run.total, run.progress):
                run.processed, run.total, run.progress = st.processed_frames, st.total_frames, st.progress
                polled = True
            if run.mode == "walker" and self._poll_walker(run, st):
                changed |= Part.WALKER
        if polled:
            changed |= Part.RUNS | Part.PROGRESS
        return changed

    def _poll_walker(self, run: RunView, st: engine.TaskStatus) -> bool:
        """The walker's strategy under test and how far it is (the leaderboard's "testing" row)."""
        view = self.state.walkers.get(run.id)
        if view is None or st.current is None:
            return False
        row = view.rows.get(st.current)
        done = sum(1 for r in view.rows.values() if r.status in ("done", "failed"))
        share = max(0.0, st.progress * len(view.rows) - done)
        changed = row is not None and (row.status == "waiting" or abs(view.current_progress - share) >= 0.01)
        if row is not None and row.status == "waiting":
            row.status = "testing"
        view.current_progress = min(share, 1.0)
        return changed

    def finish(self, rid: str, error: BaseException | None, wall: float) -> RunView | None:
        """Record the end of run ``rid`` (its handle is not polled again); None if unknown."""
        run = self.state.runs.get(rid)
        if run is None:
            return None
        handle = self.handles.pop(rid, None)
        if handle is not None:
            st = handle.status()
            run.processed, run.total = st.processed_frames, st.total_frames
        run.finished = wall
        self.state.finish_run(run.id)
        if error is not None:
            run.status, run.error = "failed", f"{type(error).__name__}: {error}"
        else:
            # a stopped run ends where it was: its progress and its "stopped" say it did not finish
            run.status = "stopped" if run.status == "stopping" else "done"
            if run.status == "done":
                run.progress = 1.0
        return run
