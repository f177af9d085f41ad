"""The console's reading of the case lifecycle: provisional and late clocks, the case and its
local investigation, what a draft lacks and the particulars form, the work queue's provisional
and withdrawal groups, and which case events reach an open page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sievert_console.domain.case import Case, Investigation, close_out_body, errors_by_field
from sievert_console.domain.clocks import Clock, ClockState
from sievert_console.domain.labels import DUTY_HOLDERS, PROCESS_STEPS, SUBMISSION_KINDS
from sievert_console.domain.live import QUEUE, change_of, incident_signal
from sievert_console.domain.particulars import (
    FIELDS,
    errors_by_particular,
    fields_for,
    missing_items,
    particulars_patch,
)
from sievert_console.domain.queue import QueueFilter, Show, build_queue
from sievert_shared.events.reporting import DocumentParticulars, DutyHolder, ProcessStep, SubmissionKind

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
DUE = dt.datetime(2026, 3, 7, 0, 0, tzinfo=dt.UTC)  # last day in time: Fri 6 Mar 2026


def window(**changes: Any) -> dict[str, Any]:
    """One window as deadlines' ``GET /v1/incidents/{id}/deadlines`` answers it."""
    base: dict[str, Any] = {
        "incident_id": "i-1",
        "window": "notification",
        "trust": "RXX",
        "site": "RXX01",
        "status": "open",
        "case_status": "open",
        "provisional": False,
        "needs_facts": [],
        "counted_from": "2026-02-20",
        "due_at": (NOW + dt.timedelta(days=10)).isoformat(),
        "binding_due_at": (NOW + dt.timedelta(days=10)).isoformat(),
        "authority": "cqc",
        "met_at": None,
        "days_late": 0,
        "cancelled_reason": None,
        "extensions": 0,
        "extended": [],
    }
    return {**base, **changes}


# -- clocks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "state", "text"),
    [
        pytest.param(
            window(status="met", due_at=DUE.isoformat(), met_at="2026-03-06T15:00:00+00:00", days_late=0),
            ClockState.MET,
            "Met on Fri 6 Mar 2026 (last day was Fri 6 Mar 2026)",
            id="met-on-the-last-day",
        ),
        pytest.param(
            window(status="met", due_at=DUE.isoformat(), met_at="2026-03-09T09:00:00+00:00", days_late=3),
            ClockState.MET_LATE,
            "Met on Mon 9 Mar 2026 (last day was Fri 6 Mar 2026) — 3 days late",
            id="days-late-from-the-service",
        ),
        pytest.param(
            # an extension agreed after the due moved due_at, but the miss stays: the service says late
            window(
                status="met",
                due_at=(DUE + dt.timedelta(days=14)).isoformat(),
                met_at="2026-03-09T09:00:00+00:00",
                days_late=3,
                extensions=1,
            ),
            ClockState.MET_LATE,
            "Met on Mon 9 Mar 2026 (last day was Fri 20 Mar 2026) — 3 days late",
            id="late-against-the-binding-due-not-the-extended-one",
        ),
        pytest.param(
            window(status="met", due_at=DUE.isoformat(), met_at="2026-03-07T00:30:00+00:00", days_late=None),
            ClockState.MET_LATE,
            "Met on Sat 7 Mar 2026 (last day was Fri 6 Mar 2026) — 1 day late",
            id="an-older-answer-counted-against-its-own-due",
        ),
        pytest.param(
            window(
                status="cancelled", due_at=DUE.isoformat(), cancelled_reason="re-classified as notifiable"
            ),
            ClockState.CANCELLED,
            "Cancelled (last day would have been Fri 6 Mar 2026): re-classified as notifiable",
            id="cancelled-says-why",
        ),
    ],
)
def test_a_clock_says_how_it_ended(api: dict[str, Any], state: ClockState, text: str) -> None:
    clock = Clock.from_api(api)
    assert clock.state(NOW) is state
    assert clock.summary(NOW) == text


def test_a_provisional_clock_names_the_facts_it_waits_for() -> None:
    clock = Clock.from_api(window(provisional=True, needs_facts=["total_effective_dose_msv"]))
    assert clock.provisional
    assert clock.needs_facts == ("total_effective_dose_msv",)
    assert clock.state(NOW) is ClockState.OPEN  # provisional or firm, it runs the same


def test_an_extension_reads_with_who_agreed_and_whether_after_the_due() -> None:
    extension = {
        "previous_due_at": "2026-05-27T23:00:00+00:00",
        "due_at": "2026-06-25T23:00:00+00:00",
        "agreed_by": "CQC inspector",
        "reason": "awaiting the manufacturer's report",
        "agreed_after_due": True,
    }
    clock = Clock.from_api(window(window="investigation_report", extensions=1, extended=[extension]))
    assert clock.extended
    (agreed,) = clock.agreed_extensions
    assert agreed.summary() == (
        "Extended to Thu 25 Jun 2026, agreed by CQC inspector: awaiting the manufacturer's report"
        " (agreed after the due had passed: the miss stays on record)"
    )


