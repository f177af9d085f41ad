"""A Regulation 8 window as a person reads it: due, due soon, overdue, met, met late, extended,
cancelled.

Input is one window as the deadlines API answers it (``GET /v1/incidents/{id}/deadlines`` and
``GET /v1/deadlines``). ``due_at`` is exclusive: the window closes at that instant, which is
00:00 Europe/London after the last day in time (docs/deadlines.md, "Reading 'no later than 2
weeks after discovering'"), so the last day shown is the London day before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sievert_console.domain.labels import WINDOWS, label

LONDON = ZoneInfo("Europe/London")
DUE_SOON = dt.timedelta(days=7)  # as reporting's dashboard counts "due within 7 days"


class ClockState(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OPEN = "open"
    MET = "met"
    MET_LATE = "met_late"
    CANCELLED = "cancelled"


STATE_LABELS: Mapping[ClockState, str] = {
    ClockState.OVERDUE: "Overdue",
    ClockState.DUE_SOON: "Due soon",
    ClockState.OPEN: "Open",
    ClockState.MET: "Met",
    ClockState.MET_LATE: "Met late",
    ClockState.CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class Clock:
    incident_id: str
    window: str
    trust: str
    site: str
    status: str
    due_at: dt.datetime
    met_at: dt.datetime | None
    authority: str | None
    extensions: int

    @classmethod
    def from_api(cls, window: Mapping[str, Any]) -> Clock:
        met_at = window.get("met_at")
        return cls(
            incident_id=str(window["incident_id"]),
            window=str(window["window"]),
            trust=str(window.get("trust", "")),
            site=str(window.get("site", "")),
            status=str(window["status"]),
            due_at=dt.datetime.fromisoformat(str(window["due_at"])),
            met_at=dt.datetime.fromisoformat(str(met_at)) if met_at else None,
            authority=window.get("authority"),
            extensions=int(window.get("extensions") or 0),
        )

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def extended(self) -> bool:
        return self.extensions > 0

    @property
    def name(self) -> str:
        return label(WINDOWS, self.window)

    def state(self, now: dt.datetime) -> ClockState:
        if self.status == "met":
            return ClockState.MET_LATE if self.met_at and self.met_at >= self.due_at else ClockState.MET
        if self.status == "cancelled":
            return ClockState.CANCELLED
        if self.due_at <= now:
            return ClockState.OVERDUE
        if self.due_at - now <= DUE_SOON:
            return ClockState.DUE_SOON
        return ClockState.OPEN

    def state_label(self, now: dt.datetime) -> str:
        return STATE_LABELS[self.state(now)]

    @property
    def last_day(self) -> dt.date:
        """The last London day in time: the window closes as it ends."""
        return (self.due_at.astimezone(LONDON) - dt.timedelta(microseconds=1)).date()

    def summary(self, now: dt.datetime) -> str:
        """One line: when it is due and how far away, or how it ended."""
        day = format_day(self.last_day)
        match self.state(now):
            case ClockState.MET | ClockState.MET_LATE:
                assert self.met_at is not None
                when = format_day(self.met_at.astimezone(LONDON).date())
                late = " — late" if self.state(now) is ClockState.MET_LATE else ""
                return f"Met on {when} (last day was {day}){late}"
            case ClockState.CANCELLED:
                return f"Cancelled (last day would have been {day})"
            case ClockState.OVERDUE:
                return f"Overdue by {days_phrase(now - self.due_at)} (last day was {day})"
            case _:
                return f"Due by the end of {day} — {days_phrase(self.due_at - now)} left"


def format_day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def days_phrase(span: dt.timedelta) -> str:
    """Whole days, or hours under a day: '3 days', '1 day', '5 hours', 'less than an hour'."""
    if span >= dt.timedelta(days=1):
        days = span.days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(span.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return "less than an hour"
