"""Administration of the person's trust: sites and integration clients (intake), the deadline
policy (deadlines), and who changed them (intake's administration log). Each card is a fragment;
an action re-renders its card and tells the log to fetch itself again.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sievert_console.adapters.api import ApiProblem, Apis, Caller, ServiceDown
from sievert_console.domain.admin import (
    POLICY_REMINDERS,
    client_sites,
    field_messages,
    policy_body,
    policy_form_values,
)
from sievert_console.domain.people import Person
from sievert_console.entrypoints.context import (
    CallerDep,
    CsrfChecked,
    Parts,
    PersonDep,
    render,
    section,
    sections,
)

router = APIRouter(prefix="/admin")
actions = APIRouter(prefix="/admin", dependencies=[CsrfChecked])

# The services' code patterns: a code becomes part of an API path, so nothing else gets through.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: The administration log has changed: its card fetches itself again.
LOG_CHANGED = {"HX-Trigger": "admin-changed"}
#: And the sites: the clients card (which offers them) fetches itself again too.
SITES_CHANGED = {"HX-Trigger": "admin-changed, sites-changed"}


async def _sites_context(apis: Apis, caller: Caller, person: Person, **state: Any) -> dict[str, Any]:
    return {"sites": await section(apis.trust_admin.sites(caller, person.trust)), **state}


async def _clients_context(apis: Apis, caller: Caller, person: Person, **state: Any) -> dict[str, Any]:
    clients, sites = await sections(
        apis.trust_admin.clients(caller, person.trust), apis.trust_admin.sites(caller, person.trust)
    )
    return {"clients": clients, "sites": sites, **state}


async def _policy_context(apis: Apis, caller: Caller, person: Person, **state: Any) -> dict[str, Any]:
    policy = await section(apis.deadlines.policy(caller, person.trust))
    values = policy_form_values(policy.value) if policy.ok and policy.value else {}
    return {
        "policy": policy,
        "policy_values": {**values, **state.pop("typed", {})},
        "reminders": POLICY_REMINDERS,
        **state,
    }


async def _consent_context(apis: Apis, caller: Caller, **state: Any) -> dict[str, Any]:
    return {"shared": await section(apis.reporting.shared_themes(caller)), **state}


@router.get("")
async def admin_page(request: Request, console: Parts, caller: CallerDep, person: PersonDep) -> Response:
    apis = console.api()
    context = {
        "section": "admin",
        **await _sites_context(apis, caller, person),
        **await _clients_context(apis, caller, person),
        **await _policy_context(apis, caller, person),
        **await _consent_context(apis, caller),
        "log": await section(apis.trust_admin.admin_log(caller, person.trust)),
    }
    return render(request, "admin.html", context)


@router.get("/clients")
async def clients_fragment(
    request: Request, console: Parts, caller: CallerDep, person: PersonDep
) -> Response:
    context = await _clients_context(console.api(), caller, person)
    return render(request, "fragments/admin_clients.html", context)


@router.get("/log")
async def admin_log(request: Request, console: Parts, caller: CallerDep, person: PersonDep) -> Response:
    log = await section(console.api().trust_admin.admin_log(caller, person.trust))
    return render(request, "fragments/admin_log.html", {"log": log})


async def _outcome(call: Any, done: str) -> dict[str, Any]:
    try:
        result = await call
    except ServiceDown as exc:
        return {"problem": f"The {exc.service} service is not answering; nothing was changed."}
    except ApiProblem as refused:
        return {"problem": refused.detail, "errors": field_messages(refused.errors)}
    return {"message": done, "result": result}


@actions.post("/sites")
async def register_site(request: Request, console: Parts, caller: CallerDep, person: PersonDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    site = form.get("site", "").strip()
    if not _CODE.match(site):
        outcome = {
            "problem": "A site code is letters and digits (and . _ -), e.g. RXX01.",
            "errors": {"site": "not a site code"},
        }
    else:
        body = {"name": form.get("name", "").strip(), "nation": form.get("nation", "")}
        outcome = await _outcome(
            console.api().trust_admin.register_site(caller, person.trust, site, body),
            f"Site {site} registered.",
        )
    context = await _sites_context(
        console.api(), caller, person, outcome=outcome, typed={} if "message" in outcome else form
    )
    return render(
        request,
        "fragments/admin_sites.html",
        context,
        headers=SITES_CHANGED if "message" in outcome else None,
    )


@actions.post("/clients")
async def create_client(request: Request, console: Parts, caller: CallerDep, person: PersonDep) -> Response:
    """The key is in this answer only: it is rendered once and kept nowhere."""
    form = await request.form()
    body = {
        "name": str(form.get("name", "")).strip(),
        "sites": client_sites([(k, str(v)) for k, v in form.multi_items()]),
    }
    outcome = await _outcome(
        console.api().trust_admin.create_client(caller, person.trust, body), "Client made."
    )
    context = await _clients_context(console.api(), caller, person, outcome=outcome)
    headers = {**LOG_CHANGED, "Cache-Control": "no-store"} if "message" in outcome else None
    return render(request, "fragments/admin_clients.html", context, headers=headers)


@actions.post("/clients/{key_id}/revoke")
async def revoke_client(
    request: Request, key_id: str, console: Parts, caller: CallerDep, person: PersonDep
) -> Response:
    if not _KEY_ID.match(key_id):
        outcome: dict[str, Any] = {"problem": "No such client."}
    else:
        outcome = await _outcome(
            console.api().trust_admin.revoke_client(caller, person.trust, key_id),
            f"Client {key_id} revoked: its key is refused from now on.",
        )
    context = await _clients_context(console.api(), caller, person, outcome=outcome)
    return render(
        request,
        "fragments/admin_clients.html",
        context,
        headers=LOG_CHANGED if "message" in outcome else None,
    )


@actions.post("/deadline-policy")
async def set_policy(request: Request, console: Parts, caller: CallerDep, person: PersonDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    outcome = await _outcome(
        console.api().deadlines.set_policy(caller, person.trust, policy_body(form)),
        "Policy saved. It applies to windows opened from now on; open windows keep their plan.",
    )
    context = await _policy_context(
        console.api(), caller, person, outcome=outcome, typed={} if "message" in outcome else form
    )
    return render(request, "fragments/admin_policy.html", context)


@actions.post("/shared-themes-consent")
async def set_consent(request: Request, console: Parts, caller: CallerDep, person: PersonDep) -> Response:
    consent = (await request.form()).get("consent") == "true"
    done = (
        "Consent given: the trust now sees other trusts' shared themes." if consent else "Consent withdrawn."
    )
    outcome = await _outcome(console.api().reporting.set_consent(caller, person.trust, consent), done)
    context = await _consent_context(console.api(), caller, outcome=outcome)
    return render(request, "fragments/admin_consent.html", context)