# -- the case -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "label", "awaits"),
    [
        pytest.param({"status": "open", "version": 1}, "Open", False, id="open"),
        pytest.param(
            {"status": "withdrawal_requested", "withdrawal": {"authority": "cqc", "agreed_on": None}},
            "Withdrawal requested",
            True,
            id="withdrawal-awaits-the-authority",
        ),
        pytest.param(
            {"status": "closed", "closed_on": "2026-03-01", "retain_until": "2046-03-01"},
            "Closed",
            False,
            id="closed",
        ),
    ],
)
def test_the_case_reads_as_its_status(api: dict[str, Any], label: str, awaits: bool) -> None:
    case = Case.from_api(api)
    assert case.status_label == label
    assert case.awaits_withdrawal_agreement is awaits


def test_a_closed_case_says_until_when_it_is_kept_and_why_it_closed() -> None:
    case = Case.from_api(
        {
            "status": "closed",
            "closed_on": "2026-03-01",
            "basis": "local_investigation_closed",
            "retain_until": "2046-03-01",
        }
    )
    assert case.retain_until == dt.date(2046, 3, 1)
    assert "local investigation is closed" in case.basis_label


def test_the_investigation_reads_as_reporting_answers_it() -> None:
    answer = {
        "owner_role": "Superintendent radiographer",
        "status": "closed",
        "version": 3,
        "findings": "Positioning error.",
        "cause": {"duty_holder": "operator", "process_step": "exposure_or_delivery"},
        "corrective_actions": ["Guide updated"],
        "closed_on": "2026-03-05",
        "closed_by_role": "RP lead",
        "history": [{"event": "closed"}],
    }
    investigation = Investigation.from_api(answer)
    assert investigation.closed and investigation.version == 3
    assert (investigation.duty_holder, investigation.process_step) == ("operator", "exposure_or_delivery")


@pytest.mark.parametrize(
    ("form", "sent"),
    [
        pytest.param(
            {
                "closed_on": "2026-03-05",
                "findings": "Found.",
                "corrective_actions": "One\n\n two \n",
                "expected_version": "2",
            },
            {"corrective_actions": ["One", "two"], "expected_version": 2},
            id="actions-one-a-line",
        ),
        pytest.param(
            {"closed_on": "", "findings": "", "expected_version": "x"},
            {"closed_on": "", "findings": "", "expected_version": 0},
            id="blank-sent-as-typed-so-reporting-names-the-field",
        ),
        pytest.param(
            {
                "closed_on": "2026-03-05",
                "findings": "F",
                "error_duty_holder": "operator",
                "error_process_step": "",
            },
            {"error_duty_holder": "operator"},
            id="cause-only-when-chosen",
        ),
    ],
)
def test_the_close_out_form_is_sent_as_reporting_takes_it(form: dict[str, str], sent: dict[str, Any]) -> None:
    body = close_out_body(form, "RP lead")
    assert body["closed_by_role"] == "RP lead"
    for key, value in sent.items():
        assert body[key] == value
    if not form.get("error_process_step"):
        assert "error_process_step" not in body


def test_refused_fields_are_placed_beside_their_fields() -> None:
    errors = [
        {"path": "body/findings", "message": "the findings are required"},
        {"path": "body/closed_on", "message": "before discovery"},
        {"path": "body/owner_role", "message": "too long"},
        {"path": "body.agreed_on", "message": "in the future"},
    ]
    by_field, general = errors_by_field(errors, ("findings", "closed_on", "agreed_on"))
    assert by_field == {
        "findings": "the findings are required",
        "closed_on": "before discovery",
        "agreed_on": "in the future",
    }
    assert general == ["body/owner_role: too long"]


def test_the_taxonomy_labels_cover_the_shared_enums() -> None:
    assert set(DUTY_HOLDERS) == {d.value for d in DutyHolder}
    assert set(PROCESS_STEPS) == {p.value for p in ProcessStep}
    assert set(SUBMISSION_KINDS) == {k.value for k in SubmissionKind}


# -- documents ------------------------------------------------------------------------------------

MISSING = [
    {
        "item": "individuals_affected",
        "label": "the number of individuals exposed",
        "guidance_lines": [207, 232],
    },
    {
        "item": "preliminary_investigation",
        "label": "what the preliminary investigation found",
        "guidance_lines": [218],
    },
]


def test_what_a_draft_lacks_reads_with_its_lines_and_where_it_is_completed() -> None:
    fact, particular = missing_items(MISSING)
    assert (fact.in_particulars, fact.lines_text) == (False, "guidance lines 207, 232")
    assert (particular.in_particulars, particular.lines_text) == (True, "guidance line 218")


