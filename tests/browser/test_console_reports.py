"""The console's documents after the notification, in Chromium against the real services: the
authority's correspondence (a query, the answer, a race on the answer, the closure), the 12-week
report's investigation (the similar incidents confirmed, the findings refused beside a field and
then recorded, the report complete and issued), and the voluntary and licensing-breach
notifications drafted, completed, issued and downloaded."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import ConsoleStack, live, screenshot, sign_in
from tests.browser.test_console import LIVE, TODAY, assert_accessible, classified, post
from tests.support.kafka import eventually
from tests.support.samples import PATIENT, ct_overexposure

pytestmark = pytest.mark.browser

SETTLED = {"individuals_affected": 1, "clinically_significant": False, "equipment_fault": False}


async def notified_outside_sievert(stack: ConsoleStack, incident: str, reference: str) -> None:
    """The notification sent through the regulator's portal, recorded with deadlines' API; then
    wait until reporting holds it as the authority's case."""
    sent = {
        "kind": "notification",
        "authority": "cqc",
        "submitted_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
        "submitted_by_role": "Radiation protection lead",
        "reference": reference,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            stack.service("deadlines", f"/v1/incidents/{incident}/submissions"), json=sent
        )
        assert answer.status_code == 202, answer.text

        async def in_reporting() -> None:
            read = await http.get(stack.service("reporting", f"/v1/incidents/{incident}/authority"))
            assert read.status_code == 200 and read.json()["notified"], read.text

        await eventually(in_reporting, timeout=30)


async def pdf_of(page: Page, document: Locator) -> bytes:
    async with page.expect_download() as downloading:
        await document.locator("a.download").click()
    path = await (await downloading.value).path()
    assert path is not None
    return await asyncio.to_thread(path.read_bytes)


