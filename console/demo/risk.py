"""The demo's risk profile: two rules a trader would recognise.

- no new entries between 00:00 and 02:00 UTC, when the (pretend) market is thin;
- at most two positions open at once across every strategy and symbol that shares the profile.

The second only binds when several runs share it at the same time ("all strategies" or "all
symbols" in the start dialog). Concurrent backtests are not synchronised in simulated time, so
that limit is approximate across them; the risk report says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine import add_risk

RISK_NAME = "demo-risk"
QUIET_HOURS = (0, 2)  # [start, end) in UTC
MAX_OPEN = 2


class QuietHours:
    """A validation object: ``validate`` raises to reject, ``note`` is the reason reports show."""

    note = f"quiet hours: no entries {QUIET_HOURS[0]:02d}:00-{QUIET_HOURS[1]:02d}:00 UTC"

    def validate(self, args) -> None:
        hour = datetime.fromtimestamp(args.timestamp / 1000, tz=UTC).hour
        if QUIET_HOURS[0] <= hour < QUIET_HOURS[1]:
            raise ValueError(self.note)


def register() -> str:
    add_risk(
        RISK_NAME,
        validations=[QuietHours()],
        max_concurrent_positions=MAX_OPEN,
        note="quiet hours and at most two open positions",
    )
    return RISK_NAME
