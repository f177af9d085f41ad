"""Thematic reviews: what a theme adds up to across a trust's sites, and what may leave the trust.

Pure: the linked incidents come in as plain rows from the read model, and the results are
models the API returns, the dashboard topic carries and the shared summary is built from.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sievert_shared.errors import UnprocessableError
from sievert_shared.events.reporting import CountEntry, ThemeShared

#: A theme may be stated as identified tomorrow at most: a trust a time zone ahead of UTC.
FUTURE_ALLOWANCE = dt.timedelta(days=1)


def refuse_identified_on(identified_on: dt.date | None, today: dt.date) -> None:
    """A theme cannot have been identified in the future (line 278: code M's windows run from
    the day the theme was identified, so a future day would push them out)."""
    if identified_on is not None and identified_on > today + FUTURE_ALLOWANCE:
        message = f"{identified_on} is in the future (today is {today})"
        raise UnprocessableError(message, errors=[{"path": "body/identified_on", "message": message}])


@dataclass(frozen=True)
class LinkedIncident:
    incident_id: uuid.UUID
    site: str
    modality: str | None
    exposure_kind: str | None
    codes: tuple[str, ...]
    individuals_affected: int | None
    equipment_type: str | None


def individuals_in(incident: LinkedIncident) -> int:
    """Individuals an incident exposed, for the theme's total (guidance line 276-281, code M).

    ``individuals_affected`` when the facts give it. Otherwise one person for an exposure that
    happened, and nobody for a near miss (line 223: a near miss exposed no one)."""
    if incident.individuals_affected is not None:
        return incident.individuals_affected
    return 0 if incident.exposure_kind == "near_miss" else 1


@dataclass(frozen=True)
class ThemeFigures:
    incidents: int
    individuals: int
    by_site: dict[str, int]
    by_modality: dict[str, int]
    by_code: dict[str, int]
    by_equipment_type: dict[str, int]

    @property
    def reaches_more_than_one_individual(self) -> bool:
        """Code M: "more than one individual" (line 201-207); 2 or more, 1 is not."""
        return self.individuals > 1


def classifier_must_hear(before: ThemeFigures, after: ThemeFigures) -> bool:
    """Whether a link or unlink sends the theme's count to the classifier (code M, line 276-281).

    When the theme is past one individual after the change, M applies to every incident in it. When
    it was past one before, the classifier holds that count for every incident it was sent to and
    must hear the new one, even one individual or none, so M is taken away again. A theme that was
    never past one individual has nothing to tell."""
    return before.reaches_more_than_one_individual or after.reaches_more_than_one_individual


def _category(codes: tuple[str, ...]) -> str:
    # The most relevant code without its complementary prefixes, so "M2.2" and "2.2" count together.
    return codes[0].lstrip("MEVC") if codes else "-"


def figures(incidents: Iterable[LinkedIncident]) -> ThemeFigures:
    items = list(incidents)
    return ThemeFigures(
        incidents=len(items),
        individuals=sum(individuals_in(i) for i in items),
        by_site=dict(sorted(Counter(i.site for i in items).items())),
        by_modality=dict(sorted(Counter(i.modality or "unknown" for i in items).items())),
        by_code=dict(sorted(Counter(_category(i.codes) for i in items).items())),
        by_equipment_type=dict(sorted(Counter(i.equipment_type or "unknown" for i in items).items())),
    )


def linked_incident(row: Mapping[str, Any]) -> LinkedIncident:
    facts = row.get("facts") or {}
    return LinkedIncident(
        incident_id=row["incident_id"],
        site=row["site"],
        modality=row.get("modality"),
        exposure_kind=row.get("exposure_kind"),
        codes=tuple(row.get("codes") or ()),
        individuals_affected=facts.get("individuals_affected"),
        equipment_type=facts.get("equipment_type"),
    )


def _entries(counts: Mapping[str, int]) -> list[CountEntry]:
    return [CountEntry(value=k, count=v) for k, v in counts.items()]


def shared_summary(theme_id: uuid.UUID, title: str, description: str, found: ThemeFigures) -> ThemeShared:
    """The summary another trust may see. Built field by field from counts, so no incident id,
    site id or fact about a patient can reach it; the title and description were checked for
    identifiers when the theme was opened."""
    return ThemeShared(
        theme_id=theme_id,
        title=title,
        description=description,
        incidents=found.incidents,
        individuals=found.individuals,
        sites=len(found.by_site),
        by_modality=_entries(found.by_modality),
        by_code=_entries(found.by_code),
        by_equipment_type=_entries(found.by_equipment_type),
    )


def theme_view(theme: Mapping[str, Any], members: list[LinkedIncident]) -> dict[str, Any]:
    """The theme as its trust sees it: its incidents, and counts by site, modality, code and
    equipment type across every site of the trust."""
    found = figures(members)
    return {
        "theme_id": str(theme["theme_id"]),
        "trust": theme["trust"],
        "opened_at_site": theme["site"],
        "title": theme["title"],
        "description": theme["description"],
        "opened_by_role": theme["opened_by_role"],
        "opened_at": theme["opened_at"].isoformat(),
        "identified_on": theme["identified_on"].isoformat(),
        "incidents": [
            {
                "incident_id": str(m.incident_id),
                "site": m.site,
                "modality": m.modality,
                "codes": list(m.codes),
            }
            for m in members
        ],
        "counts": {
            "incidents": found.incidents,
            "individuals": found.individuals,
            "by_site": found.by_site,
            "by_modality": found.by_modality,
            "by_code": found.by_code,
            "by_equipment_type": found.by_equipment_type,
        },
        "code_m_applies": found.reaches_more_than_one_individual,
    }
