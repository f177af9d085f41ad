"""What the deadlines service knows about one incident's windows.

Plain frozen data: the storage layer persists it (``pydantic.TypeAdapter(IncidentDeadlines)``
dumps and loads it as JSON) and hands it back to the pure transitions in ``windows.py`` and
``timers.py``.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from sievert_deadlines.domain.calendar import require_aware
from sievert_shared.errors import ConflictError
from sievert_shared.events.deadlines import (
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineScheduled,
    Window,
)

DeadlineEvent = (
    DeadlineScheduled
    | DeadlineApproaching
    | DeadlineMissed
    | DeadlineOverdue
    | DeadlineMet
    | DeadlineExtended
    | DeadlineCancelled
)

NOTIFIABLE_WINDOWS: tuple[Window, ...] = (Window.NOTIFICATION, Window.INVESTIGATION_REPORT)
"""Regulation 8(4): a SAUE opens both, counted from the same discovery date."""
LOCAL_WINDOWS: tuple[Window, ...] = (Window.LOCAL_INVESTIGATION,)
"""Regulation 8(3): anything else is investigated locally."""


class DeadlineError(Exception):
    """Base for the deadlines domain's refusals."""


class ExtensionRefusedError(DeadlineError, ConflictError):
    """Only an open investigation-report window can be extended, and only to a later day. The
    window's state refuses the request, so a caller is answered 409."""

    title = "Extension refused"


class TimerNotDueError(DeadlineError):
    """A timer was fired before its ``fire_at``: its event must not exist yet."""


class WindowStatus(enum.StrEnum):
    OPEN = "open"
    """Running: reminders, then Missed at ``due_at``, then Overdue daily, until met."""
    MET = "met"
    """Final: the submission arrived (on time or late)."""
    CANCELLED = "cancelled"
    """A re-classification took the window away; a later one may open it again."""


@dataclass(frozen=True, slots=True)
class Extension:
    """An extension to the report window agreed with the enforcing authority."""

    previous_due_at: dt.datetime
    due_at: dt.datetime
    agreed_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class WindowState:
    window: Window
    status: WindowStatus
    discovered_on: dt.date
    due_at: dt.datetime
    """When the window closes (UTC, exclusive): statutory, or the latest agreed extension."""
    authority: str | None = None
    extensions: tuple[Extension, ...] = ()
    met_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.due_at, "due_at")
        if (self.status is WindowStatus.MET) != (self.met_at is not None):
            raise ValueError("met_at is set exactly when the window is met")

    @property
    def is_open(self) -> bool:
        return self.status is WindowStatus.OPEN

    @property
    def met_late(self) -> bool:
        return self.met_at is not None and self.met_at >= self.due_at


@dataclass(frozen=True, slots=True)
class IncidentDeadlines:
    """One incident's last applied classification and every window it has had.

    A window that was met or cancelled stays in ``windows``: a met window is final, and a
    cancelled one is replaced if a re-classification opens it again.
    """

    incident_id: uuid.UUID
    notifiable: bool
    authority: str | None
    discovered_on: dt.date
    windows: tuple[WindowState, ...] = ()

    def __post_init__(self) -> None:
        kinds = [w.window for w in self.windows]
        if len(kinds) != len(set(kinds)):
            raise ValueError("one state per window")

    def window(self, window: Window) -> WindowState | None:
        return next((w for w in self.windows if w.window is window), None)

    def open_windows(self) -> tuple[WindowState, ...]:
        return tuple(w for w in self.windows if w.is_open)

    def with_window(self, state: WindowState) -> IncidentDeadlines:
        others = [w for w in self.windows if w.window is not state.window]
        ordered = sorted([*others, state], key=lambda w: list(Window).index(w.window))
        return IncidentDeadlines(
            incident_id=self.incident_id,
            notifiable=self.notifiable,
            authority=self.authority,
            discovered_on=self.discovered_on,
            windows=tuple(ordered),
        )
