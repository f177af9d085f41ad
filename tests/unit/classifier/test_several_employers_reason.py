"""Several employers: the classifier's reason naming who notifies (routing and reasons only; the
decision's status, codes and authority never change with it) and the reclassification a change of
notifier is."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sievert_classifier.domain.changes import decision_changes
from sievert_classifier.domain.classify import classify
from sievert_shared.decision import EMPLOYERS_REASON, Outcome, notifying_employer_of
from sievert_shared.facts import IncidentFacts

CT_OVERDOSE: dict[str, Any] = {
    "nation": "england",
    "discovered_on": "2025-06-02",
    "exposure_kind": "unintended",
    "modality": "ct",
    "individuals_affected": 1,
    "intended_effective_dose_msv": 1.0,
    "total_effective_dose_msv": 12.0,
}
X = {"name": "Riverside NHS Trust", "trust_code": "RXX", "role": "referring"}
Y = {"name": "Hillside NHS Foundation Trust", "trust_code": "RYY", "role": "performing"}
PRIVATE = {"name": "Imaging Partners Ltd", "role": "performing"}


def facts(*employers: dict[str, Any]) -> IncidentFacts:
    return IncidentFacts.model_validate({**CT_OVERDOSE, "employers": list(employers) or None})


def notifies(employer: dict[str, Any]) -> dict[str, Any]:
    return {**employer, "notifies": True}


@pytest.mark.parametrize(
    ("case", "trust", "expected_facts", "words"),
    [
        pytest.param(
            facts(notifies(X), Y),
            "RXX",
            {
                "notifying_employer": "Riverside NHS Trust",
                "notifying_trust_code": "RXX",
                "reporting_trust_notifies": True,
            },
            [
                "Riverside NHS Trust (referring) notifies",
                "informs the other employer(s): Hillside NHS Foundation Trust (performing)",
            ],
            id="the-reporting-trust-notifies-and-informs-the-other",
        ),
        pytest.param(
            facts(X, notifies(Y)),
            "RXX",
            {
                "notifying_employer": "Hillside NHS Foundation Trust",
                "notifying_role": "performing",
                "reporting_trust_notifies": False,
            },
            [
                "The reporting trust RXX's notification duty for this exposure rests with Hillside NHS Foundation Trust",
                "confirms",
            ],
            id="the-other-trust-notifies-the-reporting-trust-confirms",
        ),
        pytest.param(
            facts(X, notifies(PRIVATE)),
            "RXX",
            {
                "notifying_employer": "Imaging Partners Ltd",
                "notifying_trust_code": None,
                "reporting_trust_notifies": False,
            },
            ["rests with Imaging Partners Ltd"],
            id="an-independent-provider-outside-the-deployment-notifies",
        ),
        pytest.param(
            facts(X, notifies(Y)),
            None,
            {
                "notifying_employer": "Hillside NHS Foundation Trust",
                "reporting_trust": None,
                "reporting_trust_notifies": None,
            },
            ["informs the other employer(s): Riverside NHS Trust (referring)"],
            id="a-dry-run-without-a-trust-names-only-who-notifies",
        ),
        pytest.param(
            facts(X),
            "RXX",
            {
                "employers_named": 1,
                "notifying_employer": "Riverside NHS Trust",
                "reporting_trust_notifies": True,
            },
            ["Riverside NHS Trust (referring) notifies"],
            id="one-employer-named-notifies",
        ),
    ],
)
def test_several_employers_reason_names_who_notifies(
    case: IncidentFacts, trust: str | None, expected_facts: dict[str, Any], words: list[str]
) -> None:
    decision = classify(case, reporting_trust=trust)
    reason = next(r for r in decision.reasons if r.code == EMPLOYERS_REASON)
    assert reason.outcome is Outcome.MET and set(reason.citation.lines) >= {43, 51, 216}
    assert {k: reason.facts[k] for k in expected_facts} == expected_facts
    for text in words:
        assert text in reason.criterion, reason.criterion
    # routing and reasons only: the rest of the decision is the one without employers
    alone = classify(facts())
    assert decision.model_dump(exclude={"reasons"}) == alone.model_dump(exclude={"reasons"})
    assert [r for r in decision.reasons if r.code != EMPLOYERS_REASON] == list(alone.reasons)


def test_several_employers_reason_absent_when_none_are_named() -> None:
    decision = classify(facts(), reporting_trust="RXX")
    assert all(r.code != EMPLOYERS_REASON for r in decision.reasons)
    assert notifying_employer_of(decision) is None


def test_several_employers_a_new_notifier_is_a_reclassification() -> None:
    day = dt.date(2025, 6, 2)
    before = classify(facts(X, notifies(Y)), reporting_trust="RXX")
    after = classify(facts(notifies(X), Y), reporting_trust="RXX")
    assert notifying_employer_of(after) == ("Riverside NHS Trust", "RXX")
    assert decision_changes(before, day, after, day) == [
        "notifying_employer: Hillside NHS Foundation Trust (RYY) -> Riverside NHS Trust (RXX)"
    ]
    assert decision_changes(before, day, classify(facts(X, notifies(Y)), reporting_trust="RXX"), day) == []
