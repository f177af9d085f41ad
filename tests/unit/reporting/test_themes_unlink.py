"""When a link or an unlink sends a theme's count to the classifier (pure; guidance line 276-281:
code M is "more than one individual" in the incident or the theme)."""

from __future__ import annotations

import uuid

import pytest

from sievert_reporting.domain.themes import LinkedIncident, classifier_must_hear, figures


def people(*counts: int) -> list[LinkedIncident]:
    return [LinkedIncident(uuid.uuid4(), "RXX01", "dental", "unintended", (), n, None) for n in counts]


@pytest.mark.parametrize(
    ("before", "after", "tell"),
    [
        pytest.param(people(), people(1), False, id="link-first-person-no-M-yet"),
        pytest.param(people(1), people(1, 1), True, id="link-reaches-two-M-applies"),
        pytest.param(people(1, 1), people(1, 1, 1), True, id="link-past-two-new-count-for-all"),
        pytest.param(people(1, 0), people(1, 0, 0), False, id="link-of-near-miss-still-one"),
        pytest.param(people(1, 1, 1), people(1, 1), True, id="unlink-still-M-lower-count"),
        pytest.param(people(1, 1), people(1), True, id="unlink-below-two-M-goes"),
        pytest.param(people(3), people(), True, id="unlink-last-incident-count-from-the-incident-itself"),
        pytest.param(people(1, 0), people(1), False, id="unlink-from-theme-never-past-one"),
        pytest.param(people(1), people(), False, id="unlink-only-incident-of-one"),
    ],
)
def test_the_classifier_hears_a_count_while_M_applies_or_when_it_stops(
    before: list[LinkedIncident], after: list[LinkedIncident], tell: bool
) -> None:
    assert classifier_must_hear(figures(before), figures(after)) is tell
