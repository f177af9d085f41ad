from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sievert_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Environment variables: ``REPORTING_*`` (and ``KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="forbid")

    http_port: int = Field(default=8003, ge=0, le=65535)
