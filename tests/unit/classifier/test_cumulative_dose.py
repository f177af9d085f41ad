"""A patient's earlier exposures of the same area: shown with the decision, never gating it.

Rows cite ukhsa-bir-cumulative-dose-position-2023.txt: line 15 (the decision rests on clinical
need rather than the dose from previous exposures) and line 35 (the exception: multiple high dose
interventional or CT perfusion procedures of the same area over a short period, where
deterministic effects are expected, when previous dose information is also considered in
justification and optimisation).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sievert_classifier.domain import classify
from sievert_classifier.domain.rules import CUMULATIVE_DOSE, CUMULATIVE_DOSE_EXCEPTION
from sievert_classifier.domain.rulesets import CUMULATIVE_DOSE_SOURCE, IRMER_2020_08, IRMER_2023_04
from sievert_shared.decision import ClassificationDecision, Outcome, Reason
from sievert_shared.facts import IncidentFacts
from tests.unit.classifier.classifier_cases import BEFORE_2023, ct, facts, interventional
from tests.unit.classifier.test_classifier_properties import any_incident

EARLIER = {
    "prior_same_area_exposures": 3,
    "prior_same_area_period_days": 30,
    "prior_same_area_dose_mgy": 4200.0,
}


def cumulative_reasons(decision: ClassificationDecision) -> list[Reason]:
    return [r for r in decision.reasons if r.code == CUMULATIVE_DOSE]


def without_cumulative(decision: ClassificationDecision) -> ClassificationDecision:
    return decision.model_copy(
        update={"reasons": tuple(r for r in decision.reasons if r.code != CUMULATIVE_DOSE)}
    )


def without_earlier(incident: IncidentFacts) -> IncidentFacts:
    return incident.model_copy(
        update={
            "prior_same_area_exposures": None,
            "prior_same_area_period_days": None,
            "prior_same_area_dose_mgy": None,
            "ct_perfusion": None,
            "deterministic_effects_expected": None,
        }
    )


ROWS = [
    pytest.param(ct(1.0, 12.0), None, id="no-earlier-exposures-no-reason"),
    pytest.param(ct(1.0, 12.0, **EARLIER), CUMULATIVE_DOSE, id="ct-context-only-L15"),
    pytest.param(ct(1.0, 1.1, **EARLIER), CUMULATIVE_DOSE, id="ct-not-notifiable-context-only-L15"),
    pytest.param(ct(1.0, 12.0, **EARLIER, deterministic_effects_expected=True), CUMULATIVE_DOSE,
                 id="ct-not-perfusion-expected-effects-context-only-L35"),
    pytest.param(ct(1.0, 12.0, **EARLIER, ct_perfusion=True, deterministic_effects_expected=True),
                 CUMULATIVE_DOSE_EXCEPTION, id="ct-perfusion-expected-effects-exception-L35"),
    pytest.param(ct(1.0, 12.0, **EARLIER, ct_perfusion=True, deterministic_effects_expected=False),
                 CUMULATIVE_DOSE, id="ct-perfusion-no-expected-effects-context-only-L35"),
    pytest.param(interventional(**EARLIER, deterministic_effect="none", deterministic_effects_expected=True),
                 CUMULATIVE_DOSE_EXCEPTION, id="interventional-expected-effects-exception-L35"),
    pytest.param(interventional(**EARLIER, deterministic_effect="none"), CUMULATIVE_DOSE,
                 id="interventional-effects-not-recorded-context-only-L35"),
    pytest.param(interventional(**{**EARLIER, "prior_same_area_exposures": 0}, deterministic_effect="none",
                                deterministic_effects_expected=True),
                 CUMULATIVE_DOSE, id="interventional-no-earlier-exposure-not-multiple-L35"),
    pytest.param(facts(exposure_kind="near_miss", **EARLIER), None, id="near-miss-exposed-nobody"),
    pytest.param(ct(1.0, 12.0, **EARLIER, discovered_on=BEFORE_2023), CUMULATIVE_DOSE,
                 id="ct-context-under-2020-ruleset-L15"),
]  # fmt: skip


@pytest.mark.parametrize(("incident", "expected"), ROWS)
def test_cumulative_dose_is_shown_and_never_changes_the_decision(
    incident: IncidentFacts, expected: str | None
) -> None:
    decision = classify(incident)
    reasons = cumulative_reasons(decision)
    if expected is None:
        assert reasons == []
        return
    [reason] = reasons
    criteria = IRMER_2023_04.criteria if decision.ruleset == IRMER_2023_04.id else IRMER_2020_08.criteria
    assert reason.criterion == criteria[expected].text
    assert reason.outcome is Outcome.MET and reason.needs == ()
    assert reason.citation.source == CUMULATIVE_DOSE_SOURCE and 35 in reason.citation.lines
    assert reason.facts["prior_same_area_exposures"] == incident.prior_same_area_exposures
    assert reason.facts["prior_same_area_dose_mgy"] == incident.prior_same_area_dose_mgy
    # Line 15: the earlier doses change nothing of the decision but this reason.
    assert without_cumulative(decision) == classify(without_earlier(incident))


def test_cumulative_dose_reason_says_it_does_not_change_the_decision() -> None:
    context = IRMER_2023_04.criteria[CUMULATIVE_DOSE].text
    exception = IRMER_2023_04.criteria[CUMULATIVE_DOSE_EXCEPTION].text
    assert "do not change this decision" in context
    assert "justification and optimisation" in exception and "still do not change this decision" in exception
    assert IRMER_2023_04.criteria[CUMULATIVE_DOSE].citation.lines == (15, 33, 35)


earlier_exposures: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"prior_same_area_exposures": st.integers(min_value=0, max_value=20)},
    optional={
        "prior_same_area_period_days": st.integers(min_value=0, max_value=3650),
        "prior_same_area_dose_mgy": st.floats(min_value=0, max_value=50_000, allow_nan=False),
        "ct_perfusion": st.booleans(),
        "deterministic_effects_expected": st.booleans(),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    incident=any_incident, earlier=earlier_exposures, theme=st.none() | st.integers(min_value=0, max_value=5)
)
def test_cumulative_dose_never_gates_any_decision(
    incident: IncidentFacts, earlier: dict[str, Any], theme: int | None
) -> None:
    # UKHSA/BIR position line 15 and 35: whatever the earlier exposures, and in the exception too,
    # the decision is the one made without them, but for the reason that shows them.
    with_earlier = incident.model_copy(update=earlier)
    decided = classify(with_earlier, theme_individuals=theme)
    assert without_cumulative(decided) == classify(without_earlier(incident), theme_individuals=theme)
    assert len(cumulative_reasons(decided)) <= 1
