"""Documents, the report checklist, similar incidents and the document schemas."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from sievert_classifier.domain import classify
from sievert_reporting.adapters.render import table_csv, to_html, to_pdf
from sievert_reporting.contracts import REPORTS_DIR, generate
from sievert_reporting.domain import completeness, documents
from sievert_reporting.domain.document_views import notification_view
from sievert_shared.events import InvestigationFindingsRecorded, SimilarIncidentsConfirmed
from sievert_shared.events.reporting import DocumentParticulars, SubmissionKind
from sievert_shared.facts import IncidentFacts
from tests.support.samples import REPORT_FINDINGS_ITEMS


def facts(**overrides: object) -> IncidentFacts:
    base = {
        "nation": "england",
        "discovered_on": "2025-06-02",
        "exposure_kind": "unintended",
        "modality": "ct",
        "intended_effective_dose_msv": 1.0,
        "total_effective_dose_msv": 12.0,
    }
    return IncidentFacts.model_validate({**base, **overrides})


def test_report_schemas_are_current() -> None:
    for name, text in generate().items():
        assert (REPORTS_DIR / name).read_text() == text, "regenerate: python -m sievert_reporting.contracts"


@pytest.mark.parametrize(
    ("code", "category", "prefixes"),
    [
        pytest.param("2.2", "2.2", [], id="plain-code"),
        pytest.param("ME2.1", "2.1", ["M", "E"], id="complementary-M-E-lines-202-207"),
        pytest.param("C8.1", "8.1", ["C"], id="clinically-significant"),
    ],
)
def test_codes_split_into_category_and_complementary_prefixes(
    code: str, category: str, prefixes: list[str]
) -> None:
    split = documents.split_code(code)
    assert (split.category, split.complementary_prefixes) == (category, prefixes)


@pytest.mark.parametrize(
    ("overrides", "basis", "items"),
    [
        pytest.param({}, "dose", {"Multiplication factor (received/intended)": 12.0}, id="ct-12x-code-2.2"),
        pytest.param(
            {"modality": "external_beam_radiotherapy", "rt_course_dose_ratio": 1.15, "rt_dose_volume": "ptv"},
            "radiotherapy",
            {"Delivered/intended dose over the course": 1.15},
            id="radiotherapy-ratio-code-8.2",
        ),
        pytest.param(
            {"modality": "sirt", "nm_prescribed_activity_mbq": 1000.0, "nm_delivered_activity_mbq": 1300.0},
            "activity",
            {"Difference from prescribed": 30.0},
            id="sirt-activity-code-10.1",
        ),
    ],
)
def test_details_follow_the_modality(
    overrides: dict[str, object], basis: str, items: dict[str, float]
) -> None:
    details = documents.details(facts(**overrides))
    assert details.basis == basis
    rows = {r.item: r.value for r in details.rows}
    for item, value in items.items():
        assert rows[item] == value


def test_every_missing_report_item_is_listed_with_its_guidance_line() -> None:
    f = facts(individuals_affected=1)
    missing = completeness.missing_items(
        SubmissionKind.INVESTIGATION_REPORT,
        completeness.DocumentInputs(f, classify(f), findings=documents.Findings()),
    )
    assert [m["item"] for m in missing] == list(REPORT_FINDINGS_ITEMS)
    assert all(m["guidance_lines"] and m["label"] for m in missing)


def test_similar_incidents_same_modality_or_code_in_previous_three_years() -> None:
    me = uuid.uuid4()
    rows = [
        {
            "incident_id": uuid.uuid4(),
            "site": "A",
            "modality": "ct",
            "codes": [],
            "notifiable": True,
            "discovered_on": dt.date(2023, 1, 1),
        },
        {
            "incident_id": uuid.uuid4(),
            "site": "B",
            "modality": "fluoroscopy",
            "codes": ["M2.2"],
            "notifiable": True,
            "discovered_on": dt.date(2024, 1, 1),
        },
        {
            "incident_id": uuid.uuid4(),
            "site": "A",
            "modality": "ct",
            "codes": [],
            "notifiable": False,
            "discovered_on": dt.date(2022, 6, 1),
        },  # more than 3 years before
        {
            "incident_id": uuid.uuid4(),
            "site": "A",
            "modality": "dental",
            "codes": [],
            "notifiable": False,
            "discovered_on": dt.date(2024, 1, 1),
        },  # neither modality nor code
    ]
    similar = documents.similar_incidents(
        this_incident=me, discovered_on=dt.date(2025, 6, 2), modality="ct", codes=["2.2"], candidates=rows
    )
    assert [i.matched_on for i in similar.items] == [["code"], ["modality"]]
    assert similar.possible_systematic_failure  # two similar notifiable incidents


def test_one_view_renders_to_html_pdf_and_csv() -> None:
    f = facts(equipment_fault=True, individuals_affected=1)
    particulars = DocumentParticulars(
        preliminary_investigation="The scanner's protocol list was corrupted by an update.",
        immediate_actions=["Scanner taken out of use"],
        equipment_fault_description="A software update renamed the protocols.",
    )
    doc = documents.notification(
        submission_id=uuid.uuid4(),
        incident_id=uuid.uuid4(),
        trust="RXX",
        site="RXX01",
        inputs=completeness.DocumentInputs(f, classify(f), particulars),
        contact_role="Radiation protection lead",
        summary=None,
    )
    view = notification_view(doc)
    assert "Radiation protection lead" in to_html(view)
    assert to_pdf(view).startswith(b"%PDF")
    assert table_csv(view.tables()[0]).splitlines()[0] == "Code,Category,Criterion,Guidance lines"


def test_similar_incidents_confirmed_is_kept_with_the_findings_and_completes_the_report_item() -> None:
    confirmed = SimilarIncidentsConfirmed(
        confirmed_by_role="Radiation protection lead",
        confirmed_on=dt.date(2025, 6, 20),
        summary="One similar incident in 2024 at another site; no trend.",
        edited=True,
    )
    findings = documents.confirm_similar_incidents(documents.Findings(), confirmed)
    # findings recorded later leave the confirmation as it was
    later = InvestigationFindingsRecorded(recorded_by_role="RPA", what_happened="Wrong protocol.")
    findings = documents.merge_findings(findings, later)
    assert findings.similar_incidents_confirmation is not None
    assert findings.similar_incidents_confirmation.summary == confirmed.summary
    assert findings.what_happened == "Wrong protocol."
    f = facts(individuals_affected=1)
    inputs = completeness.DocumentInputs(f, classify(f), findings=findings)
    missing = {m["item"] for m in completeness.missing_items(SubmissionKind.INVESTIGATION_REPORT, inputs)}
    assert "similar_incidents_confirmed" not in missing and "what_happened" not in missing
