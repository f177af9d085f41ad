"""An incident another trust reported, as the other employers' trust sees it: only its own part.

Several IR(ME)R employers may share an exposure (docs/classifier.md, "Several employers"). When one
of them is another trust on this deployment (the facts name its ``trust_code``), that trust sees a
read-only, anonymised summary: the day and modality, its own part, who notifies, and how far the
notification has got with the authority's reference (line 116). It never sees the reporting trust's
facts, free text, patient pseudonym, decision or documents: the full incident stays 404 to it.
Pure: built from the read model's row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sievert_reporting.domain.labels import label
from sievert_shared.facts import Employer, Modality, notifying_employer

__all__ = ["SharedIncidentRow", "notification_stage", "shared_incident_view"]


@dataclass(frozen=True)
class SharedIncidentRow:
    """What the view may be built from: the incident's employers, day and modality, and its
    notification's status and reference, never more of the read model's row."""

    incident_id: uuid.UUID
    discovered_on: dt.date | None
    modality: str | None
    employers: list[dict[str, Any]]
    notification_status: str | None
    notification_authority: str | None
    notification_reference: str | None


def notification_stage(status: str | None, reference: str | None = None) -> tuple[str, str]:
    """The notification's stage and its words. A draft is the reporting trust's own work: to the
    other employer it is not yet a notification."""
    if status == "acknowledged":
        return "acknowledged", "Notified; the authority acknowledged it with its reference"
    if status == "submitted":
        if reference:
            return "notified", "Notified, with the authority's reference"
        return "notified", "Notified; the authority's reference not yet recorded"
    return "not_notified", "Not notified (yet) through Sievert"


def shared_incident_view(trust: str, row: SharedIncidentRow) -> dict[str, Any] | None:
    """The incident as ``trust`` (another employer named in it) sees it, or None when the facts do
    not name ``trust``."""
    employers = [Employer.model_validate(e) for e in row.employers]
    own = next((e for e in employers if e.trust_code == trust), None)
    notifier = notifying_employer(employers)
    if own is None or notifier is None:
        return None
    stage, words = notification_stage(row.notification_status, row.notification_reference)
    notified = stage != "not_notified"
    modality = Modality(row.modality) if row.modality in {m.value for m in Modality} else None
    return {
        "incident_id": str(row.incident_id),
        "discovered_on": row.discovered_on.isoformat() if row.discovered_on else None,
        "modality": {"value": modality.value, "label": label(modality)} if modality else None,
        "own_role": {"value": own.role.value, "label": label(own.role)},
        "notifying_employer": notifier.name,
        "this_trust_notifies": notifier is own,
        "notification": {
            "status": stage,
            "label": words,
            "authority": row.notification_authority if notified else None,
            "reference": row.notification_reference if notified else None,
        },
    }
