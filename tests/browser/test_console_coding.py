"""The console in Chromium against the real services: the local investigation's close-out coded in
the published taxonomies (CQC's three tiers, the radiotherapy event level, derived or stated); an
incident with several employers, shown to the reporting trust with who notifies and to the other
employer's trust as its part only ("Shared with us"); and a change that reaches a section while it
is already fetching itself is not lost."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.browser.conftest import ConsoleStack, live, screenshot, serious_violations, sign_in
from tests.browser.test_console import LIVE, TODAY, classified, post
from tests.support.kafka import eventually
from tests.support.samples import ct_overexposure, one_individual

pytestmark = pytest.mark.browser


def radiotherapy(trust: str = "RDEMO", site: str = "RDEMO01", **changes: Any) -> dict[str, Any]:
    """External-beam radiotherapy 2% over the prescribed course dose: below every criterion, so
    neither notifiable nor a near miss, and its RTE level must be stated."""
    facts: dict[str, Any] = {
        "nation": "england",
        "discovered_on": TODAY.isoformat(),
        "occurred_on": (TODAY - dt.timedelta(days=2)).isoformat(),
        "exposure_kind": "unintended",
        "modality": "external_beam_radiotherapy",
        "patient_age_years": 61,
        "individuals_affected": 1,
        "rt_course_dose_ratio": 1.02,
        "rt_max_fraction_dose_ratio": 1.02,
        "rt_dose_volume": "ptv",
        "geographical_miss": "none",
        **changes,
    }
    return {"trust": trust, "site": site, "facts": {k: v for k, v in facts.items() if v is not None}}


async def assert_accessible(page: Page) -> None:
    violations = await serious_violations(page)
    assert violations == [], violations


async def test_a_radiotherapy_close_out_is_coded_in_the_published_taxonomies(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, radiotherapy())
    near_miss = await post(
        intake,
        radiotherapy(
            exposure_kind="near_miss",
            individuals_affected=0,
            rt_course_dose_ratio=None,
            rt_max_fraction_dose_ratio=None,
        ),
    )
    await classified(console_stack, incident)
    await classified(console_stack, near_miss)
    await sign_in(page, console_stack)

    # A near miss: the level follows from the incident, and the form says so instead of asking.
    await page.goto(console_stack.url(f"/incidents/{near_miss}"))
    case = page.locator("#case")
    await case.locator("summary:has-text('Close the investigation')").click()
    await expect(case.locator("[data-rte-derived]")).to_have_attribute("data-rte-derived", "4")
    await expect(page.locator("#inv-rte-level")).to_have_count(0)

    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)
    case = page.locator("#case")
    await case.locator("summary:has-text('Close the investigation')").click()
    # The tiers of the version in force on the discovery day, grouped by duty holder; the code
    # lists this copy of the RTE classification does not hold are said to be unavailable.
    tiers = page.locator("#inv-error-category")
    await expect(tiers.locator("optgroup")).not_to_have_count(0)
    await expect(case.locator("[data-field='error_category'] .hint")).to_contain_text("2023/24")
    await expect(case.locator("[data-rte-codes='unavailable']")).to_contain_text("not yet available")
    await expect(case.locator("input[type='checkbox']")).to_have_count(0)
    category = await tiers.locator("option").nth(1).get_attribute("value")
    category_words = (await tiers.locator("option").nth(1).inner_text()).split(" → ")[-1]
    assert category

    # No level: refused beside the level, what was typed kept.
    findings_text = "The plan was approved without the independent check of the monitor units."
    await page.fill("#inv-findings", findings_text)
    await page.select_option("#inv-error-category", category)
    await page.click("button:has-text('Close the investigation')")
    level = case.locator("[data-field='rte_level']")
    await expect(level.locator(".error-message")).to_contain_text("classification level")
    await expect(page.locator("#inv-rte-level")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#inv-findings")).to_have_value(findings_text)
    await expect(page.locator("#inv-error-category")).to_have_value(category)
    await assert_accessible(page)
    await screenshot(page, "incident-close-out-form")

    await page.select_option("#inv-rte-level", "3")
    await page.click("button:has-text('Close the investigation')")
    await expect(case.locator(".notice-ok")).to_contain_text("Closed")
    await expect(case.locator("[data-error-category]")).to_have_attribute("data-error-category", category)
    await expect(case.locator("[data-error-category]")).to_contain_text(category_words)
    await expect(case.locator("[data-rte-level]")).to_have_attribute("data-rte-level", "3")
    await expect(case.locator("[data-rte-level]")).to_contain_text("Level 3")
    await assert_accessible(page)
    await screenshot(page, "incident-close-out-coded")


async def test_several_employers_are_shown_and_the_other_trust_sees_only_its_part(
    page: Page, browser: Browser, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    report = one_individual(ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    employers = [
        {"name": "Demonstration NHS Foundation Trust", "trust_code": "RDEMO", "role": "referring"},
        {"name": "Another NHS Trust", "trust_code": "ROTHER", "role": "performing", "notifies": True},
    ]
    report["facts"]["employers"] = employers
    incident = await post(intake, report)
    await classified(console_stack, incident)

    # The reporting trust: the employers, who notifies in words, and the task that follows.
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    facts = page.locator("#facts")
    await expect(facts.locator("[data-employer]")).to_have_count(2)
    await expect(facts.locator("[data-employer='Demonstration NHS Foundation Trust']")).to_contain_text(
        "(this trust)"
    )
    await expect(facts.locator("[data-who-notifies]")).to_contain_text(
        "Another NHS Trust makes the notification and sends the report; "
        "Demonstration NHS Foundation Trust is informed."
    )
    await expect(page.locator("#tasks")).to_contain_text("Confirm the other employer has notified")
    await assert_accessible(page)

    # The other employer's trust: its part under "Shared with us", nothing more.
    other = await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        theirs = await other.new_page()
        await sign_in(theirs, console_stack, trust="ROTHER", role="rp_lead")
        await theirs.click("nav >> text=Shared with us")
        row = theirs.locator(f"[data-shared-incident='{incident}']")
        await expect(row).to_contain_text("performing employer")
        await expect(row).to_contain_text("This trust")
        await expect(row.locator("[data-notification]")).to_have_attribute(
            "data-notification", "not_notified"
        )
        await assert_accessible(theirs)
        await screenshot(theirs, "shared-incidents")
        await row.locator("a").click()
        await theirs.wait_for_url(f"**/shared-incidents/{incident}")
        await expect(theirs.locator("[data-own-role]")).to_have_attribute("data-own-role", "performing")
        await expect(theirs.locator("[data-who-notifies]")).to_contain_text(
            "This trust makes the notification"
        )
        content = await theirs.content()
        for hidden in ("RDEMO01", "12.0", "pt-"):
            assert hidden not in content, hidden
        await assert_accessible(theirs)
        await screenshot(theirs, "shared-incident")
        response = await theirs.goto(console_stack.url(f"/incidents/{incident}"))
        assert response is not None and response.status == 404
    finally:
        await other.close()

    # The reporting trust has the incident itself: nothing of it is "shared with" it.
    mine = await page.goto(console_stack.url(f"/shared-incidents/{incident}"))
    assert mine is not None and mine.status == 404


async def test_a_change_reaching_a_section_while_it_fetches_itself_is_not_lost(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    """The documents card is fetching itself (its answer read before the change) when reporting
    projects a notification sent outside Sievert and the page hears of it: the card fetches itself
    again once that answer is in, rather than queueing a request its own answer would drop."""
    incident = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)
    await page.evaluate(
        """() => { window.documentsRefreshes = 0;
             document.addEventListener('htmx:confirm', e => {
               if (e.detail.elt.id === 'documents' && e.detail.verb === 'get') window.documentsRefreshes++;
             }, true); }"""
    )

    answered, release = asyncio.Event(), asyncio.Event()
    held: list[Route] = []

    async def hold_the_first(route: Route) -> None:
        if held:
            await route.continue_()
            return
        held.append(route)
        stale = await route.fetch()  # read now: before the submission
        answered.set()
        await release.wait()
        await route.fulfill(response=stale)

    await page.route(f"**/incidents/{incident}/documents", hold_the_first)
    await page.evaluate("() => htmx.trigger(document.body, 'incident-changed')")
    await asyncio.wait_for(answered.wait(), timeout=10)

    async with httpx.AsyncClient(timeout=10) as http:
        sent = {
            "kind": "notification",
            "authority": "cqc",
            "submitted_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
            "submitted_by_role": "Radiation protection lead",
            "reference": "CQC/2026/0077",
        }
        recorded = await http.post(
            console_stack.service("deadlines", f"/v1/incidents/{incident}/submissions"), json=sent
        )
        assert recorded.status_code in (200, 201, 202), recorded.text

        async def projected() -> None:
            # read apart from the page (not through its routes): reporting's reading, as the person's
            card = await page.request.get(console_stack.url(f"/incidents/{incident}/documents"))
            assert card.status == 200
            assert 'data-status="submitted"' in await card.text()

        await eventually(projected, timeout=30)
    # The page hears of it (reporting announces the submission after projecting it) while the card's
    # stale answer is held.
    await page.wait_for_function("() => window.documentsRefreshes >= 2", timeout=LIVE)
    await page.wait_for_timeout(1000)  # the page has acted on what it heard (asked, or noted it as missed)
    release.set()

    document = page.locator("#documents [data-kind='notification']")
    await expect(document).to_have_attribute("data-status", "submitted", timeout=LIVE)
    await expect(document).to_contain_text("reference CQC/2026/0077")
