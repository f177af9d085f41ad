from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sievert_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Environment variables: ``INTAKE_*`` (and ``KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="forbid")

    http_port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Larger requests get 413.")
