"""Pure transitions of an incident's deadline windows.

Each transition takes the current ``IncidentDeadlines`` (or ``None`` before the first
classification) and returns a ``Decision``: the new state, the events to publish in order, the
windows whose pending timers to delete, and the timers to insert (always in the future). The
storage layer applies all four in one transaction: delete first, then insert.

Transition tables: docs/deadlines.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from sievert_deadlines.domain.calendar import due_instant, end_of_day, require_aware
from sievert_deadlines.domain.policy import DeadlinePolicy
from sievert_deadlines.domain.state import (
    LOCAL_WINDOWS,
    NOTIFIABLE_WINDOWS,
    DeadlineEvent,
    Extension,
    ExtensionRefusedError,
    IncidentDeadlines,
    WindowState,
    WindowStatus,
)
from sievert_deadlines.domain.timers import PlannedTimer, settle
from sievert_shared.events.deadlines import (
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineScheduled,
    Window,
)

CANCELLED_NOT_NOTIFIABLE = (
    "re-classified as not notifiable: no Regulation 8(4) notification or report is due; "
    "the incident is investigated locally under Regulation 8(3)"
)
CANCELLED_NOTIFIABLE = (
    "re-classified as notifiable: the Regulation 8(4) windows replace the local investigation window"
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one transition. Empty events and timers mean nothing changed."""

    deadlines: IncidentDeadlines | None
    events: tuple[DeadlineEvent, ...] = ()
    cancel_timers: tuple[Window, ...] = ()
    """Delete every pending timer of these windows (of this incident) before inserting."""
    schedule_timers: tuple[PlannedTimer, ...] = ()


@dataclass
class _Changes:
    deadlines: IncidentDeadlines
    policy: DeadlinePolicy
    now: dt.datetime
    events: list[DeadlineEvent] = field(default_factory=list)
    cancel: list[Window] = field(default_factory=list)
    schedule: list[PlannedTimer] = field(default_factory=list)

    def put(self, state: WindowState) -> None:
        self.deadlines = self.deadlines.with_window(state)

    def replan(self, state: WindowState) -> None:
        """Replace the window's timers with a fresh plan; fire at once what is already due."""
        self.put(state)
        self.drop_timers(state.window)
        events, pending = settle(self.deadlines.incident_id, state, self.policy, self.now)
        self.events.extend(events)
        self.schedule.extend(pending)

    def drop_timers(self, window: Window) -> None:
        if window not in self.cancel:
            self.cancel.append(window)

    def decision(self) -> Decision:
        return Decision(self.deadlines, tuple(self.events), tuple(self.cancel), tuple(self.schedule))


def _scheduled(state: WindowState) -> DeadlineScheduled:
    return DeadlineScheduled(
        window=state.window,
        due_at=state.due_at,
        discovered_on=state.discovered_on,
        authority=state.authority,
    )


def on_classified(
    deadlines: IncidentDeadlines | None,
    *,
    incident_id: uuid.UUID,
    notifiable: bool,
    authority: str | None,
    discovered_on: dt.date,
    policy: DeadlinePolicy,
    now: dt.datetime,
) -> Decision:
    """Apply a classification (``IncidentClassified``) or a re-classification
    (``IncidentReclassified``, including an amended discovery date).

    Windows the new classification does not call for are cancelled; the ones it does are opened,
    counted from ``discovered_on`` (the original discovery, however late the classification), or
    re-planned if their due moved. Anything already due fires at once, so an incident found to
    be notifiable after its 2 weeks have passed gets ``DeadlineMissed`` in this decision. A met
    window is final. The same classification applied twice changes nothing.
    """
    require_aware(now, "now")
    if deadlines is not None:
        if deadlines.incident_id != incident_id:
            raise ValueError(f"classification for {incident_id} applied to {deadlines.incident_id}")
        if (deadlines.notifiable, deadlines.authority, deadlines.discovered_on) == (
            notifiable,
            authority,
            discovered_on,
        ):
            return Decision(deadlines)

    changes = _Changes(
        IncidentDeadlines(
            incident_id=incident_id,
            notifiable=notifiable,
            authority=authority,
            discovered_on=discovered_on,
            windows=deadlines.windows if deadlines is not None else (),
        ),
        policy,
        now,
    )
    wanted = NOTIFIABLE_WINDOWS if notifiable else LOCAL_WINDOWS
    reason = CANCELLED_NOTIFIABLE if notifiable else CANCELLED_NOT_NOTIFIABLE

    for state in changes.deadlines.open_windows():
        if state.window not in wanted:
            changes.put(replace(state, status=WindowStatus.CANCELLED))
            changes.drop_timers(state.window)
            changes.events.append(DeadlineCancelled(window=state.window, due_at=state.due_at, reason=reason))

    for window in wanted:
        window_authority = authority if window in NOTIFIABLE_WINDOWS else None
        current = changes.deadlines.window(window)
        if current is None or current.status is WindowStatus.CANCELLED:
            opened = WindowState(
                window=window,
                status=WindowStatus.OPEN,
                discovered_on=discovered_on,
                due_at=due_instant(discovered_on, window, policy),
                authority=window_authority,
            )
            changes.events.append(_scheduled(opened))
            changes.replan(opened)
        elif current.is_open:
            # An agreed extension is a date agreed with the inspector: it stands unless the
            # amended discovery date now gives a later statutory due.
            statutory = due_instant(discovered_on, window, policy)
            due_at = max([statutory, *(extension.due_at for extension in current.extensions)])
            moved = replace(current, discovered_on=discovered_on, due_at=due_at, authority=window_authority)
            if moved == current:
                continue
            changes.events.append(_scheduled(moved))
            if moved.due_at != current.due_at:
                changes.replan(moved)
            else:
                changes.put(moved)
    return changes.decision()


