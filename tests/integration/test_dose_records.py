"""Dose records through the running intake to the running classifier, on real Kafka and
PostgreSQL: an annual dose limit crossed over two records is announced on the classifications
topic to HSE (HSENI in Northern Ireland) with the limit and the totals; an overlapping record is
refused (409) and a correction supersedes it, and the totals follow. And a patient's earlier
exposures of the same area reach the decision as its cumulative-dose reason."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    REGISTRY,
    DoseRecordCorrected,
    IncidentClassified,
    WorkerDoseExceedanceWithdrawn,
    WorkerDoseLimitExceeded,
    WorkerInvestigationLevelExceeded,
)
from sievert_shared.events.doses import DoseQuantity, dose_history_stream, worker_year_stream
from tests.fixtures.intake_support import RunningIntake, running_intake_and_classifier
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

WORKER = "DW-004211"


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    """Intake, and the classifier consuming what it publishes; trust RXX investigates at 15 mSv."""
    levels = {"RXX": {DoseQuantity.HP10: 15.0}}
    async with running_intake_and_classifier(
        infra, topic_prefix, make_database, dose_investigation_levels=levels
    ) as running:
        yield running


def dose_record(start: str, end: str, hp10: Any, **changes: Any) -> dict[str, Any]:
    return {
        "trust": "RXX",
        "site": "RXX01",
        "nation": "england",
        "person_pseudonym": WORKER,
        "category": "classified_worker",
        "period_start": start,
        "period_end": end,
        "doses": {"hp10_msv": hp10, "hp3_msv": 2.0},
        **changes,
    }


async def classifications(
    infra: Infra, topic_prefix: str, until: Callable[[list[EventEnvelope]], bool]
) -> list[EventEnvelope]:
    records = await read_topic(
        infra.kafka_bootstrap, f"{topic_prefix}.classifications.v1", until=lambda rs: until(envelopes(rs))
    )
    return envelopes(records)


def of_type(found: list[EventEnvelope], event_type: str) -> list[EventEnvelope]:
    return [e for e in found if e.event_type == event_type]


async def test_annual_dose_limit_over_two_records_goes_to_hse_and_a_correction_withdraws_it(
    intake: RunningIntake, infra: Infra, topic_prefix: str
) -> None:
    first = await intake.http.post(
        "/v1/dose-records",
        json=dose_record("2024-01-01", "2024-06-30", 12.0),
        headers={"Idempotency-Key": "r1"},
    )
    assert first.status_code == 202, first.text
    second = await intake.http.post(
        "/v1/dose-records", json=dose_record("2024-07-01", "2024-12-31", {"value": 9000, "unit": "uSv"})
    )
    assert second.status_code == 202, second.text
    first_id, second_id = first.json()["record_id"], second.json()["record_id"]

    # The same key and body give the same answer; another body under it is refused.
    again = await intake.http.post(
        "/v1/dose-records",
        json=dose_record("2024-01-01", "2024-06-30", 12.0),
        headers={"Idempotency-Key": "r1"},
    )
    assert again.status_code == 202 and again.json() == first.json()
    reused = await intake.http.post(
        "/v1/dose-records",
        json=dose_record("2025-01-01", "2025-01-31", 1.0),
        headers={"Idempotency-Key": "r1"},
    )
    assert reused.status_code == 409

    # 12 + 9 = 21 mSv in 2024: the IRR17 limit of 20 mSv and the trust's level of 15 mSv are exceeded.
    found = await classifications(
        infra,
        topic_prefix,
        lambda es: bool(
            of_type(es, "WorkerDoseLimitExceeded") and of_type(es, "WorkerInvestigationLevelExceeded")
        ),
    )
    [limit_envelope] = of_type(found, "WorkerDoseLimitExceeded")
    assert limit_envelope.stream_id == worker_year_stream("RXX", WORKER, 2024)
    limit = REGISTRY.decode(limit_envelope)
    assert isinstance(limit, WorkerDoseLimitExceeded)
    assert (limit.limit.table, limit.limit.key, limit.limit.limit_msv) == (
        "uk-irr17-2018",
        "effective-adult",
        20,
    )
    assert limit.limit.citation.source.startswith("SI 2017/1075 (IRR17) Schedule 3")
    assert limit.notify.value == "hse" and limit.notify_citation.lines == (393, 395, 399, 401)
    assert limit.total_msv == 21.0 and limit.totals_msv == {DoseQuantity.HP10: 21.0, DoseQuantity.HP3: 4.0}
    assert [str(r) for r in limit.records] == [first_id, second_id]
    level = REGISTRY.decode(of_type(found, "WorkerInvestigationLevelExceeded")[0])
    assert isinstance(level, WorkerInvestigationLevelExceeded) and level.limit.limit_msv == 15.0

    # A record overlapping the second one is refused, and nothing is stored.
    overlapping = await intake.http.post(
        "/v1/dose-records", json=dose_record("2024-12-01", "2024-12-31", 0.1)
    )
    assert overlapping.status_code == 409
    assert overlapping.headers["content-type"] == "application/problem+json"
    assert [o["record_id"] for o in overlapping.json()["overlapping"]] == [second_id]
    assert await intake.count("SELECT count(*) FROM dose_records") == 2

    # As a correction (7 mSv for July to December) it supersedes the second: 19 mSv, within 20.
    corrected = await intake.http.post(
        "/v1/dose-records", json=dose_record("2024-07-01", "2024-12-31", 7.0, correction=True)
    )
    assert corrected.status_code == 202, corrected.text
    assert corrected.json()["event_type"] == "DoseRecordCorrected"
    assert corrected.json()["supersedes"] == [second_id]
    found = await classifications(
        infra, topic_prefix, lambda es: bool(of_type(es, "WorkerDoseExceedanceWithdrawn"))
    )
    [withdrawn_envelope] = of_type(found, "WorkerDoseExceedanceWithdrawn")
    withdrawn = REGISTRY.decode(withdrawn_envelope)
    assert isinstance(withdrawn, WorkerDoseExceedanceWithdrawn)
    assert withdrawn.limit.key == "effective-adult" and withdrawn.total_msv == 19.0
    assert withdrawn_envelope.stream_id == limit_envelope.stream_id
    assert withdrawn_envelope.stream_version > limit_envelope.stream_version
    # The trust's level (19 > 15) still holds: it is neither withdrawn nor announced again.
    assert len(of_type(found, "WorkerInvestigationLevelExceeded")) == 1
    assert len(of_type(found, "WorkerDoseExceedanceWithdrawn")) == 1

    doses = envelopes(
        await read_topic(infra.kafka_bootstrap, f"{topic_prefix}.doses.v1", until=lambda rs: len(rs) >= 3)
    )
    assert [e.event_type for e in doses] == [
        "DoseRecordReceived",
        "DoseRecordReceived",
        "DoseRecordCorrected",
    ]
    assert {e.stream_id for e in doses} == {dose_history_stream("RXX", WORKER)}
    correction = REGISTRY.decode(doses[2])
    assert isinstance(correction, DoseRecordCorrected) and [str(s) for s in correction.supersedes] == [
        second_id
    ]


async def test_annual_dose_limit_in_northern_ireland_goes_to_hseni(
    intake: RunningIntake, infra: Infra, topic_prefix: str
) -> None:
    body = dose_record(
        "2024-01-01", "2024-03-31", 0.4, nation="northern_ireland", category="member_of_public"
    )
    body["person_pseudonym"] = "PUB-0042"
    body["doses"] = {"hp10_msv": 1.2}
    response = await intake.http.post("/v1/dose-records", json=body)
    assert response.status_code == 202, response.text
    found = await classifications(
        infra, topic_prefix, lambda es: bool(of_type(es, "WorkerDoseLimitExceeded"))
    )
    event = REGISTRY.decode(of_type(found, "WorkerDoseLimitExceeded")[0])
    assert isinstance(event, WorkerDoseLimitExceeded)
    assert event.notify.value == "hseni" and event.limit.key == "effective-public" and event.total_msv == 1.2


async def test_annual_dose_limit_record_in_gy_is_refused_naming_the_field(intake: RunningIntake) -> None:
    body = dose_record("2024-01-01", "2024-01-31", {"value": 3, "unit": "mGy"})
    response = await intake.http.post("/v1/dose-records", json=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["path"] == "body/doses/hp10_msv"
    assert "hp10_msv" in error["message"] and "Sv, mSv, uSv, nSv" in error["message"]
    named = await intake.http.post(
        "/v1/dose-records", json=dose_record("2024-01-01", "2024-01-31", 1.0, person_pseudonym="Jane Smith")
    )
    assert named.status_code == 422 and named.json()["errors"][0]["path"] == "body/person_pseudonym"
    assert await intake.count("SELECT count(*) FROM dose_records") == 0


async def test_cumulative_dose_context_reaches_the_decision_and_changes_nothing(
    intake: RunningIntake, infra: Infra, topic_prefix: str
) -> None:
    report = ct_overexposure("RXX", "RXX01")
    report["facts"].update(
        prior_same_area_exposures=2,
        prior_same_area_period_days=14,
        prior_same_area_dose_mgy={"value": 1.8, "unit": "Gy"},
    )
    response = await intake.http.post("/v1/incidents", json=report)
    assert response.status_code == 202, response.text
    found = await classifications(infra, topic_prefix, lambda es: bool(of_type(es, "IncidentClassified")))
    event = REGISTRY.decode(of_type(found, "IncidentClassified")[0])
    assert isinstance(event, IncidentClassified)
    [reason] = [r for r in event.decision.reasons if r.code == "cumulative-dose"]
    assert reason.facts["prior_same_area_dose_mgy"] == 1800.0
    assert reason.citation.source == "ukhsa-bir-cumulative-dose-position-2023.txt"
    assert "do not change this decision" in reason.criterion
    assert event.decision.notifiable  # the over-exposure is notifiable on its own dose
