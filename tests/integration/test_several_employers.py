"""Several employers through the real pipeline (intake -> classifier -> deadlines -> reporting, over
real Kafka and PostgreSQL): an incident a trust reports naming a second trust of the deployment as
the other employer. Bad employers are refused with 422 at the field's path and nothing is stored;
the right task opens for the reporting trust; the documents name the employers and who notifies;
the second trust reads only its own part, and the reporting trust's incident stays 404 to it."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.settings import ReportingSettings
from sievert_shared.auth import Role
from sievert_shared.settings import KafkaSettings
from tests.support.auth import TEST_ISSUER, development_auth, person
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import eventually
from tests.support.reporting import pdf_text
from tests.support.samples import NOTIFICATION_PARTICULARS, ct_overexposure, one_individual

pytestmark = pytest.mark.integration

LEAD_X = person("RXX", Role.RP_LEAD)
LEAD_Y = person("RYY", Role.RP_LEAD)
AUDITOR_Y = person("RYY", Role.AUDITOR)
DISCOVERED = dt.date(2025, 6, 2)

RIVERSIDE = {"name": "Riverside NHS Trust", "trust_code": "RXX", "role": "referring"}
HILLSIDE = {"name": "Hillside NHS Foundation Trust", "trust_code": "RYY", "role": "performing"}
#: What the second trust's view may hold, and nothing else of the reporting trust's incident.
SHARED_KEYS = {
    "incident_id",
    "discovered_on",
    "modality",
    "own_role",
    "notifying_employer",
    "this_trust_notifies",
    "notification",
}


def report(*employers: dict[str, Any]) -> dict[str, Any]:
    body = one_individual(ct_overexposure("RXX", "RXX01", DISCOVERED))
    return {**body, "facts": {**body["facts"], "employers": list(employers)}}


@contextlib.asynccontextmanager
async def pipeline(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    clock = FakeClock(dt.datetime(2025, 6, 3, 9, 0, tzinfo=dt.UTC))
    common: dict[str, Any] = {"kafka": kafka, "environment": "test"}
    deadlines_runtime, deadlines_app, _service = build_deadlines(
        DeadlinesSettings(database_url=await make_database("deadlines"), **common), clock
    )
    built = {
        "intake": build_intake(IntakeSettings(database_url=await make_database("intake"), **common), clock),
        "classifier": build_classifier(
            ClassifierSettings(database_url=await make_database("classifier"), **common), clock
        ),
        "deadlines": (deadlines_runtime, deadlines_app),
        "reporting": build_reporting(
            ReportingSettings(database_url=await make_database("reporting"), **common), clock
        ),
    }
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, (runtime, app) in built.items():
            app.state.authenticator = development_auth(TEST_ISSUER)
            await stack.enter_async_context(runtime.lifespan(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        yield clients


async def open_tasks(client: httpx.AsyncClient, incident: str) -> dict[str, dict[str, Any]]:
    answer = await client.get(f"/v1/incidents/{incident}/tasks", headers=LEAD_X)
    assert answer.status_code == 200, answer.text
    return {t["kind"]: t for t in answer.json()["tasks"] if t["status"] == "open"}


async def test_several_employers_through_the_pipeline(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    async with pipeline(infra, topic_prefix, make_database) as c:
        intake, deadlines, reporting = c["intake"], c["deadlines"], c["reporting"]

        # Bad employers: 422 naming the field, nothing stored.
        refused = [
            (report(RIVERSIDE, HILLSIDE), "body/facts/employers"),  # several, none notifies
            (
                report({**RIVERSIDE, "notifies": True}, {**HILLSIDE, "notifies": True}),
                "body/facts/employers/1/notifies",
            ),
            (report({**HILLSIDE, "notifies": True}), "body/facts/employers"),  # RXX is not among them
            (
                report({**RIVERSIDE, "role": "treating"}, {**HILLSIDE, "notifies": True}),
                "body/facts/employers/0/role",
            ),
        ]
        for body, path in refused:
            answer = await intake.post("/v1/incidents", json=body, headers=LEAD_X)
            assert answer.status_code == 422, answer.text
            assert path in [e["path"] for e in answer.json()["errors"]], answer.json()

        # Hillside (RYY) performs and notifies; Riverside (RXX) reports and confirms.
        theirs = await intake.post(
            "/v1/incidents", json=report(RIVERSIDE, {**HILLSIDE, "notifies": True}), headers=LEAD_X
        )
        # Riverside notifies; Hillside is informed.
        ours = await intake.post(
            "/v1/incidents", json=report({**RIVERSIDE, "notifies": True}, HILLSIDE), headers=LEAD_X
        )
        assert theirs.status_code == ours.status_code == 202, (theirs.text, ours.text)
        theirs_id, ours_id = theirs.json()["incident_id"], ours.json()["incident_id"]

        # Only the two accepted incidents exist (the refused ones stored nothing).
        async def projected() -> None:
            listed = await reporting.get("/v1/incidents", params={"trust": "RXX"}, headers=LEAD_X)
            assert {i["incident_id"] for i in listed.json()["items"]} == {theirs_id, ours_id}

        await eventually(projected)

        # The right task for the reporting trust on each.
        notification_due = dt.datetime(2025, 6, 16, 23, 0, tzinfo=dt.UTC)  # 00:00 BST on 17 June

        async def tasks_opened() -> None:
            confirm = await open_tasks(deadlines, theirs_id)
            assert "confirm_other_employer_notified" in confirm and "inform_other_employers" not in confirm
            assert (
                dt.datetime.fromisoformat(confirm["confirm_other_employer_notified"]["due_at"])
                == notification_due
            )
            assert "Hillside NHS Foundation Trust" in confirm["confirm_other_employer_notified"]["reason"]
            inform = await open_tasks(deadlines, ours_id)
            assert "inform_other_employers" in inform and "confirm_other_employer_notified" not in inform
            # Mon 2 June + 5 working days (the default policy): Mon 9 June, end of the day in London
            assert dt.datetime.fromisoformat(inform["inform_other_employers"]["due_at"]) == dt.datetime(
                2025, 6, 9, 23, 0, tzinfo=dt.UTC
            )

        await eventually(tasks_opened)

        # The decision says who notifies, and whose duty rests with whom.
        decided = (await reporting.get(f"/v1/incidents/{theirs_id}", headers=LEAD_X)).json()
        employers_reason = next(r for r in decided["decision"]["reasons"] if r["code"] == "employers")
        assert employers_reason["facts"]["reporting_trust_notifies"] is False
        assert "rests with Hillside NHS Foundation Trust" in employers_reason["criterion"]

        # A correction that drops the reporting trust is refused; what was accepted stays.
        bad = await intake.post(
            f"/v1/incidents/{ours_id}/amendments",
            json={
                "expected_version": 1,
                "facts": {"employers": [{**HILLSIDE, "notifies": True}]},
                "reason": "x",
            },
            headers=LEAD_X,
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "body/facts/employers", bad.text
        kept = (await intake.get(f"/v1/incidents/{ours_id}", headers=LEAD_X)).json()
        assert [e["trust_code"] for e in kept["facts"]["employers"]] == ["RXX", "RYY"]

        # The notification Riverside sends names the employers and who notifies, in words.
        draft = await reporting.post(
            "/v1/submissions",
            json={
                "incident_id": ours_id,
                "kind": "notification",
                "contact_role": "RPA",
                "particulars": NOTIFICATION_PARTICULARS,
            },
            headers=LEAD_X,
        )
        assert draft.status_code == 201, draft.text
        location = draft.headers["Location"]
        document = (await reporting.get(f"{location}/document.json", headers=LEAD_X)).json()
        assert document["incident"]["employers"] == [
            {
                "name": "Riverside NHS Trust",
                "role": {"value": "referring", "label": "referring employer (the referrer's employer)"},
                "notifies": True,
            },
            {
                "name": "Hillside NHS Foundation Trust",
                "role": {
                    "value": "performing",
                    "label": "performing employer (the exposure was performed under its procedures)",
                },
                "notifies": False,
            },
        ]
        text = pdf_text((await reporting.get(f"{location}/document.pdf", headers=LEAD_X)).content)
        assert "Riverside NHS Trust makes this notification" in " ".join(text.split())
        csv = await reporting.get(f"{location}/tables/employers.csv", headers=LEAD_X)
        assert csv.status_code == 200 and "Hillside NHS Foundation Trust" in csv.text

        # The second trust sees only its part: before the notification is sent ...
        async def shared_with_hillside() -> list[dict[str, Any]]:
            answer = await reporting.get("/v1/trusts/RYY/shared-incidents", headers=AUDITOR_Y)
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])

        items = {i["incident_id"]: i for i in await shared_with_hillside()}
        assert set(items) == {theirs_id, ours_id}
        for item in items.values():
            assert set(item) == SHARED_KEYS
            assert item["own_role"]["value"] == "performing" and item["modality"]["value"] == "ct"
            assert item["discovered_on"] == DISCOVERED.isoformat()
        assert items[theirs_id]["this_trust_notifies"] is True
        assert items[ours_id]["notifying_employer"] == "Riverside NHS Trust"
        assert items[ours_id]["notification"]["status"] == "not_notified"  # a draft is not a notification

        # ... and after it is sent and acknowledged, with the authority's reference.
        issued = await reporting.post(f"{location}/issue", json={"submitted_by_role": "RPA"}, headers=LEAD_X)
        assert issued.status_code == 200, issued.text
        acknowledged = await reporting.post(
            f"{location}/acknowledgement", json={"reference": "IRMER/2025/04711"}, headers=LEAD_X
        )
        assert acknowledged.status_code == 200, acknowledged.text
        one = await reporting.get(f"/v1/trusts/RYY/shared-incidents/{ours_id}", headers=LEAD_Y)
        assert one.status_code == 200, one.text
        assert one.json()["notification"] == {
            "status": "acknowledged",
            "label": "Notified; the authority acknowledged it with its reference",
            "authority": "cqc",
            "reference": "IRMER/2025/04711",
        }
        # Nothing of the reporting trust's facts, free text, pseudonym or documents.
        shown = one.text
        for hidden in (
            "RXX01",
            "total_effective_dose",
            "protocol",
            "pt-",
            "submission",
            "Riverside NHS Trust makes",
        ):
            assert hidden not in shown, hidden

        # Where Hillside notifies, Riverside sends no second notification: it records Hillside's,
        # with the authority's reference, as made outside Sievert, and Hillside's view shows it.
        second = await reporting.post(
            "/v1/submissions",
            json={"incident_id": theirs_id, "kind": "notification", "contact_role": "RPA"},
            headers=LEAD_X,
        )
        assert second.status_code == 409, second.text
        assert second.json()["notifying_employer"] == "Hillside NHS Foundation Trust"
        recorded = await deadlines.post(
            f"/v1/incidents/{theirs_id}/submissions",
            json={
                "kind": "notification",
                "authority": "cqc",
                "submitted_at": "2025-06-03T08:00:00Z",
                "submitted_by_role": "RPA",
                "reference": "IRMER/2025/04700",
            },
            headers=LEAD_X,
        )
        assert recorded.status_code in (200, 201, 202), recorded.text

        async def hillside_sees_its_notification() -> None:
            answer = await reporting.get(f"/v1/trusts/RYY/shared-incidents/{theirs_id}", headers=LEAD_Y)
            assert answer.status_code == 200, answer.text
            assert answer.json()["notification"]["status"] == "notified"
            assert answer.json()["notification"]["reference"] == "IRMER/2025/04700"

        await eventually(hillside_sees_its_notification)

        # The full incident, its tasks and its documents stay 404 to the second trust.
        for client, path in (
            (reporting, f"/v1/incidents/{ours_id}"),
            (intake, f"/v1/incidents/{ours_id}"),
            (deadlines, f"/v1/incidents/{ours_id}/tasks"),
            (reporting, f"{location}/document.json"),
        ):
            answer = await client.get(path, headers=LEAD_Y)
            assert answer.status_code == 404, (path, answer.status_code, answer.text)
        # Not shared with the reporting trust itself, and another trust's path is 404.
        assert (
            await reporting.get(f"/v1/trusts/RXX/shared-incidents/{ours_id}", headers=LEAD_X)
        ).status_code == 404
        assert (await reporting.get("/v1/trusts/RXX/shared-incidents", headers=LEAD_X)).json()["items"] == []
        assert (await reporting.get("/v1/trusts/RXX/shared-incidents", headers=LEAD_Y)).status_code == 404