def on_submitted(
    deadlines: IncidentDeadlines | None, *, window: Window, submitted_at: dt.datetime
) -> Decision:
    """Meet ``window``: ``NotificationSubmitted`` meets the notification window and
    ``InvestigationReportSubmitted`` the report window. Late if ``submitted_at >= due_at``.

    The first submission meets the window; a repeat, or a submission for a window that is not
    open (never opened, already met, cancelled), changes nothing.
    """
    require_aware(submitted_at, "submitted_at")
    state = deadlines.window(window) if deadlines is not None else None
    if deadlines is None or state is None or not state.is_open:
        return Decision(deadlines)
    met = replace(state, status=WindowStatus.MET, met_at=submitted_at)
    return Decision(
        deadlines.with_window(met),
        events=(DeadlineMet(window=window, due_at=state.due_at, met_at=submitted_at, late=met.met_late),),
        cancel_timers=(window,),
    )


def on_extended(
    deadlines: IncidentDeadlines | None,
    *,
    window: Window,
    extended_to: dt.date,
    agreed_by: str,
    reason: str,
    policy: DeadlinePolicy,
    now: dt.datetime,
) -> Decision:
    """Move the report window's last day in time to ``extended_to``, as agreed with the
    enforcing authority (CQC guidance: "If you cannot submit the report within the expected
    timeframe, you need to discuss with an inspector").

    Only an open investigation-report window can be extended, only to a later day, and only
    with who agreed and why; anything else raises ``ExtensionRefusedError``. The same extension
    applied twice changes nothing.
    """
    require_aware(now, "now")
    if window is not Window.INVESTIGATION_REPORT:
        raise ExtensionRefusedError(
            f"only the investigation report window can be extended, not {window}: "
            "the 2-week notification and local investigation windows are not negotiated"
        )
    state = deadlines.window(window) if deadlines is not None else None
    if deadlines is None or state is None or not state.is_open:
        raise ExtensionRefusedError("there is no open investigation report window to extend")
    if not agreed_by.strip() or not reason.strip():
        raise ExtensionRefusedError("an extension records who agreed it and why")
    due_at = end_of_day(extended_to)
    if due_at == state.due_at:
        return Decision(deadlines)
    if due_at < state.due_at:
        raise ExtensionRefusedError(
            f"an extension moves the due later, not from {state.due_at.isoformat()} to {due_at.isoformat()}"
        )
    try:
        extended = DeadlineExtended(
            window=window, due_at=due_at, previous_due_at=state.due_at, agreed_by=agreed_by, reason=reason
        )
    except ValidationError as exc:
        raise ExtensionRefusedError(f"extension rejected: {exc}") from exc

    changes = _Changes(deadlines, policy, now, events=[extended])
    changes.replan(
        replace(
            state,
            due_at=due_at,
            extensions=(*state.extensions, Extension(state.due_at, due_at, agreed_by, reason)),
        )
    )
    return changes.decision()
