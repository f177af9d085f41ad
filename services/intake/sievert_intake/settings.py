from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from sievert_shared.auth import AuthSettings
from sievert_shared.settings import ServiceSettings

#: Bulk intake: one NDJSON file of incident reports (entrypoints/batch.py).
BATCH_PATH = "/v1/incidents:batch"

# Development defaults, refused in production (below): anyone reading this file knows them.
DEV_PSEUDONYM_KEY = "sievert-dev-pseudonym-key-not-secret"
DEV_IDENTIFIER_KEK = "c2lldmVydC1kZXYta2VrLW5vdC1zZWNyZXQtMzJieXQ="  # base64 of 32 bytes


class FacilityConfig(BaseModel):
    """What a sending facility (HL7 MSH-4) or trust means when a message does not say it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trust: str | None = Field(default=None, description="Trust ODS code, when MSH-4 is a local name.")
    site: str | None = Field(default=None, description="Site ODS code used when PV1-3.4 is empty.")
    nation: str | None = Field(default=None, description="UK nation of the trust's sites.")


class IntakeSettings(ServiceSettings):
    """Environment variables: ``INTAKE_*`` (and ``KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="forbid")

    http_port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Larger requests get 413.")
    batch_max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="POST /v1/incidents:batch (NDJSON) only: larger files get 413.",
    )
    batch_max_lines: int = Field(
        default=100_000, ge=1, description="POST /v1/incidents:batch: a file with more lines gets 413."
    )
    batch_chunk_lines: int = Field(
        default=1000, ge=1, description="Lines of a bulk file committed in one transaction."
    )

    @property
    def body_limits(self) -> dict[str, int]:
        """Routes whose bodies may be larger than ``max_body_bytes`` (the input guard reads it)."""
        return {BATCH_PATH: self.batch_max_body_bytes}

    mllp_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Run the HL7 v2 MLLP listener in the intake process on this port (0: any free port).",
    )
    mllp_host: str = "127.0.0.1"
    mllp_max_message_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Larger HL7 messages are refused with AR and discarded."
    )
    mllp_idle_timeout_seconds: float = Field(
        default=600, gt=0, description="Close a connection that sends nothing for this long."
    )
    mllp_frame_timeout_seconds: float = Field(
        default=30, gt=0, description="Close a connection that leaves a frame unfinished for this long."
    )
    facilities: dict[str, FacilityConfig] = Field(
        default_factory=dict,
        description=(
            "Keyed by HL7 MSH-4 (sending facility) or trust ODS code, as JSON: "
            '{"RXX": {"site": "RXX01", "nation": "england"}}.'
        ),
    )
    mllp_clients: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "HL7 MSH-4 (sending facility) -> the AUTH_API_KEYS key id of the integration client "
            "it is. In required auth mode a facility not listed here is refused with AR."
        ),
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEV_PSEUDONYM_KEY),
        description="HMAC key turning an NHS or hospital number into its stable pseudonym.",
    )
    identifier_kek: SecretStr = Field(
        default=SecretStr(DEV_IDENTIFIER_KEK),
        description="Base64 of the 32-byte key-encryption key wrapping each patient's data key.",
    )
    identifier_kek_previous: SecretStr | None = Field(
        default=None,
        description=(
            "During a KEK rotation, the KEK being replaced: data keys it wrapped still unwrap until "
            "`sievert rotate-kek` has re-wrapped them under INTAKE_IDENTIFIER_KEK. Unset afterwards."
        ),
    )

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> IntakeSettings:
        if self.environment != "production":
            return self
        if self.auth.resolved_mode(self.environment) == "development":
            raise ValueError("AUTH_MODE=development is not allowed in production")
        if self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
            raise ValueError("INTAKE_PSEUDONYM_KEY must be set in production")
        if self.identifier_kek.get_secret_value() == DEV_IDENTIFIER_KEK:
            raise ValueError("INTAKE_IDENTIFIER_KEK must be set in production")
        return self
