"""Field definitions the request bodies of several routers share."""

from __future__ import annotations

from typing import Any

from pydantic import Field

ROLE: Any = Field(min_length=1, max_length=100, description="A staff role, never a name.")
