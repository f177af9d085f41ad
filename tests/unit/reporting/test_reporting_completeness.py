"""What each document must hold, per document type and code, each item with its guidance line
(``domain.completeness``): one row per document and code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sievert_classifier.domain import classify
from sievert_reporting.domain.completeness import DocumentInputs, missing_items
from sievert_reporting.domain.documents import Findings, SimilarIncidentsConfirmation
from sievert_shared.events.reporting import DocumentParticulars, SubmissionKind
from sievert_shared.facts import IncidentFacts
from tests.support.samples import REPORT_FINDINGS_ITEMS

NOTIFICATION = SubmissionKind.NOTIFICATION
VOLUNTARY = SubmissionKind.VOLUNTARY_NOTIFICATION
BREACH = SubmissionKind.LICENSING_BREACH_NOTIFICATION
REPORT = SubmissionKind.INVESTIGATION_REPORT

#: Line 218: every notification says what the preliminary investigation found and what was done.
PRELIMINARY = {
    "preliminary_investigation": "The wrong protocol was selected.",
    "immediate_actions": ["Locked it"],
}
ONE = {"individuals_affected": 1}

COMPLETE_FINDINGS = Findings(
    what_happened="A CT head protocol was used for a CT abdomen.",
    dose_assessment="The medical physics expert estimated the doses.",
    root_causes=["Ambiguous protocol names"],
    contributory_factors=[],
    duty_of_candour_met=True,
    csaue_procedure_applied=False,
    learning="Protocol names say the body part first.",
    learning_shared_how="Radiation safety committee.",
    corrective_actions=["Renamed every protocol"],
    similar_incidents_confirmation=SimilarIncidentsConfirmation(
        summary="No similar incident.",
        confirmed_by_role="Radiation protection lead",
        confirmed_on=dt.date(2025, 6, 20),
        edited=False,
    ),
)


def inputs(
    facts: dict[str, Any], particulars: dict[str, Any], findings: Findings | None = None
) -> DocumentInputs:
    f = IncidentFacts.model_validate({"nation": "england", "discovered_on": "2025-06-02", **facts})
    return DocumentInputs(f, classify(f), DocumentParticulars.model_validate(particulars), findings)


CT_2_2 = {
    "exposure_kind": "unintended",
    "modality": "ct",
    "intended_effective_dose_msv": 1.0,
    "total_effective_dose_msv": 12.0,
}
RT = {"exposure_kind": "unintended", "modality": "external_beam_radiotherapy", "rt_dose_volume": "ptv"}


@pytest.mark.parametrize(
    ("kind", "facts", "particulars", "findings", "missing"),
    [
        pytest.param(
            NOTIFICATION,
            {**CT_2_2, **ONE},
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-2.2-complete",
        ),
        pytest.param(
            NOTIFICATION,
            CT_2_2,
            {},
            None,
            {"individuals_affected", "preliminary_investigation", "immediate_actions"},
            id="completeness-notification-line-218-and-individuals",
        ),
        pytest.param(
            NOTIFICATION,
            {"exposure_kind": "unintended", "modality": "ct", "individuals_affected": 3},
            PRELIMINARY,
            None,
            {"notification_code"},
            id="completeness-notification-M-without-code-1-9-line-287",
        ),
        pytest.param(
            NOTIFICATION,
            {**ONE, "exposure_kind": "accidental", "modality": "ct", "total_effective_dose_msv": 4.0},
            PRELIMINARY,
            None,
            {"child"},
            id="completeness-notification-code-1-england-needs-child-status-line-150",
        ),
        pytest.param(
            NOTIFICATION,
            {**ONE, "nation": "wales", "exposure_kind": "accidental", "modality": "radiography"},
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-1-wales-regardless-of-dose-line-151",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "ct",
                "intended_effective_dose_msv": 0.1,
                "total_effective_dose_msv": 1.5,
                "patient_age_years": 9,
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-2.1-child-line-162",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "interventional",
                "deterministic_effect": "other",
                "procedural_failure": True,
                "intended_effective_dose_msv": 5.0,
                "total_effective_dose_msv": 6.0,
            },
            PRELIMINARY,
            None,
            {"deterministic_effect_description"},
            id="completeness-notification-code-3-effect-lines-166-295",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "radiotherapy_planning_imaging",
                "planning_scans": 3,
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-4.1-line-167",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "radiotherapy_verification_imaging",
                "verification_images_in_fraction": 3,
                "verification_imaging_cause": "set_up_error",
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-4.2a-count-and-cause-line-170",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "radiotherapy_verification_imaging",
                "verification_images_intended": 5,
                "verification_images_additional": 3,
                "verification_imaging_cause": "protocol_failure",
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-4.2b-counts-and-cause-line-171",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "ct",
                "patient_pregnant": True,
                "foetal_dose_mgy": 12.0,
                "intended_effective_dose_msv": 5.0,
                "total_effective_dose_msv": 6.0,
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-5-foetal-dose-line-175",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "diagnostic_nuclear_medicine",
                "patient_breastfeeding": True,
                "procedural_failure": True,
                "breastfed_infant_effective_dose_msv": 1.5,
                "intended_effective_dose_msv": 3.0,
                "total_effective_dose_msv": 3.0,
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-6-infant-dose-line-176",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "diagnostic_nuclear_medicine",
                "incorrect_radiopharmaceutical": True,
            },
            PRELIMINARY,
            None,
            {"radiopharmaceutical_administered", "radiopharmaceutical_intended"},
            id="completeness-notification-code-7-radiopharmaceuticals-lines-177-334",
        ),
        pytest.param(
            NOTIFICATION,
            {**ONE, **RT, "rt_prescribed_dose_gy": 60.0, "rt_delivered_dose_gy": 66.0},
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-8.1-gy-line-182",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "external_beam_radiotherapy",
                "anatomy_error": "wrong_side",
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-9.1-wrong-side-lines-188-349",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                **RT,
                "geographical_miss": "partial",
                "geographical_miss_margin_ratio": 3.0,
                "rt_course_dose_ratio": 1.15,
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-9.2-margin-line-191",
        ),
        pytest.param(
            NOTIFICATION,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "sirt",
                "nm_prescribed_activity_mbq": 1000.0,
                "nm_delivered_activity_mbq": 1300.0,
            },
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-10.1-activities-line-196",
        ),
        pytest.param(
            NOTIFICATION,
            {**CT_2_2, **ONE, "equipment_fault": True},
            PRELIMINARY,
            None,
            {"equipment_fault_description"},
            id="completeness-notification-code-E-line-285",
        ),
        pytest.param(
            NOTIFICATION,
            {**CT_2_2, "individuals_affected": 3},
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-M-individuals-line-207",
        ),
        pytest.param(
            NOTIFICATION,
            {**CT_2_2, **ONE, "clinically_significant": True},
            PRELIMINARY,
            None,
            set(),
            id="completeness-notification-code-C-line-212",
        ),
        pytest.param(
            VOLUNTARY,
            {
                "exposure_kind": "near_miss",
                "modality": "external_beam_radiotherapy",
                "voluntary": True,
                "individuals_affected": 0,
            },
            PRELIMINARY,
            None,
            {"voluntary_reason"},
            id="completeness-voluntary_notification-code-V-reason-line-268",
        ),
        pytest.param(
            VOLUNTARY,
            {"exposure_kind": "near_miss", "modality": "ct", "individuals_affected": 0},
            {**PRELIMINARY, "voluntary_reason": "A wrong plan caught at the console."},
            None,
            {"voluntary_code"},
            id="completeness-voluntary_notification-needs-code-V-with-1-9-lines-211-287",
        ),
        pytest.param(
            BREACH,
            {
                **ONE,
                "exposure_kind": "unintended",
                "modality": "diagnostic_nuclear_medicine",
                "outside_arsac_licence": True,
            },
            {},
            None,
            {
                "licence_missing",
                "radioactive_substance",
                "administration_purpose",
                "arsac_notified_on",
                "preliminary_investigation",
            },
            id="completeness-licensing_breach-particulars-lines-89-98",
        ),
        pytest.param(
            BREACH,
            {**ONE, "exposure_kind": "unintended", "modality": "diagnostic_nuclear_medicine"},
            {
                **PRELIMINARY,
                "licence_missing": "practitioner",
                "radioactive_substance": "Tc-99m MAG3",
                "administration_purpose": "Renography in a child",
                "arsac_notified_on": "2025-06-03",
            },
            None,
            {"licensing_breach"},
            id="completeness-licensing_breach-needs-the-breach-decided-lines-45-98",
        ),
        pytest.param(
            REPORT, {**CT_2_2, **ONE}, {}, COMPLETE_FINDINGS, set(), id="completeness-report-complete"
        ),
        pytest.param(
            REPORT,
            {**CT_2_2, **ONE},
            {},
            COMPLETE_FINDINGS.model_copy(update={"similar_incidents_confirmation": None}),
            {"similar_incidents_confirmed"},
            id="completeness-report-similar-incidents-confirmed-by-a-person-line-234",
        ),
        pytest.param(
            REPORT,
            {**ONE, **RT, "rt_course_dose_ratio": 1.15},
            {},
            COMPLETE_FINDINGS,
            {"estimated_doses"},
            id="completeness-report-radiotherapy-needs-a-dose-estimate-in-gy-line-232",
        ),
        pytest.param(
            REPORT,
            {**ONE, **RT, "rt_prescribed_dose_gy": 60.0, "rt_delivered_dose_gy": 66.0},
            {},
            COMPLETE_FINDINGS,
            set(),
            id="completeness-report-radiotherapy-with-gy",
        ),
        pytest.param(
            REPORT,
            {**CT_2_2, "individuals_affected": 3},
            {},
            COMPLETE_FINDINGS,
            {"individual_doses"},
            id="completeness-report-M-needs-each-individuals-dose-line-232",
        ),
        pytest.param(
            REPORT,
            {**CT_2_2, "individuals_affected": 2},
            {
                "individual_doses": [
                    {"individual": 1, "dose": 12.0, "unit": "mSv"},
                    {"individual": 2, "dose": 3.0, "unit": "mSv"},
                ]
            },
            COMPLETE_FINDINGS,
            set(),
            id="completeness-report-M-with-individual-doses",
        ),
        pytest.param(
            REPORT,
            {**CT_2_2, **ONE},
            {},
            Findings(),
            set(REPORT_FINDINGS_ITEMS),
            id="completeness-report-lines-229-238",
        ),
    ],
)
def test_completeness_by_document_and_code(
    kind: SubmissionKind,
    facts: dict[str, Any],
    particulars: dict[str, Any],
    findings: Findings | None,
    missing: set[str],
) -> None:
    found = missing_items(kind, inputs(facts, particulars, findings))
    assert {m["item"] for m in found} == missing
    for item in found:
        assert item["label"] and item["guidance_lines"], item
        assert all(1 <= line <= 403 for line in item["guidance_lines"])
