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
from dataclasses import replace

from pydantic import ValidationError

from sievert_deadlines.domain.calendar import due_instant, end_of_day, require_aware
from sievert_deadlines.domain.case import (
    REOPENED_NOTIFIABLE,
    cancel,
    meet,
    review_case,
    start_of_day,
)
from sievert_deadlines.domain.changes import Changes, Decision, scheduled
from sievert_deadlines.domain.policy import DEFAULT_POLICY, DeadlinePolicy
from sievert_deadlines.domain.state import (
    NOTIFIABLE_WINDOWS,
    Extension,
    ExtensionRefusedError,
    IncidentDeadlines,
    WindowState,
    WindowStatus,
    Withdrawal,
)
from sievert_shared.decision import DecisionStatus
from sievert_shared.events.cases import NotificationWithdrawalRequested
from sievert_shared.events.deadlines import DeadlineExtended, Window

__all__ = ["Decision", "on_classified", "on_extended", "on_submitted"]

CANCELLED_NOT_NOTIFIABLE = (
    "re-classified as not notifiable: no Regulation 8(4) notification or report is due; "
    "the incident is investigated locally under Regulation 8(3)"
)
CANCELLED_NOTIFIABLE = (
    "re-classified as notifiable: the Regulation 8(4) windows replace the local investigation window"
)
CANCELLED_PROVISIONAL = (
    "the facts arrived and the incident is not notifiable: the provisional notification window is "
    "withdrawn; the incident is investigated locally under Regulation 8(3)"
)
CANCELLED_UNDECIDED = (
    "re-classified as undecided: the report window opens again, from the same date, if the facts "
    "make the incident notifiable"
)
REOPENED_UNDECIDED = (
    "amended facts leave the decision undecided: the notification window runs again, provisionally"
)
WITHDRAWAL_REASON = (
    "re-classified as not notifiable after the notification was made: the investigation report stays "
    "due until the authority agrees to withdraw the notification"
)

_Wanted = dict[Window, bool]
"""The windows a decision calls for, each with whether it is provisional."""


def _wanted(status: DecisionStatus, notified: bool) -> tuple[_Wanted, tuple[Window, ...]]:
    """The windows a decision calls for, and the open ones it keeps though it does not call for
    them (a notification once made stands: its report stays due until the authority agrees)."""
    N, R, L = Window.NOTIFICATION, Window.INVESTIGATION_REPORT, Window.LOCAL_INVESTIGATION
    if status is DecisionStatus.NOTIFIABLE:
        return {N: False, R: False}, ()
    if notified:
        return ({L: False} if status is DecisionStatus.NOT_NOTIFIABLE else {}), (R,)
    if status is DecisionStatus.UNDECIDED:
        return {N: True, L: False}, ()
    return {L: False}, ()


def _cancel_reason(state: WindowState, status: DecisionStatus) -> str:
    if status is DecisionStatus.NOTIFIABLE:
        return CANCELLED_NOTIFIABLE
    if state.provisional:
        return CANCELLED_PROVISIONAL
    if status is DecisionStatus.UNDECIDED:
        return CANCELLED_UNDECIDED
    return CANCELLED_NOT_NOTIFIABLE


