"""The trend analysis through the real pipeline: incidents, decisions and the clocks' events on
Kafka, projected by reporting into PostgreSQL, read back from ``GET /v1/trusts/{trust}/analysis``
and written by ``sievert report annual``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sievert_reporting.domain.annual import parse_period
from sievert_reporting.entrypoints.cli import annual
from sievert_shared.auth import Role
from sievert_shared.events import DeadlineMet, DeadlineScheduled
from sievert_shared.events.deadlines import Window
from sievert_shared.facts import IncidentFacts
from tests.support.auth import person
from tests.support.kafka import eventually
from tests.support.reporting import Reporting, ct_facts, envelope, reporting

pytestmark = pytest.mark.integration
__all__ = ["reporting"]

LEAD = person("RXX", Role.RP_LEAD)
URL = "/v1/trusts/RXX/analysis"


def near_miss(discovered: dt.date) -> IncidentFacts:
    facts = ct_facts(discovered).model_dump(mode="json", exclude_none=True)
    facts |= {"exposure_kind": "near_miss", "individuals_affected": 0}
    facts.pop("total_effective_dose_msv")
    facts.pop("intended_effective_dose_msv")
    return IncidentFacts.model_validate(facts)


def radiotherapy(discovered: dt.date) -> IncidentFacts:
    facts = ct_facts(discovered).model_dump(mode="json", exclude_none=True)
    for name in ("total_effective_dose_msv", "intended_effective_dose_msv"):
        facts.pop(name)
    facts |= {
        "modality": "external_beam_radiotherapy",
        "rt_delivered_dose_gy": 66.0,
        "rt_prescribed_dose_gy": 60.0,
        "rt_dose_volume": "ptv",
    }
    return IncidentFacts.model_validate(facts)


async def analysis_of(rep: Reporting, year: str = "2024/25", **params: str) -> dict[str, Any]:
    answer = await rep.client.get(URL, params={"year": year, **params}, headers=LEAD)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_monthly_trend_through_the_pipeline(reporting: Reporting, tmp_path: Path) -> None:
    await reporting.incident(ct_facts(dt.date(2024, 4, 10)), site="RXX01")
    await reporting.incident(ct_facts(dt.date(2024, 4, 20), total_msv=1.1), site="RXX02")  # below the factor
    await reporting.incident(near_miss(dt.date(2024, 6, 2)), site="RXX01")
    await reporting.incident(ct_facts(dt.date(2021, 5, 1)), site="RXX01")  # four years before
    await reporting.incident(ct_facts(dt.date(2025, 4, 1)), site="RXX01")  # the year after

    report = await analysis_of(reporting)
    series = report["monthly"]["series"]
    assert report["monthly"]["months"][:3] == ["2024-04", "2024-05", "2024-06"]
    assert (series["notifiable"][0], series["not_notifiable"][0], series["near_miss"][2]) == (1, 1, 1)
    assert [c["incidents"] for c in report["classes"]] == [1, 1, 1]
    years = {y["label"]: y["incidents"] for y in report["five_years"]["years"]}
    assert years == {"2020/21": 0, "2021/22": 1, "2022/23": 0, "2023/24": 0, "2024/25": 3}
    modality = next(b for b in report["breakdowns"] if b["dimension"] == "modality")
    assert modality["items"][0]["label"] == "Computed tomography (CT)"
    code = next(b for b in report["breakdowns"] if b["dimension"] == "code")
    assert {i["label"] for i in code["items"]} >= {"no code (not notifiable)"}
    assert any(i["label"].startswith("2.") and ": Unintended exposure" in i["label"] for i in code["items"])
    sites = {s["site"]: s["series"] for s in report["sites_monthly"]}
    assert sum(sites["RXX02"]["not_notifiable"]) == 1

    csv = await reporting.client.get(URL, params={"year": "2024/25"}, headers={**LEAD, "Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("Month,Notifiable,Not notifiable") and lines[1].startswith("2024-04,1,1,0")
    pdf = await reporting.client.get(URL, params={"year": "2024/25", "format": "pdf"}, headers=LEAD)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    unknown = await reporting.client.get(
        URL, params={"year": "2024/25", "format": "csv", "table": "nope"}, headers=LEAD
    )
    assert unknown.status_code == 404 and "monthly" in unknown.json()["detail"]

    empty = await analysis_of(reporting, "2018/19")  # nothing discovered: an analysis of nothing
    assert empty["totals"]["incidents"] == 0 and all(b["items"] == [] for b in empty["breakdowns"])
    out = tmp_path / "empty"
    await annual(reporting.settings, "RXX", parse_period("2018/19"), out, None)
    assert json.loads((out / "annual.json").read_text())["totals"]["incidents"] == 0
    assert "No incidents were discovered in 2018/19." in (out / "annual.html").read_text()
    assert (out / "annual.pdf").read_bytes().startswith(b"%PDF")
    for bad in ("2024-25", "0001/02", "0002"):  # not a year, or one without four years before it
        assert (await reporting.client.get(URL, params={"year": bad}, headers=LEAD)).status_code == 422
    auditor = await reporting.client.get(URL, params={"year": "2024/25"}, headers=person("RXX", Role.AUDITOR))
    assert auditor.status_code == 200
    with reporting.required():
        other = await reporting.client.get(
            URL, params={"year": "2024/25"}, headers=person("RYY", Role.RP_LEAD)
        )
        assert other.status_code == 404  # another trust's analysis does not exist for this caller
        reviewer = person("RXX", Role.THEME_REVIEWER)
        assert (
            await reporting.client.get(URL, params={"year": "2024/25"}, headers=reviewer)
        ).status_code == 403


async def _clock_events(
    rep: Reporting, incident: uuid.UUID, discovered: dt.date, met_on: dt.date | None, days_late: int
) -> None:
    """The deadlines service's notification window for ``incident``: scheduled, and met on ``met_on``."""
    due = dt.datetime.combine(discovered + dt.timedelta(days=15), dt.time(), tzinfo=dt.UTC) - dt.timedelta(
        hours=1
    )
    now = rep.clock.now()
    scheduled = DeadlineScheduled(
        window=Window.NOTIFICATION,
        due_at=due,
        discovered_on=discovered,
        clock_from=discovered,
        authority="CQC",
    )
    logged = [envelope(scheduled, incident, "RXX01", "deadlines", now, version=1)]
    if met_on is not None:
        met_at = dt.datetime.combine(met_on, dt.time(10), tzinfo=dt.UTC)
        met = DeadlineMet(
            window=Window.NOTIFICATION, due_at=due, met_at=met_at, late=days_late > 0, days_late=days_late
        )
        logged.append(envelope(met, incident, "RXX01", "deadlines", now, version=2))
    # one at a time, so the met window's entry is merged into the stored one, as live
    for one in logged:
        await rep.publish(rep.kafka.topics.deadlines, [one])

        async def projected(one: Any = one) -> None:
            row = (await rep.client.get(f"/v1/incidents/{incident}", headers=LEAD)).json()
            assert row["deadlines"].get("notification", {}).get("stream_version") == one.stream_version

        await eventually(projected)


