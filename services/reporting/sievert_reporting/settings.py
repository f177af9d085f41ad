from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sievert_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """Environment variables: ``REPORTING_*`` (and ``KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="forbid")

    http_port: int = Field(default=8003, ge=0, le=65535)
    replay_memory_mb: int = Field(
        default=128,
        ge=1,
        description="`sievert replay reporting`: memory for what the replay holds at once (the "
        "incidents folded but not written yet, and one fetch from Kafka). Smaller is slower (more "
        "writes, and later events merged into rows written), never wrong.",
    )
    replay_workers: int | None = Field(
        default=None,
        ge=1,
        description="`sievert replay reporting`: processes replaying partitions at once (each "
        "decodes, folds and writes its own partitions' incidents; the memory setting is split "
        "between them, after 64 MB for each one's interpreter beyond the first, so a small setting "
        "caps them). Default: the cores this process may use, at most one per partition.",
    )
