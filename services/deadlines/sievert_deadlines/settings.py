from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sievert_shared.settings import ServiceSettings


class DeadlinesSettings(ServiceSettings):
    """Environment variables: ``DEADLINES_*`` (and ``KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="DEADLINES_", extra="forbid")

    http_port: int = Field(default=8002, ge=0, le=65535)
    timer_poll_seconds: float = Field(
        default=0.25, gt=0, le=10, description="Longest wait between looks for due timers."
    )
    timer_batch_size: int = Field(default=500, ge=1, le=10_000)
    timer_concurrency: int = Field(
        default=2,
        ge=1,
        le=8,
        description=(
            "Batches of due timers fired at once, each in its own transaction: one batch's Python "
            "runs while another waits on PostgreSQL. Each takes a connection of the pool."
        ),
    )
