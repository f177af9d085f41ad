"""The published taxonomies through the real pipeline (Kafka, PostgreSQL): a local investigation
closed with CQC's three error tiers and the radiotherapy event classification (the level derived
where Sievert knows it, asked otherwise, a code the version in force does not hold refused with
422), the codes on the incident's row, in the RTE export over HTTP (JSON and CSV, per trust) and
from the CLI, and a replay that rebuilds them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sievert_reporting.domain.anonymity import find_identifiers, scan_fields
from sievert_reporting.entrypoints.cli import read_rte_events, write_rte_export
from sievert_reporting.entrypoints.replay import replay
from sievert_shared.auth import Role
from sievert_shared.facts import IncidentFacts
from tests.support.auth import person
from tests.support.kafka import envelopes, eventually, read_topic
from tests.support.reporting import (  # noqa: F401 - the fixture is used by name
    HEADERS,
    Reporting,
    assert_consumed_back,
    assert_same_rows,
    ct_facts,
    reporting,
    snapshot,
)

pytestmark = pytest.mark.integration

DISCOVERED = dt.date(2025, 6, 2)  # the fixture's clock reads 2025-06-05
CLOSE: dict[str, Any] = {
    "closed_on": "2025-06-04",
    "findings": "The plan was approved without the independent check of the monitor units.",
    "closed_by_role": "Radiotherapy service manager",
    "corrective_actions": ["Independent check made a hard stop in the record and verify system"],
    "expected_version": 0,
}
EXPORT = {"from": "2025-01-01", "to": "2025-12-31"}


def radiotherapy(**changes: Any) -> IncidentFacts:
    """External-beam radiotherapy to the PTV; 1.2 times the prescribed course dose: code 8.1."""
    facts: dict[str, Any] = {
        "nation": "england",
        "discovered_on": DISCOVERED.isoformat(),
        "occurred_on": (DISCOVERED - dt.timedelta(days=3)).isoformat(),
        "exposure_kind": "unintended",
        "modality": "external_beam_radiotherapy",
        "patient_age_years": 61,
        "individuals_affected": 1,
        "rt_course_dose_ratio": 1.2,
        "rt_max_fraction_dose_ratio": 1.2,
        "rt_dose_volume": "ptv",
        "geographical_miss": "none",
        **changes,
    }
    return IncidentFacts.model_validate({k: v for k, v in facts.items() if v is not None})


async def close(rep: Reporting, incident: uuid.UUID, headers: dict[str, str] = HEADERS, **body: Any) -> Any:
    return await rep.client.post(
        f"/v1/incidents/{incident}/local-investigation/close", json={**CLOSE, **body}, headers=headers
    )


async def coding_on_row(rep: Reporting, incident: uuid.UUID) -> dict[str, Any]:
    read = await rep.client.get(f"/v1/incidents/{incident}", headers=HEADERS)
    assert read.status_code == 200, read.text
    coding: dict[str, Any] = read.json()["investigation_coding"]
    return coding


async def test_taxonomy_close_out_codes_reach_the_row_the_topic_and_the_rte_export(
    reporting: Reporting,  # noqa: F811
    tmp_path: Path,
) -> None:
    notifiable = await reporting.incident(radiotherapy())
    near_miss = await reporting.incident(
        radiotherapy(
            exposure_kind="near_miss",
            rt_course_dose_ratio=None,
            rt_max_fraction_dose_ratio=None,
            individuals_affected=0,
        )
    )
    minor = await reporting.incident(radiotherapy(rt_course_dose_ratio=1.02, rt_max_fraction_dose_ratio=1.02))
    ct = await reporting.incident(ct_facts(DISCOVERED), site="RXX02")
    other_trust = await reporting.incident(radiotherapy(), trust="RYY", site="RYY01")

    # a level that contradicts what Sievert knows, a level missing where it cannot be derived, a
    # code the version in force does not hold: 422 naming the field (and the version), nothing stored
    wrong_level = await close(reporting, notifiable, radiotherapy_event={"level": 4})
    assert wrong_level.status_code == 422, wrong_level.text
    assert wrong_level.json()["errors"][0]["path"] == "body/radiotherapy_event/level"
    missing_level = await close(reporting, minor)
    assert missing_level.status_code == 422
    assert [e["path"] for e in missing_level.json()["errors"]] == ["body/radiotherapy_event/level"]
    unknown_code = await close(reporting, notifiable, radiotherapy_event={"causative_factors": ["CF1"]})
    assert unknown_code.status_code == 422
    assert unknown_code.json()["errors"][0]["path"] == "body/radiotherapy_event/causative_factors/0"
    assert "tsrt-2008" in unknown_code.json()["errors"][0]["message"]
    bad_tier = await close(
        reporting,
        ct,
        error_category={"duty_holder": "referrer", "pathway_point": "pharmaceutical_or_contrast"},
    )
    assert bad_tier.status_code == 422
    (error,) = bad_tier.json()["errors"]
    assert error["path"] == "body/error_category/pathway_point"
    assert "CQC error taxonomy 2023/24" in error["message"]  # in force on 2025-06-02; 2021/22 held it
    coded_ct = await reporting.client.get(f"/v1/incidents/{ct}/local-investigation", headers=HEADERS)
    assert coded_ct.json()["status"] == "open"

    # the level derived (notifiable: 1; near miss: 4) or stated (3), with CQC's tiers beside it
    tiers = {"duty_holder": "operator", "pathway_point": "pre_exposure_checks"}
    closed = await close(reporting, notifiable, error_category=tiers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["radiotherapy_event"]["level"] == 1
    assert closed.json()["radiotherapy_event"]["level_basis"] == "notifiable"
    assert (await close(reporting, near_miss)).status_code == 200
    assert (await close(reporting, minor, radiotherapy_event={"level": 3})).status_code == 200
    wrong_patient = {
        "duty_holder": "referrer",
        "pathway_point": "incorrect_referral",
        "what_went_wrong": "wrong_patient",
    }
    assert (await close(reporting, ct, error_category=wrong_patient)).status_code == 200
    assert (await close(reporting, other_trust, person("RYY", Role.RP_LEAD))).status_code == 200

    # the CQC tier version in force on 2025-06-02 is 2023/24, recorded with the codes
    row = await coding_on_row(reporting, ct)
    assert (
        row["error_taxonomy_version"],
        row["error_tier1_duty_holder"],
        row["error_tier2_pathway_point"],
        row["error_tier3_what_went_wrong"],
        row["rte_level"],
    ) == ("2023/24", "referrer", "incorrect_referral", "wrong_patient", None)
    row = await coding_on_row(reporting, notifiable)
    assert (row["rte_taxonomy_version"], row["rte_level"], row["rte_level_basis"]) == (
        "tsrt-2008",
        1,
        "notifiable",
    )
    assert row["error_tier1_duty_holder"] == "operator" and row["rte_causative_factors"] == []
    assert (await coding_on_row(reporting, near_miss))["rte_level"] == 4

    # the trend analysis breaks the year down by the coded tiers and levels, in their published words
    analysed = await reporting.client.get(
        "/v1/trusts/RXX/analysis", params={"year": "2025/26"}, headers=HEADERS
    )
    assert analysed.status_code == 200, analysed.text
    breakdowns = {b["dimension"]: b for b in analysed.json()["breakdowns"]}
    counted = {
        name: {(i["label"], i["incidents"]) for i in breakdowns[name]["items"]}
        for name in ("cqc_duty_holder", "cqc_what_went_wrong", "rte_level")
    }
    assert {("Referrer", 1), ("Operator", 1), ("not recorded", 2)} == counted["cqc_duty_holder"]
    assert ("Wrong patient", 1) in counted["cqc_what_went_wrong"]
    assert {("Level 1: Reportable radiation incident", 1), ("Level 4: Near miss", 1)} <= counted["rte_level"]

    # the event the deadlines service hears is v2, with the codes
    records = await read_topic(
        reporting.kafka.bootstrap_servers,
        reporting.kafka.topics.cases,
        until=lambda r: sum(e.event_type == "LocalInvestigationClosed" for e in envelopes(r)) >= 4,
    )
    (on_topic,) = [e for e in envelopes(records) if e.stream_id == minor]
    assert on_topic.schema_version == 2
    assert on_topic.payload["radiotherapy_event"]["level"] == 3
    assert on_topic.payload["radiotherapy_event"]["level_basis"] == "stated"

    # the export: the trust's three radiotherapy events (not the CT, not the other trust's)
    exported = await reporting.client.get("/v1/trusts/RXX/rte-export", params=EXPORT, headers=HEADERS)
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["provider"] == "RXX" and body["taxonomy_versions"] == ["tsrt-2008"]
    assert sorted((e["site"], e["month"], e["level"]) for e in body["events"]) == [
        ("RXX01", "2025-06", 1),
        ("RXX01", "2025-06", 3),
        ("RXX01", "2025-06", 4),
    ]
    assert [(m["dimension"], m["code"], m["events"]) for m in body["monthly"]] == [
        ("level", "1", 1),
        ("level", "3", 1),
        ("level", "4", 1),
    ]
    text = json.dumps(body)
    assert scan_fields(body) == [] and not any(str(i) in text for i in (notifiable, near_miss, minor))
    monthly_csv = await reporting.client.get(
        "/v1/trusts/RXX/rte-export", params={**EXPORT, "format": "csv", "table": "monthly"}, headers=HEADERS
    )
    assert monthly_csv.status_code == 200 and monthly_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(monthly_csv.text)))
    assert (rows[0]["month"], rows[0]["dimension"], rows[0]["code"], rows[0]["label"], rows[0]["events"]) == (
        "2025-06",
        "level",
        "1",
        "Reportable radiation incident",
        "1",
    )
    assert find_identifiers("rte-export.csv", monthly_csv.text) == []

    # another period, a period backwards, another trust, a role that may not read
    empty = await reporting.client.get(
        "/v1/trusts/RXX/rte-export", params={"from": "2024-01-01", "to": "2024-12-31"}, headers=HEADERS
    )
    assert empty.json()["events"] == [] and empty.json()["monthly"] == []
    backwards = await reporting.client.get(
        "/v1/trusts/RXX/rte-export", params={"from": "2025-12-31", "to": "2025-01-01"}, headers=HEADERS
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["path"] == "query/to"
    assert (
        await reporting.client.get("/v1/trusts/RYY/rte-export", params=EXPORT, headers=HEADERS)
    ).status_code == 404
    auditor = await reporting.client.get(
        "/v1/trusts/RXX/rte-export", params=EXPORT, headers=person("RXX", Role.AUDITOR)
    )
    assert auditor.status_code == 200 and auditor.json() == body
    engine = await reporting.client.get(
        "/v1/trusts/RXX/rte-export", params=EXPORT, headers=person("RXX", Role.INTEGRATION)
    )
    assert engine.status_code == 403

    # the CLI writes the same export, as JSON and one CSV per table
    events = await read_rte_events(reporting.settings, "RXX", dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    written = write_rte_export("RXX", dt.date(2025, 1, 1), dt.date(2025, 12, 31), events, tmp_path)
    assert sorted(p.name for p in written) == [
        "rte-export-events.csv",
        "rte-export-monthly.csv",
        "rte-export.json",
    ]
    assert json.loads((tmp_path / "rte-export.json").read_text()) == body
    assert (tmp_path / "rte-export-monthly.csv").read_text() == monthly_csv.text

    # a replay rebuilds the codes as live processing stored them
    url = reporting.settings.database_url.get_secret_value()

    async def settled() -> None:
        await assert_consumed_back(url)

    await eventually(settled, timeout=60)
    live = await snapshot(url)
    # a raw connection reads jsonb as its text, whatever ``snapshot``'s annotation says
    investigations: list[Any] = live["local_investigations"]
    assert sorted(json.loads(r)["rte_level"] or 0 for r in investigations) == [0, 1, 1, 3, 4]
    await replay(reporting.settings)
    assert_same_rows(live, await snapshot(url))


async def test_taxonomy_coding_choices_follow_the_incident(
    reporting: Reporting,  # noqa: F811
) -> None:
    """``GET …/local-investigation/coding``: the versions in force on the discovery day, the RTE
    part only for radiotherapy, its level derived where the incident settles it; another trust's
    incident is 404."""
    notifiable = await reporting.incident(radiotherapy())
    minor = await reporting.incident(radiotherapy(rt_course_dose_ratio=1.02, rt_max_fraction_dose_ratio=1.02))
    ct = await reporting.incident(ct_facts(DISCOVERED), site="RXX02")
    other_trust = await reporting.incident(radiotherapy(), trust="RYY", site="RYY01")

    async def choices(incident: uuid.UUID) -> dict[str, Any]:
        answer = await reporting.client.get(
            f"/v1/incidents/{incident}/local-investigation/coding", headers=HEADERS
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    derived = (await choices(notifiable))["radiotherapy_event"]
    assert derived["version"] == "tsrt-2008" and derived["derived_level"]["level"] == 1
    asked = await choices(minor)
    assert asked["discovered_on"] == DISCOVERED.isoformat()
    assert asked["error_category"]["version"] == "2023/24"
    assert asked["radiotherapy_event"]["derived_level"] is None
    assert [lv["level"] for lv in asked["radiotherapy_event"]["levels"]] == [1, 2, 3, 4, 5]
    assert (await choices(ct))["radiotherapy_event"] is None
    hidden = await reporting.client.get(
        f"/v1/incidents/{other_trust}/local-investigation/coding", headers=HEADERS
    )
    assert hidden.status_code == 404, hidden.text
