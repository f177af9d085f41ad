"""The case records' pure rules: the local investigation's close-out and reopening (Regulation
8(3), guidance lines 223-227), the authority's correspondence and closure (lines 116-131), and the
projection of the deadlines service's case events and tasks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from sievert_reporting.domain import correspondence, local_investigation
from sievert_reporting.domain.case_record import CaseState, TaskState, apply_case_event, apply_task_event
from sievert_reporting.domain.correspondence import Closure, NeverNotifiedError, Notified, Query
from sievert_reporting.domain.local_investigation import (
    CloseOut,
    InvestigationVersionError,
    LocalInvestigation,
)
from sievert_reporting.domain.taxonomy import IncidentBasis, packaged
from sievert_shared.errors import ConflictError, NotFoundError, UnprocessableError
from sievert_shared.events import (
    CaseClosed,
    CaseClosureBasis,
    CaseReopened,
    CaseRetentionExpired,
    LocalInvestigationClosed,
    LocalInvestigationOwnerAssigned,
    LocalInvestigationReopened,
    NotificationWithdrawalAgreed,
    NotificationWithdrawalRequested,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOpened,
    TaskOverdue,
)
from sievert_shared.events.reporting import DutyHolder, ProcessStep
from sievert_shared.facts import ExposureKind, Modality

DISCOVERED = dt.date(2025, 6, 2)
TODAY = dt.date(2025, 7, 1)
AT = dt.datetime(2025, 7, 1, 9, 0, tzinfo=dt.UTC)
INCIDENT = uuid.UUID("7e0c1a3e-2b8c-4b7c-9a0f-5a2d3c4b5e6f")
CT = IncidentBasis(DISCOVERED, Modality.CT, ExposureKind.UNINTENDED, notifiable=True)


def close_out(**changes: Any) -> CloseOut:
    fields: dict[str, Any] = {
        "closed_on": dt.date(2025, 6, 30),
        "findings": "The protocol was selected from an ambiguous list.",
        "closed_by_role": "Radiation protection lead",
        "expected_version": 0,
        "error_duty_holder": DutyHolder.OPERATOR,
        "error_process_step": ProcessStep.EXPOSURE_OR_DELIVERY,
        "corrective_actions": ("Renamed the protocols",),
    }
    return CloseOut(**{**fields, **changes})


def closed(state: LocalInvestigation, command: CloseOut) -> LocalInvestigation:
    event = local_investigation.close(state, command, incident=CT, today=TODAY, taxonomies=packaged())
    assert event is not None
    return local_investigation.apply(state, event, AT)


# -- the local investigation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "field"),
    [
        pytest.param(
            close_out(findings="   "), "body/findings", id="local_investigation_close-without-findings"
        ),
        pytest.param(
            close_out(closed_on=DISCOVERED - dt.timedelta(days=1)),
            "body/closed_on",
            id="local_investigation_close-before-discovery",
        ),
        pytest.param(
            close_out(closed_on=TODAY + dt.timedelta(days=2)),
            "body/closed_on",
            id="local_investigation_close-in-the-future-beyond-a-day",
        ),
    ],
)
def test_local_investigation_close_refuses_naming_the_field(command: CloseOut, field: str) -> None:
    """Lines 225-227: a record of what the investigation found, dated when it could be."""
    with pytest.raises(UnprocessableError) as refused:
        local_investigation.close(
            LocalInvestigation(), command, incident=CT, today=TODAY, taxonomies=packaged()
        )
    assert [e["path"] for e in refused.value.extra["errors"]] == [field]


@pytest.mark.parametrize(
    "closed_on",
    [
        pytest.param(DISCOVERED, id="local_investigation_close-on-the-day-of-discovery"),
        pytest.param(TODAY + dt.timedelta(days=1), id="local_investigation_close-tomorrow-a-time-zone-ahead"),
    ],
)
def test_local_investigation_close_accepts_the_edges(closed_on: dt.date) -> None:
    event = local_investigation.close(
        LocalInvestigation(), close_out(closed_on=closed_on), incident=CT, today=TODAY, taxonomies=packaged()
    )
    assert isinstance(event, LocalInvestigationClosed) and event.closed_on == closed_on


def test_local_investigation_close_records_owner_cause_actions_and_history() -> None:
    owned = local_investigation.apply(
        LocalInvestigation(),
        LocalInvestigationOwnerAssigned(
            owner_role="Medical physics expert", assigned_by_role="RPL", assigned_on=TODAY
        ),
        AT,
    )
    state = closed(owned, close_out(expected_version=1))

    view = local_investigation.view(state)
    assert view["owner_role"] == "Medical physics expert"  # the owner assigned, not the closer
    assert view["status"] == "closed" and view["version"] == 2
    assert view["cause"] == {"duty_holder": "operator", "process_step": "exposure_or_delivery"}
    assert view["corrective_actions"] == ["Renamed the protocols"]
    assert view["closed_on"] == "2025-06-30" and view["closed_by_role"] == "Radiation protection lead"
    assert [h["event"] for h in view["history"]] == ["owner_assigned", "closed"]


def test_local_investigation_close_repeated_gives_no_second_event() -> None:
    state = closed(LocalInvestigation(), close_out())
    # the same request again (its expected_version now stale): recorded already, nothing to emit
    assert (
        local_investigation.close(state, close_out(), incident=CT, today=TODAY, taxonomies=packaged()) is None
    )


@pytest.mark.parametrize(
    ("state", "command"),
    [
        pytest.param(
            LocalInvestigation(version=1, owner_role="RPA"),
            close_out(expected_version=0),
            id="local_investigation_close-against-a-version-that-moved-on",
        ),
        pytest.param(
            closed(LocalInvestigation(), close_out()),
            close_out(expected_version=1, findings="Another reading of it."),
            id="local_investigation_close-of-a-closed-one-with-other-findings",
        ),
    ],
)
def test_local_investigation_close_conflicts_with_the_current_version(
    state: LocalInvestigation, command: CloseOut
) -> None:
    with pytest.raises(InvestigationVersionError) as refused:
        local_investigation.close(state, command, incident=CT, today=TODAY, taxonomies=packaged())
    assert refused.value.extra["current_version"] == state.version


def test_local_investigation_close_then_reopen_then_close_again() -> None:
    state = closed(LocalInvestigation(), close_out())
    reopened = local_investigation.reopen(
        state, reason="A second incident of the kind", reopened_by_role="RPL", expected_version=1, today=TODAY
    )
    assert isinstance(reopened, LocalInvestigationReopened)
    state = local_investigation.apply(state, reopened, AT)
    assert state.status == "open" and state.findings is not None  # the record stays
    # the same reopen again: nothing more
    again = local_investigation.reopen(
        state, reason="A second incident of the kind", reopened_by_role="RPL", expected_version=1, today=TODAY
    )
    assert again is None
    state = closed(state, close_out(expected_version=2, findings="Both incidents share the cause."))
    assert state.version == 3 and [h["event"] for h in state.history] == ["closed", "reopened", "closed"]


def test_local_investigation_reopen_of_an_open_one_conflicts() -> None:
    with pytest.raises(ConflictError):
        local_investigation.reopen(
            LocalInvestigation(), reason="why", reopened_by_role="RPL", expected_version=0, today=TODAY
        )


def test_local_investigation_owner_repeat_emits_nothing_and_a_stale_change_conflicts() -> None:
    state = LocalInvestigation(owner_role="RPA", version=1)
    same = local_investigation.assign_owner(
        state, owner_role="RPA", assigned_by_role="RPL", expected_version=0, today=TODAY
    )
    assert same is None
    with pytest.raises(InvestigationVersionError):
        local_investigation.assign_owner(
            state, owner_role="MPE", assigned_by_role="RPL", expected_version=0, today=TODAY
        )


# -- the authority's correspondence --------------------------------------------------------------

NOTIFIED = Notified(authority="cqc", submitted_on=dt.date(2025, 6, 10), channel="sievert", reference="CQC-1")


def test_correspondence_needs_a_notified_incident() -> None:
    with pytest.raises(NeverNotifiedError):
        correspondence.receive_query(
            INCIDENT, None, {}, received_on=TODAY, summary="Dose?", recorded_by_role="RPL", today=TODAY
        )
    with pytest.raises(NeverNotifiedError):
        correspondence.record_closure(
            INCIDENT,
            None,
            None,
            case_reopened_at=None,
            closed_on=TODAY,
            reference=None,
            recorded_by_role="RPL",
            today=TODAY,
        )


@pytest.mark.parametrize(
    ("received_on", "summary", "fields"),
    [
        pytest.param(
            dt.date(2025, 6, 9), "Dose?", ["body/received_on"], id="correspondence-before-notification"
        ),
        pytest.param(
            TODAY + dt.timedelta(days=2), "Dose?", ["body/received_on"], id="correspondence-in-the-future"
        ),
        pytest.param(TODAY, " ", ["body/summary"], id="correspondence-blank-summary"),
    ],
)
def test_correspondence_query_refuses_naming_the_field(
    received_on: dt.date, summary: str, fields: list[str]
) -> None:
    with pytest.raises(UnprocessableError) as refused:
        correspondence.receive_query(
            INCIDENT,
            NOTIFIED,
            {},
            received_on=received_on,
            summary=summary,
            recorded_by_role="R",
            today=TODAY,
        )
    assert [e["path"] for e in refused.value.extra["errors"]] == fields


def test_correspondence_query_repeated_is_the_same_query_and_no_event() -> None:
    query_id, event = correspondence.receive_query(
        INCIDENT, NOTIFIED, {}, received_on=TODAY, summary="Dose?", recorded_by_role="RPL", today=TODAY
    )
    assert event is not None and event.query_id == query_id and event.authority == "cqc"
    known = {query_id: Query(query_id, TODAY, "Dose?", "RPL")}
    again, none = correspondence.receive_query(
        INCIDENT, NOTIFIED, known, received_on=TODAY, summary="Dose?", recorded_by_role="RPL", today=TODAY
    )
    assert (again, none) == (query_id, None)


def test_correspondence_answer_once() -> None:
    query = Query(uuid.uuid4(), dt.date(2025, 6, 20), "Dose?", "RPL")
    with pytest.raises(NotFoundError):
        correspondence.answer_query(
            None, query.query_id, answered_on=TODAY, summary="x", answered_by_role="R", today=TODAY
        )
    with pytest.raises(UnprocessableError):
        correspondence.answer_query(
            query,
            query.query_id,
            answered_on=dt.date(2025, 6, 19),
            summary="x",
            answered_by_role="R",
            today=TODAY,
        )
    event = correspondence.answer_query(
        query, query.query_id, answered_on=TODAY, summary="12 mSv", answered_by_role="MPE", today=TODAY
    )
    assert event is not None
    answered = dataclasses.replace(query, answered_on=TODAY, answer="12 mSv", answered_by_role="MPE")
    assert (
        correspondence.answer_query(
            answered, query.query_id, answered_on=TODAY, summary="12 mSv", answered_by_role="MPE", today=TODAY
        )
        is None
    )
    with pytest.raises(ConflictError):
        correspondence.answer_query(
            answered, query.query_id, answered_on=TODAY, summary="13 mSv", answered_by_role="MPE", today=TODAY
        )


def _closure(reference: str | None = "CQC-1", recorded_at: dt.datetime = AT) -> Closure:
    return Closure("cqc", TODAY, reference, "RPL", recorded_at)


@pytest.mark.parametrize(
    ("current", "reopened_at", "reference", "expected"),
    [
        pytest.param(
            None, None, None, "event", id="authority_closure-first-takes-the-notification-reference"
        ),
        pytest.param(_closure(), None, "CQC-1", None, id="authority_closure-repeated-emits-nothing"),
        pytest.param(_closure(), None, "CQC-2", ConflictError, id="authority_closure-another-one-conflicts"),
        pytest.param(
            _closure(),
            AT + dt.timedelta(days=1),
            "CQC-2",
            "event",
            id="authority_closure-again-after-a-reopen",
        ),
    ],
)
def test_authority_closure(
    current: Closure | None, reopened_at: dt.datetime | None, reference: str | None, expected: Any
) -> None:
    """Line 129: the authority signals closure of the notification by email."""

    def record() -> Any:
        return correspondence.record_closure(
            INCIDENT,
            NOTIFIED,
            current,
            case_reopened_at=reopened_at,
            closed_on=TODAY,
            reference=reference,
            recorded_by_role="RPL",
            today=TODAY,
        )

    if expected is ConflictError:
        with pytest.raises(ConflictError):
            record()
    elif expected is None:
        assert record() is None
    else:
        event = record()
        assert event is not None and event.reference == (reference or "CQC-1")


def test_correspondence_in_the_report_is_ordered_and_carries_the_reference() -> None:
    later = Query(uuid.uuid4(), dt.date(2025, 6, 25), "Learning?", "RPL")
    earlier = Query(uuid.uuid4(), dt.date(2025, 6, 20), "Dose?", "RPL", TODAY, "12 mSv", "MPE")
    found = correspondence.correspondence(NOTIFIED, [later, earlier])
    assert found.reference == "CQC-1"
    assert [q.summary for q in found.queries] == ["Dose?", "Learning?"]
    section = correspondence.correspondence_section(found)
    assert section.fields == (("Authority's reference", "CQC-1"),)
    assert section.tables[0].rows[0] == ("2025-06-20", "Dose?", "2025-07-01", "12 mSv")


# -- the deadlines service's case events and tasks -------------------------------------------------


def test_case_status_follows_withdrawal_closure_reopening_and_retention() -> None:
    state = CaseState()
    steps: list[tuple[Any, str]] = [
        (
            NotificationWithdrawalRequested(authority="cqc", reason="codes: [2.2] -> []"),
            "withdrawal_requested",
        ),
        (
            NotificationWithdrawalAgreed(
                authority="cqc", agreed_on=TODAY, authority_reference="CQC-9", recorded_by_role="RPL"
            ),
            "open",
        ),
        (
            CaseClosed(
                closed_on=TODAY,
                basis=CaseClosureBasis.LOCAL_INVESTIGATION_CLOSED,
                retain_until=dt.date(2033, 7, 1),
            ),
            "closed",
        ),
        (CaseReopened(reason="amended facts"), "open"),
        (
            CaseClosed(
                closed_on=TODAY, basis=CaseClosureBasis.AUTHORITY_CLOSED, retain_until=dt.date(2033, 7, 2)
            ),
            "closed",
        ),
        (CaseRetentionExpired(closed_on=TODAY, retain_until=dt.date(2033, 7, 2)), "closed"),
    ]
    for version, (event, status) in enumerate(steps, start=1):
        changed = apply_case_event(state, event, version, AT)
        assert changed is not None and changed.status == status, event.event_type
        state = changed
    assert state.retention_expired and state.closure_basis == "authority_closed"
    assert state.withdrawal == {
        "authority": "cqc",
        "reason": "codes: [2.2] -> []",
        "agreed_on": "2025-07-01",
        "reference": "CQC-9",
    }
    # a redelivered or late event changes nothing
    assert apply_case_event(state, CaseReopened(reason="late"), 4, AT) is None


def test_case_tasks_open_assign_overdue_complete_and_guard() -> None:
    task_id = uuid.uuid4()
    due = dt.datetime(2025, 7, 10, tzinfo=dt.UTC)
    opened = TaskOpened(task_id=task_id, kind=TaskKind.DUTY_OF_CANDOUR, due_at=due, reason="Line 85.")
    task: TaskState | None = apply_task_event(None, opened, 3)
    assert task is not None and task.status == "open" and task.kind == "duty_of_candour"
    task = apply_task_event(
        task, TaskAssigned(task_id=task_id, owner_role="Ward manager", assigned_by_role="RPL"), 4
    )
    assert task is not None and task.owner_role == "Ward manager"
    task = apply_task_event(task, TaskOverdue(task_id=task_id, kind=TaskKind.DUTY_OF_CANDOUR, due_at=due), 5)
    assert task is not None and task.overdue
    done = TaskCompleted(
        task_id=task_id,
        kind=TaskKind.DUTY_OF_CANDOUR,
        completed_on=TODAY,
        completed_by_role="RPL",
        outcome="Told.",
    )
    completed = apply_task_event(task, done, 6)
    assert completed is not None and completed.status == "completed"
    assert (
        apply_task_event(
            completed, TaskCancelled(task_id=task_id, kind=TaskKind.DUTY_OF_CANDOUR, reason="x"), 6
        )
        is None
    )
