"""The published taxonomies as versioned data (``domain.taxonomy``): every data file loads and names
its source and version; the version in force by day; the RTE level derived where Sievert knows it
and asked otherwise; codes a version does not hold refused with 422 naming the field and version;
LocalInvestigationClosed v1 read as v2."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from importlib import resources
from typing import Any

import pytest

from sievert_reporting.domain import local_investigation, taxonomy
from sievert_reporting.domain.local_investigation import CloseOut, LocalInvestigation
from sievert_reporting.domain.taxonomy import (
    RADIOTHERAPY_MODALITIES,
    ErrorCategoryInput,
    IncidentBasis,
    RadiotherapyEventInput,
    TaxonomyCodeError,
    check_error_category,
    code_radiotherapy_event,
    derive_level,
    packaged,
    parse_all,
)
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.errors import UnprocessableError
from sievert_shared.events import REGISTRY, LocalInvestigationClosed
from sievert_shared.facts import ExposureKind, Modality

TAXONOMIES = packaged()
DAY = dt.date(2025, 6, 2)


def data_files() -> list[dict[str, Any]]:
    folder = resources.files("sievert_reporting.domain.taxonomies")
    return [json.loads(f.read_text(encoding="utf-8")) for f in folder.iterdir() if f.name.endswith(".json")]


def rt(
    notifiable: bool | None = False,
    kind: ExposureKind = ExposureKind.UNINTENDED,
    modality: Modality = Modality.EXTERNAL_BEAM_RADIOTHERAPY,
    day: dt.date = DAY,
) -> IncidentBasis:
    return IncidentBasis(day, modality, kind, notifiable)


def test_taxonomy_every_data_file_names_its_source_version_and_completeness() -> None:
    files = data_files()
    assert {f["taxonomy"] for f in files} == {"cqc_irmer_error", "radiotherapy_event"}
    for data in files:
        assert data["version"] and data["sources"], data["version"]
        assert all(s["publisher"] and s["title"] for s in data["sources"])
        assert data["status"] in {"complete", "incomplete"}
        if data["status"] == "incomplete":
            assert data["incomplete"], f"{data['version']}: say what is missing"
    assert {v.version for v in TAXONOMIES.cqc} == {"2021/22", "2023/24"}
    assert {v.version for v in TAXONOMIES.rte} == {"tsrt-2008"}


def test_taxonomy_rte_levels_are_the_published_five() -> None:
    (rte,) = TAXONOMIES.rte
    assert rte.levels == {
        1: "Reportable radiation incident",
        2: "Non-reportable radiation incident",
        3: "Minor radiation incident",
        4: "Near miss",
        5: "Other non-conformance",
    }


def test_taxonomy_refuses_a_file_with_a_code_twice_or_a_version_twice() -> None:
    (cqc,) = [f for f in data_files() if f["version"] == "2023/24"]
    with pytest.raises(ValueError, match="a version is given twice"):
        parse_all([cqc, cqc])
    tier1 = cqc["tier1"][0]
    broken = {
        **cqc,
        "tier1": [{**tier1, "tier2": [{**tier1["tier2"][0], "tier3": tier1["tier2"][0]["tier3"] * 2}]}],
    }
    with pytest.raises(ValueError, match="listed twice"):
        parse_all([broken])


@pytest.mark.parametrize(
    ("day", "version"),
    [
        pytest.param(dt.date(2021, 3, 31), None, id="before-the-first-cqc-version"),
        pytest.param(dt.date(2021, 4, 1), "2021/22", id="first-day-of-2021-22"),
        pytest.param(dt.date(2023, 3, 31), "2021/22", id="2021-22-stays-until-the-next"),
        pytest.param(dt.date(2023, 4, 1), "2023/24", id="first-day-of-2023-24"),
        pytest.param(dt.date(2026, 12, 1), "2023/24", id="latest-stays-in-force"),
    ],
)
def test_taxonomy_cqc_version_in_force_by_day(day: dt.date, version: str | None) -> None:
    found = TAXONOMIES.cqc_in_force(day)
    assert (found.version if found else None) == version


@pytest.mark.parametrize(
    ("incident", "expected"),
    [
        pytest.param(rt(notifiable=True), (1, "notifiable"), id="notifiable-is-reportable-level-1"),
        pytest.param(rt(kind=ExposureKind.NEAR_MISS), (4, "near_miss"), id="near-miss-is-level-4"),
        pytest.param(rt(notifiable=False), None, id="not-notifiable-exposure-is-asked"),
        pytest.param(rt(notifiable=None), None, id="undecided-is-asked"),
        pytest.param(
            rt(kind=ExposureKind.ACCIDENTAL, notifiable=False), None, id="accidental-below-criteria-asked"
        ),
    ],
)
def test_taxonomy_rte_level_derivation(incident: IncidentBasis, expected: tuple[int, str] | None) -> None:
    derived = derive_level(incident)
    assert (None if derived is None else (derived.level, derived.basis)) == expected
    if derived is not None:
        assert "guidance line" in derived.why


@pytest.mark.parametrize(
    ("incident", "given", "level", "basis"),
    [
        pytest.param(rt(notifiable=True), None, 1, "notifiable", id="derived-without-asking"),
        pytest.param(
            rt(notifiable=True), RadiotherapyEventInput(level=1), 1, "notifiable", id="stated-as-derived"
        ),
        pytest.param(rt(kind=ExposureKind.NEAR_MISS), None, 4, "near_miss", id="near-miss-derived"),
        pytest.param(rt(), RadiotherapyEventInput(level=3), 3, "stated", id="minor-stated"),
        pytest.param(
            rt(modality=Modality.RADIOTHERAPY_VERIFICATION_IMAGING),
            RadiotherapyEventInput(level=5),
            5,
            "stated",
            id="verification-imaging-is-radiotherapy",
        ),
    ],
)
def test_taxonomy_rte_coding_recorded(
    incident: IncidentBasis, given: RadiotherapyEventInput | None, level: int, basis: str
) -> None:
    coding = code_radiotherapy_event(TAXONOMIES, incident, given)
    assert coding is not None
    assert (coding.taxonomy_version, coding.level, coding.level_basis) == ("tsrt-2008", level, basis)


def test_taxonomy_rte_coding_is_none_outside_radiotherapy() -> None:
    assert code_radiotherapy_event(TAXONOMIES, rt(modality=Modality.CT), None) is None
    assert Modality.CT not in RADIOTHERAPY_MODALITIES


@pytest.mark.parametrize(
    ("incident", "given", "path", "says"),
    [
        pytest.param(
            rt(), None, "body/radiotherapy_event/level", "state the classification level", id="level-asked"
        ),
        pytest.param(
            rt(),
            RadiotherapyEventInput(level=None),
            "body/radiotherapy_event/level",
            "state",
            id="level-asked-empty",
        ),
        pytest.param(
            rt(notifiable=True),
            RadiotherapyEventInput(level=4),
            "body/radiotherapy_event/level",
            "the level is 1",
            id="level-contradicts-notifiable",
        ),
        pytest.param(
            rt(kind=ExposureKind.NEAR_MISS),
            RadiotherapyEventInput(level=2),
            "body/radiotherapy_event/level",
            "the level is 4",
            id="level-contradicts-near-miss",
        ),
        pytest.param(
            rt(notifiable=True),
            RadiotherapyEventInput(process_subcodes=("13a",)),
            "body/radiotherapy_event/process_subcodes/0",
            "tsrt-2008",
            id="process-subcode-not-held",
        ),
        pytest.param(
            rt(notifiable=True),
            RadiotherapyEventInput(failed_safety_barriers=("SB1",)),
            "body/radiotherapy_event/failed_safety_barriers/0",
            "tsrt-2008",
            id="safety-barrier-not-held",
        ),
        pytest.param(
            rt(notifiable=True),
            RadiotherapyEventInput(causative_factors=("CF1",)),
            "body/radiotherapy_event/causative_factors/0",
            "incomplete",
            id="causative-factor-not-held",
        ),
        pytest.param(
            rt(notifiable=True),
            RadiotherapyEventInput(detection_methods=("MD1",)),
            "body/radiotherapy_event/detection_methods/0",
            "tsrt-2008",
            id="detection-method-not-held",
        ),
        pytest.param(
            rt(modality=Modality.CT),
            RadiotherapyEventInput(level=2),
            "body/radiotherapy_event",
            "radiotherapy incidents",
            id="coding-a-ct-incident",
        ),
    ],
)
def test_taxonomy_rte_coding_refused_with_422_naming_the_field(
    incident: IncidentBasis, given: RadiotherapyEventInput | None, path: str, says: str
) -> None:
    with pytest.raises(TaxonomyCodeError) as refused:
        code_radiotherapy_event(TAXONOMIES, incident, given)
    assert refused.value.status == 422
    errors = refused.value.extra["errors"]
    assert path in [e["path"] for e in errors]
    assert any(says in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    ("day", "given", "expected"),
    [
        pytest.param(
            dt.date(2024, 5, 1),
            ErrorCategoryInput("referrer", "incorrect_referral", "wrong_patient"),
            ("2023/24", "referrer", "incorrect_referral", "wrong_patient"),
            id="referrer-incorrect-referral-wrong-patient",
        ),
        pytest.param(
            dt.date(2024, 5, 1),
            ErrorCategoryInput("operator", "pre_exposure_checks"),
            ("2023/24", "operator", "pre_exposure_checks", None),
            id="two-tiers-without-tier-3",
        ),
        pytest.param(
            dt.date(2022, 5, 1),
            ErrorCategoryInput("operator", "pharmaceutical_or_contrast", "preparation"),
            ("2021/22", "operator", "pharmaceutical_or_contrast", "preparation"),
            id="2021-22-nuclear-medicine-preparation",
        ),
    ],
)
def test_taxonomy_cqc_error_category_recorded_with_its_version(
    day: dt.date, given: ErrorCategoryInput, expected: tuple[str, str, str, str | None]
) -> None:
    category = check_error_category(TAXONOMIES, day, given)
    assert (
        category.taxonomy_version,
        category.duty_holder,
        category.pathway_point,
        category.what_went_wrong,
    ) == expected


@pytest.mark.parametrize(
    ("day", "given", "path", "version"),
    [
        pytest.param(
            dt.date(2024, 5, 1),
            ErrorCategoryInput("radiographer", "justification"),
            "body/error_category/duty_holder",
            "2023/24",
            id="unknown-duty-holder",
        ),
        pytest.param(
            dt.date(2024, 5, 1),
            ErrorCategoryInput("referrer", "justification"),
            "body/error_category/pathway_point",
            "2023/24",
            id="tier-2-under-another-tier-1",
        ),
        pytest.param(
            dt.date(2024, 5, 1),
            ErrorCategoryInput("referrer", "incorrect_referral", "preparation"),
            "body/error_category/what_went_wrong",
            "2023/24",
            id="tier-3-under-another-tier-2",
        ),
        pytest.param(
            dt.date(2024, 5, 1),
            ErrorCategoryInput("operator", "pharmaceutical_or_contrast"),
            "body/error_category/pathway_point",
            "2023/24",
            id="a-2021-22-name-on-a-2024-incident",
        ),
        pytest.param(
            dt.date(2022, 5, 1),
            ErrorCategoryInput("referrer", "incorrect_referral"),
            "body/error_category/duty_holder",
            "2021/22",
            id="a-2023-24-code-on-a-2022-incident",
        ),
        pytest.param(
            dt.date(2020, 5, 1),
            ErrorCategoryInput("referrer", "incorrect_referral"),
            "body/error_category",
            "no version",
            id="no-version-in-force",
        ),
    ],
)
def test_taxonomy_cqc_code_not_in_the_version_in_force_is_422(
    day: dt.date, given: ErrorCategoryInput, path: str, version: str
) -> None:
    with pytest.raises(TaxonomyCodeError) as refused:
        check_error_category(TAXONOMIES, day, given)
    (error,) = refused.value.extra["errors"]
    assert error["path"] == path
    assert version in error["message"]


def test_taxonomy_local_investigation_closed_v1_reads_as_v2_without_codes() -> None:
    payload = {
        "owner_role": "RPL",
        "closed_by_role": "RPL",
        "closed_on": "2025-06-04",
        "findings": "The protocol list was ambiguous.",
        "error_duty_holder": "operator",
        "error_process_step": "planning",
        "corrective_actions": [],
    }
    at = dt.datetime(2025, 6, 4, tzinfo=dt.UTC)
    envelope = EventEnvelope(
        event_id=uuid.uuid4(),
        event_type="LocalInvestigationClosed",
        schema_version=1,
        stream_id=uuid.uuid4(),
        stream_version=2,
        occurred_at=at,
        recorded_at=at,
        correlation_id="c-1",
        tenant=Tenant(trust="RXX", site="RXX01"),
        producer="reporting",
        payload=payload,
    )
    event = REGISTRY.decode(envelope)
    assert isinstance(event, LocalInvestigationClosed)
    assert event.error_category is None and event.radiotherapy_event is None
    assert event.error_duty_holder == "operator"


def test_taxonomy_close_out_refused_once_with_every_wrong_field() -> None:
    command = CloseOut(
        closed_on=DAY,
        findings=" ",
        closed_by_role="RPL",
        expected_version=0,
        error_category=ErrorCategoryInput("referrer", "justification"),
        radiotherapy_event=RadiotherapyEventInput(process_subcodes=("13a",)),
    )
    with pytest.raises(UnprocessableError) as refused:
        local_investigation.close(
            LocalInvestigation(), command, incident=rt(), today=DAY, taxonomies=TAXONOMIES
        )
    assert sorted(e["path"] for e in refused.value.extra["errors"]) == [
        "body/error_category/pathway_point",
        "body/findings",
        "body/radiotherapy_event/level",
        "body/radiotherapy_event/process_subcodes/0",
    ]


def test_taxonomy_close_out_records_both_codings_and_a_repeat_is_no_second_event() -> None:
    command = CloseOut(
        closed_on=DAY,
        findings="The plan was approved without its independent check.",
        closed_by_role="RPL",
        expected_version=0,
        error_category=ErrorCategoryInput("operator", "pre_exposure_checks"),
        radiotherapy_event=RadiotherapyEventInput(level=2),
    )
    event = local_investigation.close(
        LocalInvestigation(), command, incident=rt(), today=DAY, taxonomies=TAXONOMIES
    )
    assert event is not None and event.error_category is not None and event.radiotherapy_event is not None
    assert (event.error_category.taxonomy_version, event.radiotherapy_event.level) == ("2023/24", 2)
    state = local_investigation.apply(LocalInvestigation(), event, dt.datetime(2025, 6, 2, tzinfo=dt.UTC))
    assert local_investigation.view(state)["radiotherapy_event"]["level_basis"] == "stated"
    repeat = dataclasses.replace(command, expected_version=1)
    assert local_investigation.close(state, repeat, incident=rt(), today=DAY, taxonomies=TAXONOMIES) is None


@pytest.mark.parametrize(
    ("incident", "cqc_version", "rte", "derived"),
    [
        pytest.param(rt(day=dt.date(2022, 5, 1)), "2021/22", True, None, id="rt-2022-asks-the-level"),
        pytest.param(rt(notifiable=True), "2023/24", True, 1, id="rt-notifiable-derives-level-1"),
        pytest.param(rt(kind=ExposureKind.NEAR_MISS), "2023/24", True, 4, id="rt-near-miss-derives-level-4"),
        pytest.param(rt(modality=Modality.CT), "2023/24", False, None, id="ct-has-no-rte"),
        pytest.param(rt(day=dt.date(2020, 1, 1)), None, True, None, id="before-any-cqc-version"),
    ],
)
def test_taxonomy_choices_offer_the_versions_in_force_and_the_derived_level(
    incident: IncidentBasis, cqc_version: str | None, rte: bool, derived: int | None
) -> None:
    offered = taxonomy.choices(TAXONOMIES, incident)
    cqc = offered["error_category"]
    assert (cqc["version"] if cqc else None) == cqc_version
    if cqc is not None:
        tier1 = TAXONOMIES.cqc_in_force(incident.discovered_on)
        assert tier1 is not None
        assert [d["code"] for d in cqc["duty_holders"]] == list(tier1.tier1)
        first = cqc["duty_holders"][0]
        assert [p["code"] for p in first["pathway_points"]] == list(tier1.tier1[first["code"]].tier2)
    coding = offered["radiotherapy_event"]
    assert (coding is not None) == rte
    if coding is not None:
        assert [level["level"] for level in coding["levels"]] == [1, 2, 3, 4, 5]
        assert (coding["derived_level"] or {}).get("level") == derived
        assert set(coding["code_lists"]) == set(taxonomy.RTE_CODE_LISTS)
