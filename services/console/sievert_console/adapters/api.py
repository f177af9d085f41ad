"""A client per service API, calling as the signed-in person (their bearer token on every call).

Every call ends in one of three ways: the answer; ``ApiProblem`` (the service answered with a
4xx problem document: the person may not, the row does not exist for them, their input is
invalid, or it changed under them); or ``ServiceDown`` (no answer, or a 5xx): the page shows
that service as down and the rest of it keeps working.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from sievert_shared.http import CORRELATION_HEADER


class ServiceDown(Exception):
    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class ApiProblem(Exception):
    """A 4xx answer, with its problem document (RFC 9457) as the service sent it."""

    def __init__(self, service: str, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{service} answered {status}: {body.get('detail') or body.get('title')}")
        self.service = service
        self.status = status
        self.body = body

    @property
    def detail(self) -> str:
        return str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors = self.body.get("errors")
        return list(errors) if isinstance(errors, list) else []


@dataclass(frozen=True)
class Caller:
    """Who the calls are made as: the person's bearer token, and the page request's correlation
    id so one click can be followed through every service's logs."""

    token: str
    correlation_id: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.correlation_id:
            headers[CORRELATION_HEADER] = self.correlation_id
        return headers


class ServiceApi:
    def __init__(self, name: str, base_url: str, http: httpx.AsyncClient) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._http = http

    async def request(self, caller: Caller | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**(caller.headers() if caller else {}), **kwargs.pop("headers", {})}
        try:
            response = await self._http.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceDown(self.name, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ServiceDown(self.name, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ApiProblem(self.name, response.status_code, _problem_body(response))
        return response

    async def json(self, caller: Caller | None, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(caller, method, path, **kwargs)).json()

    async def alive(self) -> None:
        """Readiness: the service answers its own /healthz."""
        await self.request(None, "GET", "/healthz")


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "status": response.status_code}
    return body if isinstance(body, dict) else {"title": str(body), "status": response.status_code}


T = TypeVar("T")


async def found_or_none(call: Awaitable[T]) -> T | None:
    """The answer, or None for 404 (another trust's row answers exactly like a missing one)."""
    try:
        return await call
    except ApiProblem as problem:
        if problem.status == 404:
            return None
        raise


class IntakeApi(ServiceApi):
    async def incident(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}")
        )
        return result

    async def audit(self, caller: Caller, incident_id: uuid.UUID) -> list[dict[str, Any]] | None:
        """Who did what and when: the incident's events and every read of its patient identifiers."""
        answer = await found_or_none(self.json(caller, "GET", f"/v1/incidents/{incident_id}/audit"))
        return None if answer is None else list(answer["entries"])

    async def amend(self, caller: Caller, incident_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(
            caller, "POST", f"/v1/incidents/{incident_id}/amendments", json=body
        )
        return result


class IntakeAdminApi(ServiceApi):
    """Intake's trust administration: sites, integration clients and their change log."""

    async def sites(self, caller: Caller, trust: str) -> list[dict[str, Any]]:
        return list((await self.json(caller, "GET", f"/v1/trusts/{trust}/sites"))["sites"])

    async def register_site(self, caller: Caller, trust: str, site: str, body: dict[str, Any]) -> None:
        await self.request(caller, "PUT", f"/v1/trusts/{trust}/sites/{site}", json=body)

    async def clients(self, caller: Caller, trust: str) -> list[dict[str, Any]]:
        return list((await self.json(caller, "GET", f"/v1/trusts/{trust}/clients"))["clients"])

    async def create_client(self, caller: Caller, trust: str, body: dict[str, Any]) -> dict[str, Any]:
        """The new client with its API key: the only time anyone sees the key."""
        result: dict[str, Any] = await self.json(caller, "POST", f"/v1/trusts/{trust}/clients", json=body)
        return result

    async def revoke_client(self, caller: Caller, trust: str, key_id: str) -> None:
        await self.request(caller, "DELETE", f"/v1/trusts/{trust}/clients/{key_id}")

    async def admin_log(self, caller: Caller, trust: str, limit: int = 50) -> list[dict[str, Any]]:
        answer = await self.json(caller, "GET", f"/v1/trusts/{trust}/admin-log", params={"limit": limit})
        return list(answer["entries"])


class DeadlinesApi(ServiceApi):
    async def windows(
        self, caller: Caller, params: Mapping[str, str], status: str = "open"
    ) -> list[dict[str, Any]]:
        answer = await self.json(
            caller, "GET", "/v1/deadlines", params={**params, "status": status, "limit": 1000}
        )
        return list(answer["items"])

    async def incident_deadlines(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        """The incident's windows and its case (``{case, windows}``); None before it is classified."""
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}/deadlines")
        )
        return result

    async def incident_windows(self, caller: Caller, incident_id: uuid.UUID) -> list[dict[str, Any]] | None:
        answer = await self.incident_deadlines(caller, incident_id)
        return None if answer is None else list(answer["windows"])

    async def agree_withdrawal(
        self, caller: Caller, incident_id: uuid.UUID, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The authority agreed to withdraw the notification: its report is no longer due."""
        result: dict[str, Any] = await self.json(
            caller, "POST", f"/v1/incidents/{incident_id}/withdrawal", json=body
        )
        return result

    async def record_submission(self, caller: Caller, incident_id: uuid.UUID, body: dict[str, Any]) -> None:
        await self.request(caller, "POST", f"/v1/incidents/{incident_id}/submissions", json=body)

    async def tasks(self, caller: Caller, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Open tasks across the trust's cases, soonest due first (the work queue)."""
        answer = await self.json(
            caller, "GET", "/v1/tasks", params={**params, "status": "open", "limit": 1000}
        )
        return list(answer["items"])

    async def incident_tasks(self, caller: Caller, incident_id: uuid.UUID) -> list[dict[str, Any]] | None:
        """The case's tasks, open, done and cancelled; None when it has none kept (yet)."""
        answer = await found_or_none(self.json(caller, "GET", f"/v1/incidents/{incident_id}/tasks"))
        return None if answer is None else list(answer["tasks"])

    async def task_command(
        self, caller: Caller, incident_id: uuid.UUID, task_id: str, command: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``assign`` or ``complete`` a task."""
        result: dict[str, Any] = await self.json(
            caller, "POST", f"/v1/incidents/{incident_id}/tasks/{task_id}/{command}", json=body
        )
        return result

    async def policy(self, caller: Caller, trust: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(caller, "GET", f"/v1/trusts/{trust}/deadline-policy")
        return result

    async def set_policy(self, caller: Caller, trust: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(
            caller, "PUT", f"/v1/trusts/{trust}/deadline-policy", json=body
        )
        return result


class ReportingApi(ServiceApi):
    async def incidents(self, caller: Caller, params: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        answer = await self.json(caller, "GET", "/v1/incidents", params={**params, "limit": limit})
        return list(answer["items"])

    async def incident(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}")
        )
        return result

    async def submissions(self, caller: Caller, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        answer = await self.json(caller, "GET", "/v1/submissions", params={"incident_id": str(incident_id)})
        return list(answer["items"])

    async def draft(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(caller, "POST", "/v1/submissions", json=body)
        return result

    async def redraft(self, caller: Caller, submission_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
        """Change a draft: particulars given replace the draft's, the others are kept."""
        result: dict[str, Any] = await self.json(
            caller, "PATCH", f"/v1/submissions/{submission_id}", json=body
        )
        return result

    async def local_investigation(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}/local-investigation")
        )
        return result

    async def coding_choices(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        """What the close-out may be coded with: the taxonomies in force on the discovery day."""
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}/local-investigation/coding")
        )
        return result

    async def investigation_command(
        self, caller: Caller, incident_id: uuid.UUID, command: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``owner`` (PUT), ``close`` or ``reopen`` (POST) the local investigation."""
        method = "PUT" if command == "owner" else "POST"
        result: dict[str, Any] = await self.json(
            caller, method, f"/v1/incidents/{incident_id}/local-investigation/{command}", json=body
        )
        return result

    async def authority(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        """The authority's correspondence: its reference, queries and answers, and closure."""
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}/authority")
        )
        return result

    async def authority_command(
        self, caller: Caller, incident_id: uuid.UUID, path: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``queries``, ``queries/{id}/answer`` or ``closure``."""
        result: dict[str, Any] = await self.json(
            caller, "POST", f"/v1/incidents/{incident_id}/authority/{path}", json=body
        )
        return result

    async def findings(self, caller: Caller, incident_id: uuid.UUID) -> dict[str, Any] | None:
        """The investigation's findings so far, what the 12-week report still lacks, and the
        similar incidents' text proposed for a person to confirm; None before it is classified."""
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/incidents/{incident_id}/findings")
        )
        return result

    async def record_findings(self, caller: Caller, incident_id: uuid.UUID, body: dict[str, Any]) -> None:
        await self.request(caller, "POST", f"/v1/incidents/{incident_id}/findings", json=body)

    async def confirm_similar_incidents(
        self, caller: Caller, incident_id: uuid.UUID, body: dict[str, Any]
    ) -> None:
        path = f"/v1/incidents/{incident_id}/similar-incidents/confirm"
        await self.request(caller, "POST", path, json=body)

    async def issue(self, caller: Caller, submission_id: uuid.UUID, submitted_by_role: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(
            caller,
            "POST",
            f"/v1/submissions/{submission_id}/issue",
            json={"submitted_by_role": submitted_by_role},
        )
        return result

    async def themes(self, caller: Caller) -> list[dict[str, Any]]:
        return list((await self.json(caller, "GET", "/v1/themes"))["items"])

    async def theme(self, caller: Caller, theme_id: uuid.UUID) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/themes/{theme_id}")
        )
        return result

    async def open_theme(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(caller, "POST", "/v1/themes", json=body)
        return result

    async def link(self, caller: Caller, theme_id: uuid.UUID, body: dict[str, Any]) -> None:
        await self.request(caller, "POST", f"/v1/themes/{theme_id}/incidents", json=body)

    async def unlink(
        self, caller: Caller, theme_id: uuid.UUID, incident_id: uuid.UUID, body: dict[str, Any]
    ) -> None:
        await self.request(caller, "POST", f"/v1/themes/{theme_id}/incidents/{incident_id}/unlink", json=body)

    async def share(self, caller: Caller, theme_id: uuid.UUID) -> None:
        await self.request(caller, "POST", f"/v1/themes/{theme_id}/share")

    async def set_consent(self, caller: Caller, trust: str, consent: bool) -> None:
        body = {"consent": consent}
        await self.request(caller, "PUT", f"/v1/trusts/{trust}/shared-themes-consent", json=body)

    async def shared_themes(self, caller: Caller) -> dict[str, Any]:
        result: dict[str, Any] = await self.json(caller, "GET", "/v1/shared-themes")
        return result

    async def shared_incidents(self, caller: Caller, trust: str) -> list[dict[str, Any]]:
        """Other trusts' incidents naming ``trust`` among their employers: its part of each."""
        answer: dict[str, Any] = await self.json(caller, "GET", f"/v1/trusts/{trust}/shared-incidents")
        return list(answer.get("items") or [])

    async def shared_incident(
        self, caller: Caller, trust: str, incident_id: uuid.UUID
    ) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await found_or_none(
            self.json(caller, "GET", f"/v1/trusts/{trust}/shared-incidents/{incident_id}")
        )
        return result

    async def document_pdf(self, caller: Caller, submission_id: uuid.UUID) -> bytes | None:
        response = await found_or_none(
            self.request(caller, "GET", f"/v1/submissions/{submission_id}/document.pdf")
        )
        return None if response is None else bytes(response.content)


@dataclass(frozen=True)
class Apis:
    intake: IntakeApi
    deadlines: DeadlinesApi
    reporting: ReportingApi
    trust_admin: IntakeAdminApi

    @classmethod
    def over(cls, http: httpx.AsyncClient, urls: Mapping[str, str]) -> Apis:
        return cls(
            intake=IntakeApi("intake", urls["intake"], http),
            deadlines=DeadlinesApi("deadlines", urls["deadlines"], http),
            reporting=ReportingApi("reporting", urls["reporting"], http),
            trust_admin=IntakeAdminApi("intake", urls["intake"], http),
        )

    def all(self) -> tuple[ServiceApi, ...]:
        return (self.intake, self.deadlines, self.reporting)
