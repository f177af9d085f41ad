"""Code M from a thematic review (guidance line 276-281) and the day its theme was identified
(line 278): carried only when the theme's count is what makes the incident notifiable, and a
change of that day alone is a reclassification."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sievert_classifier.domain import classify
from sievert_classifier.domain.changes import decision_changes
from sievert_classifier.entrypoints.consumers import notifiable_only_by_theme
from sievert_shared.facts import IncidentFacts
from tests.support.samples import hand_held_dental

DISCOVERED = dt.date(2025, 6, 2)


def facts(**changes: Any) -> IncidentFacts:
    """Hand-held dental, one person, far below every threshold."""
    return hand_held_dental(DISCOVERED, **changes)


@pytest.mark.parametrize(
    ("fact_set", "theme_individuals", "expected"),
    [
        pytest.param(facts(), 3, True, id="theme_identified-m-from-the-theme-alone"),
        pytest.param(facts(), 1, False, id="theme_identified-theme-of-one-gives-no-m"),
        pytest.param(
            facts(individuals_affected=2), 3, False, id="theme_identified-m-from-its-own-individuals"
        ),
        pytest.param(
            facts(
                modality="ct",
                intended_effective_dose_msv=1.0,
                total_effective_dose_msv=12.0,
                equipment_type=None,
            ),
            3,
            False,
            id="theme_identified-notifiable-on-its-own-dose-2.2",
        ),
    ],
)
def test_theme_identified_only_when_the_theme_makes_it_notifiable(
    fact_set: IncidentFacts, theme_individuals: int, expected: bool
) -> None:
    with_theme = classify(fact_set, theme_individuals=theme_individuals)
    assert notifiable_only_by_theme(with_theme, classify(fact_set)) is expected


def test_theme_identified_change_alone_is_a_reclassification() -> None:
    decision = classify(facts(), theme_individuals=3)
    same = decision_changes(
        decision, DISCOVERED, decision, DISCOVERED, dt.date(2025, 5, 1), dt.date(2025, 5, 1)
    )
    assert same == []
    moved = decision_changes(
        decision, DISCOVERED, decision, DISCOVERED, dt.date(2025, 5, 1), dt.date(2025, 5, 20)
    )
    assert moved == ["theme_identified_on: 2025-05-01 -> 2025-05-20"]
    assert decision_changes(decision, DISCOVERED, decision, DISCOVERED, None, dt.date(2025, 5, 20)) == [
        "theme_identified_on: None -> 2025-05-20"
    ]
