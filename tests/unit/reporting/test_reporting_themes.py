"""Theme figures and the shared summary (pure)."""

from __future__ import annotations

import uuid

import pytest

from sievert_reporting.domain.themes import LinkedIncident, figures, individuals_in, shared_summary


def incident(
    site: str = "RXX01",
    *,
    kind: str = "unintended",
    individuals: int | None = None,
    codes: tuple[str, ...] = (),
    equipment: str | None = None,
) -> LinkedIncident:
    return LinkedIncident(uuid.uuid4(), site, "dental", kind, codes, individuals, equipment)


@pytest.mark.parametrize(
    ("linked", "expected"),
    [
        pytest.param(incident(), 1, id="unknown-count-is-one-person"),
        pytest.param(incident(individuals=3), 3, id="count-given"),
        pytest.param(incident(kind="near_miss"), 0, id="near-miss-exposed-no-one-line-223"),
    ],
)
def test_individuals_in_an_incident(linked: LinkedIncident, expected: int) -> None:
    assert individuals_in(linked) == expected


@pytest.mark.parametrize(
    ("linked", "m_applies"),
    [
        pytest.param([incident()], False, id="one-individual-is-not-M"),
        pytest.param([incident(), incident("RXX02")], True, id="two-sites-two-individuals-M-line-276"),
        pytest.param([incident(), incident(kind="near_miss")], False, id="near-miss-adds-no-one"),
    ],
)
def test_code_m_needs_more_than_one_individual(linked: list[LinkedIncident], m_applies: bool) -> None:
    assert figures(linked).reaches_more_than_one_individual is m_applies


def test_the_shared_summary_carries_counts_and_no_ids() -> None:
    linked = [
        incident("RXX01", codes=("ME2.1",), equipment="hand_held"),
        incident("RXX02", codes=("2.1",)),
    ]
    found = figures(linked)
    assert found.by_site == {"RXX01": 1, "RXX02": 1}
    summary = shared_summary(uuid.uuid4(), "Hand-held units", "Double exposures", found)
    text = summary.model_dump_json()
    assert summary.sites == 2 and summary.individuals == 2
    assert [(e.value, e.count) for e in summary.by_code] == [("2.1", 2)]
    assert [(e.value, e.count) for e in summary.by_equipment_type] == [("hand_held", 1), ("unknown", 1)]
    for item in linked:
        assert str(item.incident_id) not in text and item.site not in text
