"""Thematic reviews over real Kafka and PostgreSQL: a theme spans a trust's sites, its anonymised
summary reaches consenting trusts only, and a theme past one individual tells the classifier."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from sievert_reporting.entrypoints.replay import replay
from sievert_shared.auth import Role
from tests.support.auth import person
from tests.support.kafka import envelopes, eventually, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    THEME,
    Reporting,
    ct_facts,
    dental,
    dental_at_two_sites,
    link_to_theme,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration


async def test_a_theme_spans_the_trusts_sites_and_tells_the_classifier_past_one_individual(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    a, b = await dental_at_two_sites(reporting)
    other_trust = await reporting.incident(dental(dt.date(2025, 5, 21)), "RYY01", trust="RYY")

    opened = await client.post("/v1/themes", json=THEME, headers=person("RXX", Role.RP_LEAD))
    assert opened.status_code == 201, opened.text
    location = opened.headers["Location"]
    theme_id = location.rsplit("/", 1)[1]

    def link(incident: uuid.UUID, trust: str = "RXX") -> Any:
        return client.post(
            f"{location}/incidents",
            json={"incident_id": str(incident), "linked_by_role": "RPA"},
            headers=person(trust, Role.RP_LEAD),
        )

    assert (await link(a)).status_code == 201
    assert (await link(other_trust)).status_code == 404  # another trust's incident
    assert (await link(a, trust="RYY")).status_code == 404  # another trust's theme
    linked = await link(b)
    assert linked.status_code == 201, linked.text
    assert (await link(b)).status_code == 200  # a repeat changes nothing

    view = (await client.get(location, headers=person("RXX", Role.RP_LEAD))).json()
    assert {i["incident_id"] for i in view["incidents"]} == {str(a), str(b)}
    assert view["counts"]["by_site"] == {"RXX01": 1, "RXX02": 1}
    assert view["counts"]["by_equipment_type"] == {"hand_held": 2}
    assert view["counts"]["individuals"] == 2 and view["code_m_applies"] is True
    assert (await client.get(location, headers=person("RYY", Role.RP_LEAD))).status_code == 404
    assert (await client.get("/v1/themes", headers=person("RYY", Role.RP_LEAD))).json()["items"] == []

    # line 276-281: more than one individual across the theme -> one event per linked incident
    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.themes,
        until=lambda r: len([e for e in envelopes(r) if e.event_type == "ThemeIndividualsCounted"]) >= 2,
    )
    counted = [e for e in envelopes(records) if e.event_type == "ThemeIndividualsCounted"]
    assert {e.stream_id for e in counted} == {a, b}
    assert all(e.payload["individuals"] == 2 and e.payload["theme_id"] == theme_id for e in counted)

    # dashboards hear of the theme without polling
    dashboard = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.dashboard,
        until=lambda r: any(
            e.event_type == "ThemeUpdated" and e.payload["incidents"] == 2 for e in envelopes(r)
        ),
    )
    updates = [e.payload["incidents"] for e in envelopes(dashboard) if e.event_type == "ThemeUpdated"]
    assert updates == [0, 1, 2]


async def test_a_shared_theme_reaches_consenting_trusts_only_and_anonymised(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    a = await reporting.incident(dental(dt.date(2025, 5, 2)), "RXX01")
    b = await reporting.incident(ct_facts(dt.date(2025, 5, 20)), "RXX02")
    opened = await client.post("/v1/themes", json=THEME, headers=person("RXX", Role.RP_LEAD))
    location = opened.headers["Location"]
    await link_to_theme(client, location, (a, b), person("RXX", Role.RP_LEAD))

    consent = await client.put(
        "/v1/trusts/RYY/shared-themes-consent",
        json={"consent": True},
        headers=person("RYY", Role.TRUST_ADMIN),
    )
    assert consent.status_code == 200
    forbidden = await client.put(
        "/v1/trusts/RYY/shared-themes-consent",
        json={"consent": False},
        headers=person("RZZ", Role.TRUST_ADMIN),
    )
    assert forbidden.status_code == 404  # another trust does not exist for this admin

    shared = await client.post(f"{location}/share", headers=person("RXX", Role.RP_LEAD))
    assert shared.status_code == 202, shared.text

    async def seen_by_consenting_trust() -> None:
        body = (await client.get("/v1/shared-themes", headers=person("RYY", Role.THEME_REVIEWER))).json()
        assert body["consent"] is True and len(body["items"]) == 1

    await eventually(seen_by_consenting_trust)
    item = (await client.get("/v1/shared-themes", headers=person("RYY", Role.THEME_REVIEWER))).json()[
        "items"
    ][0]
    assert item["shared_by"] == "RXX" and item["incidents"] == 2 and item["sites"] == 2
    assert {e["value"]: e["count"] for e in item["by_modality"]} == {"ct": 1, "dental": 1}
    assert {e["value"]: e["count"] for e in item["by_code"]} == {"-": 1, "2.2": 1}
    # no incident id and no site id leaves the trust
    on_topic = await read_topic(
        reporting.kafka.bootstrap_servers, reporting.kafka.topics.shared_themes, until=lambda r: len(r) >= 1
    )
    raw = b"".join(r.value or b"" for r in on_topic)
    for secret in (str(a), str(b), "RXX02"):
        assert secret.encode() not in raw and secret not in str(item)

    # a trust that did not consent sees nothing; nor does the sharing trust see its own here
    assert (await client.get("/v1/shared-themes", headers=person("RZZ", Role.THEME_REVIEWER))).json() == {
        "consent": False,
        "items": [],
    }
    await client.put(
        "/v1/trusts/RXX/shared-themes-consent",
        json={"consent": True},
        headers=person("RXX", Role.TRUST_ADMIN),
    )
    assert (await client.get("/v1/shared-themes", headers=person("RXX", Role.THEME_REVIEWER))).json()[
        "items"
    ] == []


async def test_an_unlinked_incident_leaves_the_theme_and_the_classifier_hears_the_lower_count(
    reporting: Reporting,  # noqa: F811
) -> None:
    client = reporting.client
    lead = person("RXX", Role.RP_LEAD)
    a, b = await dental_at_two_sites(reporting)
    other_trust = await reporting.incident(dental(dt.date(2025, 5, 21)), "RYY01", trust="RYY")
    location = (await client.post("/v1/themes", json=THEME, headers=lead)).headers["Location"]
    theme_id = location.rsplit("/", 1)[1]
    await link_to_theme(client, location, (a, b), lead)

    why = {"reason": "On review the second exposure had another cause.", "unlinked_by_role": "RPA"}

    def unlink(incident: uuid.UUID, headers: dict[str, str] = lead, body: dict[str, str] = why) -> Any:
        return client.post(f"{location}/incidents/{incident}/unlink", json=body, headers=headers)

    assert (await unlink(b, headers=person("RYY", Role.RP_LEAD))).status_code == 404  # another trust's theme
    assert (await unlink(other_trust)).status_code == 404  # another trust's incident
    assert (await unlink(b, headers=person("RXX", Role.AUDITOR))).status_code == 403  # reads, does not act
    named = await unlink(b, body={**why, "reason": "Linked in error for Mrs Smith"})
    assert named.status_code == 422 and named.json()["errors"][0]["path"] == "body/reason"

    unlinked = await unlink(b)
    assert unlinked.status_code == 200, unlinked.text
    view = unlinked.json()
    assert [i["incident_id"] for i in view["incidents"]] == [str(a)]
    assert view["counts"]["individuals"] == 1 and view["code_m_applies"] is False
    assert view["counts"]["by_site"] == {"RXX01": 1}
    assert (await unlink(b)).status_code == 200  # a repeat changes nothing

    def counted(records: list[Any]) -> list[Any]:
        return [e for e in envelopes(records) if e.event_type == "ThemeIndividualsCounted"]

    records = await read_topic(
        reporting.kafka.bootstrap_servers, reporting.kafka.topics.themes, until=lambda r: len(counted(r)) >= 4
    )
    (gone,) = [e for e in envelopes(records) if e.event_type == "IncidentUnlinkedFromTheme"]
    assert gone.payload == {"theme_id": theme_id, "incident_id": str(b), "site": "RXX02", **why}
    assert gone.actor == "rp_lead@RXX" and str(gone.stream_id) == theme_id
    # after the link that reached 2: one count per incident; after the unlink: the new count for
    # the incident left in the theme, and for the one that left, a list without it (partitions
    # interleave on the topic, so they are told apart by their count, not their position)
    payloads = [
        (e.stream_id, e.payload["individuals"], sorted(e.payload["incident_ids"])) for e in counted(records)
    ]
    both = sorted([str(a), str(b)])
    assert sorted(p for p in payloads if p[1] == 2) == sorted([(a, 2, both), (b, 2, both)])
    assert sorted((p for p in payloads if p[1] == 1), key=lambda p: p[0] == b) == [
        (a, 1, [str(a)]),
        (b, 1, [str(a)]),
    ]

    dashboard = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.dashboard,
        until=lambda r: len([e for e in envelopes(r) if e.event_type == "ThemeUpdated"]) >= 4,
    )
    updates = [e.payload["individuals"] for e in envelopes(dashboard) if e.event_type == "ThemeUpdated"]
    assert updates == [0, 1, 2, 1]

    relinked = await client.post(
        f"{location}/incidents", json={"incident_id": str(b), "linked_by_role": "RPA"}, headers=lead
    )
    assert relinked.status_code == 201 and relinked.json()["code_m_applies"] is True

    # the log alone rebuilds the links: link, unlink and link again, in the order they were made
    url = reporting.settings.database_url.get_secret_value()

    async def published() -> None:
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        finally:
            await conn.close()

    await eventually(published)
    incremental = await snapshot(url)
    await replay(reporting.settings)
    assert await snapshot(url) == incremental
    assert len(incremental["theme_incidents"]) == 2
