"""Pure transitions of a case's life after its decision: the local investigation's close-out,
withdrawal of a notification, the authority's correspondence and closure, and the case's own
closure and retention.

Every transition takes the current ``IncidentDeadlines`` and returns a ``Decision`` like the
window transitions do (``changes.py``), and ends with ``review_case``, the one place that
decides whether the case is closed, stays open or opens again. Transition tables:
docs/deadlines.md, "The case".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sievert_deadlines.domain.calendar import LONDON, require_aware
from sievert_deadlines.domain.changes import Changes, Decision, scheduled
from sievert_deadlines.domain.policy import DeadlinePolicy
from sievert_deadlines.domain.state import (
    CaseState,
    CaseStatus,
    DeadlineError,
    IncidentDeadlines,
    WindowState,
    WindowStatus,
)
from sievert_deadlines.domain.timers import fire, retention_timer
from sievert_shared.errors import ConflictError, UnprocessableError
from sievert_shared.events.cases import (
    CaseClosed,
    CaseClosureBasis,
    CaseReopened,
    NotificationWithdrawalAgreed,
)
from sievert_shared.events.deadlines import DeadlineCancelled, DeadlineMet, Window

REOPENED_NOTIFIABLE = "amended facts made the incident notifiable: Regulation 8(4) windows are open again"
REOPENED_AUTHORITY_WROTE = "the enforcing authority wrote again after closing the case (line 118)"


class WithdrawalRefusedError(DeadlineError, ConflictError):
    """The case's state refuses the withdrawal: never notified, none pending, or another
    agreement already recorded."""

    title = "Withdrawal refused"


class WithdrawalDateError(DeadlineError, UnprocessableError):
    """The agreement's date cannot be right: before the notification was made, or in the future."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"path": "body/agreed_on", "message": detail}])


def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 Europe/London on ``day``, in UTC: the instant a close-out recorded as a day counts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON).astimezone(dt.UTC)


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def meet(changes: Changes, state: WindowState, met_at: dt.datetime) -> None:
    """Meet an open window at ``met_at``: ``DeadlineMet`` with its lateness against the due that
    binds (``WindowState.binding_due_at``), and its timers stopped."""
    days_late = state.days_late(met_at)
    changes.put(replace(state, status=WindowStatus.MET, met_at=met_at))
    changes.drop_timers(state.window)
    changes.events.append(
        DeadlineMet(
            window=state.window, due_at=state.due_at, met_at=met_at, late=days_late > 0, days_late=days_late
        )
    )


def cancel(changes: Changes, state: WindowState, reason: str) -> None:
    changes.put(replace(state, status=WindowStatus.CANCELLED, cancelled_reason=reason))
    changes.drop_timers(state.window)
    changes.events.append(DeadlineCancelled(window=state.window, due_at=state.due_at, reason=reason))


def _close(changes: Changes, basis: CaseClosureBasis, closed_on: dt.date) -> None:
    years = changes.policy.retention_years(changes.modality)
    retain_until = add_years(closed_on, years)
    case = changes.deadlines.case
    changes.deadlines = changes.deadlines.with_case(
        replace(case, status=CaseStatus.CLOSED, closed_on=closed_on, basis=basis, retain_until=retain_until)
    )
    changes.events.append(CaseClosed(closed_on=closed_on, basis=basis, retain_until=retain_until))
    changes.drop_timers(None)
    timer = retention_timer(changes.deadlines.incident_id, retain_until)
    if timer.fire_at > changes.now:
        changes.schedule.append(timer)
    else:  # a case closed long ago and only now recorded: its retention has already run out
        changes.events.extend(fire(timer, changes.deadlines, changes.policy, changes.now).events)


def _reopen(changes: Changes, reason: str) -> None:
    case = changes.deadlines.case
    status = CaseStatus.WITHDRAWAL_REQUESTED if case.withdrawal_pending else CaseStatus.OPEN
    changes.deadlines = changes.deadlines.with_case(
        replace(case, status=status, closed_on=None, basis=None, retain_until=None)
    )
    changes.events.append(CaseReopened(reason=reason))
    changes.drop_timers(None)