def on_classified(
    deadlines: IncidentDeadlines | None,
    *,
    incident_id: uuid.UUID,
    notifiable: bool,
    authority: str | None,
    discovered_on: dt.date,
    policy: DeadlinePolicy,
    now: dt.datetime,
    status: DecisionStatus | None = None,
    needs_facts: tuple[str, ...] = (),
    theme_identified_on: dt.date | None = None,
    modality: str | None = None,
) -> Decision:
    """Apply a classification (``IncidentClassified``) or a re-classification
    (``IncidentReclassified``, including an amended discovery date).

    Windows the new classification does not call for are cancelled; the ones it does are opened,
    counted from ``discovered_on`` (the original discovery, however late the classification), or
    from ``theme_identified_on`` for code M from a theme (line 278), or re-planned if their due
    moved. Anything already due fires at once, so an incident found to be notifiable after its 2
    weeks have passed gets ``DeadlineMissed`` in this decision. A met window is final.

    ``status`` ``undecided`` with ``needs_facts`` (the decision's ``needs_facts_for_notification``)
    opens the notification window provisionally beside the local one: the 2 weeks run from
    discovery whatever the classifier still waits for (line 219). A notified incident re-classified
    as not notifiable keeps its report window open and asks the authority to withdraw
    (``NotificationWithdrawalRequested``). The same classification applied twice changes nothing.
    """
    require_aware(now, "now")
    status = status or (DecisionStatus.NOTIFIABLE if notifiable else DecisionStatus.NOT_NOTIFIABLE)
    needs = tuple(needs_facts) if status is DecisionStatus.UNDECIDED else ()
    if status is DecisionStatus.UNDECIDED and not needs:
        status = DecisionStatus.NOT_NOTIFIABLE  # nothing is awaited: settled
    theme = theme_identified_on if status is DecisionStatus.NOTIFIABLE else None
    if deadlines is not None:
        if deadlines.incident_id != incident_id:
            raise ValueError(f"classification for {incident_id} applied to {deadlines.incident_id}")
        seen = (
            deadlines.status,
            deadlines.authority,
            deadlines.discovered_on,
            deadlines.needs_facts,
            deadlines.theme_identified_on,
        )
        if seen == (status, authority, discovered_on, needs, theme):
            return Decision(deadlines)

    previous = deadlines or IncidentDeadlines(
        incident_id=incident_id, notifiable=False, authority=None, discovered_on=discovered_on
    )
    changes = Changes(
        replace(
            previous,
            notifiable=status is DecisionStatus.NOTIFIABLE,
            decision_status=status,
            needs_facts=needs,
            authority=authority,
            discovered_on=discovered_on,
            theme_identified_on=theme,
        ),
        policy,
        now,
        modality,
        original=deadlines,
    )
    wanted, kept = _wanted(status, previous.notified)
    for state in changes.deadlines.open_windows():
        if state.window not in wanted and state.window not in kept:
            cancel(changes, state, _cancel_reason(state, status))

    # Code M from a theme: the SAUE was discovered when the theme was identified (line 278),
    # never before the incident itself was.
    clock_from = max(discovered_on, theme) if theme is not None else None
    for window, provisional in wanted.items():
        _open_or_move(changes, window, provisional, clock_from, authority)

    _ask_for_withdrawal(changes, status)
    notifiable_now = status is DecisionStatus.NOTIFIABLE
    review_case(changes, reopen_reason=REOPENED_NOTIFIABLE if notifiable_now else REOPENED_UNDECIDED)
    return changes.decision()


def _open_or_move(
    changes: Changes, window: Window, provisional: bool, clock_from: dt.date | None, authority: str | None
) -> None:
    deadlines, policy = changes.deadlines, changes.policy
    regulation_8_4 = window in NOTIFIABLE_WINDOWS
    window_authority = authority if regulation_8_4 else None
    window_clock = clock_from if regulation_8_4 and clock_from != deadlines.discovered_on else None
    counts_from = window_clock or deadlines.discovered_on
    needs = deadlines.needs_facts if provisional else ()
    current = deadlines.window(window)
    if current is not None and current.status is WindowStatus.CANCELLED:
        if regulation_8_4 and deadlines.case.authority_closed_on is not None:
            return  # the authority closed the case: it expects nothing more
        current = None
    if current is None:
        opened = WindowState(
            window=window,
            status=WindowStatus.OPEN,
            discovered_on=deadlines.discovered_on,
            due_at=due_instant(counts_from, window, policy),
            authority=window_authority,
            clock_from=window_clock,
            provisional=provisional,
            needs_facts=needs,
        )
        changes.events.append(scheduled(opened))
        changes.replan(opened)
        closed_on = deadlines.case.local_closed_on
        if window is Window.LOCAL_INVESTIGATION and closed_on is not None:
            # The investigation was closed while the incident was notifiable: its record stands.
            local = changes.deadlines.window(window)
            assert local is not None
            meet(changes, local, start_of_day(closed_on))
        return
    if not current.is_open:
        return
    # An agreed extension is a date agreed with the inspector: it stands unless the amended
    # discovery date now gives a later statutory due.
    statutory = due_instant(counts_from, window, policy)
    due_at = max([statutory, *(extension.due_at for extension in current.extensions)])
    moved = replace(
        current,
        discovered_on=deadlines.discovered_on,
        due_at=due_at,
        authority=window_authority,
        clock_from=window_clock,
        provisional=provisional,
        needs_facts=needs,
    )
    if moved == current:
        return
    changes.events.append(scheduled(moved))
    if moved.due_at != current.due_at:
        changes.replan(moved)
    else:
        changes.put(moved)