@pytest.mark.parametrize(
    ("kind", "missing", "offered"),
    [
        pytest.param(
            "notification",
            [],
            ("preliminary_investigation", "immediate_actions"),
            id="notification-always-218",
        ),
        pytest.param(
            "notification",
            [{"item": "equipment_fault_description", "label": "", "guidance_lines": [285]}],
            ("preliminary_investigation", "immediate_actions", "equipment_fault_description"),
            id="code-e-when-lacking",
        ),
        pytest.param("investigation_report", [], (), id="report-only-what-it-lacks"),
    ],
)
def test_the_particulars_offered(kind: str, missing: list[dict[str, Any]], offered: tuple[str, ...]) -> None:
    assert tuple(f.name for f in fields_for(kind, missing_items(missing))) == offered


def test_the_particulars_are_sent_as_typed_and_empty_ones_are_kept() -> None:
    form = {
        "preliminary_investigation": "  Found it. ",
        "immediate_actions": "Reviewed\n\nBriefed\n",
        "voluntary_reason": "",
    }
    patch = particulars_patch(form, FIELDS)
    assert patch == {"preliminary_investigation": "Found it.", "immediate_actions": ["Reviewed", "Briefed"]}
    DocumentParticulars.model_validate(patch)  # what reporting's PATCH takes


def test_every_particular_offered_is_a_field_of_the_shared_model() -> None:
    for field in FIELDS:
        assert field.name in DocumentParticulars.model_fields
        assert field.description


def test_a_refused_particular_is_placed_beside_its_field() -> None:
    errors = [
        {"path": "body/particulars/preliminary_investigation", "message": "looks like an NHS number"},
        {"path": "body/summary", "message": "a titled name"},
    ]
    by_field, general = errors_by_particular(errors)
    assert by_field == {"preliminary_investigation": "looks like an NHS number"}
    assert general == ["body/summary: a titled name"]


# -- the work queue -------------------------------------------------------------------------------


def test_provisional_clocks_and_withdrawals_are_groups_of_their_own_due_first_first() -> None:
    windows = [
        window(incident_id="firm", due_at=(NOW + dt.timedelta(days=2)).isoformat()),
        window(
            incident_id="provisional-later",
            provisional=True,
            needs_facts=["total_effective_dose_msv"],
            due_at=(NOW + dt.timedelta(days=9)).isoformat(),
        ),
        window(
            incident_id="provisional-sooner",
            provisional=True,
            needs_facts=["individuals_affected"],
            due_at=(NOW + dt.timedelta(days=4)).isoformat(),
        ),
        window(
            incident_id="withdrawal",
            window="investigation_report",
            case_status="withdrawal_requested",
            due_at=(NOW + dt.timedelta(days=30)).isoformat(),
        ),
    ]
    everything = build_queue([], windows, {}, where=QueueFilter(), now=NOW)
    assert [r.incident_id for r in everything.rows] == [
        "firm",
        "provisional-sooner",
        "provisional-later",
        "withdrawal",
    ]
    assert everything.counts[Show.PROVISIONAL] == 2
    assert everything.counts[Show.WITHDRAWAL_REQUESTED] == 1

    provisional = build_queue([], windows, {}, where=QueueFilter(show=Show.PROVISIONAL), now=NOW)
    assert [r.incident_id for r in provisional.rows] == ["provisional-sooner", "provisional-later"]
    assert all(r.flags == (Show.PROVISIONAL,) for r in provisional.rows)
    withdrawals = build_queue([], windows, {}, where=QueueFilter(show=Show.WITHDRAWAL_REQUESTED), now=NOW)
    assert [r.incident_id for r in withdrawals.rows] == ["withdrawal"]
    assert QueueFilter.from_query({"show": "withdrawal_requested"}).show is Show.WITHDRAWAL_REQUESTED


# -- live -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type",
    [
        pytest.param(name, id=name)
        for name in (
            "LocalInvestigationClosed",
            "LocalInvestigationOwnerAssigned",
            "NotificationWithdrawalRequested",
            "NotificationWithdrawalAgreed",
            "CaseClosed",
            "CaseReopened",
            "AuthorityQueryReceived",
        )
    ],
)
def test_a_case_event_refreshes_the_incident_and_the_queue(event_type: str) -> None:
    change = change_of(event_type, "RXX", "i-1", {})
    assert change is not None
    assert change.signals == (incident_signal("i-1"), QUEUE)


def test_an_amendment_waits_for_reporting_to_have_the_facts() -> None:
    change = change_of("IncidentFactsAmended", "RXX", "i-1", {}, stream_version=3)
    assert change is not None and change.facts_version == 3
