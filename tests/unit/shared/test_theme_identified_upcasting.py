"""Themes' v1 events in the log read as v2: a v1 theme stated no identified day (the projection
takes the day it was opened), and a v1 count says the day is unknown (the classifier then leaves
the incident's windows counted from discovery, as they were)."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial

from sievert_shared.events import REGISTRY, ThemeIndividualsCounted, ThemeOpened
from tests.support.events import logged_envelope

NOW = dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC)
envelope = partial(logged_envelope, at=NOW, producer="reporting")


def test_theme_identified_unknown_in_a_v1_count() -> None:
    incident = uuid.uuid4()
    payload = {"theme_id": str(uuid.uuid4()), "individuals": 3, "incident_ids": [str(incident)]}
    event = REGISTRY.decode(envelope("ThemeIndividualsCounted", 1, payload))
    assert isinstance(event, ThemeIndividualsCounted)
    assert event.theme_identified_on is None and event.individuals == 3


def test_theme_identified_day_absent_from_a_v1_theme() -> None:
    payload = {"theme_id": str(uuid.uuid4()), "title": "Dental", "description": "d", "opened_by_role": "RPA"}
    event = REGISTRY.decode(envelope("ThemeOpened", 1, payload))
    assert isinstance(event, ThemeOpened) and event.identified_on is None


def test_theme_identified_day_carried_by_v2() -> None:
    payload = {
        "theme_id": str(uuid.uuid4()),
        "individuals": 3,
        "incident_ids": [],
        "theme_identified_on": "2025-05-20",
    }
    event = REGISTRY.decode(envelope("ThemeIndividualsCounted", 2, payload))
    assert isinstance(event, ThemeIndividualsCounted)
    assert event.theme_identified_on == dt.date(2025, 5, 20)
