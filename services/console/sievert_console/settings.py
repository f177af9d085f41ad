"""The console's settings: environment variables ``CONSOLE_*`` (and ``KAFKA_*`` for the live feed).

The console has no database. It needs the four services' addresses, a secret to sign its session
cookie, and a way to know who is signing in: in development a signing key of its own (tokens it
mints for the person and trust picked on the sign-in page, which the services are configured to
trust), in production the trust's OpenID Connect identity provider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sievert_shared.settings import KafkaSettings

#: Refused in production: anyone reading this file knows it.
DEV_SESSION_SECRET = "sievert-console-dev-session-secret-not-secret"
DEV_ISSUER = "https://console.dev.sievert.invalid"


class ServiceUrls(BaseModel):
    """Base URLs of the four public APIs (the console is their client, nothing more)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intake: str = "http://127.0.0.1:8000"
    classifier: str = "http://127.0.0.1:8001"
    deadlines: str = "http://127.0.0.1:8002"
    reporting: str = "http://127.0.0.1:8003"


class DevTrust(BaseModel):
    """A trust offered on the development sign-in page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)


def _default_dev_trusts() -> list[DevTrust]:
    return [
        DevTrust(code="RDEMO", name="Demonstration NHS Foundation Trust"),
        DevTrust(code="ROTHER", name="Another NHS Trust (to check you see none of its incidents)"),
    ]


class OidcSettings(BaseModel):
    """The trust's identity provider (production): authorisation code flow with PKCE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metadata_url: AnyHttpUrl = Field(description="The provider's /.well-known/openid-configuration document.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = Field(
        default=None, description="None for a public client (PKCE alone)."
    )
    scope: str = "openid profile email"
    roles_claim: str = Field(
        default="roles", description="Claim of the access token listing Sievert roles (a list)."
    )
    trust_claim: str = Field(default="trust", description="Claim naming the person's trust.")
    name_claim: str = Field(default="name", description="Claim shown as the signed-in person's name.")


class ConsoleSettings(BaseSettings):
    """Environment variables ``CONSOLE_*``; nested values as JSON or with ``__``
    (``CONSOLE_SERVICES__REPORTING=http://reporting:8003``)."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="forbid", env_nested_delimiter="__")

    environment: Literal["development", "test", "production"] = "development"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8004, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    public_url: str = Field(
        default="http://127.0.0.1:8004", description="Where people reach the console (OIDC redirect)."
    )
    services: ServiceUrls = Field(default_factory=ServiceUrls)
    api_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    session_secret: SecretStr = Field(
        default=SecretStr(DEV_SESSION_SECRET), description="Signs the session cookie."
    )
    session_max_age_seconds: int = Field(default=8 * 3600, ge=300, le=24 * 3600)
    dev_signing_key_file: Path | None = Field(
        default=None,
        description="Development only: PEM private key (EC P-256) the console signs people's tokens "
        "with. The services trust its public half through AUTH_JWKS_FILE (scripts/console.py).",
    )
    dev_issuer: str = Field(default=DEV_ISSUER, description="The `iss` of development tokens.")
    dev_audience: str = Field(default="sievert", description="The `aud` of development tokens.")
    dev_token_minutes: int = Field(default=15, ge=1, le=120)
    dev_trusts: list[DevTrust] = Field(default_factory=_default_dev_trusts)
    oidc: OidcSettings | None = None
    live_updates: bool = Field(default=True, description="Subscribe to Kafka and push changes (SSE).")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def development_sign_in(self) -> bool:
        return not self.production and self.dev_signing_key_file is not None

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> ConsoleSettings:
        if not self.production:
            return self
        if self.session_secret.get_secret_value() == DEV_SESSION_SECRET:
            raise ValueError("CONSOLE_SESSION_SECRET must be set in production")
        if len(self.session_secret.get_secret_value()) < 32:
            raise ValueError("CONSOLE_SESSION_SECRET must be at least 32 characters")
        if self.dev_signing_key_file is not None:
            raise ValueError("CONSOLE_DEV_SIGNING_KEY_FILE mints tokens and is refused in production")
        if self.oidc is None:
            raise ValueError("CONSOLE_OIDC must name the trust's identity provider in production")
        if not self.public_url.startswith("https://"):
            raise ValueError("CONSOLE_PUBLIC_URL must be https in production (the cookie is Secure)")
        return self
