"""The tenancy matrix: every route of every service, as every role of two trusts and with
no (or forged) credentials, over real Kafka and PostgreSQL, authentication required. Nothing may
cross.

The four services run in process with their consumers, on one topic prefix, and each trust is
seeded through the real pipeline (intake -> classifier -> deadlines -> reporting). The routes are
read from each FastAPI app, so a route added later has no case in ``CASES`` and the matrix fails
until one is written.

What counts as a leak:

- a response (body or header) to a caller of one trust that carries an identifier of the other
  trust (incident, submission, theme, client key, engine key, patient pseudonym, site or trust
  code) that the caller did not send itself. A 404 may echo the id the caller asked for: that
  tells them nothing they did not know. ``/v1/shared-themes`` may carry the other trust's code and
  theme id (anonymised summaries the trust consented to see) and nothing else of it;
- a 2xx answer to a write aimed at the other trust's resources, or any change of the other
  trust's reads or rows after the callers of one trust wrote at it; writes that mix the caller's
  resources with the other trust's (``mixed_cases``), and the caller's own writes under the other
  trust's Idempotency-Key (``borrowed_key_cases``) count too;
- a patient identifier in any answer but ``GET /v1/incidents/{id}/patient``, the audited door;
- an answer other than 401 to a request without valid credentials, except the public routes.

Writes that label the caller's own rows with another trust's site code are not leaks (nothing of
that trust is read or changed) but a gap, listed apart: see ``KNOWN_SITE_NAMING``.

Public routes (no credentials): ``/healthz`` and ``/readyz`` (liveness and readiness probes),
``/metrics`` (Prometheus; counts by route template, event type and trust code, never an id),
``/fhir/metadata`` (FHIR's CapabilityStatement must be readable before authenticating) and the
API description (``/openapi.json``, ``/docs``, ``/docs/oauth2-redirect``, ``/redoc``): the shape
of the API, which holds no tenant data (they are in the matrix too, so a leak there is caught).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import tempfile
import time
import uuid
from base64 import b64encode
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from itsdangerous import TimestampSigner

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_console.adapters.dev_tokens import write_dev_key
from sievert_console.bootstrap import build as build_console
from sievert_console.settings import ConsoleSettings, DevTrust, ServiceUrls
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.domain.tasks import task_id_for
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.domain.document_views import view_of
from sievert_reporting.settings import ReportingSettings
from sievert_shared.auth import Authenticator, AuthSettings, Role
from sievert_shared.events import TaskKind
from sievert_shared.settings import KafkaSettings
from tests.fixtures.intake_support import fhir_fixture
from tests.support.auth import AUDIENCE, TEST_ISSUER, ApiKey, LocalIssuer, api_key, person
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import eventually
from tests.support.processes import free_port
from tests.support.reporting import (
    pdf_text,
)
from tests.support.samples import (
    NOTIFICATION_PARTICULARS,
    PATIENT,
    ct_overexposure,
    one_individual,
    small_radiography_repeat,
)

pytestmark = pytest.mark.integration

SERVICES = ("intake", "classifier", "deadlines", "reporting")
ROLES = (Role.INTEGRATION, Role.RP_LEAD, Role.TRUST_ADMIN, Role.THEME_REVIEWER, Role.AUDITOR)
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/fhir/metadata",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
#: The one route that shows another trust's data, anonymised and consented to, and what of it.
SHARED = "/v1/shared-themes"
SHARED_MAY_CARRY = {"trust", "theme"}
#: What of another trust an answer may carry, by (service, path): the shared themes, the console's
#: page of them, and its development sign-in form, which lists the trusts it offers.
MAY_CARRY: dict[tuple[str, str], set[str]] = {
    ("reporting", SHARED): SHARED_MAY_CARRY,
    ("console", "/themes"): SHARED_MAY_CARRY,
    ("console", "/themes/list"): SHARED_MAY_CARRY,
    ("console", "/sign-in"): {"trust"},
}
#: GET routes whose read changes what it reads (a row in the audit trail): not in the snapshots.
READS_THAT_WRITE = {"/v1/incidents/{incident_id}/patient"}
#: Ids in the answers to a trust's own writes (what they made), and the kind each is.
HARVESTED = {
    "incident_id": "incident",
    "submission_id": "submission",
    "theme_id": "theme",
    "key_id": "client key",
    "patient_pseudonym": "pseudonym",
    "record_id": "dose record",
}
#: Writes that accept, for the caller's own trust, a site code of another trust: known, reported
#: apart from leaks, since nothing of the other trust is read or changed. A new one fails the
#: matrix. People are trust-wide, so their credentials cannot say which site codes are theirs.
#: Intake refuses a site code another trust registered; reporting refuses one that another
#: trust's incidents came from (``mixed_cases``), but knows nothing of a registered site without
#: incidents, such as the probe site: these two remain.
KNOWN_SITE_NAMING = {
    "reporting POST /v1/themes",
    "reporting POST /v1/trusts/{trust}/activity",
}
#: Writes that store nothing: a dry run.
DRY_RUNS = {("classifier", "POST", "/v1/classify")}


@dataclass
class Trust:
    """One trust of the matrix: its code, two sites, its engine and what the seeding made."""

    code: str
    engine: ApiKey
    incidents: list[str] = field(default_factory=list)  # [notifiable at site 1, not at site 2]
    pseudonym: str = ""
    client_key: str = ""
    submission: str = ""
    table: str = ""
    theme: str = ""
    amendment_key: str = ""
    amendment_body: bytes = b""
    made: dict[str, str] = field(default_factory=dict)  # ids made during the matrix -> kind
    #: The other trust's site codes this trust wrote into its own rows (see ``Matrix.judge``).
    planted: set[str] = field(default_factory=set)

    @property
    def sites(self) -> tuple[str, str]:
        """The sites with incidents."""
        return (f"{self.code}01", f"{self.code}02")

    @property
    def probe_site(self) -> str:
        """A registered site with no incidents: the other trust's callers name it in their own
        writes (``Matrix.judge``), so the sites above stay checked everywhere."""
        return f"{self.code}03"

    def headers(self, role: Role) -> dict[str, str]:
        if role == Role.INTEGRATION:
            return self.engine.header
        return person(self.code, role)

    @property
    def reader(self) -> dict[str, str]:
        """Who reads the snapshots: a person of the trust who may read every route."""
        return person(self.code, Role.RP_LEAD, Role.TRUST_ADMIN, Role.AUDITOR, subject=f"snap@{self.code}")

    def identifiers(self) -> dict[str, str]:
        """Everything that names this trust or one of its rows, and what kind of thing it is."""
        named: dict[str, str] = {self.code: "trust", self.engine.key_id: "engine key"}
        named |= {site: "site" for site in (*self.sites, self.probe_site)}
        named |= {incident: "incident" for incident in self.incidents}
        named |= {self.pseudonym: "pseudonym", self.client_key: "client key"}
        named |= {self.submission: "submission", self.theme: "theme"}
        named |= self.made
        return {k: v for k, v in named.items() if k}


#: Callers without valid credentials: none, a wrong secret for a real key, and a well-formed token
#: for the right issuer and trust signed by a key the issuer never published.
ANONYMOUS = {
    "anonymous": {},
    "wrong secret": {"Authorization": "ApiKey engine-zxalpha.not-the-secret"},
    "forged token": LocalIssuer().bearer("rp_lead@ZXALPHA", trust="ZXALPHA", roles=[Role.RP_LEAD]),
}
ENGINE_ALPHA = api_key("engine-zxalpha", "ZXALPHA", ["ZXALPHA01", "ZXALPHA02"])
ENGINE_BRAVO = api_key("engine-zxbravo", "ZXBRAVO", ["ZXBRAVO01", "ZXBRAVO02"])


@dataclass(frozen=True)
class Call:
    service: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.service} {self.method} {self.path}{'?' + query if query else ''}"

    def text(self) -> str:
        """What the caller sent: an identifier in it may come back without being a leak."""
        body = json.dumps(self.body) if self.body is not None else ""
        return " ".join(
            [
                self.path,
                json.dumps(self.params),
                body,
                (self.content or b"").decode(),
                json.dumps(self.headers),
            ]
        )


@dataclass
class World:
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    databases: dict[str, str]
    trusts: tuple[Trust, Trust]
    #: the console's development signing key, which the services trust beside the test issuer
    console_key: Path

    def other(self, trust: Trust) -> Trust:
        return self.trusts[1] if trust is self.trusts[0] else self.trusts[0]

    async def send(self, call: Call, credentials: dict[str, str]) -> httpx.Response:
        return await self.clients[call.service].request(
            call.method,
            call.path,
            params=call.params,
            json=call.body,
            content=call.content,
            headers={**call.headers, **credentials},
        )

    async def version(self, trust: Trust, incident: str) -> int:
        read = await self.send(Call("intake", "GET", f"/v1/incidents/{incident}"), trust.reader)
        return int(read.json()["stream_version"]) if read.status_code == 200 else 1


# -- the table: how to call each route for target trust T ---------------------------------------

Builder = Callable[[World, Trust], Awaitable[list[Call]]]
CASES: dict[tuple[str, str, str], Builder] = {}


def case(service: str, method: str, path: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        CASES[(service, method, path)] = builder
        return builder

    return register


def simple(service: str, method: str, path: str) -> None:
    """A route with nothing of the trust in it (health, docs, metadata)."""

    async def builder(_w: World, _t: Trust) -> list[Call]:
        return [Call(service, method, path)]

    CASES[(service, method, path)] = builder


for _service in SERVICES:
    for _path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    ):
        simple(_service, "GET", _path)
simple("intake", "GET", "/fhir/metadata")


# intake: trust administration
@case("intake", "PUT", "/v1/trusts/{trust}/sites/{site}")
async def _put_site(_w: World, t: Trust) -> list[Call]:
    body = {"name": "Renamed by the matrix", "nation": "wales"}
    return [Call("intake", "PUT", f"/v1/trusts/{t.code}/sites/{t.sites[1]}", body=body)]


@case("intake", "GET", "/v1/trusts/{trust}/sites")
async def _sites(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/v1/trusts/{t.code}/sites")]


@case("intake", "POST", "/v1/trusts/{trust}/clients")
async def _make_client(_w: World, t: Trust) -> list[Call]:
    body = {"name": "Made by the matrix", "sites": [t.sites[0]]}
    return [Call("intake", "POST", f"/v1/trusts/{t.code}/clients", body=body)]


@case("intake", "GET", "/v1/trusts/{trust}/clients")
async def _clients(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/v1/trusts/{t.code}/clients")]


@case("intake", "DELETE", "/v1/trusts/{trust}/clients/{key_id}")
async def _revoke(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "DELETE", f"/v1/trusts/{t.code}/clients/{t.client_key}")]


@case("intake", "GET", "/v1/trusts/{trust}/admin-log")
async def _admin_log(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/v1/trusts/{t.code}/admin-log")]


# intake: incidents, identifiers, FHIR
@case("intake", "POST", "/v1/incidents")
async def _report(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "POST", "/v1/incidents", body=ct_overexposure(t.code, t.sites[1]))]


@case("intake", "POST", "/v1/incidents:batch")
async def _report_batch(_w: World, t: Trust) -> list[Call]:
    lines = [ct_overexposure(t.code, t.sites[1]), small_radiography_repeat(t.code, t.sites[0])]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return [
        Call(
            "intake",
            "POST",
            "/v1/incidents:batch",
            content=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
    ]


def dose_record(trust: str, site: str, *, correction: bool = False) -> dict[str, Any]:
    """A worker's monthly dosimetry report for ``trust`` (its own pseudonym per trust)."""
    return {
        "trust": trust,
        "site": site,
        "nation": "england",
        "person_pseudonym": f"DW-{trust}-7",
        "category": "classified_worker",
        "period_start": "2025-05-01",
        "period_end": "2025-05-31",
        "doses": {"hp10_msv": 0.3},
        "correction": correction,
    }


