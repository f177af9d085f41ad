"""The classifier keeps the day each theme was identified with the theme's count, and when the
theme's code M is what makes an incident notifiable, its decision carries that day (guidance line
278: "a theme has been identified over a number of incidents"), for the deadlines service to
count the windows from. A change of that day alone is a reclassification; a v1 count (no day)
leaves it unknown."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import ThemeIndividualsCounted
from sievert_shared.outbox import build_envelope
from tests.integration.test_classifier_service import (  # noqa: F401 - the fixture is used by name
    NOW,
    TENANT,
    Classifier,
    classifier,
    facts,
    reported,
)
from tests.support.events import logged_envelope
from tests.support.kafka import produce

pytestmark = pytest.mark.integration

THEME = uuid.uuid4()


def dental() -> Any:
    return facts(
        modality="dental",
        intended_effective_dose_msv=0.005,
        total_effective_dose_msv=0.01,
        equipment_type="hand_held",
        individuals_affected=None,
    )


def counted(
    incident: uuid.UUID, version: int, identified_on: dt.date | None, individuals: int = 3
) -> EventEnvelope:
    return build_envelope(
        ThemeIndividualsCounted(
            theme_id=THEME,
            individuals=individuals,
            incident_ids=[incident],
            theme_identified_on=identified_on,
        ),
        stream_id=incident,
        stream_version=version,
        tenant=TENANT,
        correlation_id="corr-theme",
        producer="reporting",
        now=NOW,
    )


async def send_counts(cls: Classifier, *items: EventEnvelope) -> None:
    await produce(
        cls.kafka.bootstrap_servers, cls.kafka.topics.themes, [(e.key, e.to_json_bytes()) for e in items]
    )


async def test_theme_identified_day_rides_on_the_decision_when_the_theme_makes_it_notifiable(
    classifier: Classifier,  # noqa: F811
) -> None:
    incident = uuid.uuid4()
    await classifier.send(reported(incident, dental()))
    (first,) = await classifier.decisions(incident, at_least=1)
    assert first.payload["decision"]["notifiable"] is False
    assert first.payload["theme_identified_on"] is None

    await send_counts(classifier, counted(incident, 1, dt.date(2025, 5, 25)))
    decisions = await classifier.decisions(incident, at_least=2)
    by_theme = decisions[1].payload
    assert decisions[1].event_type == "IncidentReclassified"
    assert by_theme["decision"]["notifiable"] is True and by_theme["theme_identified_on"] == "2025-05-25"

    # the same count with another day: only the day changed, and that is a reclassification
    await send_counts(classifier, counted(incident, 2, dt.date(2025, 5, 20)))
    decisions = await classifier.decisions(incident, at_least=3)
    moved = decisions[2].payload
    assert moved["theme_identified_on"] == "2025-05-20"
    assert moved["changes"][0] == "theme_identified_on: 2025-05-25 -> 2025-05-20"
    assert moved["decision"]["codes"] == by_theme["decision"]["codes"]

    # a v1 count (written before counts carried the day): unknown, so from discovery again
    v1 = logged_envelope(
        "ThemeIndividualsCounted",
        1,
        {"theme_id": str(THEME), "individuals": 3, "incident_ids": [str(incident)]},
        at=NOW,
        producer="reporting",
    ).model_copy(update={"stream_id": incident, "stream_version": 3, "tenant": TENANT})
    await send_counts(classifier, v1)
    decisions = await classifier.decisions(incident, at_least=4)
    assert decisions[3].payload["theme_identified_on"] is None
    assert decisions[3].payload["changes"][0] == "theme_identified_on: 2025-05-20 -> None"


async def test_theme_identified_day_is_not_carried_when_the_incident_is_notifiable_on_its_own(
    classifier: Classifier,  # noqa: F811
) -> None:
    incident = uuid.uuid4()
    await classifier.send(reported(incident, facts()))  # CT, 12x a 1 mSv intended dose: code 2.2
    await classifier.decisions(incident, at_least=1)
    await send_counts(classifier, counted(incident, 1, dt.date(2025, 5, 25)))

    decisions = await classifier.decisions(incident, at_least=2)
    with_m = decisions[1].payload
    assert with_m["decision"]["codes"] == ["M2.2"]  # the theme adds M to what was notifiable anyway
    assert with_m["theme_identified_on"] is None  # so its windows still run from discovery (line 219)
