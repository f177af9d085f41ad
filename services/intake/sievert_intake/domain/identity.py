"""The seam for patient identity: where identifiers would go, and today do not.

Incident facts and events never carry a patient identifier. ADT^A08/A31 (and the PID of incident
messages) update a patient's demographics for pseudonymisation, which a later issue adds as an
encrypted identifier store with pseudonyms. Until then the only implementation keeps nothing.
"""

from __future__ import annotations

from typing import Any, Protocol


class IdentityPort(Protocol):
    async def demographics_updated(self, update: Any) -> None:
        """A sender's patient demographics changed (HL7 ADT^A08/A31)."""


class DiscardingIdentity:
    """Keeps no identifier: the message is acknowledged, the demographics are dropped."""

    async def demographics_updated(self, update: Any) -> None:
        return None