async def test_the_authoritys_correspondence_is_recorded_and_a_race_on_an_answer_shows_the_answer(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    report = ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY)
    report["facts"].update(SETTLED)
    incident = await post(intake, report)
    await classified(console_stack, incident)
    await notified_outside_sievert(console_stack, incident, "CQC/2026/0101")
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)

    authority = page.locator("#authority")
    await expect(authority.locator("[data-reference]")).to_have_attribute("data-reference", "CQC/2026/0101")

    # A query dated after tomorrow: refused beside its field, what was typed kept.
    asked = "Please send the exposure factors used and the protocol selected."
    await authority.locator("summary:has-text('Record a query from the authority')").click()
    await page.fill("#query-received-on", (TODAY + dt.timedelta(days=3)).isoformat())
    await page.fill("#query-summary", asked)
    await page.click("button:has-text('Record the query')")
    await expect(authority.locator("[data-field='received_on'] .error-message")).to_contain_text("future")
    await expect(page.locator("#query-received-on")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#query-summary")).to_have_value(asked)
    await assert_accessible(page)

    await page.fill("#query-received-on", TODAY.isoformat())
    await page.click("button:has-text('Record the query')")
    await expect(authority.locator(".notice-ok")).to_contain_text("Query recorded")
    query = authority.locator("[data-query]")
    await expect(query).to_have_attribute("data-query-status", "open")
    await expect(query).to_contain_text(asked)
    query_id = str(await query.get_attribute("data-query"))

    # Someone answers it (through the API) while the answer is being typed here: sending ours is
    # refused (409) saying what is recorded, and the card shows that answer.
    await query.locator("summary:has-text('Record the answer')").click()
    await query.locator("textarea[name='summary']").fill("Our answer, typed on the page.")
    theirs = {
        "answered_on": TODAY.isoformat(),
        "summary": "Exposure factors and protocol sent by email.",
        "answered_by_role": "Medical physics expert",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        path = f"/v1/incidents/{incident}/authority/queries/{query_id}/answer"
        answered = await http.post(console_stack.service("reporting", path), json=theirs)
        assert answered.status_code == 200, answered.text
    await query.locator("button:has-text('Record the answer')").click()
    await expect(authority.locator("[data-conflict]")).to_be_visible()
    await expect(authority.locator(".notice-error").first).to_contain_text("Medical physics expert")
    await expect(query).to_have_attribute("data-query-status", "answered")
    await expect(query).to_contain_text("Exposure factors and protocol sent by email.")

    await authority.locator("summary:has-text('Record the authority closing the case')").click()
    await page.fill("#closure-on", TODAY.isoformat())
    await page.click("button:has-text('Record the closure')")
    await expect(authority.locator(".notice-ok")).to_contain_text("the authority closed the notification")
    await expect(authority.locator("[data-closure]")).to_have_attribute("data-closure", "closed")
    await expect(authority.locator("[data-closure]")).to_contain_text("CQC/2026/0101")  # the notification's
    await assert_accessible(page)
    await screenshot(page, "incident-authority")

    # The authority closed the case: nothing more is owed, so no report is offered.
    async with httpx.AsyncClient(timeout=10) as http:

        async def case_closed_in_reporting() -> None:
            read = await http.get(console_stack.service("reporting", f"/v1/incidents/{incident}"))
            assert read.json()["case"]["status"] == "closed", read.text

        await eventually(case_closed_in_reporting, timeout=30)
    await page.reload()
    await expect(page.locator("#report [data-report='case-closed']")).to_be_visible()
    await expect(page.locator("button:has-text('Draft the investigation report')")).to_have_count(0)


FINDINGS = {
    "what_happened": "A CT head protocol was selected for a CT abdomen request.",
    "dose_assessment": "About 11 mSv more than intended; low risk at this age.",
    "root_causes": "Protocol names alike on the scanner's list",
    "duty_of_candour_met": "true",
    "csaue_procedure_applied": "false",
    "learning": "Protocol names must say the body part first.",
    "learning_shared_how": "Imaging governance meeting and the radiographers' bulletin",
    "corrective_actions": "Protocols renamed\nA second check before scanning",
}


async def record_findings(report: Locator, values: dict[str, Any]) -> None:
    for name, value in values.items():
        control = report.locator(f"[name='{name}']")
        if await control.evaluate("e => e.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    await report.locator("button:has-text('Record the findings')").click()


async def test_the_12_week_reports_findings_and_similar_incidents_complete_it_and_it_is_issued(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    report = ct_overexposure(trust="RDEMO", site="RDEMO01", discovered_on=TODAY)
    report["facts"].update(SETTLED)
    incident = await post(intake, report)
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)

    await page.click("button:has-text('Draft the investigation report')")
    document = page.locator("#documents [data-kind='investigation_report']")
    await expect(document).to_have_attribute("data-status", "draft")
    await expect(document.locator("[data-missing='similar_incidents_confirmed']")).to_contain_text(
        "guidance line 234"
    )
    await expect(document.locator("[data-missing='what_happened'] a")).to_have_text(
        "12-week report's findings"
    )

    card = page.locator("#report")
    await expect(card.locator("[data-similar]")).to_have_attribute("data-similar", "proposed")
    proposed = await page.locator("#similar-summary").input_value()
    assert proposed.strip()
    await page.click("button:has-text('Confirm the similar incidents')")
    await expect(card.locator("[data-outcome] .notice-ok")).to_contain_text("Confirmed")
    await expect(card.locator("[data-similar]")).to_have_attribute("data-similar", "confirmed")
    await expect(card.locator("[data-missing='similar_incidents_confirmed']")).to_have_count(0)

    # A finding that names the patient: refused beside its field, nothing stored, the rest kept.
    await card.locator("summary:has-text('Record the findings')").click()
    named = {
        **FINDINGS,
        "what_happened": f"NHS number {PATIENT['nhs_number']} was scanned with a head protocol.",
    }
    await record_findings(card, named)
    what = card.locator("[data-field='what_happened']")
    await expect(what.locator(".error-message")).to_be_visible()
    await expect(page.locator("#finding-what_happened")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#finding-learning")).to_have_value(FINDINGS["learning"])
    await expect(card.locator("[data-missing='what_happened']")).to_be_visible()
    await assert_accessible(page)

    await page.fill("#finding-what_happened", FINDINGS["what_happened"])
    await page.check("#finding-contributory_factors_none")
    await page.click("button:has-text('Record the findings')")
    await expect(card.locator("[data-outcome] .notice-ok")).to_contain_text("Findings recorded")
    await expect(card.locator("[data-report='complete']")).to_be_visible()
    await expect(document.locator(".missing")).to_have_count(0, timeout=LIVE)  # told to fetch itself again
    await assert_accessible(page)
    await screenshot(page, "incident-report")

    await document.locator("button:has-text('Issue the investigation report')").click()
    await expect(document).to_have_attribute("data-status", "submitted")
    await expect(page.locator("#clocks [data-window='investigation_report']")).to_have_attribute(
        "data-state", "met", timeout=LIVE
    )
    assert (await pdf_of(page, document)).startswith(b"%PDF-")

    # Findings once the report is sent: refused (409), saying so.
    await card.locator("summary:has-text('Record the findings')").click()
    await page.fill("#finding-learning", "Learnt later.")
    await page.click("button:has-text('Record the findings')")
    await expect(card.locator("[data-conflict]")).to_be_visible()
    await expect(card.locator(".notice-error").first).to_contain_text("already submitted")


def voluntary_outside_licence(trust: str = "RDEMO", site: str = "RDEMO01") -> dict[str, Any]:
    """A diagnostic nuclear medicine administration no licence covered, below every dose criterion,
    which the employer offers voluntarily: code V2.3 and the licensing-breach form."""
    return {
        "trust": trust,
        "site": site,
        "facts": {
            "nation": "england",
            "discovered_on": TODAY.isoformat(),
            "exposure_kind": "unintended",
            "modality": "diagnostic_nuclear_medicine",
            "patient_age_years": 50,
            "intended_effective_dose_msv": 3.0,
            "total_effective_dose_msv": 3.0,
            "outside_arsac_licence": True,
            "voluntary": True,
            "incorrect_radiopharmaceutical": False,
            **SETTLED,
        },
    }


async def complete(document: Locator, values: dict[str, str]) -> None:
    for name, value in values.items():
        control = document.locator(f"[name='{name}']")
        if await control.evaluate("e => e.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    await document.locator("button:has-text('Save the particulars')").click()


async def test_voluntary_and_licensing_breach_notifications_are_drafted_completed_and_issued(
    page: Page, console_stack: ConsoleStack, intake: httpx.AsyncClient
) -> None:
    incident = await post(intake, voluntary_outside_licence())
    await classified(console_stack, incident)
    await sign_in(page, console_stack)
    await page.goto(console_stack.url(f"/incidents/{incident}"))
    await live(page)
    await expect(page.locator("#decision [data-decision]")).to_have_attribute(
        "data-decision", "not-notifiable"
    )
    documents = page.locator("#documents")
    await expect(documents.locator("[data-draft]")).to_have_count(2)  # no statutory notification offered
    line_218 = {
        "preliminary_investigation": "The administration was not listed on the practitioner's licence.",
        "immediate_actions": "Licences checked against the procedures list",
    }

    await page.click("button:has-text('Draft the voluntary notification')")
    voluntary = documents.locator("[data-kind='voluntary_notification']")
    await expect(voluntary).to_have_attribute("data-status", "draft")
    await expect(voluntary.locator("[data-missing='voluntary_reason']")).to_contain_text(
        "guidance lines 268, 300"
    )
    reason = "A licence gap found at an audit is worth sharing."
    await complete(voluntary, {**line_218, "voluntary_reason": reason})
    await expect(voluntary.locator(".missing")).to_have_count(0)
    await voluntary.locator("button:has-text('Issue the voluntary notification')").click()
    await expect(voluntary).to_have_attribute("data-status", "submitted")

    await page.click("button:has-text('Draft the licensing-breach notification')")
    breach = documents.locator("[data-kind='licensing_breach_notification']")
    await expect(breach).to_have_attribute("data-status", "draft")
    for item in ("licence_missing", "radioactive_substance", "administration_purpose", "arsac_notified_on"):
        await expect(breach.locator(f".missing [data-missing='{item}']")).to_be_visible()
    purpose = "Renography, which the practitioner's licence did not list"
    particulars = {
        **line_218,
        "licence_missing": "practitioner",
        "radioactive_substance": "Tc-99m MAG3",
        "administration_purpose": f"{purpose} (for Mrs {PATIENT['family_name']})",
        "arsac_notified_on": TODAY.isoformat(),
    }
    # A name in the purpose: refused beside that field, what was typed kept.
    await complete(breach, particulars)
    field = breach.locator("[data-particular='administration_purpose']")
    await expect(field.locator(".error-message")).to_be_visible()
    await expect(breach.locator("[name='radioactive_substance']")).to_have_value("Tc-99m MAG3")
    await assert_accessible(page)

    await complete(breach, {"administration_purpose": purpose})
    await expect(documents.locator(".notice-ok")).to_contain_text("Saved on the draft")
    await expect(breach.locator(".missing")).to_have_count(0)
    await assert_accessible(page)
    await screenshot(page, "incident-licensing-breach")
    await breach.locator("button:has-text('Issue the licensing-breach notification')").click()
    await expect(breach).to_have_attribute("data-status", "submitted")
    await expect(documents.locator("[data-draft]")).to_have_count(0)
    for document in (voluntary, breach):
        assert (await pdf_of(page, document)).startswith(b"%PDF-")