async def test_timeliness_from_the_clocks_events(reporting: Reporting) -> None:
    in_time = await reporting.incident(ct_facts(dt.date(2024, 5, 1)))
    late = await reporting.incident(ct_facts(dt.date(2024, 6, 3)))
    overdue = await reporting.incident(ct_facts(dt.date(2025, 3, 3)))
    await _clock_events(reporting, in_time, dt.date(2024, 5, 1), dt.date(2024, 5, 9), 0)
    await _clock_events(reporting, late, dt.date(2024, 6, 3), dt.date(2024, 6, 20), 3)
    await _clock_events(reporting, overdue, dt.date(2025, 3, 3), None, 0)

    report = await analysis_of(reporting)
    assert report["timeliness"]["as_of"] == "2025-06-05"  # the service's clock, London
    [notification, _report] = report["timeliness"]["windows"]
    assert (
        notification["measured"],
        notification["on_time"],
        notification["late"],
        notification["overdue"],
    ) == (3, 1, 1, 1)
    assert notification["on_time_percent"] == pytest.approx(33.3)
    assert (notification["median_days"], notification["worst_days"]) == (12.5, 17)  # 8 and 17 days
    late_items = {i["incident_id"]: i for i in notification["late_items"]}
    assert late_items[str(late)]["days_late"] == 3 and late_items[str(late)]["sent_on"] == "2024-06-20"
    # the met window kept the day its clock counted from, which only its scheduling said
    assert late_items[str(late)]["clock_from"] == "2024-06-03"
    assert late_items[str(overdue)]["still_overdue"] and late_items[str(overdue)]["days_late"] == 80
    assert str(in_time) not in late_items
    late_csv = await reporting.client.get(
        URL, params={"year": "2024/25", "format": "csv", "table": "late"}, headers=LEAD
    )
    assert str(late) in late_csv.text and "not sent" in late_csv.text


async def test_national_comparison_through_the_pipeline(reporting: Reporting, tmp_path: Path) -> None:
    await reporting.incident(ct_facts(dt.date(2022, 5, 1)))
    await reporting.incident(radiotherapy(dt.date(2022, 7, 1)))
    await reporting.incident(radiotherapy(dt.date(2022, 8, 1)))
    report = await analysis_of(reporting, "2022/23")
    comparison = report["national_comparison"]
    groups = {g["group"]: g for g in comparison["by_modality_group"]}
    notifiable = report["totals"]["notifiable"]
    assert comparison["trust_notifiable"] == notifiable and notifiable >= 1
    assert groups["diagnostic_imaging"]["trust_notifiable"] == 1
    assert groups["diagnostic_imaging"]["trust_percent"] == round(100 / notifiable, 1)
    assert groups["radiotherapy"]["national_percent"] == round(100 * 270 / 727, 1)
    assert comparison["national_year"] == "2022/23" and "never rates" in comparison["note"]

    out = tmp_path / "out"
    written = {p.name for p in await annual(reporting.settings, "RXX", parse_period("2022/23"), out, None)}
    assert {"annual-national_comparison.csv", "chart-national_comparison.svg", "chart-monthly.png"} <= written
    assert {"annual-timeliness.csv", "chart-sites_monthly.png", "chart-five_years.svg"} <= written
    assert json.loads((out / "annual.json").read_text())["national_comparison"] == comparison
    assert "Diagnostic imaging," in (out / "annual-national_comparison.csv").read_text()
    html = (out / "annual.html").read_text()
    assert "Proportions are compared, never rates" in html and "Computed tomography (CT)" in html