def review_case(changes: Changes, reopen_reason: str) -> None:
    """Close, keep open or reopen the case after a transition (docs/deadlines.md, "The case").

    Nothing closes a case while a window is open or the authority has a question unanswered. A
    notified case is closed by the authority (line 129: "signal closure of the notification by
    email"), unless the authority agreed to withdraw the notification; a case with no
    notification due, or withdrawn, is closed when its local investigation is (lines 223-227).
    """
    deadlines = changes.deadlines
    case = deadlines.case
    blocked = bool(deadlines.open_windows()) or bool(case.open_queries)
    pending = case.withdrawal_pending and case.authority_closed_on is None
    if case.status is CaseStatus.CLOSED:
        if blocked or pending:
            _reopen(changes, reopen_reason)
        return
    status = CaseStatus.WITHDRAWAL_REQUESTED if pending else CaseStatus.OPEN
    if status is not case.status:
        changes.deadlines = deadlines.with_case(replace(case, status=status))
    if blocked or pending:
        return
    if case.authority_closed_on is not None:
        _close(changes, CaseClosureBasis.AUTHORITY_CLOSED, case.authority_closed_on)
        return
    if deadlines.notified and not case.withdrawn:
        return  # the authority holds the notification: only it closes the case
    local = deadlines.window(Window.LOCAL_INVESTIGATION)
    if case.local_closed_on is not None and local is not None and local.status is WindowStatus.MET:
        _close(changes, CaseClosureBasis.LOCAL_INVESTIGATION_CLOSED, case.local_closed_on)


def _changes(
    deadlines: IncidentDeadlines, policy: DeadlinePolicy, now: dt.datetime, modality: str | None
) -> Changes:
    require_aware(now, "now")
    return Changes(deadlines, policy, now, modality)


def _with_case(changes: Changes, case: CaseState) -> None:
    changes.deadlines = changes.deadlines.with_case(case)


def on_local_investigation_closed(
    deadlines: IncidentDeadlines | None,
    *,
    closed_on: dt.date,
    policy: DeadlinePolicy,
    now: dt.datetime,
    modality: str | None = None,
) -> Decision:
    """``LocalInvestigationClosed``: the investigation and its record are closed (lines 223-227).

    Meets the local window (``DeadlineMet``, on time or late: a close-out on the last day in time
    is on time), and a case with no notification due then closes. A close-out while the local
    window is not open (the incident is notifiable) is remembered: if a later re-classification
    opens the local window, it is met at once on that day. A repeat changes nothing.
    """
    if deadlines is None:
        return Decision(None)
    changes = _changes(deadlines, policy, now, modality)
    if deadlines.case.local_closed_on is not None:
        return Decision(deadlines)
    _with_case(changes, replace(deadlines.case, local_closed_on=closed_on))
    local = changes.deadlines.window(Window.LOCAL_INVESTIGATION)
    if local is not None and local.is_open:
        meet(changes, local, start_of_day(closed_on))
    review_case(changes, reopen_reason="the local investigation was closed")
    return changes.decision()


def on_local_investigation_reopened(
    deadlines: IncidentDeadlines | None,
    *,
    reason: str,
    policy: DeadlinePolicy,
    now: dt.datetime,
    modality: str | None = None,
) -> Decision:
    """``LocalInvestigationReopened``: the local window runs again against its original due; if
    that has passed, it is missed at once (``DeadlineMissed`` and the current ``DeadlineOverdue``).
    A case closed on its local investigation opens again (``CaseReopened``). A repeat, or a
    reopening while nothing was closed, changes nothing."""
    if deadlines is None or deadlines.case.local_closed_on is None:
        return Decision(deadlines)
    changes = _changes(deadlines, policy, now, modality)
    _with_case(changes, replace(deadlines.case, local_closed_on=None))
    local = changes.deadlines.window(Window.LOCAL_INVESTIGATION)
    if local is not None and local.status is WindowStatus.MET:
        reopened = replace(local, status=WindowStatus.OPEN, met_at=None)
        changes.events.append(scheduled(reopened))
        changes.replan(reopened)
    review_case(changes, reopen_reason=f"the local investigation was reopened: {reason}")
    return changes.decision()


