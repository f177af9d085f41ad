"""The classifier's PostgreSQL storage: each incident's latest decision, the facts it was made on,
and the themes the incident is in with the individuals each has reached (code M).

Every read of a decision locks its row for the caller's transaction, so two events about one
incident (facts and a theme count, on different topics) are decided one after the other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Themes:
    """What the classifier reads of an incident's themes: the largest count of individuals, and
    the earliest day a theme past one individual was identified (None if unknown)."""

    individuals: int
    identified_on: dt.date | None


@dataclass(frozen=True)
class DecisionToSave:
    """A decision on new facts, for ``save_decisions``."""

    incident_id: uuid.UUID
    tenant: Tenant
    facts_version: int
    facts: IncidentFacts
    decision: ClassificationDecision
    theme_identified_on: dt.date | None


async def lock_decisions(conn: Connection, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Classified]:
    """``lock_decision`` for a batch of incidents in one statement. The rows are locked in the
    order of their ids, so two transactions locking overlapping batches wait for each other
    instead of deadlocking."""
    rows = await conn.fetch(
        """SELECT incident_id, facts_version, discovered_on, decision, theme_identified_on
           FROM classifications WHERE incident_id = ANY($1::uuid[])
           ORDER BY incident_id FOR UPDATE""",
        incident_ids,
    )
    return {
        row["incident_id"]: Classified(
            row["facts_version"],
            row["discovered_on"],
            ClassificationDecision.model_validate(upcast_decision_v1(row["decision"])),
            row["theme_identified_on"],
        )
        for row in rows
    }


async def themes_of(conn: Connection, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Themes]:
    """``theme_individuals`` and ``theme_identified_on`` for a batch of incidents in one
    statement; an incident in no theme is absent. Read in a statement of its own after the
    decisions are locked, so it sees a theme count committed by a transaction that held one."""
    rows = await conn.fetch(
        """SELECT incident_id, max(individuals) AS individuals,
                  min(identified_on) FILTER (WHERE individuals > 1) AS identified_on
           FROM incident_themes WHERE incident_id = ANY($1::uuid[]) GROUP BY incident_id""",
        incident_ids,
    )
    return {row["incident_id"]: Themes(row["individuals"], row["identified_on"]) for row in rows}


async def save_decisions(conn: Connection, decisions: Sequence[DecisionToSave], now: dt.datetime) -> None:
    """``save_decision`` for a batch in one statement; an incident may appear once. The columns
    ``notifiable`` and ``codes`` are read from the decision's JSON, which holds both."""
    if not decisions:
        return
    await conn.execute(
        """INSERT INTO classifications AS c (incident_id, trust, site, facts_version, discovered_on,
                                             notifiable, codes, decision, classified_at, facts,
                                             theme_identified_on)
           SELECT b.incident_id, b.trust, b.site, b.facts_version, b.discovered_on,
                  (b.decision ->> 'notifiable')::boolean,
                  ARRAY(SELECT jsonb_array_elements_text(b.decision -> 'codes')),
                  b.decision, $8, b.facts, b.theme_identified_on
           FROM (SELECT incident_id, trust, site, facts_version, discovered_on, decision::jsonb AS decision,
                        facts::jsonb AS facts, theme_identified_on
                 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::date[], $6::text[],
                             $7::text[], $9::date[])
                      AS u (incident_id, trust, site, facts_version, discovered_on, decision, facts,
                            theme_identified_on)) AS b
           ON CONFLICT (incident_id) DO UPDATE SET
               facts_version = excluded.facts_version, discovered_on = excluded.discovered_on,
               notifiable = excluded.notifiable, codes = excluded.codes,
               decision = excluded.decision, classified_at = excluded.classified_at,
               facts = excluded.facts, theme_identified_on = excluded.theme_identified_on""",
        [d.incident_id for d in decisions],
        [d.tenant.trust for d in decisions],
        [d.tenant.site for d in decisions],
        [d.facts_version for d in decisions],
        [d.facts.discovered_on for d in decisions],
        [d.decision.model_dump_json() for d in decisions],
        [d.facts.model_dump_json(exclude_none=True) for d in decisions],
        now,
        [d.theme_identified_on for d in decisions],
    )
