"""IncidentClassified and IncidentReclassified v2 carry the decision with its status and the split of
its missing facts; v1 events already in the log are read as v2, conservatively. IncidentReported and
IncidentFactsAmended v3 carry facts with more optional fields; v2 events are read as v3 unchanged."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest
from pydantic import ValidationError

from sievert_classifier.domain import classify
from sievert_shared.decision import DecisionStatus, NeedsAffect, upcast_decision_v1
from sievert_shared.events import (
    REGISTRY,
    IncidentClassified,
    IncidentClassifiedV1,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
    IncidentReportedV2,
)
from sievert_shared.facts import IncidentFacts
from tests.support.events import logged_envelope

NOW = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)
envelope = partial(logged_envelope, at=NOW, producer="classifier")

BASE = {
    "nation": "england",
    "discovered_on": "2025-06-02",
    "exposure_kind": "unintended",
    "modality": "ct",
    "patient_age_years": 40,
    "individuals_affected": 1,
    "clinically_significant": False,
}
#: CQC table, code 2.2: 12x a 1 mSv intended dose.
NOTIFIABLE = {
    **BASE,
    "intended_effective_dose_msv": 1.0,
    "total_effective_dose_msv": 12.0,
    "equipment_fault": False,
}
#: Below every threshold, nothing missing.
SETTLED = {
    **BASE,
    "intended_effective_dose_msv": 0.02,
    "total_effective_dose_msv": 0.04,
    "equipment_fault": False,
}
#: The band is unknown without the intended dose, and whether equipment failed is not recorded.
OPEN = {**BASE, "total_effective_dose_msv": 5.0}

_V2_ONLY = ("status", "licensing_breach", "needs_facts_for_notification", "needs_facts_for_routing")


def v1_decision(facts: dict[str, Any]) -> dict[str, Any]:
    """The decision as a v1 event carried it: today's decision without what v2 added."""
    decision = classify(IncidentFacts.model_validate(facts)).model_dump(mode="json")
    old = {key: value for key, value in decision.items() if key not in _V2_ONLY}
    old["reasons"] = [{k: v for k, v in reason.items() if k != "needs_affect"} for reason in old["reasons"]]
    return old


def classified_v1(facts: dict[str, Any]) -> dict[str, Any]:
    return {"decision": v1_decision(facts), "discovered_on": "2025-06-02", "facts_version": 1}


def reclassified_v1(facts: dict[str, Any]) -> dict[str, Any]:
    return {
        **classified_v1(facts),
        "previous_notifiable": False,
        "previous_codes": [],
        "previous_discovered_on": "2025-06-02",
        "changes": ["codes: [] -> [2.2]"],
    }


def test_the_current_decision_events_are_v2() -> None:
    assert REGISTRY.latest_version("IncidentClassified") == IncidentClassified.schema_version == 2
    assert REGISTRY.latest_version("IncidentReclassified") == IncidentReclassified.schema_version == 2


def test_the_v1_model_still_describes_a_v1_payload_and_only_that() -> None:
    payload = classified_v1(NOTIFIABLE)
    IncidentClassifiedV1.model_validate(payload)
    with pytest.raises(ValidationError):
        IncidentClassifiedV1.model_validate(
            {**payload, "decision": {**payload["decision"], "status": "notifiable"}}
        )


@pytest.mark.parametrize(
    ("event_type", "build"),
    [
        pytest.param("IncidentClassified", classified_v1, id="classified"),
        pytest.param("IncidentReclassified", reclassified_v1, id="reclassified"),
    ],
)
@pytest.mark.parametrize(
    ("facts", "status"),
    [
        pytest.param(NOTIFIABLE, DecisionStatus.NOTIFIABLE, id="notifiable"),
        pytest.param(SETTLED, DecisionStatus.NOT_NOTIFIABLE, id="not-notifiable-nothing-missing"),
        pytest.param(OPEN, DecisionStatus.UNDECIDED, id="not-notifiable-facts-missing-is-undecided"),
    ],
)
def test_a_v1_decision_in_the_log_upcasts_conservatively(
    event_type: str, build: Any, facts: dict[str, Any], status: DecisionStatus
) -> None:
    payload = build(facts)
    old = envelope(event_type, 1, payload)
    event = REGISTRY.decode(old)
    assert isinstance(event, IncidentClassified | IncidentReclassified)
    decision = event.decision
    v1 = payload["decision"]
    assert decision.status is status
    assert (decision.notifiable, list(decision.codes)) == (v1["notifiable"], v1["codes"])
    # v1 did not say what a missing fact could change: every one may change the notification.
    assert list(decision.needs_facts) == v1["needs_facts"]
    assert list(decision.needs_facts_for_notification) == v1["needs_facts"]
    assert decision.needs_facts_for_routing == ()
    assert decision.licensing_breach is False
    for reason in decision.reasons:
        assert reason.needs_affect == (NeedsAffect.NOTIFICATION if reason.needs else None)
    assert old.payload == payload  # the stored event itself is never rewritten


def test_the_conservative_reading_is_stricter_than_a_new_decision() -> None:
    # Classified today, OPEN's equipment question is routing only; read from v1, it holds the
    # decision open like the intended dose does.
    today = classify(IncidentFacts.model_validate(OPEN))
    assert today.needs_facts_for_routing == ("equipment_fault",)
    upcast = REGISTRY.decode(envelope("IncidentClassified", 1, classified_v1(OPEN)))
    assert isinstance(upcast, IncidentClassified)
    assert set(upcast.decision.needs_facts_for_notification) == set(today.needs_facts)


def test_a_v2_decision_decodes_as_written_and_upcasting_it_again_changes_nothing() -> None:
    decision = classify(IncidentFacts.model_validate(OPEN))
    dumped = decision.model_dump(mode="json")
    payload = {"decision": dumped, "discovered_on": "2025-06-02", "facts_version": 1}
    event = REGISTRY.decode(envelope("IncidentClassified", 2, payload))
    assert isinstance(event, IncidentClassified)
    assert event.decision == decision
    assert upcast_decision_v1(dumped) == dumped


@pytest.mark.parametrize(
    ("event_type", "payload", "model"),
    [
        pytest.param(
            "IncidentReported",
            {"facts": NOTIFIABLE, "channel": "json", "source_message_id": None, "patient_pseudonym": None},
            IncidentReported,
            id="reported",
        ),
        pytest.param(
            "IncidentFactsAmended",
            {
                "facts": NOTIFIABLE,
                "changed_fields": ["total_effective_dose_msv"],
                "reason": "dose report",
                "channel": "json",
                "patient_pseudonym": None,
            },
            IncidentFactsAmended,
            id="amended",
        ),
    ],
)
def test_a_v2_facts_event_is_read_as_v3_unchanged(
    event_type: str, payload: dict[str, Any], model: type[Any]
) -> None:
    event = REGISTRY.decode(envelope(event_type, 2, payload))
    assert isinstance(event, model)
    assert event.facts == IncidentFacts.model_validate(NOTIFIABLE)


def test_the_v2_facts_model_refuses_the_facts_added_in_v3() -> None:
    # The v2 contract stays what it was: a v2 payload never carried the new facts.
    with pytest.raises(ValidationError):
        IncidentReportedV2.model_validate(
            {"facts": {**NOTIFIABLE, "rt_delivered_dose_gy": 2.0}, "channel": "json"}
        )
    IncidentReported.model_validate({"facts": {**NOTIFIABLE, "rt_delivered_dose_gy": 2.0}, "channel": "json"})
