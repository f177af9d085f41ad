"""Each document type rendered as a reader sees it: the PDF's text (extracted with pypdf) has the
labels and the codes' meanings, never a raw value, and HTML, PDF and CSV say the same."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from typing import Any

import pytest
from pypdf import PdfReader

from sievert_classifier.domain import classify
from sievert_reporting.adapters.render import table_csv, to_html, to_pdf
from sievert_reporting.domain import completeness, documents
from sievert_reporting.domain.document_views import view_of
from sievert_reporting.domain.labels import label, labelled_enums
from sievert_shared.events.reporting import DocumentParticulars, DutyHolder, LicenceMissing, SubmissionKind
from sievert_shared.facts import AnatomyError, GeographicalMiss, IncidentFacts


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


PRELIMINARY = {
    "preliminary_investigation": "The request was for the left side; the right side was treated.",
    "immediate_actions": ["Treatment paused", "Second check of laterality added to the pause"],
}
FINDINGS = documents.Findings(
    what_happened="The laterality on the plan did not match the request.",
    dose_assessment="The medical physics expert estimated the absorbed dose to the wrong side.",
    root_causes=["No independent check of laterality"],
    contributory_factors=["Handwritten request"],
    duty_of_candour_met=True,
    csaue_procedure_applied=True,
    learning="Laterality is checked against the request at every step.",
    learning_shared_how="Radiotherapy quality meeting.",
    corrective_actions=["Electronic requests only"],
    similar_incidents_confirmation=documents.SimilarIncidentsConfirmation(
        summary="No similar incident in three years; no trend.",
        confirmed_by_role="Radiotherapy services manager",
        confirmed_on=dt.date(2025, 6, 20),
        edited=True,
    ),
)


def build(kind: SubmissionKind, facts: dict[str, Any], particulars: dict[str, Any]) -> dict[str, Any]:
    f = IncidentFacts.model_validate({"nation": "england", "discovered_on": "2025-06-02", **facts})
    findings = FINDINGS if kind is SubmissionKind.INVESTIGATION_REPORT else None
    inputs = completeness.DocumentInputs(
        f, classify(f), DocumentParticulars.model_validate(particulars), findings
    )
    assert completeness.missing_items(kind, inputs) == []
    common: dict[str, Any] = {
        "submission_id": uuid.uuid4(),
        "incident_id": uuid.uuid4(),
        "trust": "RXX",
        "site": "RXX01",
        "inputs": inputs,
        "contact_role": "Radiation protection lead",
    }
    if kind is SubmissionKind.INVESTIGATION_REPORT:
        similar = documents.similar_incidents(
            this_incident=common["incident_id"],
            discovered_on=f.discovered_on,
            modality=f.modality.value,
            codes=[],
            candidates=[],
        )
        return documents.investigation_report(**common, similar=similar).model_dump(mode="json")
    if kind is SubmissionKind.LICENSING_BREACH_NOTIFICATION:
        return documents.licensing_breach(**common, summary=None).model_dump(mode="json")
    return documents.notification(**common, kind=kind, summary=None).model_dump(mode="json")


RT_WRONG_SIDE = {
    "exposure_kind": "unintended",
    "modality": "external_beam_radiotherapy",
    "anatomy_error": "wrong_side",
    "rt_prescribed_dose_gy": 8.0,
    "rt_delivered_dose_gy": 8.0,
    "rt_dose_volume": "ptv",
    "individuals_affected": 1,
    "patient_age_years": 71,
}

CASES = [
    pytest.param(
        SubmissionKind.NOTIFICATION,
        {**RT_WRONG_SIDE, "clinically_significant": True},
        PRELIMINARY,
        [
            "IR(ME)R statutory notification",
            "External beam radiotherapy",
            "Radiotherapy total geographical miss",
            "Clinically significant",
            "the wrong side (incorrect laterality)",
            "Immediate preliminary investigation",
            "Second check of laterality",
            "guidance updated 19 April 2023",
            "England",
            "an adult",
        ],
        id="notification-9.1-wrong-side",
    ),
    pytest.param(
        SubmissionKind.NOTIFICATION,
        {
            "exposure_kind": "unintended",
            "modality": "diagnostic_nuclear_medicine",
            "incorrect_radiopharmaceutical": True,
            "individuals_affected": 1,
        },
        {
            **PRELIMINARY,
            "radiopharmaceutical_administered": "Tc-99m MAA",
            "radiopharmaceutical_intended": "Tc-99m HDP",
        },
        ["Incorrect radiopharmaceutical", "Tc-99m MAA", "Tc-99m HDP", "Diagnostic nuclear medicine"],
        id="notification-code-7",
    ),
    pytest.param(
        SubmissionKind.VOLUNTARY_NOTIFICATION,
        {
            "exposure_kind": "near_miss",
            "modality": "external_beam_radiotherapy",
            "voluntary": True,
            "individuals_affected": 0,
        },
        {**PRELIMINARY, "voluntary_reason": "A wrong plan was caught at the console before any exposure."},
        [
            "IR(ME)R voluntary notification",
            "Voluntary notification",
            "Near miss (nobody was exposed)",
            "caught at the console",
            "Radiotherapy over-exposure",
        ],
        id="voluntary_notification-V8.1",
    ),
    pytest.param(
        SubmissionKind.LICENSING_BREACH_NOTIFICATION,
        {
            "exposure_kind": "unintended",
            "modality": "diagnostic_nuclear_medicine",
            "outside_arsac_licence": True,
            "individuals_affected": 1,
        },
        {
            **PRELIMINARY,
            "licence_missing": "practitioner",
            "radioactive_substance": "Tc-99m MAG3",
            "administration_purpose": "Renography, a purpose the licence did not list",
            "arsac_notified_on": "2025-06-03",
        },
        [
            "IR(ME)R licensing breach notification",
            "the practitioner's licence",
            "Tc-99m MAG3",
            "ARSAC Support Unit notified on",
            "2025-06-03",
        ],
        id="licensing_breach_notification",
    ),
    pytest.param(
        SubmissionKind.INVESTIGATION_REPORT,
        {**RT_WRONG_SIDE, "individuals_affected": 2},
        {
            "individual_doses": [
                {"individual": 1, "dose": 8.0, "unit": "Gy"},
                {"individual": 2, "dose": 0.5, "unit": "Gy"},
            ]
        },
        [
            "IR(ME)R investigation report",
            "8 Gy delivered of 8 Gy prescribed",
            "Dose received by each individual",
            "More than one individual",
            "Radiotherapy services manager",
            "edited from the proposed text",
            "No independent check of laterality",
            "Electronic requests only",
        ],
        id="investigation_report-M9.1",
    ),
]


@pytest.mark.parametrize(("kind", "facts", "particulars", "expected"), CASES)
def test_each_document_reads_in_words_in_every_format(
    kind: SubmissionKind, facts: dict[str, Any], particulars: dict[str, Any], expected: list[str]
) -> None:
    content = build(kind, facts, particulars)
    view = view_of(content)
    text = re.sub(r"\s+", " ", pdf_text(to_pdf(view)))
    html = re.sub(r"\s+", " ", to_html(view)).replace("&#39;", "'")
    for needle in expected:
        assert needle in text, needle
        assert needle in html, needle
    # every code is shown with its meaning and its guidance lines, and no column is empty
    codes = (
        next(t for t in view.tables() if t.name == "codes")
        if content["incident"]["notification_codes"]
        else None
    )
    if codes is not None:
        for row in codes.rows:
            assert all(str(cell).strip() not in ("", "-") for cell in row), row
            assert str(row[1]) in text and str(row[3]) in text, row  # the category's words and lines
    for table in view.tables():
        for column in range(len(table.headers)):
            assert any(str(row[column]).strip() not in ("", "-") for row in table.rows) or not table.rows, (
                table.name,
                table.headers[column],
            )
        assert table_csv(table).splitlines()[0] == ",".join(table.headers)
    # no raw value where a reader expects words
    for raw in (
        "external_beam_radiotherapy",
        "near_miss",
        "diagnostic_nuclear_medicine",
        "wrong_side",
        "unintended,",
        "england",
    ):
        assert raw not in text, raw
    assert "not known" not in text


def test_every_value_a_document_shows_has_words_of_its_own() -> None:
    for enum in labelled_enums():
        words = [label(value) for value in enum]
        assert all(words) and len(set(words)) == len(words), enum
    # members of different enums that are equal as strings keep their own words
    assert label(LicenceMissing.PRACTITIONER) == "the practitioner's licence"
    assert label(DutyHolder.PRACTITIONER) == "IR(ME)R practitioner"
    assert label(GeographicalMiss.NONE) != label(AnatomyError.NONE)


def test_a_document_issued_in_the_first_shape_still_renders() -> None:
    issued_v1 = {
        "document": "notification",
        "document_version": 1,
        "incident_id": str(uuid.uuid4()),
        "authority": {"code": "cqc", "name": "Care Quality Commission (England)"},
        "incident": {"notification_codes": [{"code": "2.2", "category": "2.2"}], "modality": "ct"},
        "summary": "Unintended exposure in ct.",
    }
    text = pdf_text(to_pdf(view_of(issued_v1)))
    assert "as issued, version 1" in text and "Unintended exposure in ct." in text
