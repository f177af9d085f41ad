"""FHIR R4 over HTTP (in-process ASGI transport) against real PostgreSQL and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sievert_intake.domain.fhir_mapping import validate
from tests.fixtures.intake_support import RunningIntake, fhir_fixture, running_intake
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic

pytestmark = pytest.mark.integration

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    async with running_intake(infra, topic_prefix, make_database) as running:
        yield running


async def test_a_transaction_bundle_becomes_an_incident(intake: RunningIntake, infra: Infra) -> None:
    response = await intake.http.post(
        "/fhir", json=fhir_fixture("bundle_ct_overexposure.json"), headers=FHIR_JSON
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    result = response.json()
    assert result["type"] == "transaction-response"
    assert result["entry"][0]["response"]["status"] == "201 Created"
    incident = result["entry"][0]["response"]["location"].split("/")[1]

    records = await read_topic(
        infra.kafka_bootstrap, intake.settings.kafka.topics.incidents, until=lambda r: len(r) >= 1
    )
    (event,) = envelopes(records)
    assert str(event.stream_id) == incident
    assert event.payload["channel"] == "fhir"
    assert event.payload["facts"]["patient_age_years"] == 54
    assert b"9434765919" not in records[0].value and b"Smith" not in records[0].value

    read = await intake.http.get(f"/fhir/AdverseEvent/{incident}")
    assert read.status_code == 200
    validate(read.json(), ("AdverseEvent",))  # a valid R4 resource
    assert read.json()["identifier"]["value"] == "INC-2025-0042"


async def test_the_same_bundle_twice_is_one_incident(intake: RunningIntake) -> None:
    bundle = fhir_fixture("bundle_ct_overexposure.json")
    first = await intake.http.post("/fhir", json=bundle)
    second = await intake.http.post("/fhir", json=bundle)

    assert first.json()["entry"][0]["response"]["status"] == "201 Created"
    assert second.json()["entry"][0]["response"]["status"] == "200 OK"
    assert await intake.count("SELECT count(*) FROM events") == 1


async def test_a_later_adverse_event_with_the_same_identifier_amends(intake: RunningIntake) -> None:
    await intake.http.post("/fhir", json=fhir_fixture("bundle_ct_overexposure.json"))
    event = fhir_fixture("adverse_event_radiography_repeat.json")
    event["identifier"] = {"value": "INC-2025-0042"}
    event["contained"] = [
        c for c in event["contained"] if c["resourceType"] != "Observation" or c["id"] == "t"
    ]
    event["detected"] = "2025-06-02"

    response = await intake.http.post("/fhir/AdverseEvent", json=event)

    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == "2"
    totals = [c for c in response.json()["contained"] if c.get("id") == "total-effective-dose"]
    assert totals[0]["valueQuantity"] == {
        "value": 0.04,
        "unit": "mSv",
        "system": "http://unitsofmeasure.org",
        "code": "mSv",
    }


async def test_an_adverse_event_with_contained_resources_is_created(intake: RunningIntake) -> None:
    response = await intake.http.post(
        "/fhir/AdverseEvent", json=fhir_fixture("adverse_event_radiography_repeat.json")
    )

    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith("/fhir/AdverseEvent/")


@pytest.mark.parametrize(
    ("mutate", "status", "expression"),
    [
        pytest.param(
            lambda b: b["entry"][6]["resource"]["valueQuantity"].update(value="lots"),
            400,
            "Bundle.entry[6].resource.valueQuantity.value",
            id="wrong-type",
        ),
        pytest.param(
            lambda b: b["entry"][6]["resource"]["valueQuantity"].update(code="mCi"),
            400,
            "Bundle.entry[6].resource.valueQuantity.code",
            id="unit-cannot-be-converted",
        ),
        pytest.param(
            lambda b: b["entry"][0]["resource"].pop("detected"),
            422,
            "AdverseEvent.detected",
            id="no-discovery-date",
        ),
        pytest.param(
            lambda b: b["entry"][3]["resource"].pop("identifier"),
            400,
            "Bundle.entry[3].resource.identifier",
            id="no-site-ods-code",
        ),
    ],
)
async def test_bad_resources_get_an_operation_outcome_with_fhirpath(
    intake: RunningIntake, mutate: Callable[[dict[str, Any]], None], status: int, expression: str
) -> None:
    bundle = fhir_fixture("bundle_ct_overexposure.json")
    mutate(bundle)

    response = await intake.http.post("/fhir", json=bundle)

    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert expression in [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert await intake.count("SELECT count(*) FROM events") == 0


async def test_metadata_is_a_capability_statement(intake: RunningIntake) -> None:
    response = await intake.http.get("/fhir/metadata")
    assert response.status_code == 200
    validate(response.json(), ("CapabilityStatement",))


async def test_unknown_adverse_event_is_404_outcome(intake: RunningIntake) -> None:
    response = await intake.http.get("/fhir/AdverseEvent/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
