"""Signing in and out: development (pick a trust and a role) or the trust's identity provider."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from authlib.integrations.base_client.errors import OAuthError
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from sievert_console.adapters.oidc import SignInRefusedError
from sievert_console.domain.labels import PERSON_ROLES, ROLES
from sievert_console.domain.people import Person
from sievert_console.entrypoints.context import CsrfChecked, Parts, render

router = APIRouter()

_NAME = re.compile(r"^[\w .,'()-]{1,80}$")


def _start_session(request: Request, person: Person) -> None:
    """A new session for the person: a fresh CSRF token, nothing kept from before sign-in."""
    request.session.clear()
    request.session["person"] = person.to_session()
    request.session["csrf"] = secrets.token_urlsafe(32)


@router.get("/sign-in")
async def sign_in_page(request: Request, console: Parts) -> Response:
    return render(
        request,
        "signin.html",
        {
            "development": console.settings.development_sign_in,
            "oidc": console.oidc is not None,
            "trusts": console.settings.dev_trusts,
            "roles": [(r, ROLES[r]) for r in PERSON_ROLES],
        },
    )


@router.post("/sign-in", dependencies=[CsrfChecked])
async def sign_in_development(
    request: Request,
    console: Parts,
    trust: Annotated[str, Form()],
    role: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
) -> Response:
    """Development only: the console mints this person's tokens with its development key."""
    if not console.settings.development_sign_in:
        return Response("development sign-in is off", status_code=404)
    trusts = {t.code for t in console.settings.dev_trusts}
    display = name.strip() or f"{ROLES.get(role, role)} (development)"
    if trust not in trusts or role not in PERSON_ROLES or not _NAME.match(display):
        return render(
            request,
            "signin.html",
            {
                "development": True,
                "oidc": console.oidc is not None,
                "trusts": console.settings.dev_trusts,
                "roles": [(r, ROLES[r]) for r in PERSON_ROLES],
                "error": "Choose one of the trusts and roles listed.",
            },
            status_code=422,
        )
    # The subject is what the services write as the actor of what this person does.
    subject = f"dev:{role}@{trust}"
    _start_session(request, Person(subject, display, trust, (role,), via="development"))
    return RedirectResponse("/queue", status_code=303)


@router.get("/auth/login")
async def oidc_login(request: Request, console: Parts) -> Response:
    if console.oidc is None:
        return Response("no identity provider is configured", status_code=404)
    return await console.oidc.redirect(request)


@router.get("/auth/callback")
async def oidc_callback(request: Request, console: Parts) -> Response:
    if console.oidc is None:
        return Response("no identity provider is configured", status_code=404)
    try:
        signed_in = await console.oidc.complete(request)
    except (OAuthError, SignInRefusedError) as exc:
        return render(
            request, "signin.html", {"oidc": True, "error": f"Sign-in failed: {exc}"}, status_code=403
        )
    _start_session(request, signed_in.person)
    request.session["access_token"] = signed_in.access_token
    request.session["expires_at"] = signed_in.expires_at
    return RedirectResponse("/queue", status_code=303)


@router.post("/sign-out", dependencies=[CsrfChecked])
async def sign_out(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/sign-in", status_code=303)
