"""What the deadlines service knows about one incident's windows.

Plain frozen data: the storage layer persists it (``pydantic.TypeAdapter(IncidentDeadlines)``
dumps and loads it as JSON) and hands it back to the pure transitions in ``windows.py`` and
``timers.py``.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, replace

from sievert_deadlines.domain.calendar import days_overdue_at, require_aware
from sievert_shared.decision import DecisionStatus
from sievert_shared.errors import ConflictError
from sievert_shared.events.cases import (
    CaseClosed,
    CaseClosureBasis,
    CaseReopened,
    CaseRetentionExpired,
    NotificationWithdrawalAgreed,
    NotificationWithdrawalRequested,
)
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

WindowEvent = (
    DeadlineScheduled
    | DeadlineApproaching
    | DeadlineMissed
    | DeadlineOverdue
    | DeadlineMet
    | DeadlineExtended
    | DeadlineCancelled
)
WINDOW_EVENTS = (
    DeadlineScheduled,
    DeadlineApproaching,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineMet,
    DeadlineExtended,
    DeadlineCancelled,
)
"""The events of one window (topic ``deadlines``)."""

DeadlineEvent = (
    DeadlineScheduled
    | DeadlineApproaching
    | DeadlineMissed
    | DeadlineOverdue
    | DeadlineMet
    | DeadlineExtended
    | DeadlineCancelled
    | NotificationWithdrawalRequested
    | NotificationWithdrawalAgreed
    | CaseClosed
    | CaseReopened
    | CaseRetentionExpired
)
"""Every event the deadlines domain emits: the windows' (topic ``deadlines``) and the case's
(topic ``cases``)."""

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
    agreed_at: dt.datetime | None = None
    """When it was recorded; ``None`` for extensions stored before this was kept (read as agreed
    in time)."""

    @property
    def agreed_after_due(self) -> bool:
        return self.agreed_at is not None and self.agreed_at >= self.previous_due_at


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
    clock_from: dt.date | None = None
    """The day the window counts from when it is not the discovery date (code M from a theme,
    line 278); ``None``: from ``discovered_on``."""
    provisional: bool = False
    """The notification window of an undecided incident: it runs from discovery (line 219) while
    the facts in ``needs_facts`` are awaited."""
    needs_facts: tuple[str, ...] = ()
    cancelled_reason: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.due_at, "due_at")
        if (self.status is WindowStatus.MET) != (self.met_at is not None):
            raise ValueError("met_at is set exactly when the window is met")

    @property
    def is_open(self) -> bool:
        return self.status is WindowStatus.OPEN

    @property
    def counts_from(self) -> dt.date:
        return self.clock_from or self.discovered_on

    @property
    def binding_due_at(self) -> dt.datetime:
        """The due lateness is counted against: the statutory due, moved only by extensions
        agreed before the due they moved had passed. An extension agreed after it keeps the miss
        on record (CQC guidance line 221: discuss with an inspector "as early as possible")."""
        binding = self.extensions[0].previous_due_at if self.extensions else self.due_at
        for extension in self.extensions:
            if not extension.agreed_after_due and extension.previous_due_at == binding:
                binding = extension.due_at
        return binding

    def missed_at(self, now: dt.datetime) -> dt.datetime | None:
        """The binding due, if the window was met after it or is still unmet past it at ``now``:
        the miss on record, which no later extension erases."""
        binding = self.binding_due_at
        reached = self.met_at if self.met_at is not None else now
        if self.status is WindowStatus.CANCELLED and self.met_at is None:
            return None
        return binding if reached >= binding else None

    def days_late(self, met_at: dt.datetime) -> int:
        """Calendar days (Europe/London) after the binding last day in time; 0 when on time."""
        binding = self.binding_due_at
        return days_overdue_at(binding, met_at) + 1 if met_at >= binding else 0

    @property
    def met_late(self) -> bool:
        return self.met_at is not None and self.days_late(self.met_at) > 0


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    WITHDRAWAL_REQUESTED = "withdrawal_requested"
    """Notified, then re-classified as not notifiable: the report stays due until the authority
    agrees to the withdrawal."""
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A notification that no longer meets the criteria, and the authority's answer."""

    authority: str
    requested_reason: str
    agreed_on: dt.date | None = None
    authority_reference: str | None = None
    recorded_by_role: str | None = None

    @property
    def agreed(self) -> bool:
        return self.agreed_on is not None


@dataclass(frozen=True, slots=True)
class CaseState:
    """What the case owes beyond its windows: withdrawal, the investigation's and the
    authority's closure, open queries, and the case's own closure and retention."""

    status: CaseStatus = CaseStatus.OPEN
    withdrawal: Withdrawal | None = None
    local_closed_on: dt.date | None = None
    authority_closed_on: dt.date | None = None
    authority_closure_reference: str | None = None
    open_queries: tuple[str, ...] = ()
    closed_on: dt.date | None = None
    basis: CaseClosureBasis | None = None
    retain_until: dt.date | None = None

    @property
    def withdrawal_pending(self) -> bool:
        return self.withdrawal is not None and not self.withdrawal.agreed

    @property
    def withdrawn(self) -> bool:
        return self.withdrawal is not None and self.withdrawal.agreed


@dataclass(frozen=True, slots=True)
class IncidentDeadlines:
    """One incident's last applied classification, every window it has had, and its case.

    A window that was met or cancelled stays in ``windows``: a met window is final (unless the
    local investigation is reopened), and a cancelled one is replaced if a re-classification
    opens it again. ``version`` counts the changes, for optimistic concurrency on commands.
    """

    incident_id: uuid.UUID
    notifiable: bool
    authority: str | None
    discovered_on: dt.date
    windows: tuple[WindowState, ...] = ()
    decision_status: DecisionStatus | None = None
    """``None`` in states stored before the status was kept: read from ``notifiable``."""
    needs_facts: tuple[str, ...] = ()
    """Facts that would settle an undecided decision (``needs_facts_for_notification``)."""
    theme_identified_on: dt.date | None = None
    case: CaseState = CaseState()
    version: int = 0

    def __post_init__(self) -> None:
        kinds = [w.window for w in self.windows]
        if len(kinds) != len(set(kinds)):
            raise ValueError("one state per window")

    @property
    def status(self) -> DecisionStatus:
        if self.decision_status is not None:
            return self.decision_status
        return DecisionStatus.NOTIFIABLE if self.notifiable else DecisionStatus.NOT_NOTIFIABLE

    @property
    def notified(self) -> bool:
        """The notification was made (its window met), whatever happened since."""
        notification = self.window(Window.NOTIFICATION)
        return notification is not None and notification.status is WindowStatus.MET

    def window(self, window: Window) -> WindowState | None:
        return next((w for w in self.windows if w.window is window), None)

    def open_windows(self) -> tuple[WindowState, ...]:
        return tuple(w for w in self.windows if w.is_open)

    def with_window(self, state: WindowState) -> IncidentDeadlines:
        others = [w for w in self.windows if w.window is not state.window]
        ordered = sorted([*others, state], key=lambda w: list(Window).index(w.window))
        return replace(self, windows=tuple(ordered))

    def with_case(self, case: CaseState) -> IncidentDeadlines:
        return replace(self, case=case)
