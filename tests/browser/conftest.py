"""The browser tier: Debian's Chromium, driven by Playwright, against the four services and the
console as processes over the real Kafka and PostgreSQL (one stack for the tier, on its own topic
prefix and throwaway databases, as the e2e tests run theirs).

Chromium comes from the system (``/usr/bin/chromium``; ``scripts/browser.sh`` installs it where it
is missing): Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from sievert_console.testing.devstack import running_with_console
from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack
from tests.support.infra import Infra
from tests.support.processes import free_port, service_databases

CHROMIUM = Path(os.environ.get("SIEVERT_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# The screenshots are documentation: a run rewrites docs/console/ only when asked
# (SIEVERT_UPDATE_SCREENSHOTS=1), so an ordinary test run leaves the working tree clean; otherwise
# they still render, into a scratch folder, so the pages are always exercised the same way.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "console"
    if os.environ.get("SIEVERT_UPDATE_SCREENSHOTS") == "1"
    else Path(os.environ.get("TMPDIR", "/tmp")) / "sievert-console-screenshots"
)


@dataclass
class ConsoleStack:
    services: dict[str, devstack.RunningService]
    console: devstack.RunningService
    console_env_used: dict[str, str]
    log_dir: Path

    def console_env(self, port: int) -> dict[str, str]:
        """The console's environment, on another port: for a second console beside it."""
        return {**self.console_env_used, "CONSOLE_HTTP_PORT": str(port)}

    def url(self, path: str = "") -> str:
        return f"{self.console.url}{path}"

    def service(self, name: str, path: str) -> str:
        return f"{self.services[name].url}{path}"


@pytest.fixture(scope="session")
async def browser_databases(infra: Infra) -> AsyncIterator[dict[str, str]]:
    async with service_databases(infra.admin_database_url, "browser") as urls:
        yield urls


@pytest.fixture(scope="session")
def console_stack(
    infra: Infra, browser_databases: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleStack]:
    prefix = f"browser-{uuid.uuid4().hex[:8]}"
    ports = {name: free_port() for name in devstack.SERVICES}
    trusts = [
        {"code": "RDEMO", "name": "Demonstration NHS Foundation Trust"},
        {"code": "ROTHER", "name": "Another NHS Trust"},
        {"code": "RADMIN", "name": "A trust the administration test has to itself"},
    ]
    env = devstack.service_env(
        {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
            "CONSOLE_DEV_TRUSTS": json.dumps(trusts),
        },
        database_urls=browser_databases,
        ports=ports,
    )
    log_dir = tmp_path_factory.mktemp("console-logs")
    with running_with_console(
        env, ports=ports, console_port=free_port(), log_dir=log_dir, key_dir=log_dir / "key"
    ) as run:
        yield ConsoleStack(run.services, run.console, run.console_env, log_dir)
    asyncio.run(delete_topics_with_prefix(KafkaSettings(bootstrap_servers=infra.kafka_bootstrap), prefix))


def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/browser.sh (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    # bypass_csp: the console forbids inline scripts, and axe-core is injected as one.
    made = await browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, accept_downloads=True
    )
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
async def intake(console_stack: ConsoleStack) -> AsyncIterator[httpx.AsyncClient]:
    """An integration engine posting to intake (development auth mode: no credentials needed)."""
    async with httpx.AsyncClient(base_url=console_stack.services["intake"].url, timeout=10) as client:
        yield client


async def sign_in(page: Page, stack: ConsoleStack, *, trust: str = "RDEMO", role: str = "rp_lead") -> None:
    await page.goto(stack.url("/"))
    await page.select_option("#trust", trust)
    await page.check(f"#role-{role}")
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url("**/queue")


async def live(page: Page) -> None:
    """The page's event stream is open: changes from now on reach it."""
    await page.wait_for_selector("body[data-live='on']")


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical accessibility violations on the page as it is."""
    await page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


async def screenshot(page: Page, name: str, *, hide: str | None = None) -> None:
    """``hide``: a selector painted over (a key that must not end up in the repository's docs)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    mask = [page.locator(hide)] if hide else []
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, mask=mask)
