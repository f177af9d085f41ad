from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sievert_shared.events.doses import DoseQuantity
from sievert_shared.settings import ServiceSettings


class ClassifierSettings(ServiceSettings):
    """Environment variables: ``CLASSIFIER_*`` (and ``KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", extra="forbid")

    http_port: int = Field(default=8001, ge=0, le=65535)
    #: Trust -> the jurisdiction whose dose limit table binds its people (default "uk": IRR17), e.g.
    #: ``CLASSIFIER_DOSE_LIMIT_JURISDICTIONS='{"RXX": "in-aerb"}'``.
    dose_limit_jurisdictions: dict[str, str] = Field(default_factory=dict)
    #: Trust -> its investigation levels in mSv per calendar year, by quantity (hp10, hp007, hp3,
    #: extremity), e.g. ``CLASSIFIER_DOSE_INVESTIGATION_LEVELS='{"RXX": {"hp10": 6}}'``.
    dose_investigation_levels: dict[str, dict[DoseQuantity, float]] = Field(default_factory=dict)
