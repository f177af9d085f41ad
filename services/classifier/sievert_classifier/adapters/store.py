"""The classifier's PostgreSQL storage: each incident's latest decision, the facts it was made on,
and the themes the incident is in with the individuals each has reached (code M).

Every read of a decision locks its row for the caller's transaction, so two events about one
incident (facts and a theme count, on different topics) are decided one after the other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sievert_shared.db import Connection
from sievert_shared.decision import ClassificationDecision, upcast_decision_v1
from sievert_shared.envelope import Tenant
from sievert_shared.facts import IncidentFacts


@dataclass(frozen=True)
class Classified:
    """The latest decision on an incident and the version of the facts it was made on."""

    facts_version: int
    discovered_on: dt.date
    decision: ClassificationDecision
    #: the day of the theme the decision's code M came from, as last announced (None: not a theme's)
    theme_identified_on: dt.date | None = None


async def lock_decision(conn: Connection, incident_id: uuid.UUID) -> Classified | None:
    row = await conn.fetchrow(
        """SELECT facts_version, discovered_on, decision, theme_identified_on FROM classifications
           WHERE incident_id = $1 FOR UPDATE""",
        incident_id,
    )
    if row is None:
        return None
    return Classified(
        row["facts_version"],
        row["discovered_on"],
        ClassificationDecision.model_validate(upcast_decision_v1(row["decision"])),
        row["theme_identified_on"],
    )


async def lock_decision_and_facts(
    conn: Connection, incident_id: uuid.UUID
) -> tuple[Classified, IncidentFacts] | None:
    """The latest decision with its facts; None if the incident is not classified yet, or was
    classified before the facts were kept."""
    row = await conn.fetchrow(
        """SELECT facts_version, discovered_on, decision, facts, theme_identified_on FROM classifications
           WHERE incident_id = $1 FOR UPDATE""",
        incident_id,
    )
    if row is None or row["facts"] is None:
        return None
    classified = Classified(
        row["facts_version"],
        row["discovered_on"],
        ClassificationDecision.model_validate(upcast_decision_v1(row["decision"])),
        row["theme_identified_on"],
    )
    return classified, IncidentFacts.model_validate(row["facts"])


async def save_decision(
    conn: Connection,
    incident_id: uuid.UUID,
    tenant: Tenant,
    *,
    facts_version: int,
    facts: IncidentFacts,
    decision: ClassificationDecision,
    theme_identified_on: dt.date | None,
    now: dt.datetime,
) -> None:
    """Store a decision on new facts (the first, or a later version), replacing the one before."""
    await conn.execute(
        """INSERT INTO classifications AS c (incident_id, trust, site, facts_version, discovered_on,
                                             notifiable, codes, decision, classified_at, facts,
                                             theme_identified_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (incident_id) DO UPDATE SET
               facts_version = excluded.facts_version, discovered_on = excluded.discovered_on,
               notifiable = excluded.notifiable, codes = excluded.codes,
               decision = excluded.decision, classified_at = excluded.classified_at,
               facts = excluded.facts, theme_identified_on = excluded.theme_identified_on""",
        incident_id,
        tenant.trust,
        tenant.site,
        facts_version,
        facts.discovered_on,
        decision.notifiable,
        list(decision.codes),
        decision.model_dump(mode="json"),
        now,
        facts.model_dump(mode="json", exclude_none=True),
        theme_identified_on,
    )


async def replace_decision(
    conn: Connection,
    incident_id: uuid.UUID,
    decision: ClassificationDecision,
    theme_identified_on: dt.date | None,
    now: dt.datetime,
) -> None:
    """Store a new decision on the same facts (a theme's count or day changed)."""
    await conn.execute(
        """UPDATE classifications SET notifiable = $2, codes = $3, decision = $4, classified_at = $5,
                  theme_identified_on = $6
           WHERE incident_id = $1""",
        incident_id,
        decision.notifiable,
        list(decision.codes),
        decision.model_dump(mode="json"),
        now,
        theme_identified_on,
    )


async def set_theme_individuals(
    conn: Connection,
    incident_id: uuid.UUID,
    theme_id: uuid.UUID,
    individuals: int,
    identified_on: dt.date | None,
) -> None:
    await conn.execute(
        """INSERT INTO incident_themes (incident_id, theme_id, individuals, identified_on)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (incident_id, theme_id) DO UPDATE
              SET individuals = excluded.individuals, identified_on = excluded.identified_on""",
        incident_id,
        theme_id,
        individuals,
        identified_on,
    )


async def leave_theme(conn: Connection, incident_id: uuid.UUID, theme_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM incident_themes WHERE incident_id = $1 AND theme_id = $2", incident_id, theme_id
    )


async def theme_individuals(conn: Connection, incident_id: uuid.UUID) -> int | None:
    """The largest theme the incident is in, or None outside any theme."""
    value = await conn.fetchval(
        "SELECT max(individuals) FROM incident_themes WHERE incident_id = $1", incident_id
    )
    return int(value) if value is not None else None


async def theme_identified_on(conn: Connection, incident_id: uuid.UUID) -> dt.date | None:
    """The earliest day a theme of the incident past one individual (code M) was identified;
    None if no such theme's day is known. The earliest: M applied from the first theme that
    reached it."""
    value: dt.date | None = await conn.fetchval(
        "SELECT min(identified_on) FROM incident_themes WHERE incident_id = $1 AND individuals > 1",
        incident_id,
    )
    return value
