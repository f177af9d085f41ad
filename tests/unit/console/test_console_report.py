"""The 12-week report's findings form as reporting takes it, the documents a decision calls for,
the licensing-breach particulars against the shared model, and the authority's correspondence."""

from __future__ import annotations

from typing import Any

import pytest

from sievert_console.domain.particulars import FIELDS, drafts_offered, missing_items
from sievert_console.domain.report import FINDINGS, Correspondence, findings_body, shown_findings
from sievert_shared.events.reporting import DocumentParticulars, DutyHolder, LicenceMissing, ProcessStep

ROLE = "Radiation protection lead"


@pytest.mark.parametrize(
    ("form", "body"),
    [
        pytest.param({}, {"recorded_by_role": ROLE}, id="nothing-filled-in"),
        pytest.param(
            {"what_happened": "  A head protocol.  ", "learning": ""},
            {"recorded_by_role": ROLE, "what_happened": "A head protocol."},
            id="empty-left-out",
        ),
        pytest.param(
            {"root_causes": "Names alike\n\n  Lists long \n"},
            {"recorded_by_role": ROLE, "root_causes": ["Names alike", "Lists long"]},
            id="one-a-line",
        ),
        pytest.param(
            {"duty_of_candour_met": "true", "csaue_procedure_applied": "false"},
            {"recorded_by_role": ROLE, "duty_of_candour_met": True, "csaue_procedure_applied": False},
            id="yes-no",
        ),
        pytest.param(
            {"duty_of_candour_met": "perhaps"},
            {"recorded_by_role": ROLE, "duty_of_candour_met": "perhaps"},
            id="yes-no-sent-as-typed-for-reporting-to-refuse",
        ),
        pytest.param(
            {"contributory_factors_none": "1"},
            {"recorded_by_role": ROLE, "contributory_factors": []},
            id="none-an-explicit-empty-list",
        ),
        pytest.param(
            {"contributory_factors_none": "1", "contributory_factors": "Fatigue"},
            {"recorded_by_role": ROLE, "contributory_factors": ["Fatigue"]},
            id="factors-typed-win-over-none",
        ),
        pytest.param(
            {"error_duty_holder": "operator", "error_process_step": ""},
            {"recorded_by_role": ROLE, "error_duty_holder": "operator"},
            id="cause",
        ),
    ],
)
def test_the_findings_form_as_reporting_takes_it(form: dict[str, str], body: dict[str, Any]) -> None:
    assert findings_body(form, ROLE) == body


def test_the_findings_fields_and_their_options_are_reportings_own() -> None:
    names = {f.name for f in FINDINGS}
    reporting = {
        "what_happened",
        "dose_assessment",
        "root_causes",
        "contributory_factors",
        "duty_of_candour_met",
        "duty_of_candour_notes",
        "csaue_procedure_applied",
        "csaue_procedure_notes",
        "learning",
        "learning_shared_how",
        "corrective_actions",
        "error_duty_holder",
        "error_process_step",
    }
    assert names == reporting
    by_name = {f.name: f for f in FINDINGS}
    assert set(by_name["error_duty_holder"].options) == {d.value for d in DutyHolder}
    assert set(by_name["error_process_step"].options) == {p.value for p in ProcessStep}


def test_recorded_findings_are_shown_as_the_controls_hold_them() -> None:
    shown = shown_findings({"root_causes": ["a", "b"], "duty_of_candour_met": False, "learning": None})
    assert (shown["root_causes"], shown["duty_of_candour_met"], shown["learning"]) == ("a\nb", "false", "")


def test_every_particular_offered_is_the_shared_models_and_a_licence_is_one_of_its_values() -> None:
    assert {f.name for f in FIELDS} <= set(DocumentParticulars.model_fields)
    licence = next(f for f in FIELDS if f.name == "licence_missing")
    assert set(licence.options) == {v.value for v in LicenceMissing}


@pytest.mark.parametrize(
    ("decision", "present", "offered"),
    [
        pytest.param(None, [], (), id="no-decision"),
        pytest.param({"notifiable": True}, [], ("notification", "investigation_report"), id="notifiable"),
        pytest.param(
            {"notifiable": True},
            [{"kind": "notification", "channel": "external"}],
            ("investigation_report",),
            id="notified-outside-sievert",
        ),
        pytest.param({"notifiable": False}, [], (), id="below-the-criteria"),
        pytest.param(
            {"notifiable": False, "voluntary": True},
            [],
            ("voluntary_notification",),
            id="offered-voluntarily",
        ),
        pytest.param(
            {"notifiable": True, "voluntary": True},
            [],
            ("notification", "investigation_report"),
            id="notifiable-never-voluntary",
        ),
        pytest.param(
            {"notifiable": False, "voluntary": True, "licensing_breach": True},
            [{"kind": "voluntary_notification"}],
            ("licensing_breach_notification",),
            id="licensing-breach",
        ),
    ],
)
def test_the_documents_a_decision_calls_for_that_are_not_drafted_yet(
    decision: dict[str, Any] | None, present: list[dict[str, Any]], offered: tuple[str, ...]
) -> None:
    assert drafts_offered(decision, present) == offered


def test_a_closed_case_owes_no_statutory_document_but_the_licensing_breach_form_stays() -> None:
    decision = {"notifiable": True, "licensing_breach": True}
    assert drafts_offered(decision, [], "closed") == ("licensing_breach_notification",)
    assert drafts_offered(decision, [], "withdrawal_requested")[:2] == (
        "notification",
        "investigation_report",
    )


def test_a_report_item_is_completed_in_the_findings_a_particular_on_the_draft_the_rest_are_facts() -> None:
    items = missing_items(
        [
            {"item": "similar_incidents_confirmed", "label": "x", "guidance_lines": [234]},
            {"item": "arsac_notified_on", "label": "y", "guidance_lines": [98]},
            {"item": "individuals_affected", "label": "z", "guidance_lines": [207]},
        ]
    )
    assert [(m.in_report, m.in_particulars) for m in items] == [(True, False), (False, True), (False, False)]


def test_the_authoritys_correspondence_as_reporting_answers_it() -> None:
    found = Correspondence.from_api(
        {
            "notified": True,
            "authority": "cqc",
            "reference": "CQC/1",
            "notification": {"submitted_on": "2026-03-02", "channel": "external"},
            "queries": [
                {
                    "query_id": "q1",
                    "received_on": "2026-03-04",
                    "summary": "Dose?",
                    "recorded_by_role": "RPL",
                },
                {
                    "query_id": "q2",
                    "received_on": "2026-03-05",
                    "summary": "Protocol?",
                    "recorded_by_role": "RPL",
                    "answered_on": "2026-03-06",
                    "answer": "Sent.",
                    "answered_by_role": "MPE",
                },
            ],
            "closure": None,
        }
    )
    assert (found.notified, found.reference, found.channel, found.open_queries) == (
        True,
        "CQC/1",
        "external",
        1,
    )
    assert [q.open for q in found.queries] == [True, False]
    never = Correspondence.from_api({"notified": False, "queries": [], "notification": None})
    assert not never.notified and never.queries == ()
