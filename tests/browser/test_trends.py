"""The console's Trends page against the real services: incidents posted to intake, decided,
clocked and projected, then the analysis read on screen, its CSV downloaded, another year picked.
It also draws one page of the annual report (``sievert report annual``'s HTML with its charts)
for docs/reporting.md."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from sievert_reporting.adapters import charts, render
from sievert_reporting.domain.analysis_view import analysis_view
from tests.browser.conftest import ConsoleStack, screenshot, serious_violations, sign_in
from tests.support.kafka import eventually
from tests.support.samples import ct_overexposure, one_individual

pytestmark = pytest.mark.browser

#: A year no other browser test posts into, so the figures on screen are this test's own.
YEAR = "2021/22"
REPORT_IMAGES = (
    Path(__file__).resolve().parents[2] / "docs" / "reporting"
    if os.environ.get("SIEVERT_UPDATE_SCREENSHOTS") == "1"
    else Path(os.environ.get("TMPDIR", "/tmp")) / "sievert-reporting-screenshots"
)


def _report(site: str, discovered: dt.date, modality: str, kind: str, total: float | None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "nation": "england",
        "discovered_on": discovered.isoformat(),
        "exposure_kind": kind,
        "modality": modality,
        "patient_age_years": 40,
    }
    if total is not None:
        # decided (not notifiable), so it has no provisional notification clock
        facts |= {
            "intended_effective_dose_msv": 0.02,
            "total_effective_dose_msv": total,
            "individuals_affected": 1,
        }
        facts |= {"equipment_fault": False, "clinically_significant": False}
    return {"trust": "RDEMO", "site": site, "facts": facts}


async def _seed(stack: ConsoleStack, intake: httpx.AsyncClient) -> dict[str, Any]:
    reports = [
        one_individual(ct_overexposure("RDEMO", "RDEMO01", dt.date(2021, 5, 10))),
        _report("RDEMO02", dt.date(2021, 6, 15), "radiography", "unintended", 0.04),
        _report("RDEMO01", dt.date(2021, 6, 20), "radiography", "near_miss", None),
    ]
    for report in reports:
        answer = await intake.post("/v1/incidents", json=report)
        assert answer.status_code == 202, answer.text
    async with httpx.AsyncClient(base_url=stack.services["reporting"].url, timeout=30) as reporting:
        loaded = await reporting.post(
            "/v1/trusts/RDEMO/activity",
            params={"year": YEAR},
            json={"items": [{"site": "RDEMO01", "modality": "ct", "examinations": 20000}]},
        )
        assert loaded.status_code == 200, loaded.text
        analysis: dict[str, Any] = {}

        async def projected() -> None:
            answer = await reporting.get("/v1/trusts/RDEMO/analysis", params={"year": YEAR})
            assert answer.status_code == 200, answer.text
            analysis.update(answer.json())
            assert analysis["totals"]["incidents"] == 3
            assert analysis["timeliness"]["windows"][0]["measured"] == 1  # the CT's notification window

        await eventually(projected, timeout=60)
    return analysis


async def test_the_trends_page_shows_the_trusts_analysis(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient, tmp_path: Path
) -> None:
    analysis = await _seed(console_stack, intake)
    await sign_in(page, console_stack)
    await page.click("nav >> text=Trends")
    await expect(page.locator("h1")).to_have_text("Trends")
    await page.goto(console_stack.url(f"/trends?year={YEAR}"))

    totals = page.locator("#trend-totals")
    await expect(totals.locator("[data-total=incidents]")).to_have_text("3")
    await expect(totals.locator("[data-total=notifiable]")).to_have_text("1")
    await expect(totals.locator("[data-total=near_miss]")).to_have_text("1")
    await expect(page.locator("#monthly-h")).to_be_visible()
    assert await page.locator("svg.chart").count() >= 3  # month by month, five years, breakdowns
    await expect(page.locator("#by-code")).to_contain_text("2.2: Unintended exposure, intended dose between")
    await expect(page.locator("#by-modality")).to_contain_text("Computed tomography (CT)")
    await expect(page.locator("#by-site")).to_contain_text("RDEMO02")
    rates = page.locator("#rates-table")
    await expect(rates).to_contain_text("Computed tomography (CT)")
    await expect(rates).to_contain_text("0.05")  # 1 incident in 20,000 examinations
    timeliness = page.locator("#timeliness-table")
    await expect(timeliness.locator("tbody tr").first).to_contain_text(
        "Notifications to the enforcing authority"
    )
    await expect(page.locator("#late-table")).to_contain_text("not sent")  # discovered in 2021: long overdue
    national = page.locator("#national-table")
    await expect(national.locator("tbody tr").first).to_contain_text("Diagnostic imaging")
    await expect(national.locator("tbody tr").first).to_contain_text("100.0")
    await expect(page.locator("text=Proportions are compared, never rates").first).to_be_visible()
    violations = await serious_violations(page)
    assert violations == [], violations
    await screenshot(page, "trends")

    async with page.expect_download() as download_info:
        await page.click("a[href^='/trends/monthly.csv']")
    download = await download_info.value
    saved = tmp_path / "monthly.csv"
    await download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("Month,Notifiable,Not notifiable")
    assert "2021-05,1,0,0" in lines and "2021-06,0,1,1" in lines

    current = (await _options(page))[0]
    await page.select_option("#year", current)
    await page.click("form button:has-text('Show')")
    await expect(page.locator("#summary-h")).to_contain_text(current)

    await _draw_the_annual_report(page, analysis, tmp_path)


async def _options(page: Page) -> list[str]:
    values: list[str] = await page.eval_on_selector_all("#year option", "os => os.map(o => o.value)")
    return values


async def _draw_the_annual_report(page: Page, analysis: dict[str, Any], folder: Path) -> None:
    """The first page of what ``sievert report annual`` writes (the same JSON, charts and HTML)."""
    images = charts.analysis_charts(analysis, folder)
    (folder / "annual.html").write_text(render.to_html(analysis_view(analysis, images)), encoding="utf-8")
    (folder / "annual.json").write_text(json.dumps(analysis), encoding="utf-8")
    await page.set_viewport_size({"width": 1000, "height": 1500})
    await page.goto((folder / "annual.html").as_uri())
    await expect(page.locator("h1")).to_contain_text("IR(ME)R incident trends - RDEMO")
    await expect(page.locator("img[src='chart-monthly.png']")).to_be_visible()
    REPORT_IMAGES.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(REPORT_IMAGES / "annual-report.png"), full_page=False)
