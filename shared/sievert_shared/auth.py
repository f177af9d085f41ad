"""Who is calling: integration engines and people, their trust, sites and roles.

Every route answers only callers who hold the right role for the right trust, because the rows
behind it are one trust's patient-safety records. Two kinds of caller:

- **Integration engines** (``kind="client"``) present a hashed API key
  (``Authorization: ApiKey <key_id>.<secret>`` or ``X-API-Key: <key_id>.<secret>``) or an OAuth2
  client-credentials JWT (a bearer token with a ``client_id`` claim). Each is bound to one trust
  and a set of its sites, and may post only for those.
- **People** (``kind="user"``) present an OIDC-style bearer JWT from the configured issuer,
  verified against its public keys (JWKS, RS256 or ES256 only: no shared-secret HS256, so a
  leaked verifier can never mint tokens).

``require(*roles)`` is the FastAPI dependency every route uses: 401 with ``WWW-Authenticate`` when
credentials are missing or invalid, 403 when the role is wrong, 429 with ``Retry-After`` when the
caller exceeds its rate. Tenancy (which trust's rows a caller sees) is checked by each route with
``Principal.sees`` / ``Principal.may_post_for``, because only the route knows the row's trust.

DEVELOPMENT MODE. With ``mode="development"`` (the default outside ``environment="production"``)
a request WITHOUT credentials is served as the development principal: every role, EVERY TRUST.
That keeps ``make demo``, the e2e suite and the older tests working without keys, and it is
refused in production (``Authenticator.from_settings``). Credentials that are present are still
verified, so a wrong key is a 401 in every mode.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sievert_shared.envelope import SiteId, TrustId
from sievert_shared.http import problem
from sievert_shared.logging import get_logger
from sievert_shared.ratelimit import RateLimiter, retry_after_header

log = get_logger(__name__)

REALM = 'realm="sievert"'


class Role(StrEnum):
    INTEGRATION = "integration"  # post incident facts
    RP_LEAD = "rp_lead"  # read, classify dry-run, submit, see identifiers (duty of candour)
    TRUST_ADMIN = "trust_admin"  # sites, clients, reminder policy, erasure
    THEME_REVIEWER = "theme_reviewer"  # shared themes across trusts (reporting only)
    AUDITOR = "auditor"  # read-only, including the audit trail


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``sites`` empty means every site of ``trust`` (people only: an
    integration client always names its sites)."""

    subject: str
    kind: Literal["client", "user"]
    trust: str
    sites: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()
    #: Only the development principal: sees and posts for every trust.
    every_trust: bool = field(default=False, repr=False)

    def sees(self, trust: str) -> bool:
        """May read rows of ``trust``. Reads are trust-wide: a trust's people see all its sites."""
        return self.every_trust or self.trust == trust

    def may_post_for(self, trust: str, site: str) -> bool:
        if self.every_trust:
            return True
        if self.trust != trust:
            return False
        if self.kind == "client":
            return site in self.sites
        return not self.sites or site in self.sites

    def has_any(self, roles: Iterable[Role]) -> bool:
        return bool(self.roles & frozenset(roles))


Algorithm = Literal["RS256", "ES256"]
_ALGORITHMS: tuple[Algorithm, ...] = ("RS256", "ES256")


class ApiClient(BaseModel):
    """One integration engine's API key: only the SHA-256 of the secret is configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 hex of the key's secret part.")
    trust: TrustId
    sites: list[SiteId] = Field(min_length=1)
    roles: list[Role] = Field(default_factory=lambda: [Role.INTEGRATION])


class AuthSettings(BaseSettings):
    """Environment variables ``AUTH_*``, shared by every service so one issuer and one set of
    client keys serve them all. ``AUTH_API_KEYS`` and ``AUTH_JWKS`` are JSON."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="forbid")

    mode: Literal["required", "development"] | None = Field(
        default=None,
        description="None: 'required' in production, 'development' elsewhere. Development serves "
        "requests without credentials as an all-trusts, all-roles principal.",
    )
    api_keys: dict[str, ApiClient] = Field(
        default_factory=dict, description='{key_id: {"hash": sha256hex, "trust", "sites", "roles"}}'
    )
    issuer: str | None = Field(default=None, description="The `iss` every bearer token must carry.")
    audience: str = Field(default="sievert", description="The `aud` every bearer token must carry.")
    jwks: dict[str, Any] | None = Field(default=None, description="The issuer's public keys (JWKS).")
    jwks_file: Path | None = Field(default=None, description="Or a file holding that JWKS.")
    algorithms: list[Algorithm] = Field(default_factory=lambda: list(_ALGORITHMS))
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp/nbf.")
    dev_subject: str = Field(default="dev-unauthenticated", min_length=1)
    rate_per_second: float = Field(default=50.0, gt=0, description="Per principal, per process.")
    rate_burst: int = Field(default=200, ge=1)

    def resolved_mode(self, environment: str) -> Literal["required", "development"]:
        if self.mode is not None:
            return self.mode
        return "required" if environment == "production" else "development"

    def public_keys(self) -> dict[str, Any] | None:
        if self.jwks is not None:
            return self.jwks
        if self.jwks_file is not None:
            loaded: dict[str, Any] = json.loads(self.jwks_file.read_text())
            return loaded
        return None


