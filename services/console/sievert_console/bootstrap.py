"""Wiring for the console, in one place. Nothing connects here: the HTTP client and the live
feed open in the app's lifespan."""

from __future__ import annotations

import datetime as dt

import httpx
from fastapi import FastAPI

from sievert_console.adapters.dev_tokens import DevIssuer
from sievert_console.adapters.live import LiveHub
from sievert_console.adapters.oidc import OidcSignIn
from sievert_console.entrypoints.app import create_app
from sievert_console.entrypoints.context import ConsoleParts
from sievert_console.entrypoints.templating import templates
from sievert_console.settings import ConsoleSettings
from sievert_shared.clock import Clock, SystemClock


def dev_issuer(settings: ConsoleSettings) -> DevIssuer | None:
    if not settings.development_sign_in:
        return None
    assert settings.dev_signing_key_file is not None
    return DevIssuer(
        settings.dev_signing_key_file,
        issuer=settings.dev_issuer,
        audience=settings.dev_audience,
        lifetime=dt.timedelta(minutes=settings.dev_token_minutes),
    )


def build(
    settings: ConsoleSettings | None = None,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``transport``: how the APIs are reached (default: over the network); the tenancy matrix
    passes the services running in its own process."""
    settings = settings or ConsoleSettings()
    console = ConsoleParts(
        settings=settings,
        templates=templates(),
        hub=LiveHub(),
        clock=clock or SystemClock(),
        dev_issuer=dev_issuer(settings),
        oidc=OidcSignIn(settings.oidc, settings.public_url) if settings.oidc else None,
        transport=transport,
    )
    return create_app(console)
