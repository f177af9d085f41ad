"""Several employers in the facts: the rule (one notifies, each named once), the reporting trust
among them at intake, each refusal at its field's path, and v3 events read as v4 with none named."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_intake.domain.incident import AmendmentInvalidError, IncidentReport, apply_amendment
from sievert_shared.events import REGISTRY, IncidentFactsAmended, IncidentReported
from sievert_shared.facts import Employer, IncidentFacts, notifying_employer, reporting_trust_problem
from tests.support.events import logged_envelope

FACTS: dict[str, Any] = {
    "nation": "england",
    "discovered_on": "2025-06-02",
    "exposure_kind": "unintended",
    "modality": "ct",
    "intended_effective_dose_msv": 1.0,
    "total_effective_dose_msv": 12.0,
}
X = {"name": "Riverside NHS Trust", "trust_code": "RXX", "role": "referring"}
Y = {"name": "Hillside NHS Foundation Trust", "trust_code": "RYY", "role": "performing"}
PRIVATE = {"name": "Imaging Partners Ltd", "role": "performing"}


def notifies(employer: dict[str, Any]) -> dict[str, Any]:
    return {**employer, "notifies": True}


@pytest.mark.parametrize(
    ("employers", "errors"),
    [
        pytest.param([X], [], id="one-employer-named-need-not-say-it-notifies"),
        pytest.param([X, notifies(Y)], [], id="two-employers-one-notifies"),
        pytest.param([notifies(X), PRIVATE], [], id="an-employer-outside-the-deployment-has-no-trust-code"),
        pytest.param([X, Y], [("employers",)], id="several-named-none-notifies"),
        pytest.param(
            [notifies(X), notifies(Y), notifies(PRIVATE)],
            [("employers", 1, "notifies"), ("employers", 2, "notifies")],
            id="only-one-notifies-each-extra-named",
        ),
        pytest.param(
            [notifies(X), {**Y, "name": " riverside  NHS trust "}],
            [("employers", 1, "name")],
            id="the-same-employer-twice-by-name",
        ),
        pytest.param(
            [notifies(X), {**PRIVATE, "trust_code": "RXX"}],
            [("employers", 1, "trust_code")],
            id="same-trust-twice",
        ),
        pytest.param([], [("employers",)], id="an-empty-list-is-not-none-named"),
        pytest.param([{**X, "role": "treating"}], [("employers", 0, "role")], id="an-unknown-role"),
        pytest.param(
            [{**X, "notifies": "yes"}], [("employers", 0, "notifies")], id="notifies-is-a-strict-flag"
        ),
        pytest.param(
            [{**X, "trust_code": "R XX"}], [("employers", 0, "trust_code")], id="a-trust-code-as-codes-are"
        ),
        pytest.param(
            [{**X, "address": "1 High Street"}], [("employers", 0, "address")], id="nothing-else-is-taken"
        ),
    ],
)
def test_several_employers_rule_names_each_bad_field(
    employers: list[dict[str, Any]], errors: list[tuple[Any, ...]]
) -> None:
    if not errors:
        facts = IncidentFacts.model_validate({**FACTS, "employers": employers})
        assert facts.employers is not None and len(facts.employers) == len(employers)
        return
    with pytest.raises(ValidationError) as caught:
        IncidentFacts.model_validate({**FACTS, "employers": employers})
    assert [e["loc"] for e in caught.value.errors()] == errors


@pytest.mark.parametrize(
    ("employers", "expected"),
    [
        pytest.param(None, None, id="none-named"),
        pytest.param([X], "Riverside NHS Trust", id="the-only-one-named-notifies"),
        pytest.param([X, notifies(Y)], "Hillside NHS Foundation Trust", id="the-one-marked"),
    ],
)
def test_several_employers_notifier(employers: list[dict[str, Any]] | None, expected: str | None) -> None:
    named = None if employers is None else tuple(Employer.model_validate(e) for e in employers)
    notifier = notifying_employer(named)
    assert (notifier.name if notifier else None) == expected


@pytest.mark.parametrize(
    ("trust", "employers", "refused"),
    [
        pytest.param("RXX", None, False, id="no-employers-named"),
        pytest.param("RXX", [X, notifies(Y)], False, id="the-reporting-trust-among-them"),
        pytest.param("RZZ", [X, notifies(Y)], True, id="the-reporting-trust-missing"),
        pytest.param("rxx", [X, notifies(Y)], True, id="trust-codes-are-exact"),
        pytest.param("RXX", [notifies(PRIVATE)], True, id="only-another-employer-named"),
    ],
)
def test_several_employers_include_the_reporting_trust(
    trust: str, employers: list[dict[str, Any]] | None, refused: bool
) -> None:
    named = None if employers is None else tuple(Employer.model_validate(e) for e in employers)
    assert (reporting_trust_problem(named, trust) is not None) is refused
    body = {"trust": trust, "site": f"{trust}01", "facts": {**FACTS, "employers": employers}}
    if not refused:
        IncidentReport.model_validate(body)
        return
    with pytest.raises(ValidationError) as caught:
        IncidentReport.model_validate(body)
    assert [e["loc"] for e in caught.value.errors()] == [("facts", "employers")]
    assert trust in caught.value.errors()[0]["msg"]


def test_several_employers_amendment_keeps_the_reporting_trust() -> None:
    current = IncidentFacts.model_validate({**FACTS, "employers": [X, notifies(Y)]})
    corrected, changed = apply_amendment(current, {"employers": [notifies(X), Y]}, trust="RXX")
    assert changed == ["employers"] and notifying_employer(corrected.employers).name == X["name"]  # type: ignore[union-attr]
    with pytest.raises(AmendmentInvalidError) as caught:
        apply_amendment(current, {"employers": [notifies(PRIVATE)]}, trust="RXX")
    assert [e["path"] for e in caught.value.errors] == ["body/facts/employers"]
    with pytest.raises(AmendmentInvalidError) as caught:
        apply_amendment(current, {"employers": [X, Y]}, trust="RXX")
    assert [e["path"] for e in caught.value.errors] == ["body/facts/employers"]


@pytest.mark.parametrize("event_type", ["IncidentReported", "IncidentFactsAmended"])
def test_several_employers_v3_events_are_read_as_v4_with_none_named(event_type: str) -> None:
    assert IncidentReported.schema_version == IncidentFactsAmended.schema_version == 4
    payload: dict[str, Any] = {"facts": FACTS, "channel": "json", "patient_pseudonym": None}
    if event_type == "IncidentFactsAmended":
        payload |= {"changed_fields": ["modality"], "reason": "typo"}
    old = logged_envelope(event_type, 3, payload, at=dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC))
    event = REGISTRY.decode(old)
    assert event.schema_version == 4
    assert event.facts.employers is None  # type: ignore[attr-defined]