def on_withdrawal_agreed(
    deadlines: IncidentDeadlines,
    *,
    agreed_on: dt.date,
    authority_reference: str,
    recorded_by_role: str,
    policy: DeadlinePolicy,
    now: dt.datetime,
    modality: str | None = None,
) -> Decision:
    """A person records the authority's agreement to withdraw a notification that no longer
    meets the criteria: ``NotificationWithdrawalAgreed``, then the report window is cancelled
    with the agreement (and its reference) as the reason. The same agreement again changes
    nothing; another one, or none pending, or an incident never notified, is refused (409)."""
    changes = _changes(deadlines, policy, now, modality)
    case = deadlines.case
    withdrawal = case.withdrawal
    if not deadlines.notified:
        raise WithdrawalRefusedError(
            "the incident was never notified: there is no notification to withdraw "
            "(a re-classification before notifying cancels its windows)",
            version=deadlines.version,
        )
    if withdrawal is not None and withdrawal.agreed:
        if (withdrawal.agreed_on, withdrawal.authority_reference) == (agreed_on, authority_reference):
            return Decision(deadlines)
        raise WithdrawalRefusedError(
            f"the withdrawal was already agreed on {withdrawal.agreed_on} "
            f"(reference {withdrawal.authority_reference})",
            version=deadlines.version,
        )
    if withdrawal is None:
        raise WithdrawalRefusedError(
            "no withdrawal is pending: the incident is still classified as notifiable",
            version=deadlines.version,
        )
    notification = deadlines.window(Window.NOTIFICATION)
    assert notification is not None and notification.met_at is not None
    notified_on = notification.met_at.astimezone(LONDON).date()
    if agreed_on < notified_on:
        raise WithdrawalDateError(
            f"agreed_on {agreed_on} is before the notification was made ({notified_on})"
        )
    if agreed_on > now.astimezone(LONDON).date():
        raise WithdrawalDateError(f"agreed_on {agreed_on} is in the future")
    agreed = replace(
        withdrawal,
        agreed_on=agreed_on,
        authority_reference=authority_reference,
        recorded_by_role=recorded_by_role,
    )
    _with_case(changes, replace(case, withdrawal=agreed))
    changes.events.append(
        NotificationWithdrawalAgreed(
            authority=withdrawal.authority,
            agreed_on=agreed_on,
            authority_reference=authority_reference,
            recorded_by_role=recorded_by_role,
        )
    )
    report = changes.deadlines.window(Window.INVESTIGATION_REPORT)
    if report is not None and report.is_open:
        cancel(
            changes,
            report,
            f"the {withdrawal.authority} agreed on {agreed_on.isoformat()} to withdraw the notification "
            f"(reference {authority_reference}): no investigation report is due",
        )
    review_case(changes, reopen_reason="withdrawal agreed")
    return changes.decision()


def on_authority_closed(
    deadlines: IncidentDeadlines | None,
    *,
    authority: str,
    closed_on: dt.date,
    reference: str | None,
    policy: DeadlinePolicy,
    now: dt.datetime,
    modality: str | None = None,
) -> Decision:
    """``AuthorityClosedCase`` (line 129). The case closes (once no question of the authority is
    open). A Regulation 8(4) window still open is cancelled with the closure as its reason: the
    authority that expects the report has released the trust from it. A repeat changes nothing."""
    if deadlines is None or deadlines.case.authority_closed_on is not None:
        return Decision(deadlines)
    changes = _changes(deadlines, policy, now, modality)
    _with_case(
        changes, replace(deadlines.case, authority_closed_on=closed_on, authority_closure_reference=reference)
    )
    named = f" (reference {reference})" if reference else ""
    for window in (Window.NOTIFICATION, Window.INVESTIGATION_REPORT):
        state = changes.deadlines.window(window)
        if state is not None and state.is_open:
            cancel(
                changes,
                state,
                f"the {authority} closed the case on {closed_on.isoformat()}{named} before this was sent",
            )
    review_case(changes, reopen_reason="the authority closed the case")
    return changes.decision()


def on_authority_query_received(
    deadlines: IncidentDeadlines | None,
    *,
    query_id: str,
    policy: DeadlinePolicy,
    now: dt.datetime,
    modality: str | None = None,
) -> Decision:
    """``AuthorityQueryReceived`` (line 118: "If we need more details we may contact you"). An
    open question keeps the case open, and reopens a closed one. A repeat changes nothing."""
    if deadlines is None or query_id in deadlines.case.open_queries:
        return Decision(deadlines)
    changes = _changes(deadlines, policy, now, modality)
    _with_case(changes, replace(deadlines.case, open_queries=(*deadlines.case.open_queries, query_id)))
    review_case(changes, reopen_reason=REOPENED_AUTHORITY_WROTE)
    return changes.decision()


def on_authority_query_answered(
    deadlines: IncidentDeadlines | None,
    *,
    query_id: str,
    answered_on: dt.date,
    policy: DeadlinePolicy,
    now: dt.datetime,
    modality: str | None = None,
) -> Decision:
    """``AuthorityQueryAnswered``: the question is no longer open. A case the authority had
    closed before it wrote again closes again, on the day of the answer."""
    if deadlines is None or query_id not in deadlines.case.open_queries:
        return Decision(deadlines)
    changes = _changes(deadlines, policy, now, modality)
    remaining = tuple(q for q in deadlines.case.open_queries if q != query_id)
    case = replace(deadlines.case, open_queries=remaining)
    if case.authority_closed_on is not None and not remaining:
        case = replace(case, authority_closed_on=max(case.authority_closed_on, answered_on))
    _with_case(changes, case)
    review_case(changes, reopen_reason=REOPENED_AUTHORITY_WROTE)
    return changes.decision()