@case("intake", "POST", "/v1/dose-records")
async def _dose_record(_w: World, t: Trust) -> list[Call]:
    # A correction, so the trust's own engine is answered 202 in every phase (the seed sent May).
    return [Call("intake", "POST", "/v1/dose-records", body=dose_record(t.code, t.sites[1], correction=True))]


@case("intake", "POST", "/v1/incidents/{incident_id}/amendments")
async def _amend(w: World, t: Trust) -> list[Call]:
    incident = t.incidents[0]
    body = {
        "expected_version": await w.version(t, incident),
        "facts": {"total_effective_dose_msv": 14.0},
        "reason": "Changed by the matrix.",
    }
    return [Call("intake", "POST", f"/v1/incidents/{incident}/amendments", body=body)]


@case("intake", "GET", "/v1/incidents/{incident_id}")
async def _intake_incident(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/v1/incidents/{t.incidents[0]}")]


@case("intake", "GET", "/v1/incidents/{incident_id}/audit")
async def _audit(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/v1/incidents/{t.incidents[0]}/audit")]


@case("intake", "GET", "/v1/incidents/{incident_id}/patient")
async def _patient(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/v1/incidents/{t.incidents[0]}/patient")]


@case("intake", "DELETE", "/v1/patients/{pseudonym}")
async def _erase(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "DELETE", f"/v1/patients/{t.pseudonym}")]


def fhir_for(trust: Trust, name: str) -> Any:
    """A FHIR fixture (written for trust RXX, site RXX01) for ``trust``'s first site."""
    return json.loads(json.dumps(fhir_fixture(name)).replace("RXX", trust.code))


@case("intake", "POST", "/fhir/AdverseEvent")
async def _fhir_create(_w: World, t: Trust) -> list[Call]:
    body = fhir_for(t, "adverse_event_radiography_repeat.json")
    return [Call("intake", "POST", "/fhir/AdverseEvent", body=body)]


@case("intake", "POST", "/fhir")
async def _fhir_bundle(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "POST", "/fhir", body=fhir_for(t, "bundle_ct_overexposure.json"))]


@case("intake", "GET", "/fhir/AdverseEvent/{incident_id}")
async def _fhir_read(_w: World, t: Trust) -> list[Call]:
    return [Call("intake", "GET", f"/fhir/AdverseEvent/{t.incidents[0]}")]


# classifier
@case("classifier", "POST", "/v1/classify")
async def _classify(_w: World, _t: Trust) -> list[Call]:
    return [Call("classifier", "POST", "/v1/classify", body=ct_overexposure()["facts"])]


# deadlines
@case("deadlines", "GET", "/v1/deadlines")
async def _deadlines(_w: World, t: Trust) -> list[Call]:
    return [
        Call("deadlines", "GET", "/v1/deadlines", params={"trust": t.code}),
        Call("deadlines", "GET", "/v1/deadlines", params={"site": t.sites[0]}),
        Call("deadlines", "GET", "/v1/deadlines"),
    ]


@case("deadlines", "GET", "/v1/incidents/{incident_id}/deadlines")
async def _windows(_w: World, t: Trust) -> list[Call]:
    return [Call("deadlines", "GET", f"/v1/incidents/{t.incidents[0]}/deadlines")]


@case("deadlines", "POST", "/v1/incidents/{incident_id}/submissions")
async def _external(_w: World, t: Trust) -> list[Call]:
    body = {
        "kind": "notification",
        "authority": "cqc",
        "submitted_at": "2025-06-05T08:00:00+00:00",
        "submitted_by_role": "RPA",
        "reference": "MATRIX/1",
    }
    return [Call("deadlines", "POST", f"/v1/incidents/{t.incidents[0]}/submissions", body=body)]


@case("deadlines", "POST", "/v1/incidents/{incident_id}/deadlines/investigation_report/extensions")
async def _extend(_w: World, t: Trust) -> list[Call]:
    body = {"extended_to": "2025-10-01", "agreed_by": "CQC inspector", "reason": "Agreed with the matrix."}
    path = f"/v1/incidents/{t.incidents[0]}/deadlines/investigation_report/extensions"
    return [Call("deadlines", "POST", path, body=body)]


@case("deadlines", "POST", "/v1/incidents/{incident_id}/withdrawal")
async def _withdraw(_w: World, t: Trust) -> list[Call]:
    body = {"agreed_on": "2025-06-10", "authority_reference": "MATRIX/W1"}
    return [Call("deadlines", "POST", f"/v1/incidents/{t.incidents[0]}/withdrawal", body=body)]


@case("deadlines", "GET", "/v1/trusts/{trust}/deadline-policy")
async def _policy(_w: World, t: Trust) -> list[Call]:
    return [Call("deadlines", "GET", f"/v1/trusts/{t.code}/deadline-policy")]


@case("deadlines", "PUT", "/v1/trusts/{trust}/deadline-policy")
async def _set_policy(_w: World, t: Trust) -> list[Call]:
    body = {
        "local_investigation_days": 45,
        "notification_reminders": [5],
        "report_reminders": [10],
        "local_investigation_reminders": [2],
    }
    return [Call("deadlines", "PUT", f"/v1/trusts/{t.code}/deadline-policy", body=body)]


# deadlines: people's tasks (the seeded notifiable incident owes the similar-incidents task)
def _similar_incidents_task(t: Trust) -> str:
    incident = uuid.UUID(t.incidents[0])
    return f"/v1/incidents/{incident}/tasks/{task_id_for(incident, TaskKind.SIMILAR_INCIDENTS_CONFIRMATION)}"


@case("deadlines", "GET", "/v1/incidents/{incident_id}/tasks")
async def _incident_tasks(_w: World, t: Trust) -> list[Call]:
    return [Call("deadlines", "GET", f"/v1/incidents/{t.incidents[0]}/tasks")]


@case("deadlines", "GET", "/v1/tasks")
async def _tasks(_w: World, t: Trust) -> list[Call]:
    return [
        Call("deadlines", "GET", "/v1/tasks", params={"trust": t.code}),
        Call("deadlines", "GET", "/v1/tasks", params={"site": t.sites[0], "status": "open"}),
        Call("deadlines", "GET", "/v1/tasks"),
    ]


@case("deadlines", "POST", "/v1/incidents/{incident_id}/tasks/{task_id}/assign")
async def _assign_task(_w: World, t: Trust) -> list[Call]:
    body = {"owner_role": "RPA", "assigned_by_role": "RP lead"}
    return [Call("deadlines", "POST", f"{_similar_incidents_task(t)}/assign", body=body)]


@case("deadlines", "POST", "/v1/incidents/{incident_id}/tasks/{task_id}/complete")
async def _complete_task(_w: World, t: Trust) -> list[Call]:
    body = {
        "completed_by_role": "RPA",
        "outcome": "Confirmed by the matrix.",
        "steps": {"confirmed": "2025-06-05"},
    }
    return [Call("deadlines", "POST", f"{_similar_incidents_task(t)}/complete", body=body)]


# reporting: incidents and findings
@case("reporting", "GET", "/v1/incidents")
async def _incidents(_w: World, t: Trust) -> list[Call]:
    return [
        Call("reporting", "GET", "/v1/incidents", params={"trust": t.code}),
        Call("reporting", "GET", "/v1/incidents", params={"site": t.sites[0]}),
        Call("reporting", "GET", "/v1/incidents", params={"case_status": "open"}),
        Call("reporting", "GET", "/v1/incidents"),
    ]


@case("reporting", "GET", "/v1/incidents/{incident_id}")
async def _reporting_incident(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/incidents/{t.incidents[0]}")]


@case("reporting", "POST", "/v1/incidents/{incident_id}/findings")
async def _record_findings(_w: World, t: Trust) -> list[Call]:
    body = {"recorded_by_role": "RPA", "learning": "Written by the matrix."}
    return [Call("reporting", "POST", f"/v1/incidents/{t.incidents[0]}/findings", body=body)]


@case("reporting", "POST", "/v1/incidents/{incident_id}/similar-incidents/confirm")
async def _confirm_similar_incidents(_w: World, t: Trust) -> list[Call]:
    body = {"summary": "No similar incident; confirmed by the matrix.", "confirmed_by_role": "RPA"}
    return [Call("reporting", "POST", f"/v1/incidents/{t.incidents[0]}/similar-incidents/confirm", body=body)]


@case("reporting", "GET", "/v1/incidents/{incident_id}/findings")
async def _findings(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/incidents/{t.incidents[0]}/findings")]


# reporting: the local investigation and the authority's correspondence
MATRIX_DAY = "2025-06-05"  # the matrix's clock's day: within what a record may be dated


@case("reporting", "GET", "/v1/incidents/{incident_id}/local-investigation")
async def _local_investigation(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/incidents/{t.incidents[0]}/local-investigation")]


@case("reporting", "GET", "/v1/incidents/{incident_id}/local-investigation/coding")
async def _coding_choices(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/incidents/{t.incidents[0]}/local-investigation/coding")]


@case("reporting", "PUT", "/v1/incidents/{incident_id}/local-investigation/owner")
async def _investigation_owner(_w: World, t: Trust) -> list[Call]:
    body = {"owner_role": "Medical physics expert", "assigned_by_role": "RPA"}
    return [Call("reporting", "PUT", f"/v1/incidents/{t.incidents[0]}/local-investigation/owner", body=body)]


@case("reporting", "POST", "/v1/incidents/{incident_id}/local-investigation/close")
async def _close_investigation(_w: World, t: Trust) -> list[Call]:
    body = {
        "closed_on": MATRIX_DAY,
        "findings": "Closed by the matrix.",
        "closed_by_role": "RPA",
        "expected_version": 0,
    }
    return [Call("reporting", "POST", f"/v1/incidents/{t.incidents[1]}/local-investigation/close", body=body)]


@case("reporting", "POST", "/v1/incidents/{incident_id}/local-investigation/reopen")
async def _reopen_investigation(_w: World, t: Trust) -> list[Call]:
    body = {"reason": "Reopened by the matrix.", "reopened_by_role": "RPA", "expected_version": 0}
    return [
        Call("reporting", "POST", f"/v1/incidents/{t.incidents[1]}/local-investigation/reopen", body=body)
    ]


@case("reporting", "GET", "/v1/incidents/{incident_id}/authority")
async def _authority(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/incidents/{t.incidents[0]}/authority")]


@case("reporting", "POST", "/v1/incidents/{incident_id}/authority/queries")
async def _authority_query(_w: World, t: Trust) -> list[Call]:
    body = {"received_on": MATRIX_DAY, "summary": "Asked by the matrix.", "recorded_by_role": "RPA"}
    return [Call("reporting", "POST", f"/v1/incidents/{t.incidents[0]}/authority/queries", body=body)]


@case("reporting", "POST", "/v1/incidents/{incident_id}/authority/queries/{query_id}/answer")
async def _authority_answer(_w: World, t: Trust) -> list[Call]:
    query_id = uuid.uuid5(uuid.NAMESPACE_URL, f"matrix-query/{t.code}")
    body = {"answered_on": MATRIX_DAY, "summary": "Answered by the matrix.", "answered_by_role": "RPA"}
    path = f"/v1/incidents/{t.incidents[0]}/authority/queries/{query_id}/answer"
    return [Call("reporting", "POST", path, body=body)]


@case("reporting", "POST", "/v1/incidents/{incident_id}/authority/closure")
async def _authority_closure(_w: World, t: Trust) -> list[Call]:
    body = {"closed_on": MATRIX_DAY, "recorded_by_role": "RPA"}
    return [Call("reporting", "POST", f"/v1/incidents/{t.incidents[0]}/authority/closure", body=body)]


# reporting: submissions
@case("reporting", "POST", "/v1/submissions")
async def _draft(_w: World, t: Trust) -> list[Call]:
    body = {"incident_id": t.incidents[0], "kind": "investigation_report", "contact_role": "RPA"}
    return [Call("reporting", "POST", "/v1/submissions", body=body)]


@case("reporting", "GET", "/v1/submissions")
async def _submissions(_w: World, t: Trust) -> list[Call]:
    return [
        Call("reporting", "GET", "/v1/submissions", params={"incident_id": t.incidents[0]}),
        Call("reporting", "GET", "/v1/submissions", params={"site": t.sites[0]}),
        Call("reporting", "GET", "/v1/submissions"),
    ]


@case("reporting", "GET", "/v1/submissions/{submission_id}")
async def _submission(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/submissions/{t.submission}")]


@case("reporting", "PATCH", "/v1/submissions/{submission_id}")
async def _redraft(_w: World, t: Trust) -> list[Call]:
    body = {"summary": "Changed by the matrix."}
    return [Call("reporting", "PATCH", f"/v1/submissions/{t.submission}", body=body)]


@case("reporting", "POST", "/v1/submissions/{submission_id}/issue")
async def _issue(_w: World, t: Trust) -> list[Call]:
    body = {"submitted_by_role": "RPA"}
    return [Call("reporting", "POST", f"/v1/submissions/{t.submission}/issue", body=body)]


@case("reporting", "POST", "/v1/submissions/{submission_id}/acknowledgement")
async def _acknowledge(_w: World, t: Trust) -> list[Call]:
    body = {"reference": "MATRIX/2025/1"}
    return [Call("reporting", "POST", f"/v1/submissions/{t.submission}/acknowledgement", body=body)]


@case("reporting", "GET", "/v1/submissions/{submission_id}/document.{fmt}")
async def _document(_w: World, t: Trust) -> list[Call]:
    return [
        Call("reporting", "GET", f"/v1/submissions/{t.submission}/document.{fmt}")
        for fmt in ("json", "html", "pdf")
    ]


@case("reporting", "GET", "/v1/submissions/{submission_id}/tables/{name}.csv")
async def _table(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/submissions/{t.submission}/tables/{t.table}.csv")]


# reporting: activity counts, themes, consent
@case("reporting", "POST", "/v1/trusts/{trust_id}/activity")
async def _load_activity(_w: World, t: Trust) -> list[Call]:
    body = {"items": [{"site": t.sites[0], "modality": "ct", "examinations": 777}]}
    return [Call("reporting", "POST", f"/v1/trusts/{t.code}/activity", params={"year": "2024/25"}, body=body)]


@case("reporting", "GET", "/v1/trusts/{trust_id}/activity")
async def _activity(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/trusts/{t.code}/activity", params={"year": "2024/25"})]


@case("reporting", "GET", "/v1/trusts/{trust_id}/rte-export")
async def _rte_export(_w: World, t: Trust) -> list[Call]:
    period = {"from": "2020-01-01", "to": "2030-12-31"}
    return [
        Call("reporting", "GET", f"/v1/trusts/{t.code}/rte-export", params=period),
        Call("reporting", "GET", f"/v1/trusts/{t.code}/rte-export", params={**period, "format": "csv"}),
    ]


@case("reporting", "GET", "/v1/trusts/{trust_id}/analysis")
async def _analysis(_w: World, t: Trust) -> list[Call]:
    # the year of the seeded incidents, so the answers name the trust's sites
    path = f"/v1/trusts/{t.code}/analysis"
    return [
        Call("reporting", "GET", path, params={"year": "2025/26"}),
        Call("reporting", "GET", path, params={"year": "2025/26", "format": "csv", "table": "by_site"}),
    ]


@case("reporting", "POST", "/v1/themes")
async def _open_theme(_w: World, t: Trust) -> list[Call]:
    body = {
        "site": t.probe_site,
        "title": "Opened by the matrix",
        "description": "Repeat exposures on one room's detector.",
        "opened_by_role": "RPA",
    }
    return [Call("reporting", "POST", "/v1/themes", body=body)]


@case("reporting", "GET", "/v1/themes")
async def _themes(_w: World, _t: Trust) -> list[Call]:
    return [Call("reporting", "GET", "/v1/themes")]


@case("reporting", "GET", "/v1/themes/{theme_id}")
async def _theme(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/themes/{t.theme}")]


@case("reporting", "POST", "/v1/themes/{theme_id}/incidents")
async def _link(_w: World, t: Trust) -> list[Call]:
    body = {"incident_id": t.incidents[1], "linked_by_role": "RPA"}
    return [Call("reporting", "POST", f"/v1/themes/{t.theme}/incidents", body=body)]


@case("reporting", "POST", "/v1/themes/{theme_id}/incidents/{incident_id}/unlink")
async def _unlink(_w: World, t: Trust) -> list[Call]:
    body = {"reason": "Unlinked by the matrix.", "unlinked_by_role": "RPA"}
    return [Call("reporting", "POST", f"/v1/themes/{t.theme}/incidents/{t.incidents[0]}/unlink", body=body)]


@case("reporting", "POST", "/v1/themes/{theme_id}/share")
async def _share(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "POST", f"/v1/themes/{t.theme}/share")]


@case("reporting", "GET", "/v1/shared-themes")
async def _shared(_w: World, _t: Trust) -> list[Call]:
    return [Call("reporting", "GET", SHARED)]


@case("reporting", "PUT", "/v1/trusts/{trust_id}/shared-themes-consent")
async def _consent(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "PUT", f"/v1/trusts/{t.code}/shared-themes-consent", body={"consent": False})]


# reporting: several employers (another trust named in an incident reads only its own part)
@case("reporting", "GET", "/v1/trusts/{trust_id}/shared-incidents")
async def _shared_incidents(_w: World, t: Trust) -> list[Call]:
    return [Call("reporting", "GET", f"/v1/trusts/{t.code}/shared-incidents")]


@case("reporting", "GET", "/v1/trusts/{trust_id}/shared-incidents/{incident_id}")
async def _shared_incident(_w: World, t: Trust) -> list[Call]:
    # The trust's own incident is not shared with it (it has the whole incident): 404 for everyone.
    return [Call("reporting", "GET", f"/v1/trusts/{t.code}/shared-incidents/{t.incidents[0]}")]


def mixed_cases(caller: Trust, other: Trust) -> list[Call]:
    """Requests that mix the caller's resources with the other trust's."""
    theme = f"/v1/themes/{caller.theme}"
    return [
        # a site the other trust's incidents came from, in the caller's own rows: refused
        Call(
            "reporting",
            "POST",
            "/v1/themes",
            body={
                "site": other.sites[0],
                "title": "Their site, our theme",
                "description": "Named by the matrix.",
                "opened_by_role": "RPA",
            },
        ),
        Call(
            "reporting",
            "POST",
            f"/v1/trusts/{caller.code}/activity",
            params={"year": "2024/25"},
            body={"items": [{"site": other.sites[0], "modality": "ct", "examinations": 5}]},
        ),
        Call(
            "reporting",
            "POST",
            f"{theme}/incidents",
            body={"incident_id": other.incidents[0], "linked_by_role": "RPA"},
        ),
        Call(
            "reporting",
            "POST",
            f"{theme}/incidents/{other.incidents[0]}/unlink",
            body={"reason": "Mixed by the matrix.", "unlinked_by_role": "RPA"},
        ),
        Call(
            "reporting",
            "POST",
            f"/v1/trusts/{caller.code}/activity",
            params={"year": "2024/25"},
            body={"items": [{"site": other.probe_site, "modality": "ct", "examinations": 5}]},
        ),
        Call(
            "intake",
            "POST",
            f"/v1/trusts/{caller.code}/clients",
            body={"name": "x", "sites": [other.sites[0]]},
        ),
        Call("intake", "DELETE", f"/v1/trusts/{caller.code}/clients/{other.client_key}"),
        Call(
            "intake",
            "POST",
            "/v1/incidents",
            body=ct_overexposure(caller.code, other.probe_site),
        ),
        Call(
            "intake",
            "PUT",
            f"/v1/trusts/{caller.code}/sites/{other.probe_site}",
            body={"name": "Not ours", "nation": "england"},
        ),
        Call("intake", "POST", "/v1/dose-records", body=dose_record(caller.code, other.probe_site)),
    ]


def borrowed_key_cases(caller: Trust, other: Trust) -> list[Call]:
    """The caller's own writes under the other trust's Idempotency-Key (and, for the amendment,
    its exact body): the other trust's stored answer must not come back."""
    key = {"Idempotency-Key": other.amendment_key, "Content-Type": "application/json"}
    return [
        Call(
            "intake",
            "POST",
            f"/v1/incidents/{caller.incidents[0]}/amendments",
            content=other.amendment_body,
            headers=key,
        ),
        Call(
            "intake",
            "POST",
            "/v1/incidents",
            body=ct_overexposure(caller.code, caller.sites[0]),
            headers={"Idempotency-Key": f"seed-{other.code}"},
        ),
        Call(
            "intake",
            "POST",
            "/v1/dose-records",
            body=dose_record(caller.code, caller.sites[0], correction=True),
            headers={"Idempotency-Key": f"dose-{other.code}"},
        ),
    ]


# -- the console: every page and action as each person of both trusts -----------------------------

#: The people the console signs in (an integration engine has no console).
CONSOLE_ROLES = (Role.RP_LEAD, Role.TRUST_ADMIN, Role.THEME_REVIEWER, Role.AUDITOR)
#: Answered to anyone: the sign-in form, the identity provider's redirects, health, and the
#: Prometheus scrape (counts by route template, never a trust's data).
CONSOLE_PUBLIC = {
    ("GET", "/sign-in"),
    ("GET", "/auth/login"),
    ("GET", "/auth/callback"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
#: Routes that replace who the session is: a signed-in person sends them on a session of their
#: own, for their own trust (development sign-in lets a person pick any listed trust by design;
#: production signs in through the identity provider), so the other calls stay theirs.
SESSION_ROUTES = {("POST", "/sign-in"), ("POST", "/sign-out")}
CONSOLE_CASES: dict[tuple[str, str], Builder] = {}
SESSION_COOKIE = "sievert_console"


def console_case(method: str, path: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        CONSOLE_CASES[(method, path)] = builder
        return builder

    return register


def console_page(template: str, path: str | None = None, **params: str) -> None:
    """A GET route of the console; ``path`` may name the target's rows through ``{t.…}``."""

    async def builder(_w: World, t: Trust) -> list[Call]:
        concrete = (path or template).format(t=t)
        return [Call("console", "GET", concrete, params={k: v.format(t=t) for k, v in params.items()})]

    CONSOLE_CASES[("GET", template)] = builder


def console_form(template: str, path: str, data: dict[str, str]) -> None:
    """A POST route of the console: a form, as the page sends it (the CSRF token is added per session)."""

    async def builder(_w: World, t: Trust) -> list[Call]:
        concrete = path.format(t=t, task=_similar_incidents_task(t), query=_query_of(t))
        form = {k: v.format(t=t) for k, v in data.items()}
        content = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return [Call("console", "POST", concrete, content=content, headers=headers)]

    CONSOLE_CASES[("POST", template)] = builder


def _query_of(t: Trust) -> uuid.UUID:
    """An authority query id for the trust's incident (it has none: the answer is refused)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"matrix-query-{t.code}")


INCIDENT = "/incidents/{t.incidents[0]}"
for _path in ("/", "/queue", "/admin", "/admin/clients", "/admin/log", "/themes", "/themes/list", "/trends"):
    console_page(_path)
for _path in ("/sign-in", "/auth/login", "/auth/callback", "/healthz", "/readyz", "/live", "/metrics"):
    console_page(_path)
console_page("/queue/rows", site="{t.sites[0]}", show="all")
# the year of the seeded incidents, so the page and its CSV name the trust's own sites
console_page("/trends", year="2025/26")
console_page("/trends/{table}.csv", "/trends/by_site.csv", year="2025/26")
for _suffix in ("", "/facts", "/decision", "/clocks", "/case", "/tasks", "/authority", "/report"):
    console_page(f"/incidents/{{incident_id}}{_suffix}", f"{INCIDENT}{_suffix}")
for _suffix in ("/documents", "/audit", "/amend"):
    console_page(f"/incidents/{{incident_id}}{_suffix}", f"{INCIDENT}{_suffix}")
console_page(
    "/incidents/{incident_id}/submissions/{submission_id}/document.pdf",
    f"{INCIDENT}/submissions/{{t.submission}}/document.pdf",
)
console_page("/themes/{theme_id}", "/themes/{t.theme}")
console_page("/themes/{theme_id}/detail", "/themes/{t.theme}/detail")
console_page("/shared-incidents")
console_page("/shared-incidents/{incident_id}", "/shared-incidents/{t.incidents[0]}")

_AT = "2025-06-05T09:00"
for _route, _form in {
    "amendments": {
        "expected_version": "1",
        "total_effective_dose_msv": "14",
        "reason": "Changed by the matrix.",
    },
    "submissions": {
        "kind": "notification",
        "authority": "cqc",
        "submitted_at": _AT,
        "submitted_by_role": "RPA",
        "reference": "MATRIX/C1",
    },
    "drafts": {"kind": "investigation_report", "contact_role": "RPA"},
    "local-investigation/owner": {"owner_role": "Medical physics expert", "expected_version": "0"},
    "local-investigation/close": {"closed_on": MATRIX_DAY, "findings": "Closed by the matrix."},
    "local-investigation/reopen": {"reason": "Reopened by the matrix.", "expected_version": "0"},
    "withdrawal": {"agreed_on": MATRIX_DAY, "authority_reference": "MATRIX/W2", "expected_version": "0"},
    "authority/queries": {"received_on": MATRIX_DAY, "summary": "Asked by the matrix."},
    "authority/closure": {"closed_on": MATRIX_DAY},
    "findings": {"learning": "Written by the matrix.", "contributory_factors_none": "1"},
    "similar-incidents/confirm": {"summary": "Confirmed by the matrix."},
}.items():
    console_form(f"/incidents/{{incident_id}}/{_route}", f"{INCIDENT}/{_route}", _form)
console_form(
    "/incidents/{incident_id}/authority/queries/{query_id}/answer",
    f"{INCIDENT}/authority/queries/{{query}}/answer",
    {"answered_on": MATRIX_DAY, "summary": "Answered by the matrix."},
)
console_form(
    "/incidents/{incident_id}/submissions/{submission_id}/issue",
    f"{INCIDENT}/submissions/{{t.submission}}/issue",
    {"submitted_by_role": "RPA"},
)
console_form(
    "/incidents/{incident_id}/submissions/{submission_id}/particulars",
    f"{INCIDENT}/submissions/{{t.submission}}/particulars",
    {"preliminary_investigation": "Written by the matrix."},
)
console_form("/incidents/{incident_id}/tasks/{task_id}/assign", "{task}/assign", {"owner_role": "RPA"})
console_form(
    "/incidents/{incident_id}/tasks/{task_id}/complete",
    "{task}/complete",
    {"outcome": "Confirmed by the matrix.", "step:confirmed": MATRIX_DAY},
)
console_form(
    "/admin/sites",
    "/admin/sites",
    {"site": "{t.probe_site}", "name": "Named by the matrix", "nation": "england"},
)
console_form("/admin/clients", "/admin/clients", {"name": "Made by the matrix", "sites": "{t.sites[0]}"})
console_form("/admin/clients/{key_id}/revoke", "/admin/clients/{t.client_key}/revoke", {})
console_form("/admin/deadline-policy", "/admin/deadline-policy", {"local_investigation_days": "45"})
# consent as seeded: a person's own trust's consent must not move another trust's shared reads
console_form("/admin/shared-themes-consent", "/admin/shared-themes-consent", {"consent": "true"})
console_form(
    "/themes",
    "/themes",
    {
        "site": "{t.sites[0]}",
        "title": "Opened by the matrix",
        "description": "Repeats.",
        "opened_by_role": "RPA",
    },
)
console_form(
    "/themes/{theme_id}/incidents",
    "/themes/{t.theme}/incidents",
    {"incident_id": "{t.incidents[1]}", "linked_by_role": "RPA"},
)
console_form(
    "/themes/{theme_id}/incidents/{incident_id}/unlink",
    "/themes/{t.theme}/incidents/{t.incidents[0]}/unlink",
    {"reason": "Unlinked by the matrix.", "unlinked_by_role": "RPA"},
)
console_form("/themes/{theme_id}/share", "/themes/{t.theme}/share", {})
console_form("/sign-in", "/sign-in", {"trust": "{t.code}", "role": "rp_lead"})
console_form("/sign-out", "/sign-out", {})


class ServicesInProcess(httpx.AsyncBaseTransport):
    """The console's API calls, to the services running in this process (by host name)."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self._by_host = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._by_host[request.url.host].handle_async_request(request)


@dataclass
class ConsoleSession:
    """One browser: its cookies and the CSRF token of its session (none: anonymous, forged)."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def send(self, call: Call) -> httpx.Response:
        headers = {**call.headers, **({"X-CSRF-Token": self.csrf} if self.csrf else {})}
        if call.path != "/live":
            return await self.client.request(
                call.method, call.path, params=call.params, content=call.content, headers=headers
            )
        # The live stream never ends: its head and first event are the answer.
        async with self.client.stream("GET", call.path, params=call.params, headers=headers) as stream:
            first = b""
            if stream.status_code == 200:
                async for chunk in stream.aiter_bytes():
                    first += chunk
                    if b"\r\n\r\n" in first or b"\n\n" in first:
                        break
            return httpx.Response(stream.status_code, headers=stream.headers, content=first)


_CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1) or found.group(2)


@dataclass
class Console:
    url: str
    sessions: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=30)
        self.sessions.append(client)
        return client

    async def signed_in(self, trust: Trust, role: Role) -> ConsoleSession:
        client = self.browser()
        token = csrf_in((await client.get("/sign-in")).text)
        signed = await client.post(
            "/sign-in", data={"trust": trust.code, "role": role.value, "csrf_token": token}
        )
        assert (signed.status_code, signed.headers.get("location")) == (303, "/queue"), signed.text
        return ConsoleSession(client, csrf_in((await client.get("/trends")).text))

    def forged(self, trust: Trust) -> ConsoleSession:
        """A session cookie naming an RP lead of ``trust``, signed with a secret not the console's."""
        person = {
            "subject": f"rp_lead@{trust.code}",
            "name": "Forged",
            "trust": trust.code,
            "roles": ["rp_lead"],
        }
        payload = b64encode(json.dumps({"person": person, "csrf": "forged-csrf"}).encode())
        client = self.browser()
        client.cookies.set(SESSION_COOKIE, TimestampSigner("not-the-console-secret").sign(payload).decode())
        return ConsoleSession(client, "forged-csrf")

    async def close(self) -> None:
        for client in self.sessions:
            await client.aclose()


@contextlib.asynccontextmanager
async def serving_console(world: World) -> AsyncIterator[Console]:
    """The console on a real port (its live stream needs one: the ASGI transport buffers a whole
    answer), calling the services in process with the tokens it mints for each person."""
    settings = ConsoleSettings(
        dev_signing_key_file=world.console_key,
        dev_issuer=TEST_ISSUER.issuer,
        dev_audience=AUDIENCE,
        dev_trusts=[DevTrust(code=t.code, name=f"Trust {t.code}") for t in world.trusts],
        services=ServiceUrls(**{name: f"http://{name}" for name in SERVICES}),
        live_updates=False,
    )
    app = build_console(settings, transport=ServicesInProcess(world.apps))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", timeout_graceful_shutdown=10
        )
    )
    serving = asyncio.create_task(server.serve())
    console = Console(f"http://127.0.0.1:{port}")
    try:
        await eventually(lambda: _started(server), timeout=30, interval=0.05)
        yield console
    finally:
        await console.close()
        server.should_exit = True
        await serving


async def _started(server: uvicorn.Server) -> None:
    assert server.started


async def console_anonymous(matrix: Matrix, console: Console) -> int:
    """No session, or a forged one: the sign-in page, a refused form or 401, never a 2xx but the
    public routes, and nothing of either trust."""
    alpha = matrix.world.trusts[0]
    refused = 0
    for name, session in (
        ("console anonymous", ConsoleSession(console.browser())),
        ("console forged", console.forged(alpha)),
    ):
        for (method, path), builder in CONSOLE_CASES.items():
            for call in await builder(matrix.world, alpha):
                response = await session.send(call)
                matrix.check(name, None, "-", call, response)
                if response.status_code >= 500:
                    matrix.leaks.append(f"[{name}] {call.label} answered {response.status_code}")
                elif (method, path) in CONSOLE_PUBLIC:
                    continue
                elif response.is_success:
                    matrix.leaks.append(f"[{name}] {call.label} answered {response.status_code}")
                else:
                    refused += 1
    return refused


async def console_phase(matrix: Matrix, console: Console, phase: str, caller: Trust, target: Trust) -> None:
    """Each person of ``caller`` through every console route aimed at ``target``'s rows. A page's
    answer must carry nothing of the other trust; a form's effect is judged by the snapshots."""
    world = matrix.world
    for role in CONSOLE_ROLES:
        session = await console.signed_in(caller, role)
        for key, builder in CONSOLE_CASES.items():
            if key in SESSION_ROUTES:
                continue
            for call in await builder(world, target):
                response = await session.send(call)
                matrix.check(phase, caller, role, call, response)
                matrix.console_calls += 1
                sent = call.text()
                if caller is target and any(
                    i not in sent and i in response.text for i in caller.identifiers()
                ):
                    matrix.console_own_seen += 1
                if response.status_code >= 500:
                    matrix.leaks.append(
                        f"[{phase}] {caller.code}/{role} {call.label} answered {response.status_code}"
                    )
        for key in sorted(SESSION_ROUTES):
            own = await console.signed_in(caller, role)
            for call in await CONSOLE_CASES[key](world, caller):
                response = await own.send(call)
                matrix.check(phase, caller, role, call, response)
                matrix.console_calls += 1
                assert response.status_code == 303, (call.label, response.status_code, response.text)


def console_uncovered(app: FastAPI) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    served = routes_of(app)
    return sorted(served - CONSOLE_CASES.keys()), sorted(CONSOLE_CASES.keys() - served)


# -- the services -------------------------------------------------------------------------------


def build_apps(
    kafka: KafkaSettings, urls: dict[str, str], clock: FakeClock
) -> dict[str, tuple[Any, FastAPI]]:
    common: dict[str, Any] = {"kafka": kafka, "environment": "test"}
    intake = build_intake(IntakeSettings(database_url=urls["intake"], **common), clock)
    classifier = build_classifier(ClassifierSettings(database_url=urls["classifier"], **common), clock)
    deadlines_runtime, deadlines_app, _service = build_deadlines(
        DeadlinesSettings(database_url=urls["deadlines"], **common), clock
    )
    reporting = build_reporting(ReportingSettings(database_url=urls["reporting"], **common), clock)
    return {
        "intake": intake,
        "classifier": classifier,
        "deadlines": (deadlines_runtime, deadlines_app),
        "reporting": reporting,
    }


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves (HEAD answers as GET does)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or set():
            if method != "HEAD" and route.path is not None:
                found.add((method, route.path))
    return found


def uncovered(apps: dict[str, FastAPI]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    served = {(service, method, path) for service, app in apps.items() for method, path in routes_of(app)}
    return sorted(served - CASES.keys()), sorted(CASES.keys() - served)


def test_every_route_of_every_service_has_a_case() -> None:
    """Without infrastructure: a route added to any service without a case here fails."""
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:9", topic_prefix="unused")
    urls = {s: "postgresql://unused@127.0.0.1:9/unused" for s in SERVICES}
    apps = {
        name: app for name, (_r, app) in build_apps(kafka, urls, FakeClock(dt.datetime.now(dt.UTC))).items()
    }
    missing, stale = uncovered(apps)
    assert not missing, f"routes with no case in the tenancy matrix: {missing}"
    assert not stale, f"cases for routes that no longer exist: {stale}"
    console = build_console(ConsoleSettings(live_updates=False))
    missing_pages, stale_pages = console_uncovered(console)
    assert not missing_pages, f"console routes with no case in the tenancy matrix: {missing_pages}"
    assert not stale_pages, f"cases for console routes that no longer exist: {stale_pages}"


@contextlib.asynccontextmanager
async def running(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> AsyncIterator[World]:
    clock = FakeClock(dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC))
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=topic_prefix)
    urls = {service: await make_database(service) for service in SERVICES}
    built = build_apps(kafka, urls, clock)
    async with contextlib.AsyncExitStack() as stack:
        console_key = write_dev_key(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        authenticator = services_authenticator(json.loads(console_key.jwks.read_text())["keys"])
        clients: dict[str, httpx.AsyncClient] = {}
        for service, (runtime, app) in built.items():
            app.state.authenticator = authenticator
            await stack.enter_async_context(runtime.lifespan(app))
            clients[service] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")
            )
        apps = {service: app for service, (_runtime, app) in built.items()}
        trusts = (Trust("ZXALPHA", ENGINE_ALPHA), Trust("ZXBRAVO", ENGINE_BRAVO))
        yield World(apps, clients, urls, trusts, console_key.private_key)


def services_authenticator(console_keys: list[dict[str, Any]]) -> Authenticator:
    """Authentication required: the test issuer's people, the console's (its development key,
    under the same issuer name) and the two engines."""
    settings = AuthSettings(
        mode="required",
        issuer=TEST_ISSUER.issuer,
        audience=AUDIENCE,
        jwks={"keys": [*TEST_ISSUER.jwks()["keys"], *console_keys]},
        api_keys={k.key_id: k.config for k in (ENGINE_ALPHA, ENGINE_BRAVO)},
        rate_per_second=100_000,
        rate_burst=100_000,
    )
    return Authenticator(settings, environment="test")


async def ok(world: World, call: Call, credentials: dict[str, str], status: int) -> httpx.Response:
    response = await world.send(call, credentials)
    assert response.status_code == status, (call.label, response.status_code, response.text)
    return response


async def seed(world: World, t: Trust) -> None:
    """Sites, a client, two incidents (one with a patient), an amendment, through intake."""
    admin, lead = t.headers(Role.TRUST_ADMIN), t.headers(Role.RP_LEAD)
    for site in (*t.sites, t.probe_site):
        body = {"name": f"Site {site}", "nation": "england"}
        await ok(world, Call("intake", "PUT", f"/v1/trusts/{t.code}/sites/{site}", body=body), admin, 201)
    made = await ok(
        world,
        Call("intake", "POST", f"/v1/trusts/{t.code}/clients", body={"name": "Seed", "sites": [t.sites[0]]}),
        admin,
        201,
    )
    t.client_key = made.json()["key_id"]
    first = await ok(
        world,
        Call(
            "intake",
            "POST",
            "/v1/incidents",
            body={**one_individual(ct_overexposure(t.code, t.sites[0])), "patient": PATIENT},
        ),
        {**t.engine.header, "Idempotency-Key": f"seed-{t.code}"},
        202,
    )
    t.incidents.append(first.json()["incident_id"])
    t.pseudonym = first.json()["patient_pseudonym"]
    second = await ok(
        world,
        Call("intake", "POST", "/v1/incidents", body=small_radiography_repeat(t.code, t.sites[1])),
        t.engine.header,
        202,
    )
    t.incidents.append(second.json()["incident_id"])
    recorded = await ok(
        world,
        Call("intake", "POST", "/v1/dose-records", body=dose_record(t.code, t.sites[0])),
        {**t.engine.header, "Idempotency-Key": f"dose-{t.code}"},
        202,
    )
    t.made[recorded.json()["record_id"]] = "dose record"
    # The same amendment body for both trusts, each under its own key: the borrowed-key cases
    # send it again under the other trust's key.
    t.amendment_key = f"amend-{t.code}"
    t.amendment_body = json.dumps(
        {"expected_version": 1, "facts": {"total_effective_dose_msv": 0.05}, "reason": "Re-measured."}
    ).encode()
    await ok(
        world,
        Call(
            "intake",
            "POST",
            f"/v1/incidents/{t.incidents[1]}/amendments",
            content=t.amendment_body,
            headers={"Idempotency-Key": t.amendment_key, "Content-Type": "application/json"},
        ),
        lead,
        202,
    )


async def seed_reporting(world: World, t: Trust) -> None:
    """Once reporting has the incidents: consent, activity, a draft, findings, a shared theme."""
    admin, lead = t.headers(Role.TRUST_ADMIN), t.headers(Role.RP_LEAD)
    await ok(
        world,
        Call("reporting", "PUT", f"/v1/trusts/{t.code}/shared-themes-consent", body={"consent": True}),
        admin,
        200,
    )
    activity = {"items": [{"site": s, "modality": "ct", "examinations": 1000} for s in t.sites]}
    await ok(
        world,
        Call("reporting", "POST", f"/v1/trusts/{t.code}/activity", params={"year": "2024/25"}, body=activity),
        admin,
        200,
    )
    draft = {
        "incident_id": t.incidents[0],
        "kind": "notification",
        "contact_role": "RPA",
        "summary": "Wrong protocol.",
        "particulars": NOTIFICATION_PARTICULARS,
    }
    t.submission = (
        await ok(world, Call("reporting", "POST", "/v1/submissions", body=draft), lead, 201)
    ).json()["submission_id"]
    document = await ok(
        world, Call("reporting", "GET", f"/v1/submissions/{t.submission}/document.json"), lead, 200
    )
    t.table = view_of(document.json()).tables()[0].name
    findings = {"recorded_by_role": "RPA", "what_happened": "A CT head protocol was used for an abdomen."}
    await ok(
        world, Call("reporting", "POST", f"/v1/incidents/{t.incidents[0]}/findings", body=findings), lead, 202
    )
    theme = {
        "site": t.sites[0],
        "title": "Protocol selection",
        "description": "A protocol for the wrong body part was selected.",
        "opened_by_role": "RPA",
    }
    t.theme = (await ok(world, Call("reporting", "POST", "/v1/themes", body=theme), lead, 201)).json()[
        "theme_id"
    ]
    link = {"incident_id": t.incidents[0], "linked_by_role": "RPA"}
    await ok(world, Call("reporting", "POST", f"/v1/themes/{t.theme}/incidents", body=link), lead, 201)
    await ok(world, Call("reporting", "POST", f"/v1/themes/{t.theme}/share"), lead, 202)


async def through_the_pipeline(world: World, t: Trust) -> None:
    async def arrived() -> None:
        for incident in t.incidents:
            read = await world.send(Call("reporting", "GET", f"/v1/incidents/{incident}"), t.reader)
            assert read.status_code == 200 and read.json()["decision"] is not None, read.text
        windows = await world.send(
            Call("deadlines", "GET", f"/v1/incidents/{t.incidents[0]}/deadlines"), t.reader
        )
        assert windows.status_code == 200, windows.text

    await eventually(arrived, timeout=60)


# -- snapshots: a trust's reads and rows --------------------------------------------------------


async def rows_fingerprint(world: World) -> dict[str, str]:
    """Per service and trust, a digest of every row of every table with a ``trust`` column, and
    per service the counts that move while events are still on their way."""
    out: dict[str, str] = {}
    for service, url in world.databases.items():
        conn = await asyncpg.connect(url)
        try:
            tables = await conn.fetch(
                """SELECT table_name FROM information_schema.columns
                   WHERE table_schema = 'public' AND column_name = 'trust' ORDER BY table_name"""
            )
            for row in tables:
                name = row["table_name"]
                for t in world.trusts:
                    digest = await conn.fetchval(
                        f"""SELECT coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '')
                            FROM "{name}" r WHERE r.trust = $1""",
                        t.code,
                    )
                    out[f"{service}.{name}.{t.code}"] = str(digest)
            out[f"{service}.unpublished"] = str(
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )
            out[f"{service}.processed"] = str(await conn.fetchval("SELECT count(*) FROM processed_events"))
        finally:
            await conn.close()
    return out


async def settled(world: World) -> dict[str, str]:
    """Wait until every outbox is published and nothing moves across three polls."""
    seen: list[dict[str, str]] = []

    async def still() -> None:
        current = await rows_fingerprint(world)
        seen.append(current)
        assert all(v == "0" for k, v in current.items() if k.endswith(".unpublished"))
        assert len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]

    await eventually(still, timeout=60, interval=0.3)
    return seen[-1]


async def reads_of(world: World, t: Trust) -> dict[str, str]:
    """Every GET route's answer for ``t``, read by one of its own people."""
    out: dict[str, str] = {}
    for (_service, method, path), builder in sorted(CASES.items()):
        if method != "GET" or path in PUBLIC or path in READS_THAT_WRITE or path.endswith("document.{fmt}"):
            continue
        for call in await builder(world, t):
            response = await world.send(call, t.reader)
            out[call.label] = f"{response.status_code} {response.text}"
    return out


# -- checking answers ----------------------------------------------------------------------------


def answer_text(response: httpx.Response) -> str:
    parts = [f"{k}: {v}" for k, v in response.headers.items()]
    parts.append(response.content.decode("latin-1"))
    if response.headers.get("content-type", "").startswith("application/pdf"):
        parts.append(pdf_text(response.content))
    return "\n".join(parts)


@dataclass
class Matrix:
    world: World
    statuses: Counter[int] = field(default_factory=Counter)
    by_phase: dict[str, Counter[int]] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    site_naming: list[str] = field(default_factory=list)
    site_naming_routes: set[str] = field(default_factory=set)
    calls: int = 0
    identifiers_revealed: int = 0  # through the audited door, to the trust's own RP lead
    own_seen: int = 0  # answers that carried the caller's own identifiers: the check has teeth
    console_calls: int = 0
    console_own_seen: int = 0  # console answers showing the person's own rows they did not name

    def check(
        self, phase: str, caller: Trust | None, role: str, call: Call, response: httpx.Response
    ) -> None:
        self.calls += 1
        self.statuses[response.status_code] += 1
        self.by_phase.setdefault(phase, Counter())[response.status_code] += 1
        text, sent = answer_text(response), call.text()
        for planted in caller.planted if caller is not None else ():
            text = text.replace(planted, "")  # the caller's trust wrote it into its own rows
        others = [t for t in self.world.trusts if t is not caller]
        for other in others:
            for identifier, kind in other.identifiers().items():
                if identifier not in text or identifier in sent:
                    continue
                if kind in MAY_CARRY.get((call.service, call.path), set()):
                    continue
                self.leaks.append(
                    f"[{phase}] {caller.code if caller else 'anonymous'}/{role} {call.label} -> "
                    f"{response.status_code} carries {other.code}'s {kind} {identifier}"
                )
        if caller is not None and any(i in text for i in caller.identifiers() if i != caller.code):
            self.own_seen += 1
        for kind, value in {**PATIENT, "nhs_number (digits)": "9434765919"}.items():
            if value in text and value not in sent:
                if call.path.endswith("/patient"):
                    self.identifiers_revealed += 1
                else:
                    self.leaks.append(f"[{phase}] {call.label} -> {response.status_code} carries a {kind}")

    def judge(self, phase: str, caller: Trust, role: str, call: Call, response: httpx.Response) -> None:
        """A write of ``caller`` aimed at (or naming) the other trust. Refused: fine. Accepted
        with only the other trust's site codes in it: the caller's trust wrote rows of its own
        that name another trust's site (people are trust-wide and no service checks which trust a
        site code belongs to), a finding listed apart: nothing of the other trust was read or
        changed (the snapshots check that). Accepted otherwise: a leak."""
        if not response.is_success or call.method == "GET":
            return
        other = self.world.other(caller)
        sent = call.text()
        bare = sent.replace(other.probe_site, "")  # a site code holds its trust's code
        kinds = {kind for identifier, kind in other.identifiers().items() if identifier in bare}
        where = f"[{phase}] {caller.code}/{role} {call.label} -> {response.status_code}"
        if not kinds and bare != sent:
            self.site_naming.append(where)
            caller.planted.add(other.probe_site)
            route = f"{call.service} {call.method} {call.path}"
            self.site_naming_routes.add(
                route.replace(other.probe_site, "{other_site}").replace(caller.code, "{trust}")
            )
        else:
            self.leaks.append(f"{where} aimed at {other.code}: {response.text[:200]}")

    def harvest(self, caller: Trust, response: httpx.Response) -> None:
        """Ids a write made for the caller's trust join its identifiers."""
        if response.status_code >= 300 or "json" not in response.headers.get("content-type", ""):
            return
        body = response.json()
        if not isinstance(body, dict):
            return
        for key, kind in HARVESTED.items():
            value = body.get(key)
            if isinstance(value, str) and value not in self.world.other(caller).identifiers():
                caller.made.setdefault(value, kind)


async def run_phase(
    matrix: Matrix, phase: str, callers: list[tuple[Trust, Trust]], *, gets_only: bool = False
) -> None:
    world = matrix.world
    for caller, target in callers:
        for role in ROLES:
            credentials = caller.headers(role)
            for (service, method, path), builder in CASES.items():
                if gets_only and method != "GET":
                    continue
                for call in await builder(world, target):
                    response = await world.send(call, credentials)
                    matrix.check(phase, caller, role, call, response)
                    if caller is target:
                        matrix.harvest(caller, response)
                    elif (service, method, path) not in DRY_RUNS:
                        matrix.judge(phase, caller, role, call, response)


async def test_nothing_crosses_between_two_trusts(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    started = time.monotonic()
    async with running(infra, topic_prefix, make_database) as world, contextlib.AsyncExitStack() as stack:
        missing, stale = uncovered(world.apps)
        assert not missing and not stale, (missing, stale)
        console = await stack.enter_async_context(serving_console(world))
        alpha, bravo = world.trusts
        for t in world.trusts:
            await seed(world, t)
        await asyncio.gather(*(through_the_pipeline(world, t) for t in world.trusts))
        for t in world.trusts:
            await seed_reporting(world, t)
        shared = await world.send(Call("reporting", "GET", SHARED), alpha.reader)
        seeded = time.monotonic()
        matrix = Matrix(world)

        # (a) no credentials, or forged ones: 401 everywhere but the public routes
        anonymous_refused = 0
        for name, credentials in ANONYMOUS.items():
            for (_service, _method, path), builder in CASES.items():
                for call in await builder(world, alpha):
                    response = await world.send(call, credentials)
                    matrix.check(name, None, "-", call, response)
                    if path in PUBLIC:
                        assert response.status_code == 200, (call.label, response.status_code)
                    elif response.status_code != 401:
                        matrix.leaks.append(f"[{name}] {call.label} answered {response.status_code}")
                    elif "WWW-Authenticate" not in response.headers:
                        matrix.leaks.append(f"[{name}] {call.label}: 401 without WWW-Authenticate")
                    else:
                        anonymous_refused += 1
        console_refused = await console_anonymous(matrix, console)

        # (b, c) each trust's callers aimed at the other trust's resources: nothing comes back,
        # and nothing of the other trust changes. One direction at a time, so that a change of
        # the target's rows or reads can only come from the caller.
        for caller in world.trusts:
            target = world.other(caller)
            rows_before, reads_before = await settled(world), await reads_of(world, target)
            await run_phase(matrix, "cross", [(caller, target)])
            for role in ROLES:
                for call in mixed_cases(caller, target):
                    response = await world.send(call, caller.headers(role))
                    matrix.check("mixed", caller, role, call, response)
                    matrix.judge("mixed", caller, role, call, response)
            await console_phase(matrix, console, "console cross", caller, target)
            rows_after, reads_after = await settled(world), await reads_of(world, target)
            for key in sorted(rows_before.keys() | rows_after.keys()):
                if key.endswith(f".{target.code}") and rows_before.get(key) != rows_after.get(key):
                    matrix.leaks.append(f"[cross] {caller.code} changed {target.code}'s rows: {key}")
            for label in sorted(reads_before.keys() | reads_after.keys()):
                if reads_before.get(label) != reads_after.get(label):
                    matrix.leaks.append(f"[cross] {caller.code} changed {target.code}'s read: {label}")

        # (b) each trust's callers on their own trust: writes succeed where the role allows,
        # and no answer carries the other trust; then every read again, with what was made
        for caller in world.trusts:
            for role in (Role.INTEGRATION, Role.RP_LEAD):
                for call in borrowed_key_cases(caller, world.other(caller)):
                    response = await world.send(call, caller.headers(role))
                    matrix.check("borrowed key", caller, role, call, response)
                    matrix.harvest(caller, response)
        await run_phase(matrix, "own", [(alpha, alpha), (bravo, bravo)])
        await run_phase(matrix, "reads after", [(alpha, alpha), (bravo, bravo)], gets_only=True)
        for t in world.trusts:
            await console_phase(matrix, console, "console own", t, t)

        done = time.monotonic()

    principals = 2 * len(ROLES) + len(ANONYMOUS)
    print(
        f"\ntenancy matrix: {len(CASES)} routes x {principals} principals "
        f"(5 roles x 2 trusts + {len(ANONYMOUS)} without valid credentials); {matrix.calls} calls; "
        f"{anonymous_refused} refusals without valid credentials; {len(matrix.leaks)} leaks"
    )
    print(
        f"console: {len(CONSOLE_CASES)} routes x {2 * len(CONSOLE_ROLES)} people + anonymous and a forged "
        f"session; {matrix.console_calls} calls as people; {console_refused} refusals without a session"
    )
    print(f"statuses: {dict(sorted(matrix.statuses.items()))}")
    for phase, counts in matrix.by_phase.items():
        print(f"  {phase}: {dict(sorted(counts.items()))}")
    print(f"seeding {seeded - started:.1f}s, matrix {done - seeded:.1f}s")
    print(f"own rows naming the other trust's site codes ({len(matrix.site_naming)}):")
    for finding in matrix.site_naming:
        print(f"  {finding}")
    # The checks have teeth: own answers carried own identifiers, and the consented shared theme
    # of the other trust did reach the caller (the one exception, which carries no incident).
    assert matrix.own_seen > 50, matrix.own_seen
    assert matrix.console_own_seen > 50, matrix.console_own_seen
    assert matrix.identifiers_revealed > 0
    assert bravo.theme in shared.text, shared.text
    assert not matrix.leaks, "\n".join(matrix.leaks)
    assert matrix.site_naming_routes <= KNOWN_SITE_NAMING, matrix.site_naming_routes
