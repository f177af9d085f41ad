"""The console in Chromium against the real services: sign in, watch the work queue fill live,
read a decision with its reasons and clocks, answer a missing fact, issue a notification and
download it, and find nothing of another trust. Every page is checked with axe-core, and the
screenshots in docs/console/ are taken here."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from sievert_shared.testing import devstack
from tests.browser.conftest import ConsoleStack, live, screenshot, serious_violations, sign_in
from tests.e2e.test_pipeline import free_port
from tests.support.kafka import eventually
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.browser

TODAY = dt.datetime.now(dt.UTC).date()  # so the windows are open, not already missed
LIVE = 10_000  # ms: a change must reach an open page without a reload well within this


def ct_without_total_dose(trust: str = "RDEMO", site: str = "RDEMO01") -> dict[str, Any]:
    """CT over-exposure whose total dose is not estimated yet: the classifier cannot show it is
    notifiable, and says it needs ``total_effective_dose_msv``."""
    report = ct_overexposure(trust=trust, site=site, discovered_on=TODAY)
    del report["facts"]["total_effective_dose_msv"]
    return report


async def post(intake: httpx.AsyncClient, report: dict[str, Any]) -> str:
    response = await intake.post("/v1/incidents", json=report)
    assert response.status_code == 202, response.text
    return str(response.json()["incident_id"])


async def classified(stack: ConsoleStack, incident: str) -> None:
    """Wait (polling the API, as the dev principal) until the deadlines service has windows."""
    async with httpx.AsyncClient(timeout=5) as http:

        async def has_windows() -> None:
            response = await http.get(stack.service("deadlines", f"/v1/incidents/{incident}/deadlines"))
            assert response.status_code == 200

        await eventually(has_windows, timeout=60)


async def assert_accessible(page: Page) -> None:
    violations = await serious_violations(page)
    assert violations == [], violations


async def test_a_person_signs_in_as_a_role_of_a_trust(page: Page, console_stack: ConsoleStack) -> None:
    await page.goto(console_stack.url("/queue"))
    await expect(page).to_have_url(console_stack.url("/sign-in"))
    await assert_accessible(page)
    await screenshot(page, "sign-in")

    await sign_in(page, console_stack, trust="RDEMO", role="auditor")
    header = page.locator(".who")
    await expect(header).to_contain_text("Auditor")
    await expect(header).to_contain_text("RDEMO")
    await assert_accessible(page)
    for path, title in (("/trends", "Trends"),):
        await page.click(f"nav >> text={title}")
        await expect(page).to_have_url(console_stack.url(path))
        await expect(page.locator("h1")).to_contain_text(f"{title} not yet")
    await assert_accessible(page)

    await page.click("button:has-text('Sign out')")
    await expect(page).to_have_url(console_stack.url("/sign-in"))
    await page.goto(console_stack.url("/queue"))
    await expect(page).to_have_url(console_stack.url("/sign-in"))  # signed out means signed out


async def test_an_incident_posted_to_intake_appears_in_the_queue_without_a_reload(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    await sign_in(page, console_stack)
    await live(page)
    await page.evaluate("window.notReloaded = true")

    posted = time.monotonic()
    incident = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))

    row = page.locator(f"#row-{incident}")
    await expect(row).to_be_visible(timeout=LIVE)
    # Through intake, the classifier, deadlines and reporting, then the console: shown in the log.
    print(f"posted to on screen: {time.monotonic() - posted:.2f}s")
    await expect(row).to_contain_text("Notification (2 weeks)")
    await expect(row).to_contain_text("2.2")  # CQC table, code 2.2: 12x a 1 mSv intended dose
    assert await page.evaluate("window.notReloaded") is True
    await assert_accessible(page)
    await screenshot(page, "work-queue")


async def test_the_incident_page_shows_the_decision_its_reasons_and_the_clocks(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))

    decision = page.locator("#decision")
    await expect(decision.locator("[data-decision]")).to_have_attribute("data-decision", "notifiable")
    await expect(decision).to_contain_text("CQC (England)")
    reason = decision.locator("li.reason", has=page.locator(".reason-code", has_text="2.2"))
    await expect(reason).to_contain_text("guidance line")
    await reason.locator("summary").click()
    await expect(reason.locator(".criterion")).to_be_visible()
    await expect(reason.locator(".citation")).to_contain_text("cqc-irmer-notification-guidance-2023.txt")

    clocks = page.locator("#clocks")
    await expect(clocks.locator("[data-window='notification']")).to_have_attribute("data-state", "open")
    await expect(clocks.locator("[data-window='investigation_report']")).to_have_attribute(
        "data-state", "open"
    )
    await expect(page.locator("#facts [data-fact='modality']")).to_have_text("CT")
    await assert_accessible(page)
    await screenshot(page, "incident")

    await page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, portrait: one column
    await assert_accessible(page)
    await screenshot(page, "incident-tablet")


async def test_answering_a_missing_fact_changes_the_decision_and_the_clocks_live(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, ct_without_total_dose())
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)
    await expect(page.locator("#decision [data-needs='total_effective_dose_msv']")).to_be_visible()
    await expect(page.locator("#clocks [data-window='local_investigation']")).to_be_visible()

    # A value intake refuses: its message beside the field, what was typed kept, nothing stored.
    dose = page.locator("#fact-total_effective_dose_msv")
    await dose.fill("twelve")
    await page.fill("#amend-reason", "dose estimated by the medical physics expert")
    await page.click("button:has-text('Record the change')")
    field = page.locator("[data-field='total_effective_dose_msv']")
    await expect(field.locator(".error-message")).to_be_visible()
    await expect(page.locator("#fact-total_effective_dose_msv")).to_have_value("twelve")
    await expect(page.locator("#fact-total_effective_dose_msv")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)
    await screenshot(page, "amend-refused")

    await page.fill("#fact-total_effective_dose_msv", "12")
    await page.click("button:has-text('Record the change')")
    await expect(page.locator("#amend .notice-ok")).to_contain_text("Recorded as version 2")

    decision = page.locator("#decision [data-decision]")
    await expect(decision).to_have_attribute("data-decision", "notifiable", timeout=LIVE)
    await expect(page.locator("#decision [data-codes]")).to_have_attribute("data-codes", "2.2")
    notification = page.locator("#clocks [data-window='notification']")
    await expect(notification).to_have_attribute("data-state", "open", timeout=LIVE)
    await expect(page.locator("#clocks [data-window='local_investigation']")).to_have_attribute(
        "data-state", "cancelled", timeout=LIVE
    )
    await expect(page.locator("#facts [data-fact='total_effective_dose_msv']")).to_have_text("12.0")

    await page.click("#audit-card summary")
    amended = page.locator("#audit [data-audit-action='IncidentFactsAmended']")
    await expect(amended).to_contain_text("dev:rp_lead@RDEMO")  # the person, from their token
    await assert_accessible(page)


async def test_a_conflicting_change_says_what_changed_and_keeps_what_was_typed(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, ct_without_total_dose())
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await page.fill("#fact-total_effective_dose_msv", "3")
    await page.fill("#amend-reason", "first estimate")

    meanwhile = {"expected_version": 1, "facts": {"patient_age_years": 55}, "reason": "age corrected"}
    answer = await intake.post(f"/v1/incidents/{incident}/amendments", json=meanwhile)
    assert answer.status_code == 202, answer.text

    await page.click("button:has-text('Record the change')")
    conflict = page.locator("#amend [data-conflict]")
    await expect(conflict).to_contain_text("Patient age")
    await expect(page.locator("#fact-total_effective_dose_msv")).to_have_value("3")
    await page.click("button:has-text('Record the change')")  # now against the new version
    await expect(page.locator("#amend .notice-ok")).to_contain_text("Recorded as version 3")


async def test_a_notification_is_drafted_issued_and_downloaded_as_pdf(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)

    await page.click("button:has-text('Draft the notification')")
    document = page.locator("#documents [data-kind='notification']")
    await expect(document).to_have_attribute("data-status", "draft")
    await document.locator("button:has-text('Issue the notification')").click()
    await expect(document).to_have_attribute("data-status", "submitted")
    # The deadlines service meets the window from reporting's NotificationSubmitted: live.
    await expect(page.locator("#clocks [data-window='notification']")).to_have_attribute(
        "data-state", "met", timeout=LIVE
    )
    await assert_accessible(page)
    await screenshot(page, "incident-notified")

    async with page.expect_download() as downloading:
        await document.locator("a.download").click()
    download = await downloading.value
    path = await download.path()
    assert path is not None
    content = await asyncio.to_thread(path.read_bytes)
    assert content.startswith(b"%PDF-")


async def test_a_notification_sent_outside_sievert_is_recorded_and_meets_the_window(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)

    await page.click("summary:has-text('Record a submission made outside Sievert')")
    await page.select_option("#rs-kind", "notification")
    sent = dt.datetime.now(ZoneInfo("Europe/London")) - dt.timedelta(hours=1)
    await page.fill("#rs-at", sent.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#rs-role", "Radiation protection lead")
    await page.fill("#rs-ref", "CQC/2026/0042")
    await page.click("button:has-text('Record the submission')")
    await expect(page.locator("#record .notice-ok")).to_contain_text("Recorded")

    # The deadlines service meets the window as it consumes the submission: live.
    notification = page.locator("#clocks [data-window='notification']")
    await expect(notification).to_have_attribute("data-state", "met", timeout=LIVE)
    document = page.locator("#documents [data-kind='notification']")
    await expect(document).to_have_attribute("data-status", "submitted", timeout=LIVE)
    await expect(document).to_contain_text("sent outside Sievert, reference CQC/2026/0042")
    await expect(page.locator("button:has-text('Draft the notification')")).to_have_count(0)


async def test_a_person_finds_nothing_of_another_trust(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    theirs = await post(intake, ct_overexposure(trust="ROTHER", site="ROTHER01", discovered_on=TODAY))
    ours = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    await classified(console_stack, theirs)
    await classified(console_stack, ours)
    await sign_in(page, console_stack, trust="RDEMO", role="rp_lead")

    await expect(page.locator(f"#row-{ours}")).to_be_visible()
    assert await page.locator(f"#row-{theirs}").count() == 0
    assert theirs not in await page.content()
    response = await page.goto(console_stack.url(f"/incidents/{theirs}"))
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_have_text("Incident not found")
    pdf = await page.request.get(
        console_stack.url(f"/incidents/{theirs}/submissions/{uuid.uuid4()}/document.pdf")
    )
    assert pdf.status == 404


async def test_a_service_that_is_down_is_shown_as_down_and_the_rest_still_works(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    """A second console, whose deadlines service address answers nothing."""
    incident = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    await classified(console_stack, incident)
    port = free_port()
    env = {
        **console_stack.console_env(port),
        "CONSOLE_SERVICES__DEADLINES": f"http://127.0.0.1:{free_port()}",
        "CONSOLE_LIVE_UPDATES": "false",
    }
    lame = devstack.start("console", env, port, console_stack.log_dir / "lame")
    try:
        await wait_until_serving(f"http://127.0.0.1:{port}/healthz")
        await page.goto(f"http://127.0.0.1:{port}/sign-in")
        await page.select_option("#trust", "RDEMO")
        await page.check("#role-rp_lead")
        await page.click("button:has-text('Sign in')")
        rows = page.locator("#queue-rows")
        await expect(rows.locator(".notice-down")).to_contain_text("deadlines service is not answering")
        await page.goto(f"http://127.0.0.1:{port}/incidents/{incident}")
        await expect(page.locator("#clocks .notice-down")).to_contain_text(
            "deadlines service is not answering"
        )
        await expect(page.locator("#decision [data-decision]")).to_have_attribute(
            "data-decision", "notifiable"
        )
        await expect(page.locator("#facts [data-fact='modality']")).to_have_text("CT")
        await assert_accessible(page)
        await screenshot(page, "service-down")
    finally:
        devstack.stop(lame)


async def wait_until_serving(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:

        async def serving() -> None:
            try:
                response = await http.get(url)
            except httpx.TransportError as exc:
                raise AssertionError(str(exc)) from exc
            assert response.status_code == 200

        await eventually(serving, timeout=30)


async def test_a_trust_admin_registers_a_site_makes_a_client_sees_its_key_once_and_revokes_it(
    page: Page, console_stack: ConsoleStack
) -> None:
    site = f"RADM{uuid.uuid4().hex[:4].upper()}"
    await sign_in(page, console_stack, trust="RADMIN", role="trust_admin")
    await page.click("nav >> text=Administration")
    await expect(page).to_have_url(console_stack.url("/admin"))

    await page.fill("#site-code", site)
    await page.fill("#site-name", "Elsewhere General")
    await page.select_option("#site-nation", "england")
    await page.click("button:has-text('Register the site')")
    await expect(page.locator(f"#admin-sites tr[data-site='{site}']")).to_contain_text("Elsewhere General")

    await page.fill("#client-name", "Radiology integration engine")
    await page.check(f"#client-site-{site}")
    await page.click("button:has-text('Make the client')")
    key = await page.locator("#new-api-key").inner_text()
    key_id = key.split(".")[0]
    async with httpx.AsyncClient(base_url=console_stack.services["intake"].url, timeout=10) as engine:
        report = ct_overexposure(trust="RADMIN", site=site, discovered_on=TODAY)
        posted = await engine.post("/v1/incidents", json=report, headers={"Authorization": f"ApiKey {key}"})
        assert posted.status_code == 202, posted.text  # the key works, for its site
        await assert_accessible(page)
        await screenshot(page, "administration", hide="#new-api-key")

        await page.reload()
        assert key not in await page.content()  # shown once, kept nowhere
        client = page.locator(f"#admin-clients [data-client='{key_id}']")
        await client.locator("button:has-text('Revoke')").click()
        await expect(client).to_have_attribute("data-revoked", "true")
        refused = await engine.post("/v1/incidents", json=report, headers={"Authorization": f"ApiKey {key}"})
        assert refused.status_code == 401

    log = page.locator("#admin-log")
    await expect(log.locator("li").first).to_contain_text(key_id)  # newest first, fetched again live

    await page.fill("#policy-local", "twenty")
    await page.click("button:has-text('Save the policy')")
    await expect(page.locator("#admin-policy .error-message")).to_be_visible()
    await expect(page.locator("#policy-local")).to_have_value("twenty")
    await page.fill("#policy-local", "21")
    await page.click("button:has-text('Save the policy')")
    await expect(page.locator("#admin-policy .notice-ok")).to_contain_text("Policy saved")
    await expect(page.locator("#policy-local")).to_have_value("21")

    await page.click("button:has-text('Give consent')")
    await expect(page.locator("#admin-consent [data-consent]")).to_have_attribute("data-consent", "true")


async def test_a_theme_across_sites_reaches_two_individuals_and_code_m_applies_to_its_incidents(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    first = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY))
    second = await post(intake, ct_overexposure(trust="RDEMO", site="RDEMO02", discovered_on=TODAY))
    await classified(console_stack, first)
    await classified(console_stack, second)
    await sign_in(page, console_stack)
    await page.click("nav >> text=Themes")

    title = f"CT dose modulation off {uuid.uuid4().hex[:6]}"
    await page.fill("#theme-title", title)
    await page.fill("#theme-site", "RDEMO01")
    await page.fill("#theme-description", "Automatic exposure control left off after a protocol change")
    await page.click("button:has-text('Open the theme')")
    await expect(page.locator("#themes-list")).to_contain_text(title)  # the list fetched itself again
    await assert_accessible(page)
    await screenshot(page, "themes")
    await page.click(f"#themes-list a:has-text('{title}')")

    for incident in (first, second):
        await page.fill("#link-incident", incident)
        await page.click("button:has-text('Link the incident')")
        await expect(page.locator(f"#theme-detail [data-incident='{incident}']")).to_be_visible()
    await expect(page.locator("[data-code-m]")).to_have_attribute("data-code-m", "true")
    await assert_accessible(page)
    await screenshot(page, "theme")

    # The classifier hears the theme's count and decides again: code M (guidance lines 276-281).
    await page.goto(console_stack.url(f"/incidents/{first}"))
    await live(page)
    codes = page.locator("#decision [data-codes]")
    await expect(codes).to_have_attribute("data-codes", re.compile(r"^M"), timeout=LIVE)