class AuthError(Exception):
    """Answered as problem+json with the status and headers given (``install_auth``)."""

    def __init__(
        self, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})


def _unauthenticated(detail: str, *, invalid: bool) -> AuthError:
    # RFC 6750 3: a request without credentials gets the bare challenge, a bad token the error.
    bearer = f'Bearer {REALM}, error="invalid_token"' if invalid else f"Bearer {REALM}"
    return AuthError(401, "Unauthorized", detail, {"WWW-Authenticate": f"{bearer}, ApiKey {REALM}"})


def hash_api_secret(secret: str) -> str:
    """What ``ApiClient.hash`` holds. API secrets are random (32+ bytes), so a fast hash is
    enough: there is no low-entropy password to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


_DUMMY_HASH = "0" * 64


class Authenticator:
    def __init__(self, settings: AuthSettings, *, environment: str) -> None:
        self.settings = settings
        self.mode = settings.resolved_mode(environment)
        if self.mode == "development" and environment == "production":
            raise ValueError("AUTH_MODE=development serves anonymous callers and is refused in production")
        keys = settings.public_keys()
        self._jwks = jwt.PyJWKSet.from_dict(keys) if keys else None
        if self.mode == "required" and self._jwks is not None and not settings.issuer:
            raise ValueError("AUTH_JWKS needs AUTH_ISSUER: tokens must be checked against one issuer")
        self._limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
        self.development_principal = Principal(
            subject=settings.dev_subject, kind="user", trust="*", roles=ALL_ROLES, every_trust=True
        )

    @classmethod
    def from_settings(cls, settings: AuthSettings | None, *, environment: str) -> Authenticator:
        return cls(settings or AuthSettings(), environment=environment)

    def authenticate(
        self, headers: Mapping[str, str], registered: Mapping[str, ApiClient] | None = None
    ) -> Principal:
        """``registered``: API clients from a ``ClientDirectory`` (a trust admin made them at run
        time), beside the ones in settings."""
        authorization = headers.get("authorization", "")
        api_key = headers.get("x-api-key", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return self._from_token(credentials.strip())
        if scheme.lower() == "apikey" and credentials:
            return self._from_api_key(credentials.strip(), registered or {})
        if api_key:
            return self._from_api_key(api_key.strip(), registered or {})
        if authorization:
            raise _unauthenticated("unsupported Authorization scheme", invalid=True)
        if self.mode == "development":
            return self.development_principal
        raise _unauthenticated("credentials are required", invalid=False)

    def client(self, key_id: str) -> Principal | None:
        """The principal of a configured API client, for channels that identify the client by
        other means (MLLP: the sending facility, behind TLS or a private link)."""
        config = self.settings.api_keys.get(key_id)
        return _client_principal(key_id, config) if config else None

    def _from_api_key(self, presented: str, registered: Mapping[str, ApiClient]) -> Principal:
        key_id, _, secret = presented.partition(".")
        config = self.settings.api_keys.get(key_id) or registered.get(key_id)
        # Compare in constant time, and compare something even for an unknown id, so timing
        # tells an attacker neither the hash nor which key ids exist.
        expected = config.hash if config else _DUMMY_HASH
        matches = hmac.compare_digest(hash_api_secret(secret), expected)
        if config is None or not secret or not matches:
            raise _unauthenticated("the API key is not valid", invalid=True)
        return _client_principal(key_id, config)

    def _from_token(self, token: str) -> Principal:
        if self._jwks is None or not self.settings.issuer:
            raise _unauthenticated("bearer tokens are not configured", invalid=True)
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header.get("kid"))
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(self.settings.algorithms),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            # The reason goes to the log, not the caller: it helps an attacker more than an engine.
            log.info("auth.token_refused", reason=str(exc))
            raise _unauthenticated("the bearer token is not valid", invalid=True) from None
        return _token_principal(claims)

    def _key_for(self, kid: Any) -> jwt.PyJWK:
        assert self._jwks is not None
        keys = self._jwks.keys
        if kid is None:
            if len(keys) != 1:
                raise KeyError("the token names no key and the issuer has several")
            return keys[0]
        for key in keys:
            if key.key_id == kid:
                return key
        raise KeyError(f"unknown key id {kid!r}")

    def check_rate(self, principal: Principal) -> None:
        if principal.every_trust:
            return  # development only: the demo and the test suites post in bursts
        wait = self._limiter.acquire(f"{principal.kind}:{principal.subject}")
        if wait > 0:
            raise AuthError(
                429,
                "Too many requests",
                f"over {self.settings.rate_per_second:g} requests a second",
                {"Retry-After": retry_after_header(wait)},
            )


def _client_principal(key_id: str, config: ApiClient) -> Principal:
    return Principal(
        subject=key_id,
        kind="client",
        trust=config.trust,
        sites=frozenset(config.sites),
        roles=frozenset(config.roles),
    )


def _token_principal(claims: dict[str, Any]) -> Principal:
    trust = claims.get("trust")
    if not isinstance(trust, str) or not trust:
        raise _unauthenticated("the bearer token names no trust", invalid=True)
    sites = claims.get("sites") or []
    raw_roles = claims.get("roles") or []
    if not isinstance(sites, list) or not isinstance(raw_roles, list):
        raise _unauthenticated("the bearer token's sites and roles must be lists", invalid=True)
    # Unknown role names are ignored, not an error: an issuer serving other systems adds its own.
    known = {role.value for role in Role}
    roles = frozenset(Role(r) for r in raw_roles if r in known)
    is_client = "client_id" in claims
    subject = str(claims["client_id"] if is_client else claims["sub"])
    return Principal(
        subject=subject,
        kind="client" if is_client else "user",
        trust=trust,
        sites=frozenset(str(s) for s in sites),
        roles=roles,
    )


def install_auth(app: FastAPI, authenticator: Authenticator) -> None:
    """Put the authenticator where ``require`` finds it, and answer ``AuthError``s. Tests swap
    ``app.state.authenticator`` to run a service in required mode with a local issuer."""
    app.state.authenticator = authenticator

    @app.exception_handler(AuthError)
    async def _refused(_request: Request, exc: AuthError) -> JSONResponse:
        response = problem(exc.status, exc.title, exc.detail)
        response.headers.update(exc.headers)
        return response


class ClientDirectory(Protocol):
    """API clients registered at run time (intake's trust administration), looked up by key id.
    ``None``: no such client, or it was revoked."""

    async def find(self, key_id: str) -> ApiClient | None: ...


def presented_key_id(headers: Mapping[str, str]) -> str | None:
    """The key id of an API key in the request, if it carries one."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    presented = credentials.strip() if scheme.lower() == "apikey" else headers.get("x-api-key", "").strip()
    key_id = presented.partition(".")[0]
    return key_id or None


async def authenticate(request: Request) -> Principal:
    """The caller, rate-limited, without a role check (``require`` adds that)."""
    authenticator: Authenticator = request.app.state.authenticator
    directory: ClientDirectory | None = getattr(request.app.state, "client_directory", None)
    registered: dict[str, ApiClient] = {}
    key_id = presented_key_id(request.headers)
    if directory is not None and key_id and key_id not in authenticator.settings.api_keys:
        found = await directory.find(key_id)
        if found is not None:
            registered[key_id] = found
    principal = authenticator.authenticate(request.headers, registered)
    authenticator.check_rate(principal)
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Any:
    """``Annotated[Principal, require(Role.RP_LEAD)]``: the caller, who must hold one of
    ``roles``."""
    wanted = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if wanted and not principal.has_any(wanted):
            log.info("auth.forbidden", subject=principal.subject, needs=sorted(wanted))
            raise AuthError(403, "Forbidden", "this route needs one of: " + ", ".join(sorted(wanted)))
        return principal

    return Depends(dependency)
