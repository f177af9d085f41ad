"""The case lifecycle's transitions (docs/deadlines.md, "The case"), table by table.

Incident discovered 2025-03-16 throughout: notification due 2025-03-30T23:00Z (00:00 BST 31 Mar),
report due 2025-06-08T23:00Z, local investigation (30 days) due 2025-04-15T23:00Z.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from sievert_deadlines.domain import (
    DEFAULT_POLICY,
    CaseStatus,
    DeadlinePolicy,
    Decision,
    IncidentDeadlines,
    TimerKind,
    WindowStatus,
    WithdrawalDateError,
    WithdrawalRefusedError,
    fire,
    on_authority_closed,
    on_authority_query_answered,
    on_authority_query_received,
    on_classified,
    on_extended,
    on_local_investigation_closed,
    on_local_investigation_reopened,
    on_submitted,
    on_withdrawal_agreed,
)
from sievert_deadlines.domain.case import add_years
from sievert_shared.decision import DecisionStatus
from sievert_shared.events.cases import CaseClosed, CaseClosureBasis, NotificationWithdrawalAgreed
from sievert_shared.events.deadlines import (
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineScheduled,
    Window,
)
from tests.unit.deadlines.deadline_support import INCIDENT, FakeTimerStore, describe_all, london, utc

N, R, L = Window.NOTIFICATION, Window.INVESTIGATION_REPORT, Window.LOCAL_INVESTIGATION
DISCOVERED = dt.date(2025, 3, 16)
N_DUE, R_DUE = utc("2025-03-30T23:00"), utc("2025-06-08T23:00")
SCHEDULED_N = "Scheduled notification due 2025-03-30T23:00Z"
SCHEDULED_R = "Scheduled investigation_report due 2025-06-08T23:00Z"
SCHEDULED_L = "Scheduled local_investigation due 2025-04-15T23:00Z"
NEEDS = ("total_effective_dose_msv",)
UNDECIDED, NOTIFIABLE, NOT_NOTIFIABLE = (
    DecisionStatus.UNDECIDED,
    DecisionStatus.NOTIFIABLE,
    DecisionStatus.NOT_NOTIFIABLE,
)


def classify(
    deadlines: IncidentDeadlines | None,
    now: dt.datetime,
    status: DecisionStatus,
    *,
    needs: tuple[str, ...] = NEEDS,
    theme_identified_on: dt.date | None = None,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    modality: str | None = "ct",
) -> Decision:
    return on_classified(
        deadlines,
        incident_id=INCIDENT,
        notifiable=status is NOTIFIABLE,
        status=status,
        needs_facts=needs if status is UNDECIDED else (),
        authority=None if status is NOT_NOTIFIABLE else "cqc",
        discovered_on=DISCOVERED,
        theme_identified_on=theme_identified_on,
        policy=policy,
        now=now,
        modality=modality,
    )


def state(decision: Decision) -> IncidentDeadlines:
    assert decision.deadlines is not None
    return decision.deadlines


def statuses(deadlines: IncidentDeadlines | None) -> dict[Window, str]:
    assert deadlines is not None
    return {w.window: w.status.value for w in deadlines.windows}


CLASSIFIED_AT = london(2025, 3, 16, 12)
NOTIFIED_AT = london(2025, 3, 20, 10)


def undecided(now: dt.datetime = CLASSIFIED_AT) -> IncidentDeadlines:
    return state(classify(None, now, UNDECIDED))


def notified(at: dt.datetime = NOTIFIED_AT) -> IncidentDeadlines:
    opened = state(classify(None, london(2025, 3, 16, 12), NOTIFIABLE))
    return state(on_submitted(opened, window=N, submitted_at=at, policy=DEFAULT_POLICY, now=at))


# --- 1. The provisional notification clock (line 219) -----------------------------------------


def test_provisional_notification_opens_beside_the_local_window() -> None:
    decision = classify(None, london(2025, 3, 16, 12), UNDECIDED)

    assert describe_all(decision.events) == [f"{SCHEDULED_N} provisional", SCHEDULED_L]
    scheduled = decision.events[0]
    assert isinstance(scheduled, DeadlineScheduled)
    assert (scheduled.provisional, scheduled.needs_facts, scheduled.clock_from) == (
        True,
        list(NEEDS),
        DISCOVERED,
    )
    assert statuses(decision.deadlines) == {N: "open", L: "open"}
    planned = [(t.kind, t.window) for t in decision.schedule_timers]
    assert (TimerKind.EARLY, N) in planned and (TimerKind.DUE, N) in planned


@pytest.mark.parametrize(
    ("settled", "events", "windows"),
    [
        pytest.param(
            NOTIFIABLE,
            ["Cancelled local_investigation", SCHEDULED_N, SCHEDULED_R],
            {N: "open", R: "open", L: "cancelled"},
            id="provisional_notification-becomes-firm",
        ),
        pytest.param(
            NOT_NOTIFIABLE,
            ["Cancelled notification"],
            {N: "cancelled", L: "open"},
            id="provisional_notification-cancelled-not-notifiable",
        ),
    ],
)
def test_provisional_notification_settles(
    settled: DecisionStatus, events: list[str], windows: dict[Window, str]
) -> None:
    decision = classify(undecided(), london(2025, 3, 25, 12), settled)

    assert describe_all(decision.events) == events
    assert statuses(decision.deadlines) == windows
    notification = state(decision).window(N)
    assert notification is not None and notification.due_at == N_DUE  # same due, firm or gone
    assert notification.provisional is (settled is NOT_NOTIFIABLE)  # cancelled as it stood
    if settled is NOT_NOTIFIABLE:
        cancelled = decision.events[0]
        assert isinstance(cancelled, DeadlineCancelled) and "facts arrived" in cancelled.reason


def test_provisional_notification_reminders_name_the_missing_facts() -> None:
    store = FakeTimerStore(DEFAULT_POLICY)
    store.apply(classify(None, london(2025, 3, 16, 12), UNDECIDED), london(2025, 3, 16, 12))
    store.claim_and_fire(london(2025, 3, 18, 1))
    store.claim_and_fire(london(2025, 3, 24, 1))
    reminders = [e for _, e in store.emitted if isinstance(e, DeadlineApproaching)]
    assert [(e.reminder, e.early, e.provisional, e.needs_facts) for e in reminders] == [
        ("P2D", True, True, list(NEEDS)),
        ("P7D", False, True, list(NEEDS)),
    ]


def test_provisional_notification_redelivered_changes_nothing() -> None:
    first = undecided()
    assert classify(first, london(2025, 3, 17), UNDECIDED) == Decision(first)


def test_provisional_notification_new_needs_are_announced_without_moving_timers() -> None:
    decision = classify(undecided(), london(2025, 3, 17), UNDECIDED, needs=("clinically_significant",))
    assert describe_all(decision.events) == [f"{SCHEDULED_N} provisional"]
    assert decision.schedule_timers == ()
    assert state(decision).window(N).needs_facts == ("clinically_significant",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "classified_at", "expected"),
    [
        pytest.param(DEFAULT_POLICY, london(2025, 3, 16, 12), [], id="asap-default-P2D-pending"),
        pytest.param(
            DEFAULT_POLICY, london(2025, 3, 19), ["Approaching notification P2D early"], id="asap-P2D-past"
        ),
        pytest.param(
            DeadlinePolicy(asap_reminder_after_days=5),
            london(2025, 3, 22),
            ["Approaching notification P5D early"],
            id="asap-tuned-P5D",
        ),
        pytest.param(DeadlinePolicy(asap_reminder_after_days=None), london(2025, 3, 22), [], id="asap-off"),
        # The 7-day reminder has passed too: only the most recent speaks.
        pytest.param(DEFAULT_POLICY, london(2025, 3, 25), ["Approaching notification P7D"], id="asap-stale"),
    ],
)
def test_the_early_asap_reminder(
    policy: DeadlinePolicy, classified_at: dt.datetime, expected: list[str]
) -> None:
    decision = classify(None, classified_at, NOTIFIABLE, policy=policy)
    assert [e for e in describe_all(decision.events) if e.startswith("Approaching")] == expected


# --- 2. Local investigation close-out (lines 223-227) ------------------------------------------


def local(now: dt.datetime = CLASSIFIED_AT) -> IncidentDeadlines:
    return state(classify(None, now, NOT_NOTIFIABLE))


def close_local(deadlines: IncidentDeadlines, closed_on: dt.date, now: dt.datetime | None = None) -> Decision:
    return on_local_investigation_closed(
        deadlines, closed_on=closed_on, policy=DEFAULT_POLICY, now=now or london(2025, 5, 1), modality="ct"
    )


@pytest.mark.parametrize(
    ("closed_on", "met"),
    [
        pytest.param(
            dt.date(2025, 4, 10), "Met local_investigation on time", id="local_investigation_close-on-time"
        ),
        pytest.param(
            dt.date(2025, 4, 15), "Met local_investigation on time", id="local_investigation_close-last-day"
        ),
        pytest.param(
            dt.date(2025, 4, 18), "Met local_investigation late", id="local_investigation_close-late"
        ),
    ],
)
def test_local_investigation_close_meets_the_window_and_closes_the_case(closed_on: dt.date, met: str) -> None:
    decision = close_local(local(), closed_on)

    retain = add_years(closed_on, 20)
    assert describe_all(decision.events) == [
        met,
        f"CaseClosed local_investigation_closed {closed_on} until {retain}",
    ]
    met_event = decision.events[0]
    assert isinstance(met_event, DeadlineMet)
    assert met_event.days_late == max(0, (closed_on - dt.date(2025, 4, 15)).days)
    assert state(decision).case.status is CaseStatus.CLOSED
    assert [t.kind for t in decision.schedule_timers] == [TimerKind.RETENTION]
    assert set(decision.cancel_timers) == {L, None}


def test_local_investigation_close_twice_changes_nothing() -> None:
    closed = state(close_local(local(), dt.date(2025, 4, 10)))
    assert close_local(closed, dt.date(2025, 4, 10)) == Decision(closed)
    assert close_local(closed, dt.date(2025, 4, 11)) == Decision(closed)


def test_local_investigation_close_with_a_provisional_notification_keeps_the_case_open() -> None:
    decision = close_local(undecided(), dt.date(2025, 3, 20), now=london(2025, 3, 20))
    assert describe_all(decision.events) == ["Met local_investigation on time"]
    assert state(decision).case.status is CaseStatus.OPEN
    # The facts arrive: not notifiable, the provisional window goes, and the case closes.
    settled = classify(state(decision), london(2025, 3, 21), NOT_NOTIFIABLE)
    assert describe_all(settled.events) == [
        "Cancelled notification",
        f"CaseClosed local_investigation_closed 2025-03-20 until {add_years(dt.date(2025, 3, 20), 20)}",
    ]


@pytest.mark.parametrize(
    ("reopened_at", "events"),
    [
        pytest.param(
            london(2025, 4, 12),
            ["CaseReopened", SCHEDULED_L, "Approaching local_investigation P7D"],
            id="local_investigation_close-reopened-before-due",
        ),
        pytest.param(
            london(2025, 4, 20, 12),
            ["CaseReopened", SCHEDULED_L, "Missed local_investigation", "Overdue local_investigation 4"],
            id="local_investigation_close-reopened-after-due-missed-at-once",
        ),
    ],
)
def test_local_investigation_reopened_runs_from_the_original_due(
    reopened_at: dt.datetime, events: list[str]
) -> None:
    closed = state(close_local(local(), dt.date(2025, 4, 10)))
    decision = on_local_investigation_reopened(
        closed, reason="new evidence", policy=DEFAULT_POLICY, now=reopened_at
    )

    assert sorted(describe_all(decision.events)) == sorted(events)
    assert state(decision).case.status is CaseStatus.OPEN
    assert state(decision).window(L).due_at == utc("2025-04-15T23:00")  # type: ignore[union-attr]
    assert None in decision.cancel_timers  # the retention timer stops
    again = on_local_investigation_reopened(
        state(decision), reason="x", policy=DEFAULT_POLICY, now=reopened_at
    )
    assert again == Decision(state(decision))


def test_local_investigation_close_then_notifiable_reopens_the_case_with_reg_8_4_windows() -> None:
    closed = state(close_local(local(), dt.date(2025, 3, 20), now=london(2025, 3, 20)))
    decision = classify(closed, london(2025, 3, 22), NOTIFIABLE)
    assert describe_all(decision.events) == [
        SCHEDULED_N,
        "Approaching notification P2D early",
        SCHEDULED_R,
        "CaseReopened",
    ]
    assert statuses(decision.deadlines) == {N: "open", R: "open", L: "met"}


# --- 3. Withdrawal of a notification (lines 116-118, 221) ----------------------------------------


def test_withdrawal_requested_when_a_notified_incident_is_downgraded() -> None:
    decision = classify(notified(), london(2025, 3, 25), NOT_NOTIFIABLE)

    assert describe_all(decision.events) == [SCHEDULED_L, "WithdrawalRequested cqc"]
    assert statuses(decision.deadlines) == {N: "met", R: "open", L: "open"}  # nothing cancelled silently
    assert state(decision).case.status is CaseStatus.WITHDRAWAL_REQUESTED


@pytest.mark.parametrize(
    ("before", "status", "expected"),
    [
        pytest.param(
            state(classify(None, london(2025, 3, 16, 12), NOTIFIABLE)),
            NOT_NOTIFIABLE,
            ["Cancelled notification", "Cancelled investigation_report", SCHEDULED_L],
            id="withdrawal-not-needed-downgraded-before-notifying",
        ),
        pytest.param(notified(), UNDECIDED, [], id="withdrawal-not-asked-while-undecided"),
    ],
)
def test_withdrawal_not_asked(before: IncidentDeadlines, status: DecisionStatus, expected: list[str]) -> None:
    decision = classify(before, london(2025, 3, 25), status)
    assert describe_all(decision.events) == expected
    assert state(decision).case.withdrawal is None


def agree(
    deadlines: IncidentDeadlines, agreed_on: dt.date = dt.date(2025, 4, 2), reference: str = "CQC/123"
) -> Decision:
    return on_withdrawal_agreed(
        deadlines,
        agreed_on=agreed_on,
        authority_reference=reference,
        recorded_by_role="RP lead",
        policy=DEFAULT_POLICY,
        now=london(2025, 4, 3),
        modality="ct",
    )


def requested() -> IncidentDeadlines:
    return state(classify(notified(), london(2025, 3, 25), NOT_NOTIFIABLE))


def test_withdrawal_agreed_cancels_the_report_naming_the_reference() -> None:
    decision = agree(requested())

    assert describe_all(decision.events) == ["WithdrawalAgreed CQC/123", "Cancelled investigation_report"]
    agreed, cancelled = decision.events
    assert isinstance(agreed, NotificationWithdrawalAgreed) and agreed.authority == "cqc"
    assert isinstance(cancelled, DeadlineCancelled) and "CQC/123" in cancelled.reason
    assert state(decision).case.status is CaseStatus.OPEN  # the local investigation is still owed
    assert state(decision).version == requested().version + 1
    # The same agreement again: the same answer and no event.
    assert agree(state(decision)) == Decision(state(decision))


def test_withdrawal_agreed_then_local_close_closes_the_case() -> None:
    withdrawn = state(agree(requested()))
    decision = close_local(withdrawn, dt.date(2025, 4, 10))
    assert describe_all(decision.events)[-1].startswith("CaseClosed local_investigation_closed 2025-04-10")


@pytest.mark.parametrize(
    ("deadlines", "kwargs", "error", "message"),
    [
        pytest.param(
            state(classify(None, london(2025, 3, 16, 12), NOTIFIABLE)),
            {},
            WithdrawalRefusedError,
            "never notified",
            id="withdrawal-never-notified",
        ),
        pytest.param(
            notified(), {}, WithdrawalRefusedError, "no withdrawal is pending", id="withdrawal-none-pending"
        ),
        pytest.param(
            state(agree(requested())),
            {"reference": "CQC/999"},
            WithdrawalRefusedError,
            "already agreed",
            id="withdrawal-another-agreement",
        ),
        pytest.param(
            requested(),
            {"agreed_on": dt.date(2025, 3, 19)},
            WithdrawalDateError,
            "before the notification",
            id="withdrawal-before-notified",
        ),
        pytest.param(
            requested(),
            {"agreed_on": dt.date(2025, 5, 1)},
            WithdrawalDateError,
            "future",
            id="withdrawal-in-future",
        ),
    ],
)
def test_withdrawal_refused(
    deadlines: IncidentDeadlines, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        agree(deadlines, **kwargs)  # type: ignore[arg-type]


def test_a_withdrawal_date_refused_names_its_field_as_every_service_writes_it() -> None:
    """``body/agreed_on``, as the shared validation mapping and the other services write a field's
    path, so a client puts the message beside the field it names."""
    with pytest.raises(WithdrawalDateError) as refused:
        agree(requested(), agreed_on=dt.date(2025, 5, 1))
    assert [e["path"] for e in refused.value.extra["errors"]] == ["body/agreed_on"]


def test_withdrawal_request_lapses_when_notifiable_again() -> None:
    decision = classify(requested(), london(2025, 3, 27), NOTIFIABLE)
    assert state(decision).case.withdrawal is None
    assert state(decision).case.status is CaseStatus.OPEN
    assert statuses(decision.deadlines)[R] == "open"


# --- 4. Honest lateness ------------------------------------------------------------------------


def extend(deadlines: IncidentDeadlines, to: dt.date, now: dt.datetime) -> Decision:
    return on_extended(
        deadlines,
        window=R,
        extended_to=to,
        agreed_by="CQC inspector",
        reason="awaiting dosimetry",
        policy=DEFAULT_POLICY,
        now=now,
    )


@pytest.mark.parametrize(
    ("agreed_at", "submitted_at", "after_due", "days_late"),
    [
        pytest.param(
            london(2025, 6, 1), london(2025, 6, 20), False, 0, id="late_extension-agreed-in-time-on-time"
        ),
        pytest.param(
            london(2025, 6, 1), london(2025, 7, 3), False, 2, id="late_extension-agreed-in-time-met-late"
        ),
        # Agreed on 12 June, after the due of 8 June: the miss stays, counted from the statutory due.
        pytest.param(
            london(2025, 6, 12), london(2025, 6, 20), True, 12, id="late_extension-after-due-met-late"
        ),
        pytest.param(
            london(2025, 6, 9, 0, 30), london(2025, 6, 9, 1), True, 1, id="late_extension-first-hour-late"
        ),
    ],
)
def test_late_extension_keeps_the_miss(
    agreed_at: dt.datetime, submitted_at: dt.datetime, after_due: bool, days_late: int
) -> None:
    extended = extend(notified(), dt.date(2025, 7, 1), agreed_at)
    event = extended.events[0]
    assert isinstance(event, DeadlineExtended)
    assert event.agreed_after_due is after_due
    assert event.missed_at == (R_DUE if after_due else None)

    met = on_submitted(
        state(extended), window=R, submitted_at=submitted_at, policy=DEFAULT_POLICY, now=submitted_at
    )
    met_event = met.events[0]
    assert isinstance(met_event, DeadlineMet)
    assert (met_event.late, met_event.days_late) == (days_late > 0, days_late)
    report = state(met).window(R)
    assert report is not None and report.missed_at(submitted_at) == (
        report.binding_due_at if days_late else None
    )


def test_late_extension_chain_stays_against_the_statutory_due() -> None:
    late = extend(notified(), dt.date(2025, 7, 1), london(2025, 6, 12))  # after the 8 June due
    again = extend(state(late), dt.date(2025, 7, 15), london(2025, 6, 20))  # before 1 July
    report = state(again).window(R)
    assert report is not None and report.binding_due_at == R_DUE


# --- 5. Code M from a theme (line 278) --------------------------------------------------------


@pytest.mark.parametrize(
    ("theme_on", "n_due", "r_due", "counted_from"),
    [
        pytest.param(
            dt.date(2025, 4, 1),
            "2025-04-15T23:00Z",
            "2025-06-24T23:00Z",
            "2025-04-01",
            id="theme_identified-after-discovery",
        ),
        pytest.param(
            dt.date(2025, 3, 1),
            "2025-03-30T23:00Z",
            "2025-06-08T23:00Z",
            "2025-03-16",
            id="theme_identified-before-discovery",
        ),
        pytest.param(
            None, "2025-03-30T23:00Z", "2025-06-08T23:00Z", "2025-03-16", id="theme_identified-none"
        ),
    ],
)
def test_theme_identified_counts_both_windows_from_the_theme(
    theme_on: dt.date | None, n_due: str, r_due: str, counted_from: str
) -> None:
    decision = classify(None, london(2025, 4, 2), NOTIFIABLE, theme_identified_on=theme_on)
    scheduled = [e for e in decision.events if isinstance(e, DeadlineScheduled)]
    assert [(e.window, e.due_at, str(e.clock_from)) for e in scheduled] == [
        (N, utc(n_due[:-1]), counted_from),
        (R, utc(r_due[:-1]), counted_from),
    ]
    assert [(w.discovered_on, w.counts_from.isoformat()) for w in state(decision).windows] == [
        (DISCOVERED, counted_from)
    ] * 2


def test_theme_identified_added_later_moves_the_windows() -> None:
    decision = classify(
        state(classify(None, london(2025, 3, 17), NOTIFIABLE)), london(2025, 4, 2), NOTIFIABLE,
        theme_identified_on=dt.date(2025, 4, 1),
    )  # fmt: skip
    assert describe_all(decision.events) == [
        "Scheduled notification due 2025-04-15T23:00Z",
        "Scheduled investigation_report due 2025-06-24T23:00Z",
    ]


# --- 6. Authority closure and correspondence (lines 116-131) ---------------------------------------


def authority_closed(deadlines: IncidentDeadlines, closed_on: dt.date = dt.date(2025, 7, 1)) -> Decision:
    return on_authority_closed(
        deadlines,
        authority="cqc",
        closed_on=closed_on,
        reference="CQC/123",
        policy=DEFAULT_POLICY,
        now=london(2025, 7, 2),
        modality="external_beam_radiotherapy",
    )


def reported() -> IncidentDeadlines:
    at = london(2025, 6, 1)
    return state(on_submitted(notified(), window=R, submitted_at=at, policy=DEFAULT_POLICY, now=at))


def test_authority_closure_closes_a_notified_case_only() -> None:
    assert (
        state(reported()).case.status is CaseStatus.OPEN
        if False
        else reported().case.status is CaseStatus.OPEN
    )
    decision = authority_closed(reported())
    assert describe_all(decision.events) == ["CaseClosed authority_closed 2025-07-01 until 2055-07-01"]
    closed = decision.events[0]
    assert isinstance(closed, CaseClosed) and closed.basis is CaseClosureBasis.AUTHORITY_CLOSED
    assert authority_closed(state(decision)) == Decision(state(decision))


def test_authority_closure_before_the_report_cancels_it_with_that_reason() -> None:
    decision = authority_closed(notified())
    assert describe_all(decision.events) == [
        "Cancelled investigation_report",
        "CaseClosed authority_closed 2025-07-01 until 2055-07-01",
    ]
    cancelled = decision.events[0]
    assert isinstance(cancelled, DeadlineCancelled) and "closed the case on 2025-07-01" in cancelled.reason


def test_authority_closure_query_after_closure_reopens_and_answer_closes_again() -> None:
    closed = state(authority_closed(reported()))
    query = "q-1"
    wrote = on_authority_query_received(closed, query_id=query, policy=DEFAULT_POLICY, now=london(2025, 8, 1))
    assert describe_all(wrote.events) == ["CaseReopened"]
    assert state(wrote).case.status is CaseStatus.OPEN
    assert on_authority_query_received(
        state(wrote), query_id=query, policy=DEFAULT_POLICY, now=london(2025, 8, 2)
    ) == Decision(state(wrote))
    answered = on_authority_query_answered(
        state(wrote),
        query_id=query,
        answered_on=dt.date(2025, 8, 5),
        policy=DEFAULT_POLICY,
        now=london(2025, 8, 5),
    )
    assert describe_all(answered.events) == [
        f"CaseClosed authority_closed 2025-08-05 until {add_years(dt.date(2025, 8, 5), 30)}"
    ]


def test_authority_closure_waits_for_an_open_query() -> None:
    asked = state(
        on_authority_query_received(reported(), query_id="q", policy=DEFAULT_POLICY, now=london(2025, 6, 20))
    )
    assert authority_closed(asked).events == ()
    assert state(authority_closed(asked)).case.authority_closed_on == dt.date(2025, 7, 1)


def test_authority_closure_does_not_close_a_notified_case_on_its_local_investigation() -> None:
    decision = close_local(reported(), dt.date(2025, 6, 2))
    assert decision.events == ()
    assert state(decision).case.status is CaseStatus.OPEN


# --- 7. Retention (line 227) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("modality", "policy", "years"),
    [
        pytest.param("external_beam_radiotherapy", DEFAULT_POLICY, 30, id="retention-radiotherapy-default"),
        pytest.param("ct", DEFAULT_POLICY, 20, id="retention-other-default"),
        pytest.param(None, DEFAULT_POLICY, 30, id="retention-unknown-modality-longest"),
        pytest.param("ct", DeadlinePolicy(retention_years_other=8), 8, id="retention-trust-policy"),
        pytest.param(
            "brachytherapy", DeadlinePolicy(retention_years_radiotherapy=40), 40, id="retention-trust-rt"
        ),
    ],
)
def test_retention_period_by_modality(modality: str | None, policy: DeadlinePolicy, years: int) -> None:
    opened = state(classify(None, london(2025, 3, 16, 12), NOT_NOTIFIABLE, policy=policy, modality=modality))
    decision = on_local_investigation_closed(
        opened, closed_on=dt.date(2025, 4, 10), policy=policy, now=london(2025, 4, 10), modality=modality
    )
    closed = decision.events[-1]
    assert isinstance(closed, CaseClosed) and closed.retain_until == dt.date(2025 + years, 4, 10)


def test_retention_timer_fires_once_and_not_after_reopening() -> None:
    decision = close_local(local(), dt.date(2025, 4, 10))
    (timer,) = decision.schedule_timers
    assert timer.kind is TimerKind.RETENTION and timer.window is None
    closed = state(decision)
    fired = fire(timer, closed, DEFAULT_POLICY, timer.fire_at)
    assert describe_all(fired.events) == ["CaseRetentionExpired 2045-04-10"]
    assert fired.next_timer is None
    reopened = state(
        on_local_investigation_reopened(closed, reason="r", policy=DEFAULT_POLICY, now=london(2025, 4, 12))
    )
    assert fire(timer, reopened, DEFAULT_POLICY, timer.fire_at).events == ()


def test_retention_leap_day() -> None:
    assert add_years(dt.date(2024, 2, 29), 30) == dt.date(2054, 2, 28)


def test_old_stored_state_without_the_case_reads_as_open() -> None:
    legacy = IncidentDeadlines(
        incident_id=INCIDENT, notifiable=True, authority="CQC", discovered_on=DISCOVERED
    )
    assert legacy.case.status is CaseStatus.OPEN and legacy.status is NOTIFIABLE
    assert replace(legacy, notifiable=False).status is NOT_NOTIFIABLE
    assert WindowStatus.OPEN.value == "open"


# --- Redelivery and replay: every transition applied again changes nothing ------------------------


def _closed_local() -> IncidentDeadlines:
    return state(close_local(local(), dt.date(2025, 4, 10)))


def _asked() -> IncidentDeadlines:
    return state(
        on_authority_query_received(reported(), query_id="q", policy=DEFAULT_POLICY, now=london(2025, 6, 20))
    )


AGAIN: list[Any] = [
    pytest.param(
        lambda: undecided(),
        lambda d: classify(d, london(2025, 3, 18), UNDECIDED),
        id="provisional_notification-replayed",
    ),
    pytest.param(
        lambda: _closed_local(),
        lambda d: close_local(d, dt.date(2025, 4, 10)),
        id="local_investigation_close-replayed",
    ),
    pytest.param(
        lambda: state(
            on_local_investigation_reopened(
                _closed_local(), reason="r", policy=DEFAULT_POLICY, now=london(2025, 4, 12)
            )
        ),
        lambda d: on_local_investigation_reopened(
            d, reason="r", policy=DEFAULT_POLICY, now=london(2025, 4, 13)
        ),
        id="local_investigation_close-reopen-replayed",
    ),
    pytest.param(
        lambda: requested(),
        lambda d: classify(d, london(2025, 3, 26), NOT_NOTIFIABLE),
        id="withdrawal-request-replayed",
    ),
    pytest.param(lambda: state(agree(requested())), lambda d: agree(d), id="withdrawal-agreement-replayed"),
    pytest.param(
        lambda: state(authority_closed(reported())),
        lambda d: authority_closed(d),
        id="authority_closure-replayed",
    ),
    pytest.param(
        lambda: _asked(),
        lambda d: on_authority_query_received(
            d, query_id="q", policy=DEFAULT_POLICY, now=london(2025, 6, 21)
        ),
        id="authority_closure-query-replayed",
    ),
    pytest.param(
        lambda: state(
            on_authority_query_answered(
                _asked(),
                query_id="q",
                answered_on=dt.date(2025, 6, 22),
                policy=DEFAULT_POLICY,
                now=london(2025, 6, 22),
            )
        ),
        lambda d: on_authority_query_answered(
            d, query_id="q", answered_on=dt.date(2025, 6, 22), policy=DEFAULT_POLICY, now=london(2025, 6, 23)
        ),
        id="authority_closure-answer-replayed",
    ),
    pytest.param(
        lambda: state(
            classify(None, london(2025, 4, 2), NOTIFIABLE, theme_identified_on=dt.date(2025, 4, 1))
        ),
        lambda d: classify(d, london(2025, 4, 3), NOTIFIABLE, theme_identified_on=dt.date(2025, 4, 1)),
        id="theme_identified-replayed",
    ),
    pytest.param(
        lambda: state(extend(notified(), dt.date(2025, 7, 1), london(2025, 6, 12))),
        lambda d: extend(d, dt.date(2025, 7, 1), london(2025, 6, 13)),
        id="late_extension-replayed",
    ),
    pytest.param(
        lambda: _closed_local(),
        lambda d: on_local_investigation_closed(
            d,
            closed_on=dt.date(2025, 4, 10),
            policy=DeadlinePolicy(retention_years_other=5),
            now=london(2025, 4, 11),
        ),
        id="retention-close-replayed-under-another-policy",
    ),
]


@pytest.mark.parametrize(("build", "again"), AGAIN)
def test_every_transition_applied_again_changes_nothing(
    build: Callable[[], IncidentDeadlines], again: Callable[[IncidentDeadlines], Decision]
) -> None:
    deadlines = build()
    assert again(deadlines) == Decision(deadlines)
