from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from sievert_shared.settings import ServiceSettings


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
