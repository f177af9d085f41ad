"""Transitions of an incident's deadline windows (docs/deadlines.md, "Transitions").

Regulation 8(4) and the CQC guidance: a SAUE opens the 2-week notification and 12-week report
windows, both counted from discovery; anything else is investigated locally under 8(3).
Incident discovered 2025-03-16 throughout, unless a row says otherwise:
notification due 2025-03-30T23:00Z (00:00 BST 31 Mar), report due 2025-06-08T23:00Z,
local investigation (30 days) due 2025-04-15T23:00Z.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sievert_deadlines.domain import (
    DeadlinePolicy,
    Decision,
    ExtensionRefusedError,
    IncidentDeadlines,
    PlannedTimer,
    WindowStatus,
    on_classified,
    on_extended,
    on_submitted,
)
from sievert_shared.events.deadlines import DeadlineCancelled, DeadlineExtended, Window
from tests.unit.deadlines.deadline_support import INCIDENT, describe_all, london, utc

N, R, L = Window.NOTIFICATION, Window.INVESTIGATION_REPORT, Window.LOCAL_INVESTIGATION
DISCOVERED = dt.date(2025, 3, 16)
N_DUE, R_DUE, L_DUE = utc("2025-03-30T23:00"), utc("2025-06-08T23:00"), utc("2025-04-15T23:00")
CLASSIFIED_AT = london(2025, 3, 16, 12)
# These tables are about the windows and their before-the-due reminders; the early "as soon as
# possible" reminder, on by default, has its own table (test_case_lifecycle.py).
POLICY = DeadlinePolicy(asap_reminder_after_days=None)
EXTENDED_AT = london(2025, 5, 20)

SCHEDULED_N = "Scheduled notification due 2025-03-30T23:00Z"
SCHEDULED_R = "Scheduled investigation_report due 2025-06-08T23:00Z"
SCHEDULED_L = "Scheduled local_investigation due 2025-04-15T23:00Z"
N_TIMERS = [
    "reminder notification 7",
    "reminder notification 3",
    "reminder notification 1",
    "due notification",
]
R_TIMERS = [
    "reminder investigation_report 28",
    "reminder investigation_report 14",
    "reminder investigation_report 7",
    "reminder investigation_report 1",
    "due investigation_report",
]
L_TIMERS = ["reminder local_investigation 7", "due local_investigation"]


def timers(decision: Decision) -> list[str]:
    def one(timer: PlannedTimer) -> str:
        step = timer.days_before if timer.days_before is not None else timer.days_overdue
        return f"{timer.kind} {timer.window}" + (f" {step}" if step is not None else "")

    return [one(t) for t in decision.schedule_timers]


def classify(
    deadlines: IncidentDeadlines | None,
    now: dt.datetime,
    *,
    notifiable: bool = True,
    discovered_on: dt.date = DISCOVERED,
    authority: str = "CQC",
) -> Decision:
    return on_classified(
        deadlines,
        incident_id=INCIDENT,
        notifiable=notifiable,
        authority=authority if notifiable else None,
        discovered_on=discovered_on,
        policy=POLICY,
        now=now,
    )


def notifiable_at(now: dt.datetime = CLASSIFIED_AT) -> IncidentDeadlines:
    deadlines = classify(None, now).deadlines
    assert deadlines is not None
    return deadlines


def status(deadlines: IncidentDeadlines | None) -> dict[Window, WindowStatus]:
    assert deadlines is not None
    return {w.window: w.status for w in deadlines.windows}


# --- First classification --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notifiable", "now", "events", "planned"),
    [
        pytest.param(
            True,
            london(2025, 3, 16, 12),
            [SCHEDULED_N, SCHEDULED_R],
            N_TIMERS + R_TIMERS,
            id="saue-on-discovery-day",
        ),
        pytest.param(False, london(2025, 3, 16, 12), [SCHEDULED_L], L_TIMERS, id="not-notifiable-reg-8-3"),
        # Stale reminders: of the reminders already past, only the most recent fires.
        pytest.param(
            True,
            london(2025, 3, 24),
            [SCHEDULED_N, "Approaching notification P7D", SCHEDULED_R],
            N_TIMERS[1:] + R_TIMERS,
            id="classified-at-the-P7D-instant",
        ),
        pytest.param(
            True,
            london(2025, 3, 26, 12),
            [SCHEDULED_N, "Approaching notification P7D", SCHEDULED_R],
            N_TIMERS[1:] + R_TIMERS,
            id="classified-10-days-after-discovery",
        ),
        pytest.param(
            True,
            london(2025, 3, 29, 12),
            [SCHEDULED_N, "Approaching notification P3D", SCHEDULED_R],
            N_TIMERS[2:] + R_TIMERS,
            id="classified-13-days-after-P7D-and-P3D-past",
        ),
        pytest.param(
            True,
            london(2025, 3, 30, 12),
            [SCHEDULED_N, "Approaching notification P1D", SCHEDULED_R],
            N_TIMERS[3:] + R_TIMERS,
            id="classified-on-the-last-day-in-time",
        ),
        # Counted from the original discovery, however late the classification: Missed at once.
        pytest.param(
            True,
            london(2025, 3, 31, 12),
            [SCHEDULED_N, "Missed notification", SCHEDULED_R],
            ["overdue notification 1", *R_TIMERS],
            id="classified-after-the-2-weeks",
        ),
        pytest.param(
            True,
            london(2025, 4, 20, 12),
            [SCHEDULED_N, "Missed notification", "Overdue notification 20", SCHEDULED_R],
            ["overdue notification 21", *R_TIMERS],
            id="classified-20-days-after-the-2-weeks",
        ),
        pytest.param(
            True,
            london(2025, 6, 20, 12),
            [
                SCHEDULED_N,
                "Missed notification",
                "Overdue notification 81",
                SCHEDULED_R,
                "Missed investigation_report",
                "Overdue investigation_report 11",
            ],
            ["overdue notification 82", "overdue investigation_report 12"],
            id="classified-after-the-12-weeks",
        ),
    ],
)
def test_first_classification(
    notifiable: bool, now: dt.datetime, events: list[str], planned: list[str]
) -> None:
    decision = classify(None, now, notifiable=notifiable)

    assert describe_all(decision.events) == events
    assert timers(decision) == planned
    assert all(t.fire_at > now for t in decision.schedule_timers)
    opened = (N, R) if notifiable else (L,)
    assert decision.cancel_timers == opened
    assert status(decision.deadlines) == dict.fromkeys(opened, WindowStatus.OPEN)


def test_scheduled_carries_discovery_and_authority() -> None:
    decision = classify(None, london(2025, 3, 16, 12), authority="HIW")
    scheduled = decision.events[0]
    assert scheduled.model_dump() == {
        "window": N,
        "due_at": N_DUE,
        "discovered_on": DISCOVERED,
        "authority": "HIW",
        "clock_from": DISCOVERED,
        "provisional": False,
        "needs_facts": [],
    }


@pytest.mark.parametrize("notifiable", [pytest.param(True, id="notifiable"), pytest.param(False, id="local")])
def test_the_same_classification_twice_changes_nothing(notifiable: bool) -> None:
    first = classify(None, london(2025, 3, 16, 12), notifiable=notifiable)
    # Redelivered a day later: same facts, nothing to do, whatever the time.
    again = classify(first.deadlines, london(2025, 3, 17, 12), notifiable=notifiable)
    assert again == Decision(first.deadlines)


def test_a_classification_for_another_incident_is_refused() -> None:
    other = IncidentDeadlines(
        incident_id=INCIDENT.__class__(int=2), notifiable=True, authority="CQC", discovered_on=DISCOVERED
    )
    with pytest.raises(ValueError, match="applied to"):
        classify(other, london(2025, 3, 16, 12))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        classify(None, dt.datetime(2025, 3, 16, 12))


# --- Re-classification ------------------------------------------------------------------------


def test_reclassified_not_notifiable_cancels_both_windows_and_opens_local() -> None:
    decision = classify(notifiable_at(), london(2025, 3, 20, 12), notifiable=False)

    assert describe_all(decision.events) == [
        "Cancelled notification",
        "Cancelled investigation_report",
        SCHEDULED_L,
    ]
    assert decision.cancel_timers == (N, R, L)
    assert timers(decision) == L_TIMERS
    assert status(decision.deadlines) == {
        N: WindowStatus.CANCELLED,
        R: WindowStatus.CANCELLED,
        L: WindowStatus.OPEN,
    }
    cancelled = decision.events[0]
    assert isinstance(cancelled, DeadlineCancelled)
    assert cancelled.due_at == N_DUE
    assert "Regulation 8(3)" in cancelled.reason


def test_late_reclassification_to_notifiable_fires_missed_at_once() -> None:
    local = classify(None, london(2025, 3, 17, 9), notifiable=False).deadlines

    # Found to be a SAUE on 2 April: the 2 weeks from the original discovery ended on 30 March.
    decision = classify(local, london(2025, 4, 2, 9))

    assert describe_all(decision.events) == [
        "Cancelled local_investigation",
        SCHEDULED_N,
        "Missed notification",
        "Overdue notification 2",
        SCHEDULED_R,
    ]
    assert decision.cancel_timers == (L, N, R)
    assert timers(decision) == ["overdue notification 3", *R_TIMERS]
    assert status(decision.deadlines) == {
        N: WindowStatus.OPEN,
        R: WindowStatus.OPEN,
        L: WindowStatus.CANCELLED,
    }


def test_back_to_notifiable_reopens_cancelled_windows() -> None:
    local = classify(notifiable_at(), london(2025, 3, 18), notifiable=False).deadlines
    decision = classify(local, london(2025, 3, 19))

    assert describe_all(decision.events) == ["Cancelled local_investigation", SCHEDULED_N, SCHEDULED_R]
    assert timers(decision) == N_TIMERS + R_TIMERS


def test_a_met_window_is_final_across_reclassification() -> None:
    met = on_submitted(notifiable_at(), window=N, submitted_at=london(2025, 3, 18)).deadlines

    # Notified, then not notifiable: the report is not cancelled silently, a withdrawal is asked
    # for (test_case_lifecycle.py has the whole table).
    local = classify(met, london(2025, 3, 19), notifiable=False)
    assert describe_all(local.events) == [SCHEDULED_L, "WithdrawalRequested CQC"]
    assert status(local.deadlines)[N] is WindowStatus.MET

    notifiable = classify(local.deadlines, london(2025, 3, 20))
    assert describe_all(notifiable.events) == ["Cancelled local_investigation"]
    assert status(notifiable.deadlines) == {
        N: WindowStatus.MET,
        R: WindowStatus.OPEN,
        L: WindowStatus.CANCELLED,
    }


# --- Amended discovery date -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("discovered_on", "now", "events", "planned"),
    [
        pytest.param(
            dt.date(2025, 3, 14),
            london(2025, 3, 18, 12),
            [
                "Scheduled notification due 2025-03-29T00:00Z",
                "Scheduled investigation_report due 2025-06-06T23:00Z",
            ],
            N_TIMERS + R_TIMERS,
            id="earlier-still-in-time",
        ),
        pytest.param(
            dt.date(2025, 3, 1),
            london(2025, 3, 20, 12),
            [
                "Scheduled notification due 2025-03-16T00:00Z",
                "Missed notification",
                "Overdue notification 4",
                "Scheduled investigation_report due 2025-05-24T23:00Z",
            ],
            ["overdue notification 5", *R_TIMERS],
            id="earlier-and-now-late",
        ),
        pytest.param(
            dt.date(2025, 3, 18),
            london(2025, 3, 17, 12),
            [
                "Scheduled notification due 2025-04-01T23:00Z",
                "Scheduled investigation_report due 2025-06-10T23:00Z",
            ],
            N_TIMERS + R_TIMERS,
            id="later",
        ),
    ],
)
def test_an_amended_discovery_date_moves_every_timer(
    discovered_on: dt.date, now: dt.datetime, events: list[str], planned: list[str]
) -> None:
    decision = classify(notifiable_at(), now, discovered_on=discovered_on)

    assert describe_all(decision.events) == events
    assert decision.cancel_timers == (N, R)
    assert timers(decision) == planned
    assert decision.deadlines is not None
    assert decision.deadlines.discovered_on == discovered_on
    assert {w.discovered_on for w in decision.deadlines.windows} == {discovered_on}


def test_an_amended_discovery_date_moves_the_local_window() -> None:
    local = classify(None, london(2025, 3, 16, 12), notifiable=False).deadlines
    decision = classify(local, london(2025, 3, 17), notifiable=False, discovered_on=dt.date(2025, 3, 10))
    assert describe_all(decision.events) == ["Scheduled local_investigation due 2025-04-09T23:00Z"]
    assert timers(decision) == L_TIMERS


def test_an_agreed_extension_survives_an_earlier_discovery_date() -> None:
    extended = extend(notifiable_at(), dt.date(2025, 7, 6)).deadlines

    decision = classify(extended, london(2025, 3, 18, 12), discovered_on=dt.date(2025, 3, 14))

    # The report stays due at the agreed day; it is re-announced with the new discovery date.
    assert describe_all(decision.events) == [
        "Scheduled notification due 2025-03-29T00:00Z",
        "Scheduled investigation_report due 2025-07-06T23:00Z",
    ]
    assert decision.cancel_timers == (N,)
    assert timers(decision) == N_TIMERS


def test_a_new_authority_is_announced_without_moving_timers() -> None:
    decision = classify(notifiable_at(), london(2025, 3, 17), authority="HIW")
    assert describe_all(decision.events) == [SCHEDULED_N, SCHEDULED_R]
    assert {e.authority for e in decision.events if hasattr(e, "authority")} == {"HIW"}
    assert (decision.cancel_timers, decision.schedule_timers) == ((), ())


# --- Submissions meet windows -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "submitted_at", "expected"),
    [
        pytest.param(N, london(2025, 3, 20, 10), "Met notification on time", id="notified-in-4-days"),
        pytest.param(
            N, N_DUE - dt.timedelta(microseconds=1), "Met notification on time", id="last-moment-of-day-14"
        ),
        pytest.param(N, N_DUE, "Met notification late", id="at-the-close-is-late"),
        pytest.param(N, london(2025, 4, 5), "Met notification late", id="notified-in-3-weeks"),
        pytest.param(R, london(2025, 6, 1), "Met investigation_report on time", id="report-in-11-weeks"),
        pytest.param(R, london(2025, 6, 9, 9), "Met investigation_report late", id="report-day-after"),
    ],
)
def test_a_submission_meets_its_window(window: Window, submitted_at: dt.datetime, expected: str) -> None:
    decision = on_submitted(notifiable_at(), window=window, submitted_at=submitted_at)

    assert describe_all(decision.events) == [expected]
    assert decision.cancel_timers == (window,)
    assert decision.schedule_timers == ()
    assert decision.deadlines is not None
    met = decision.deadlines.window(window)
    assert met is not None
    assert (met.status, met.met_at) == (WindowStatus.MET, submitted_at)


def test_a_repeated_submission_changes_nothing() -> None:
    met = on_submitted(notifiable_at(), window=N, submitted_at=london(2025, 3, 20)).deadlines
    again = on_submitted(met, window=N, submitted_at=london(2025, 3, 21))
    assert again == Decision(met)


@pytest.mark.parametrize(
    ("deadlines", "window"),
    [
        pytest.param(None, N, id="before-any-classification"),
        pytest.param(
            classify(None, london(2025, 3, 16), notifiable=False).deadlines,
            N,
            id="voluntary-notification-local",
        ),
        pytest.param(
            classify(notifiable_at(), london(2025, 3, 17), notifiable=False).deadlines,
            R,
            id="cancelled-window",
        ),
    ],
)
def test_a_submission_without_an_open_window_changes_nothing(
    deadlines: IncidentDeadlines | None, window: Window
) -> None:
    assert on_submitted(deadlines, window=window, submitted_at=london(2025, 3, 20)) == Decision(deadlines)


# --- Agreed extensions of the report window ---------------------------------------------------


def extend(
    deadlines: IncidentDeadlines | None,
    extended_to: dt.date,
    now: dt.datetime = EXTENDED_AT,
    *,
    window: Window = R,
    agreed_by: str = "CQC inspector",
    reason: str = "awaiting external dosimetry",
) -> Decision:
    return on_extended(
        deadlines,
        window=window,
        extended_to=extended_to,
        agreed_by=agreed_by,
        reason=reason,
        policy=POLICY,
        now=now,
    )


def test_an_agreed_extension_moves_the_report_window() -> None:
    decision = extend(notifiable_at(), dt.date(2025, 7, 6))

    assert describe_all(decision.events) == ["Extended investigation_report due 2025-07-06T23:00Z"]
    extended = decision.events[0]
    assert isinstance(extended, DeadlineExtended)
    assert (extended.previous_due_at, extended.agreed_by, extended.reason) == (
        R_DUE,
        "CQC inspector",
        "awaiting external dosimetry",
    )
    assert decision.cancel_timers == (R,)
    assert timers(decision) == R_TIMERS
    assert {t.due_at for t in decision.schedule_timers} == {utc("2025-07-06T23:00")}
    assert decision.deadlines is not None
    report = decision.deadlines.window(R)
    assert report is not None
    assert [(e.previous_due_at, e.due_at) for e in report.extensions] == [(R_DUE, utc("2025-07-06T23:00"))]


@pytest.mark.parametrize(
    ("extended_to", "now", "events", "planned"),
    [
        # Missed on 9 June, extended on the 12th to the 20th: reminders re-planned for the new due,
        # and of those already past only the most recent (P14D) fires.
        pytest.param(
            dt.date(2025, 6, 20),
            london(2025, 6, 12),
            ["Extended investigation_report due 2025-06-20T23:00Z", "Approaching investigation_report P14D"],
            R_TIMERS[2:],
            id="after-the-miss-into-the-future",
        ),
        # Agreed in retrospect, and already past: Missed again, against the new due.
        pytest.param(
            dt.date(2025, 6, 20),
            london(2025, 6, 25, 12),
            [
                "Extended investigation_report due 2025-06-20T23:00Z",
                "Missed investigation_report",
                "Overdue investigation_report 4",
            ],
            ["overdue investigation_report 5"],
            id="retrospective-and-already-past",
        ),
    ],
)
def test_an_extension_after_the_miss(
    extended_to: dt.date, now: dt.datetime, events: list[str], planned: list[str]
) -> None:
    decision = extend(notifiable_at(), extended_to, now)
    assert describe_all(decision.events) == events
    assert timers(decision) == planned


def test_the_same_extension_twice_changes_nothing() -> None:
    extended = extend(notifiable_at(), dt.date(2025, 7, 6)).deadlines
    assert extend(extended, dt.date(2025, 7, 6)) == Decision(extended)


def test_a_second_extension_is_recorded_after_the_first() -> None:
    first = extend(notifiable_at(), dt.date(2025, 7, 6)).deadlines
    second = extend(first, dt.date(2025, 7, 20), agreed_by="HIW inspector", reason="second opinion")
    assert describe_all(second.events) == ["Extended investigation_report due 2025-07-20T23:00Z"]
    assert second.deadlines is not None
    report = second.deadlines.window(R)
    assert report is not None
    assert [e.agreed_by for e in report.extensions] == ["CQC inspector", "HIW inspector"]


@pytest.mark.parametrize(
    ("deadlines", "kwargs", "message"),
    [
        pytest.param(
            notifiable_at(), {"window": N}, "only the investigation report", id="notification-window"
        ),
        pytest.param(
            classify(None, london(2025, 3, 16), notifiable=False).deadlines,
            {"window": L},
            "only the investigation report",
            id="local-window",
        ),
        pytest.param(None, {}, "no open investigation report", id="not-classified"),
        pytest.param(
            classify(None, london(2025, 3, 16), notifiable=False).deadlines,
            {},
            "no open investigation report",
            id="not-notifiable",
        ),
        pytest.param(
            on_submitted(notifiable_at(), window=R, submitted_at=london(2025, 5, 1)).deadlines,
            {},
            "no open investigation report",
            id="report-already-met",
        ),
        pytest.param(notifiable_at(), {"extended_to": dt.date(2025, 6, 1)}, "later", id="earlier-day"),
        pytest.param(notifiable_at(), {"agreed_by": "  "}, "who agreed", id="no-one-agreed"),
        pytest.param(notifiable_at(), {"reason": ""}, "who agreed it and why", id="no-reason"),
        pytest.param(
            notifiable_at(), {"agreed_by": "x" * 201}, "extension rejected", id="agreed-by-too-long"
        ),
    ],
)
def test_an_extension_is_refused(
    deadlines: IncidentDeadlines | None, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"extended_to": dt.date(2025, 7, 6), **kwargs}
    with pytest.raises(ExtensionRefusedError, match=message):
        extend(deadlines, **arguments)  # type: ignore[arg-type]


def test_the_local_window_can_be_met_when_a_contract_event_exists_for_it() -> None:
    local = classify(None, CLASSIFIED_AT, notifiable=False).deadlines
    decision = on_submitted(local, window=L, submitted_at=london(2025, 4, 10))
    assert describe_all(decision.events) == ["Met local_investigation on time"]
    assert decision.cancel_timers == (L,)
