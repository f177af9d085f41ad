"""``sievert report annual`` over a real read model: counts, rates, year-on-year, sites, charts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sievert_reporting.domain.annual import parse_period
from sievert_reporting.entrypoints.cli import annual
from sievert_shared.auth import Role
from tests.support.auth import person
from tests.support.reporting import (
    Reporting,
    ct_facts,
    reporting,
)

pytestmark = pytest.mark.integration
__all__ = ["reporting"]


async def test_annual_report_for_a_financial_year(reporting: Reporting, tmp_path: Path) -> None:
    await reporting.incident(ct_facts(dt.date(2024, 5, 1)), site="RXX01")
    await reporting.incident(ct_facts(dt.date(2025, 3, 31)), site="RXX01")  # last day of 2024/25
    await reporting.incident(ct_facts(dt.date(2025, 4, 1)), site="RXX02")  # 2025/26: not counted
    await reporting.incident(ct_facts(dt.date(2023, 6, 1)), site="RXX02")  # the year before
    activity = tmp_path / "activity.csv"
    activity.write_text("site,modality,examinations\nRXX01,ct,20000\nRXX02,ct,40000\n")

    out = tmp_path / "out"
    written = await annual(reporting.settings, "RXX", parse_period("2024/25"), out, activity)

    report = json.loads((out / "annual.json").read_text())
    assert report["totals"] == {
        "incidents": 2,
        "notifiable": 2,
        "previous_incidents": 1,
        "change_percent": 100.0,
    }
    assert report["by_code"] == [["2.2", 2]]
    assert report["rates"] == [{"modality": "ct", "incidents": 2, "examinations": 60000, "per_1000": 0.033}]
    sites = {s["site"]: s for s in report["sites"]}
    assert sites["RXX01"]["per_1000"] == 0.1 and sites["RXX02"]["incidents"] == 0
    names = {p.name for p in written}
    for expected in (
        "annual.html",
        "annual.pdf",
        "annual-sites.csv",
        "chart-by_modality.png",
        "chart-by_modality.svg",
    ):
        assert expected in names
    assert (out / "annual.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "annual-rates.csv").read_text().splitlines()[1] == "ct,2,60000,0.033"


async def test_activity_counts_uploaded_over_http_give_the_rates(
    reporting: Reporting, tmp_path: Path
) -> None:
    client = reporting.client
    await reporting.incident(ct_facts(dt.date(2024, 5, 1)), site="RXX01")
    await reporting.incident(ct_facts(dt.date(2024, 6, 1)), site="RXX02")
    admin = person("RXX", Role.TRUST_ADMIN)
    headers = {**admin, "Content-Type": "text/csv"}
    url = "/v1/trusts/RXX/activity"

    csv_body = "site,modality,examinations\nRXX01,ct,20000\n"
    loaded = await client.post(url, params={"year": "2024/25"}, content=csv_body, headers=headers)
    assert loaded.status_code == 200, loaded.text
    as_json = await client.post(
        url,
        params={"year": "2024/25"},
        json={"items": [{"site": "RXX02", "modality": "ct", "examinations": 40000}]},
        headers=admin,
    )
    assert as_json.status_code == 200, as_json.text

    bad = await client.post(
        url,
        params={"year": "2024/25"},
        content="site,modality,examinations\nRXX01,xray,-3\n",
        headers=headers,
    )
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"row 2/modality", "row 2/examinations"}
    with reporting.required():  # as in production: another trust's counts are not this admin's
        assert (await client.post(url, params={"year": "2024/25"}, content=csv_body)).status_code == 401
        other = await client.post(
            "/v1/trusts/RYY/activity", params={"year": "2024/25"}, content=csv_body, headers=headers
        )
        assert other.status_code == 404  # another trust does not exist for this admin
        other_admin = person("RYY", Role.TRUST_ADMIN)
        assert (await client.get(url, params={"year": "2024/25"}, headers=other_admin)).status_code == 404
    # Loading counts is the trust admin's job, not the RP lead's.
    lead = await client.post(
        url,
        params={"year": "2024/25"},
        content=csv_body,
        headers={**person("RXX", Role.RP_LEAD), "Content-Type": "text/csv"},
    )
    assert lead.status_code == 403
    assert (
        await client.post(
            url,
            params={"year": "2024/25"},
            content="x",
            headers={**admin, "Content-Type": "text/plain"},
        )
    ).status_code == 415

    listed = (await client.get(url, params={"year": "2024/25"}, headers=admin)).json()
    assert listed["items"] == [
        {"site": "RXX01", "modality": "ct", "examinations": 20000},
        {"site": "RXX02", "modality": "ct", "examinations": 40000},
    ]
    out = tmp_path / "out"
    await annual(reporting.settings, "RXX", parse_period("2024/25"), out, None)
    report = json.loads((out / "annual.json").read_text())
    assert report["rates"] == [{"modality": "ct", "incidents": 2, "examinations": 60000, "per_1000": 0.033}]
