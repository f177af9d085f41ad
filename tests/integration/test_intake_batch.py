"""Bulk intake (``POST /v1/incidents:batch``) against real PostgreSQL and Kafka: each line answered
for itself, good lines stored and published once, a retried file answered the same."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from sievert_intake.settings import BATCH_PATH
from sievert_shared.envelope import EventEnvelope
from tests.fixtures.intake_support import RunningIntake, running_intake
from tests.support.auth import LocalIssuer, api_key, required_auth
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic
from tests.support.samples import PATIENT, ct_overexposure

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ENGINE = api_key("engine-batch", "RBB", ["RBB01", "RBB02"])
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
async def intake(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[RunningIntake]:
    async with running_intake(infra, topic_prefix, make_database, batch_max_lines=50) as running:
        running.app.state.authenticator = required_auth(ISSUER, [ENGINE])
        yield running


def ndjson(*lines: dict[str, Any] | bytes) -> bytes:
    return (
        b"\n".join(line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines) + b"\n"
    )


def report(n: int, site: str = "RBB01", **extra: Any) -> dict[str, Any]:
    body = ct_overexposure("RBB", site)
    body["source_message_id"] = f"bulk-{n}"
    return {**body, **extra}


async def post(intake: RunningIntake, body: bytes, key: str | None = "file-1") -> Any:
    headers = {**NDJSON, **ENGINE.header}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await intake.http.post(BATCH_PATH, content=body, headers=headers)


async def test_batch_mixed_lines_each_answered_good_ones_stored_and_published_once(
    intake: RunningIntake, infra: Infra
) -> None:
    invalid = report(3)
    invalid["facts"]["modality"] = "x-ray-vision"
    other_trust = {**report(5), "trust": "RZZ", "site": "RZZ01"}
    body = ndjson(
        report(1),
        {**report(2), "patient": PATIENT},
        invalid,
        b"{not json",
        other_trust,
        b"",  # a blank line is skipped but counted
        report(7, site="RBB02"),
    )

    response = await post(intake, body)

    assert response.status_code == 200, response.text
    answer = response.json()
    by_line = {a["line"]: a for a in answer["lines"]}
    assert sorted(by_line) == [1, 2, 3, 4, 5, 7]
    assert {n: a["status"] for n, a in by_line.items()} == {1: 202, 2: 202, 3: 422, 4: 400, 5: 403, 7: 202}
    assert (answer["accepted"], answer["refused"]) == (3, 3)
    assert "body/facts/modality" in {e["path"] for e in by_line[3]["problem"]["errors"]}
    assert by_line[3]["problem"]["detail"].startswith("line 3")
    assert by_line[5]["problem"]["detail"].startswith("line 5")
    assert "patient_pseudonym" in by_line[2] and "nhs" not in response.text.lower()
    stored = [by_line[n]["incident_id"] for n in (1, 2, 7)]
    assert await intake.count("SELECT count(*) FROM events") == 3
    assert await intake.count("SELECT count(*) FROM incident_patients") == 1

    topic = intake.settings.kafka.topics.incidents
    records = await read_topic(infra.kafka_bootstrap, topic, until=lambda r: len(r) >= 3)
    assert sorted(str(e.stream_id) for e in envelopes(records)) == sorted(stored)

    read = await intake.http.get(f"/v1/incidents/{stored[2]}", headers=ENGINE.header)
    assert read.status_code == 200 and read.json()["site"] == "RBB02"


async def test_batch_retried_file_gives_the_same_answers_and_stores_nothing_twice(
    intake: RunningIntake, infra: Infra
) -> None:
    lines = [report(n) for n in range(1, 8)]
    lines[4]["facts"]["nation"] = "atlantis"
    body = ndjson(*lines)

    first = await post(intake, body)
    again = await post(intake, body)
    # Without the file's key, each line's source message id still finds its incident.
    unkeyed = await post(intake, body, key=None)

    assert first.status_code == again.status_code == unkeyed.status_code == 200
    first_lines, again_lines = first.json()["lines"], again.json()["lines"]
    assert [a["status"] for a in first_lines] == [202, 202, 202, 202, 422, 202, 202]
    assert [a["status"] for a in again_lines] == [200, 200, 200, 200, 422, 200, 200]
    for a, b, c in zip(first_lines, again_lines, unkeyed.json()["lines"], strict=True):
        assert a.get("incident_id") == b.get("incident_id") == c.get("incident_id")
    assert await intake.count("SELECT count(*) FROM events") == 6
    assert await intake.count("SELECT count(*) FROM outbox") == 6

    topic = intake.settings.kafka.topics.incidents
    records = await read_topic(infra.kafka_bootstrap, topic, until=lambda r: len(r) >= 6)
    published = Counter(str(e.stream_id) for e in envelopes(records))
    assert set(published.values()) == {1} and len(published) == 6


async def test_batch_a_changed_line_under_a_retried_key_is_a_conflict_for_that_line(
    intake: RunningIntake,
) -> None:
    assert (await post(intake, ndjson(report(1), report(2)), key="file-2")).status_code == 200
    changed = report(2, site="RBB02")

    response = await post(intake, ndjson(report(1), changed), key="file-2")

    assert response.status_code == 200
    assert [a["status"] for a in response.json()["lines"]] == [200, 409]
    assert await intake.count("SELECT count(*) FROM events") == 2


async def test_batch_a_line_for_another_trust_is_refused_and_a_file_of_them_is_403(
    intake: RunningIntake,
) -> None:
    foreign = [{**report(n), "trust": "RZZ", "site": "RZZ01"} for n in (1, 2)]

    response = await post(intake, ndjson(*foreign))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert [a["status"] for a in response.json()["lines"]] == [403, 403]
    assert await intake.count("SELECT count(*) FROM events") == 0
    reader = ISSUER.bearer("reader@RBB", trust="RBB", roles=["reader"])
    denied = await intake.http.post(BATCH_PATH, content=ndjson(report(1)), headers={**NDJSON, **reader})
    assert denied.status_code == 403
    assert await intake.count("SELECT count(*) FROM events") == 0


async def test_batch_a_nul_in_a_line_refuses_that_line_by_number(intake: RunningIntake) -> None:
    nul = json.dumps(report(2)).encode().replace(b"bulk-2", b"bulk\\u0000-2")
    raw_nul = json.dumps(report(3)).encode().replace(b"RBB01", b"RBB\x0001")

    response = await post(intake, ndjson(report(1), nul, raw_nul))

    assert response.status_code == 200, response.text
    lines = response.json()["lines"]
    assert [a["status"] for a in lines] == [202, 422, 422]
    assert lines[1]["problem"]["detail"].startswith("line 2")
    assert lines[2]["problem"]["detail"].startswith("line 3")
    assert await intake.count("SELECT count(*) FROM events") == 1


async def test_batch_empty_too_many_lines_and_too_large_are_refused_whole(intake: RunningIntake) -> None:
    empty = await post(intake, b"\n \n")
    too_many = await post(intake, ndjson(*(report(n) for n in range(51))))
    too_large = await post(intake, b" " * (intake.settings.batch_max_body_bytes + 1))

    assert empty.status_code == 400 and "no line" in empty.json()["detail"]
    assert too_many.status_code == 413 and "50 lines" in too_many.json()["detail"]
    assert too_large.status_code == 413
    # The single route keeps its own, smaller limit.
    single = await intake.http.post(
        "/v1/incidents",
        content=b" " * (intake.settings.max_body_bytes + 1),
        headers={"Content-Type": "application/json", **ENGINE.header},
    )
    assert single.status_code == 413
    assert await intake.count("SELECT count(*) FROM events") == 0


async def test_batch_in_small_chunks_a_chunk_that_meets_a_stored_line_sinks_none_of_the_others(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    async with running_intake(infra, topic_prefix, make_database, batch_chunk_lines=2) as running:
        running.app.state.authenticator = required_auth(ISSUER, [ENGINE])
        first = await post(running, ndjson(report(3)), key=None)
        invalid = report(5)
        invalid["facts"]["modality"] = "x-ray-vision"
        # Chunks of two: [1, 2], [3 (stored before: the chunk's statement fails), 4], [6, 7].
        body = ndjson(report(1), report(2), report(3), report(4), invalid, report(6), report(7))

        response = await post(running, body, key=None)
        events = await running.count("SELECT count(*) FROM events")
        outbox = await running.count("SELECT count(*) FROM outbox")

    assert response.status_code == 200, response.text
    statuses = {a["line"]: a["status"] for a in response.json()["lines"]}
    assert statuses == {1: 202, 2: 202, 3: 200, 4: 202, 5: 422, 6: 202, 7: 202}
    assert response.json()["lines"][2]["incident_id"] == first.json()["lines"][0]["incident_id"]
    assert (events, outbox) == (6, 6)  # line 3 once, before; 1, 2, 4, 6, 7 now


async def test_batch_each_line_has_its_own_envelope_shaped_as_the_single_route_builds_it(
    intake: RunningIntake,
) -> None:
    """A file's envelopes share what is checked once (tenant by tenant, correlation, actor) and
    nothing else: every line keeps its own site, ids, instant and payload, its outbox row holds
    the same envelope, and the envelope has the single route's shape."""
    sites = ["RBB01", "RBB02", "RBB01", "RBB02", "RBB02"]
    body = ndjson(*(report(n, site=site) for n, site in enumerate(sites, start=1)))
    headers = {**NDJSON, **ENGINE.header, "X-Correlation-ID": "corr-bulk-envelopes"}
    answer = await intake.http.post(BATCH_PATH, content=body, headers=headers)
    single = await intake.http.post(
        "/v1/incidents", json=report(99), headers={**ENGINE.header, "X-Correlation-ID": "corr-single"}
    )
    assert answer.status_code == 200 and single.status_code == 202, answer.text

    conn = await asyncpg.connect(intake.database_url)
    try:
        events = {
            str(r["event_id"]): json.loads(r["envelope"])
            for r in await conn.fetch("SELECT event_id, envelope::text AS envelope FROM events")
        }
        queued = {
            str(r["event_id"]): json.loads(r["envelope"])
            for r in await conn.fetch("SELECT event_id, envelope::text AS envelope FROM outbox")
        }
    finally:
        await conn.close()

    assert queued == events
    lines = answer.json()["lines"]
    mine = [events[line["event_id"]] for line in lines]
    for n, (line, envelope, site) in enumerate(zip(lines, mine, sites, strict=True), start=1):
        assert EventEnvelope.model_validate(envelope).event_id == uuid.UUID(line["event_id"])
        assert envelope["stream_id"] == line["incident_id"]
        assert envelope["tenant"] == {"trust": "RBB", "site": site}
        assert envelope["payload"]["source_message_id"] == f"bulk-{n}"
        assert envelope["correlation_id"] == "corr-bulk-envelopes"
        assert envelope["recorded_at"] == envelope["occurred_at"]
    assert len({e["event_id"] for e in mine}) == len({e["stream_id"] for e in mine}) == len(sites)
    assert {uuid.UUID(e["event_id"]).version for e in mine} == {4}
    by_single = events[single.json()["event_id"]]
    for envelope in mine:
        assert envelope.keys() == by_single.keys()
        assert envelope["payload"].keys() == by_single["payload"].keys()
        shared = ("envelope_version", "event_type", "schema_version", "stream_version", "actor", "producer")
        assert {k: envelope[k] for k in shared} == {k: by_single[k] for k in shared}