def _ask_for_withdrawal(changes: Changes, status: DecisionStatus) -> None:
    """Notified, then settled as not notifiable: nothing is cancelled silently. The report stays
    due, and the authority is asked to agree to the withdrawal. Notifiable again: the request
    lapses (nothing was agreed)."""
    deadlines = changes.deadlines
    case = deadlines.case
    if status is DecisionStatus.NOTIFIABLE and case.withdrawal_pending:
        changes.deadlines = deadlines.with_case(replace(case, withdrawal=None))
        return
    if status is not DecisionStatus.NOT_NOTIFIABLE or not deadlines.notified or case.withdrawal is not None:
        return
    if case.authority_closed_on is not None:
        return  # the authority closed the notification already
    notification = deadlines.window(Window.NOTIFICATION)
    assert notification is not None
    authority = notification.authority or "enforcing authority"
    changes.deadlines = deadlines.with_case(
        replace(case, withdrawal=Withdrawal(authority=authority, requested_reason=WITHDRAWAL_REASON))
    )
    changes.events.append(NotificationWithdrawalRequested(authority=authority, reason=WITHDRAWAL_REASON))


def on_submitted(
    deadlines: IncidentDeadlines | None,
    *,
    window: Window,
    submitted_at: dt.datetime,
    policy: DeadlinePolicy | None = None,
    now: dt.datetime | None = None,
    modality: str | None = None,
) -> Decision:
    """Meet ``window``: ``NotificationSubmitted`` meets the notification window and
    ``InvestigationReportSubmitted`` the report window. Late if ``submitted_at`` is at or after the
    due that binds (``WindowState.binding_due_at``), with the days late counted against it.

    The first submission meets the window; a repeat, or a submission for a window that is not
    open (never opened, already met, cancelled), changes nothing. A provisional notification
    window is met like a firm one: the trust notified before the facts settled.
    """
    require_aware(submitted_at, "submitted_at")
    state = deadlines.window(window) if deadlines is not None else None
    if deadlines is None or state is None or not state.is_open:
        return Decision(deadlines)
    changes = Changes(deadlines, policy or DEFAULT_POLICY, now or submitted_at, modality)
    meet(changes, state, submitted_at)
    review_case(changes, reopen_reason="a submission was recorded")
    return changes.decision()


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
    enforcing authority (CQC guidance line 221: "If you cannot submit the report within the
    expected timeframe, you need to discuss with an inspector ... as early as possible").

    An extension agreed after the due has passed keeps the miss on record: ``DeadlineExtended``
    says ``agreed_after_due`` with ``missed_at``, and a report met afterwards is counted late
    against the due the extension came too late for (``WindowState.binding_due_at``).

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
    agreed_after_due = now >= state.due_at
    try:
        extended = DeadlineExtended(
            window=window,
            due_at=due_at,
            previous_due_at=state.due_at,
            agreed_by=agreed_by,
            reason=reason,
            agreed_after_due=agreed_after_due,
            missed_at=state.binding_due_at if agreed_after_due else None,
        )
    except ValidationError as exc:
        raise ExtensionRefusedError(f"extension rejected: {exc}") from exc

    changes = Changes(deadlines, policy, now, events=[extended])
    changes.replan(
        replace(
            state,
            due_at=due_at,
            extensions=(*state.extensions, Extension(state.due_at, due_at, agreed_by, reason, agreed_at=now)),
        )
    )
    return changes.decision()
