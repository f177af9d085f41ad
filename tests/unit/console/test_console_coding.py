"""The close-out's codings as the console offers and sends them (``domain/coding.py``): reporting's
choices read into a form (the tiers grouped by duty holder, the level derived or asked, code lists
that are not yet published said to be unavailable), the form sent as reporting's close-out takes it,
and reporting's 422 paths named by the form's fields."""

from __future__ import annotations

from typing import Any

import pytest

from sievert_console.domain.case import Investigation, close_out_body, errors_by_field
from sievert_console.domain.coding import CODING_FIELDS, RTE_LISTS, CodingChoices, coding_body, coding_errors

CQC = {
    "version": "2023/24",
    "status": "incomplete",
    "duty_holders": [
        {
            "code": "referrer",
            "label": "Referrer",
            "pathway_points": [
                {
                    "code": "incorrect_referral",
                    "label": "Incorrect referral",
                    "what_went_wrong": [{"code": "wrong_patient", "label": "Wrong patient"}],
                }
            ],
        }
    ],
}
LEVELS = [{"level": n, "label": f"name {n}"} for n in range(1, 6)]


def choices(rte: dict[str, Any] | None = None, cqc: dict[str, Any] | None = CQC) -> CodingChoices:
    return CodingChoices.from_api(
        {"discovered_on": "2025-06-02", "error_category": cqc, "radiotherapy_event": rte}
    )


def rte(derived: dict[str, Any] | None = None, lists: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": "tsrt-2008",
        "status": "incomplete",
        "levels": LEVELS,
        "derived_level": derived,
        "code_lists": lists or {field: [] for field in RTE_LISTS},
    }


def test_coding_tiers_are_one_choice_per_path_grouped_by_duty_holder() -> None:
    offered = choices()
    assert offered.cqc_version == "2023/24" and not offered.cqc_complete
    [group] = offered.tiers
    assert group.label == "Referrer"
    assert [(o.value, o.label) for o in group.options] == [
        ("referrer/incorrect_referral", "Referrer → Incorrect referral"),
        ("referrer/incorrect_referral/wrong_patient", "Referrer → Incorrect referral → Wrong patient"),
    ]
    assert offered.category_label("referrer/incorrect_referral/wrong_patient").endswith("Wrong patient")
    assert offered.category_label("x/y") == "x → y"


@pytest.mark.parametrize(
    ("given", "radiotherapy", "derived", "codes_available"),
    [
        pytest.param(None, False, None, False, id="not-radiotherapy"),
        pytest.param(rte(), True, None, False, id="level-asked-codes-unavailable"),
        pytest.param(
            rte(derived={"level": 1, "basis": "notifiable", "why": "notifiable"}),
            True,
            "Level 1: name 1",
            False,
            id="level-derived",
        ),
        pytest.param(
            rte(lists={"causative_factors": [{"code": "cf1", "label": "Fatigue"}]}),
            True,
            None,
            True,
            id="a-list-published",
        ),
    ],
)
def test_coding_radiotherapy_choices(
    given: dict[str, Any] | None, radiotherapy: bool, derived: str | None, codes_available: bool
) -> None:
    offered = choices(given).radiotherapy
    assert (offered is not None) == radiotherapy
    if offered is not None:
        assert (offered.derived.label if offered.derived else None) == derived
        assert offered.codes_available == codes_available
        assert [c.field for c in offered.lists] == list(RTE_LISTS)
        assert offered.level_label(3) == "Level 3: name 3"


@pytest.mark.parametrize(
    ("form", "lists", "expected"),
    [
        pytest.param({}, {}, {}, id="nothing-coded-nothing-sent"),
        pytest.param(
            {"error_category": "referrer/incorrect_referral"},
            {},
            {"error_category": {"duty_holder": "referrer", "pathway_point": "incorrect_referral"}},
            id="two-tiers",
        ),
        pytest.param(
            {"error_category": "referrer/incorrect_referral/wrong_patient"},
            {},
            {
                "error_category": {
                    "duty_holder": "referrer",
                    "pathway_point": "incorrect_referral",
                    "what_went_wrong": "wrong_patient",
                }
            },
            id="three-tiers",
        ),
        pytest.param(
            {"radiotherapy": "yes", "rte_level": "3"},
            {"causative_factors": ["cf1"]},
            {
                "radiotherapy_event": {
                    **{field: [] for field in RTE_LISTS},
                    "causative_factors": ["cf1"],
                    "level": 3,
                }
            },
            id="rte-level-and-codes",
        ),
        pytest.param(
            {"radiotherapy": "yes", "rte_level": ""},
            {},
            {"radiotherapy_event": {field: [] for field in RTE_LISTS}},
            id="rte-level-left-to-reporting",
        ),
        pytest.param({"rte_level": "2"}, {}, {}, id="no-rte-part-unless-the-form-offered-it"),
    ],
)
def test_coding_body_as_reporting_takes_it(
    form: dict[str, str], lists: dict[str, list[str]], expected: dict[str, Any]
) -> None:
    assert coding_body(form, lists) == expected
    sent = close_out_body({"closed_on": "2025-06-05", "findings": "f", **form}, "RP lead", lists)
    assert {k: sent[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("path", "field"),
    [
        pytest.param("body/error_category/duty_holder", "error_category", id="tier-1"),
        pytest.param("body/error_category/what_went_wrong", "error_category", id="tier-3"),
        pytest.param("body/radiotherapy_event/level", "rte_level", id="level"),
        pytest.param("body/radiotherapy_event/causative_factors/0", "rte_causative_factors", id="a-code"),
    ],
)
def test_coding_refusals_beside_their_fields(path: str, field: str) -> None:
    by_field, general = errors_by_field(
        coding_errors([{"path": path, "message": "refused"}]), ("findings", *CODING_FIELDS)
    )
    assert by_field == {field: "refused"} and general == []


def test_coding_refusal_of_the_whole_coding_is_general() -> None:
    by_field, general = errors_by_field(
        coding_errors([{"path": "body/radiotherapy_event", "message": "not radiotherapy"}]), CODING_FIELDS
    )
    assert by_field == {} and general == ["body/radiotherapy_event: not radiotherapy"]


def test_coding_recorded_read_from_the_investigation() -> None:
    inv = Investigation.from_api(
        {
            "status": "closed",
            "error_category": {
                "taxonomy_version": "2023/24",
                "duty_holder": "referrer",
                "pathway_point": "incorrect_referral",
                "what_went_wrong": None,
            },
            "radiotherapy_event": {"taxonomy_version": "tsrt-2008", "level": 4, "level_basis": "near_miss"},
        }
    )
    assert inv.error_category == "referrer/incorrect_referral"
    assert inv.error_category_version == "2023/24"
    assert inv.radiotherapy_event is not None and inv.radiotherapy_event["level"] == 4
    assert Investigation.from_api({}).error_category is None
