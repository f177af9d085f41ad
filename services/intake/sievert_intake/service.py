"""Intake's use cases: record a report, record an amendment, read an incident back.

Each use case commits the new events, their outbox rows, the patient's encrypted identifiers and
the idempotency answer in one transaction, so an accepted request is never half-stored: a crash
can neither lose the identifiers of a stored event nor keep identifiers without their event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from sievert_intake.adapters import event_store, idempotency, references
from sievert_intake.adapters.identity_vault import IdentifierVault, PatientRecord, stable
from sievert_intake.domain.inbound import (
    BirthAfterExposureError,
    FactProblem,
    FactsInvalidError,
    ProblemKind,
    Submission,
    derive_age,
    validate_amended,
    validate_new,
)
from sievert_intake.domain.incident import Amendment, IncidentReport, apply_amendment
from sievert_shared.clock import Clock
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, IncidentFactsAmended, IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.logging import get_logger
from sievert_shared.outbox import build_envelope, enqueue, topic_of
from sievert_shared.topics import Topics

PRODUCER = "intake"

log = get_logger(__name__)


class IdempotencyConflictError(Exception):
    """The Idempotency-Key was used before with a different body."""


class IncidentNotFoundError(LookupError):
    pass


class _KeyTakenError(Exception):
    """A concurrent request stored an answer for the same key first."""


class DuplicateMessageConflictError(Exception):
    """The sender's message id was used before for different content; nothing was stored."""

    def __init__(self, source_message_id: str, incident_id: str | None) -> None:
        super().__init__(f"message {source_message_id} was already received with other content")
        self.source_message_id = source_message_id
        self.incident_id = incident_id


@dataclass(frozen=True)
class Outcome:
    """What storing an inbound message did. ``duplicate``: it had been stored before, nothing new;
    ``event_id`` is None when an amendment changed nothing."""

    incident_id: uuid.UUID
    stream_version: int
    event_id: uuid.UUID | None
    created: bool
    duplicate: bool = False
    changed_fields: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "incident_id": str(self.incident_id),
            "stream_version": self.stream_version,
            "event_id": str(self.event_id) if self.event_id else None,
            "created": self.created,
            "changed_fields": self.changed_fields,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any], *, duplicate: bool) -> Outcome:
        return cls(
            incident_id=uuid.UUID(body["incident_id"]),
            stream_version=int(body["stream_version"]),
            event_id=uuid.UUID(body["event_id"]) if body.get("event_id") else None,
            created=bool(body.get("created")),
            duplicate=duplicate,
            changed_fields=list(body.get("changed_fields") or []),
        )


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class RequestContext:
    correlation_id: str
    actor: str | None
    idempotency_key: str | None
    request_hash: str


class IntakeService:
    def __init__(self, pool: asyncpg.Pool, topics: Topics, clock: Clock, vault: IdentifierVault) -> None:
        self._pool = pool
        self._topics = topics
        self._clock = clock
        self._vault = vault

    async def report(self, report: IncidentReport, ctx: RequestContext) -> Answer:
        """A JSON report; its facts already hold the age ``IncidentReport`` derived, and its
        ``patient`` is stored encrypted with the event (the answer gives the pseudonym)."""
        incident_id = uuid.uuid4()
        identifiers = report.patient.identifiers() if report.patient is not None else None
        record = None
        if identifiers is not None and not identifiers.is_empty():
            name = self._vault.pseudonym(report.trust, identifiers)
            record = PatientRecord(report.trust, incident_id, name, identifiers)
        event = IncidentReported(
            facts=report.facts,
            channel="json",
            source_message_id=report.source_message_id,
            patient_pseudonym=record.pseudonym if record else None,
        )
        envelope = build_envelope(
            event,
            stream_id=incident_id,
            stream_version=1,
            tenant=report.tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )
        answer = Answer(
            202, {"incident_id": str(incident_id), "stream_version": 1, "event_id": str(envelope.event_id)}
        )
        if record is not None:
            answer.body["patient_pseudonym"] = record.pseudonym
        try:
            return await self._commit(envelope, answer, ctx, [record] if record else [])
        except event_store.DuplicateSourceMessageError:
            assert report.source_message_id is not None
            return await self._reported_before(report.tenant.trust, report.source_message_id, report.facts)

    async def _reported_before(self, trust: str, source_message_id: str, facts: IncidentFacts) -> Answer:
        """A JSON report whose source_message_id already created an incident: the same facts get
        the original answer, other facts are a conflict (migration 0002's unique index)."""
        async with self._pool.acquire() as conn:
            original = await event_store.find_reported(conn, trust, source_message_id)
            if original is None:  # pragma: no cover - the index said it exists
                raise RuntimeError("duplicate source message not found")
            name = await self._vault.pseudonym_in(conn, original.stream_id)
        if REGISTRY.decode(original).facts != facts:  # type: ignore[attr-defined]
            raise DuplicateMessageConflictError(source_message_id, str(original.stream_id))
        body: dict[str, Any] = {
            "incident_id": str(original.stream_id),
            "stream_version": original.stream_version,
            "event_id": str(original.event_id),
        }
        if name is not None:
            body["patient_pseudonym"] = name
        return Answer(202, body)

    async def amend(self, incident_id: uuid.UUID, amendment: Amendment, ctx: RequestContext) -> Answer:
        async with self._pool.acquire() as conn:
            history = await event_store.read_stream(conn, incident_id)
            # Read outside the commit's transaction: only an amendment changes an incident's
            # pseudonym, and expected_version (checked again by the append) serialises those.
            name = await self._vault.pseudonym_in(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        current = current_facts(history)
        latest = history[-1]
        if amendment.expected_version != latest.stream_version:
            raise event_store.ConcurrencyError(incident_id, amendment.expected_version, latest.stream_version)
        corrected, changed = apply_amendment(current, amendment.facts)
        event = IncidentFactsAmended(
            facts=corrected,
            changed_fields=changed,
            reason=amendment.reason,
            channel="json",
            patient_pseudonym=name or current_pseudonym(history),
        )
        version = latest.stream_version + 1
        envelope = build_envelope(
            event,
            stream_id=incident_id,
            stream_version=version,
            tenant=latest.tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )
        answer = Answer(
            202,
            {
                "incident_id": str(incident_id),
                "stream_version": version,
                "event_id": str(envelope.event_id),
                "changed_fields": changed,
            },
        )
        return await self._commit(envelope, answer, ctx)

    async def _commit(
        self,
        envelope: EventEnvelope,
        answer: Answer,
        ctx: RequestContext,
        patients: Sequence[PatientRecord] = (),
    ) -> Answer:
        key = ctx.idempotency_key
        for _ in range(2):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    if key is not None:
                        stored = await idempotency.lookup(conn, key)
                        if stored is not None:
                            return self._replay(stored, ctx)
                    await event_store.append(conn, [envelope])
                    await enqueue(conn, self._topics, [envelope])
                    await self._vault.store(conn, patients)
                    if key is not None and not await idempotency.remember(
                        conn, key, ctx.request_hash, answer.status_code, answer.body
                    ):
                        raise _KeyTakenError
                log.info(
                    "intake.event_recorded",
                    event_type=envelope.event_type,
                    incident_id=str(envelope.stream_id),
                    stream_version=envelope.stream_version,
                    trust=envelope.tenant.trust,
                    site=envelope.tenant.site,
                )
                return answer
            except _KeyTakenError:
                continue  # the other request committed: the next pass replays its answer
        raise RuntimeError("idempotency key neither stored nor found")  # pragma: no cover

    # --- HL7 v2 and FHIR ---------------------------------------------------------------------

    async def submit(self, submission: Submission, ctx: RequestContext) -> Outcome:
        """Store the facts of one inbound message as a new incident, or as an amendment of the
        incident its reference names, in one transaction with the outbox rows and the message's
        answer. A message stored before gets its original answer (``duplicate``); the same message
        id with other content raises ``DuplicateMessageConflictError``."""
        key = _message_key(submission, ctx)
        digest = _submission_hash(submission)
        for _ in range(3):
            try:
                return await self._submit_once(submission, ctx, key, digest)
            except (_KeyTakenError, references.ReferenceTakenError, event_store.ConcurrencyError):
                continue  # a concurrent message got there first: the next pass sees what it stored
            except event_store.DuplicateSourceMessageError:
                # Reported earlier through another door (JSON with the same source_message_id).
                return await self._submitted_before(submission)
        raise RuntimeError("the incident kept changing under concurrent messages")

    async def submit_many(
        self, items: Sequence[tuple[Submission, RequestContext]], conn: Connection | None = None
    ) -> list[Outcome | Exception]:
        """``submit`` for several messages at once, each answered as ``submit`` would answer it
        alone (an ``Outcome``, or the exception ``submit`` would raise), in far fewer round trips.

        New incidents whose message id and reference are new (to the database and to the rest of
        ``items``) are stored together in one statement: events, outbox rows, references and
        stored answers commit atomically. Everything else (resends, amendments, messages sharing
        a reference), and every message of a group a concurrent writer raced, goes through
        ``submit`` one at a time, in the given order. Messages of the group do not depend on each
        other, so storing them first keeps each sender's order.
        """
        results: list[Outcome | Exception | None] = [None] * len(items)
        keys = [_message_key(submission, ctx) for submission, ctx in items]
        references_seen = Counter((s.tenant.trust, s.reference) for s, _ in items if s.reference is not None)
        keys_seen = Counter(keys)
        single: list[int] = []
        candidates: list[tuple[int, str, str, _Built | None]] = []
        for i, (submission, ctx) in enumerate(items):
            key = keys[i]
            if (
                key is None
                or keys_seen[key] > 1
                or (
                    submission.reference is not None
                    and references_seen[(submission.tenant.trust, submission.reference)] > 1
                )
            ):
                single.append(i)
                continue
            built: _Built | None = None
            try:
                built = self._new_incident(submission, ctx)
            except Exception as exc:  # FactsInvalidError, mostly
                results[i] = exc  # unless it was stored before: then it is a resend (below)
            candidates.append((i, key, _submission_hash(submission), built))
        group: list[tuple[int, Outcome, EventEnvelope]] = []
        if candidates:
            async with contextlib.AsyncExitStack() as stack:
                if conn is None:
                    conn = await stack.enter_async_context(self._pool.acquire())
                try:
                    found = await self._store_new(conn, items, candidates)
                except asyncpg.UniqueViolationError:
                    # A concurrent message stored the same id or reference between our read and
                    # our write: nothing of the group was stored; take them one by one.
                    found = None
            for (i, key, digest, built), (stored, known_reference) in zip(
                candidates, found or [(None, True)] * len(candidates), strict=True
            ):
                if stored is not None:
                    results[i] = _stored_answer(stored, digest, items[i][0], key)
                elif known_reference:
                    results[i] = None
                    single.append(i)
                elif built is not None:
                    group.append((i, built[0], built[1]))
        for i, outcome, envelope in group:
            results[i] = outcome
            log.info(
                "intake.event_recorded",
                event_type=envelope.event_type,
                incident_id=str(envelope.stream_id),
                stream_version=envelope.stream_version,
                channel=items[i][0].channel,
                trust=envelope.tenant.trust,
                site=envelope.tenant.site,
            )
        if single:
            slots = asyncio.Semaphore(_CONCURRENT_CHAINS)

            async def one_by_one(chain: list[int]) -> None:
                async with slots:
                    for i in chain:
                        submission, ctx = items[i]
                        try:
                            results[i] = await self.submit(submission, ctx)
                        except Exception as exc:
                            results[i] = exc

            await asyncio.gather(*(one_by_one(chain) for chain in _chains(items, keys, sorted(single))))
        return results  # type: ignore[return-value]

    async def _store_new(
        self,
        conn: Connection,
        items: Sequence[tuple[Submission, RequestContext]],
        candidates: list[tuple[int, str, str, _Built | None]],
    ) -> list[tuple[dict[str, Any] | None, bool]]:
        """One statement, so one round trip: for each candidate, the answer stored under its key
        and whether its reference names a known incident; and for each one with neither (and an
        envelope), its event, outbox row, reference and answer, stored. The patient identifiers of
        those stored follow in the same transaction, so they commit (or not) with their events."""
        columns: list[list[Any]] = [[] for _ in range(12)]
        for i, key, digest, built in candidates:
            submission = items[i][0]
            if built is None:
                row: tuple[Any, ...] = (key, submission.tenant.trust, submission.reference, digest)
                row += (None,) * 8
            else:
                outcome, envelope, _ = built
                row = (
                    key,
                    submission.tenant.trust,
                    submission.reference,
                    digest,
                    json.dumps(outcome.body()),
                    envelope.event_id,
                    envelope.stream_id,
                    envelope.tenant.site,
                    envelope.model_dump_json(),
                    envelope.recorded_at,
                    envelope.key,
                    submission.channel,
                )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        found: list[tuple[dict[str, Any] | None, bool]] = [(None, False)] * len(candidates)
        patients = any(built is not None and built[2] is not None for *_, built in candidates)
        # Without identifiers the one statement is its own transaction (no BEGIN/COMMIT trips).
        async with conn.transaction() if patients else contextlib.nullcontext():
            rows = await conn.fetch(
                _STORE_NEW,
                *columns,
                IncidentReported.event_type,
                IncidentReported.schema_version,
                topic_of(IncidentReported, self._topics),
            )
            for r in rows:
                stored = None
                if r["request_hash"] is not None:
                    stored = {"request_hash": r["request_hash"], "response": r["response"]}
                found[r["i"] - 1] = (stored, bool(r["known"]))
            # The statement stored exactly the candidates with an envelope, no stored answer and
            # no known reference (its ``fresh``): their identifiers go in with them.
            await self._vault.store(
                conn,
                [
                    built[2]
                    for (_, _, _, built), (stored, known) in zip(candidates, found, strict=True)
                    if built is not None and built[2] is not None and stored is None and not known
                ],
            )
        return found

    async def _submit_once(
        self, submission: Submission, ctx: RequestContext, key: str | None, digest: str
    ) -> Outcome:
        trust = submission.tenant.trust
        async with self._pool.acquire() as conn, conn.transaction():
            stored, incident_id = await references.resolve(
                conn, message_key=key, trust=trust, reference=submission.reference
            )
            if stored is not None:
                if stored["request_hash"] != digest:
                    body = stored["response"]
                    incident = body.get("incident_id") if isinstance(body, dict) else None
                    raise DuplicateMessageConflictError(submission.source_message_id or str(key), incident)
                return Outcome.from_body(stored["response"], duplicate=True)  # type: ignore[arg-type]
            if incident_id is None:
                outcome, envelope, patient = self._new_incident(submission, ctx)
                await event_store.append(conn, [envelope])
                await enqueue(conn, self._topics, [envelope])
                if submission.reference:
                    await references.add(
                        conn, trust, submission.reference, outcome.incident_id, submission.channel
                    )
            else:
                history = await event_store.read_stream(conn, incident_id)
                held = await self._vault.pseudonym_in(conn, incident_id)
                outcome, amended, patient = self._amendment(submission, ctx, incident_id, history, held)
                if amended is not None:
                    await event_store.append(conn, [amended])
                    await enqueue(conn, self._topics, [amended])
                envelope = amended  # type: ignore[assignment]
            await self._vault.store(conn, [patient] if patient is not None else [])
            if key is not None and not await idempotency.remember(conn, key, digest, 200, outcome.body()):
                raise _KeyTakenError
        if envelope is not None:
            log.info(
                "intake.event_recorded",
                event_type=envelope.event_type,
                incident_id=str(envelope.stream_id),
                stream_version=envelope.stream_version,
                channel=submission.channel,
                trust=envelope.tenant.trust,
                site=envelope.tenant.site,
            )
        return outcome

    def _new_incident(self, submission: Submission, ctx: RequestContext) -> _Built:
        raw = dict(submission.facts)
        _derive_age(raw, submission)
        facts = validate_new(raw)
        incident_id = uuid.uuid4()
        patient = None
        if submission.identifiers is not None and not submission.identifiers.is_empty():
            trust = submission.tenant.trust
            name = self._vault.pseudonym(trust, submission.identifiers)
            patient = PatientRecord(trust, incident_id, name, submission.identifiers)
        event = IncidentReported(
            facts=facts,
            channel=submission.channel,
            source_message_id=submission.source_message_id,
            patient_pseudonym=patient.pseudonym if patient else None,
        )
        envelope = build_envelope(
            event,
            stream_id=incident_id,
            stream_version=1,
            tenant=submission.tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )
        return Outcome(incident_id, 1, envelope.event_id, created=True), envelope, patient

    def _amendment(
        self,
        submission: Submission,
        ctx: RequestContext,
        incident_id: uuid.UUID,
        history: list[EventEnvelope],
        held: str | None,
    ) -> tuple[Outcome, EventEnvelope | None, PatientRecord | None]:
        """The amendment a message makes (None when it changes nothing), and the identifiers it
        carries. ``held``: the pseudonym the vault holds for the incident."""
        current = current_facts(history)
        latest = history[-1]
        trust = submission.tenant.trust
        if latest.tenant.trust != trust:  # pragma: no cover - references are per trust
            raise IncidentNotFoundError(incident_id)
        patch = dict(submission.facts)
        _derive_age(patch, submission, current)
        corrected, changed = validate_amended(current, patch)
        before = held or current_pseudonym(history)
        name, patient = before, None
        identifiers = submission.identifiers
        if identifiers is not None and not identifiers.is_empty():
            # Without a number the patient cannot be told apart: keep the pseudonym they have.
            name = before if before and not stable(identifiers) else self._vault.pseudonym(trust, identifiers)
            patient = PatientRecord(trust, incident_id, name, identifiers)
        if name != current_pseudonym(history):
            changed = [*changed, "patient_pseudonym"]  # the message names another patient
        if not changed:
            # A resend of an amendment already applied, or a report that repeats what is known.
            return Outcome(incident_id, latest.stream_version, None, created=False), None, patient
        event = IncidentFactsAmended(
            facts=corrected,
            changed_fields=changed,
            reason=submission.reason[:500],
            channel=submission.channel,
            patient_pseudonym=name,
        )
        envelope = build_envelope(
            event,
            stream_id=incident_id,
            stream_version=latest.stream_version + 1,
            tenant=latest.tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )
        outcome = Outcome(
            incident_id, envelope.stream_version, envelope.event_id, created=False, changed_fields=changed
        )
        return outcome, envelope, patient

    async def _submitted_before(self, submission: Submission) -> Outcome:
        assert submission.source_message_id is not None
        async with self._pool.acquire() as conn:
            original = await event_store.find_reported(
                conn, submission.tenant.trust, submission.source_message_id
            )
        if original is None:  # pragma: no cover - the index said it exists
            raise RuntimeError("duplicate source message not found")
        raw = dict(submission.facts)
        _derive_age(raw, submission)
        try:
            same = validate_new(raw) == REGISTRY.decode(original).facts  # type: ignore[attr-defined]
        except FactsInvalidError:
            same = False
        if not same:
            raise DuplicateMessageConflictError(submission.source_message_id, str(original.stream_id))
        return Outcome(
            original.stream_id, original.stream_version, original.event_id, created=True, duplicate=True
        )

    async def reference_of(self, incident_id: uuid.UUID) -> str | None:
        async with self._pool.acquire() as conn:
            return await references.of_incident(conn, incident_id)

    async def current(self, incident_id: uuid.UUID) -> tuple[EventEnvelope, IncidentFacts]:
        """The latest event and the current facts of an incident."""
        async with self._pool.acquire() as conn:
            history = await event_store.read_stream(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        return history[-1], current_facts(history)

    @staticmethod
    def _replay(stored: idempotency.StoredAnswer, ctx: RequestContext) -> Answer:
        if stored.request_hash != ctx.request_hash:
            raise IdempotencyConflictError
        return Answer(stored.status_code, stored.response)

    async def get(self, incident_id: uuid.UUID) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            history = await event_store.read_stream(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        return {
            "incident_id": str(incident_id),
            "trust": history[0].tenant.trust,
            "site": history[0].tenant.site,
            "stream_version": history[-1].stream_version,
            "facts": current_facts(history).model_dump(mode="json"),
            "history": [_history_entry(e) for e in history],
        }


_STORE_NEW = """
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                         $7::uuid[], $8::text[], $9::text[], $10::timestamptz[], $11::bytea[], $12::text[])
        WITH ORDINALITY AS g(key, trust, reference, request_hash, response, event_id, stream_id, site,
                             envelope, recorded_at, message_key, channel, i)
), found AS (
    SELECT g.i, k.request_hash, k.response,
           EXISTS (SELECT 1 FROM incident_references r
                   WHERE r.trust = g.trust AND r.reference = g.reference) AS known
    FROM given g LEFT JOIN idempotency_keys k ON k.idempotency_key = g.key
), fresh AS (
    SELECT g.* FROM given g JOIN found f USING (i)
    WHERE g.event_id IS NOT NULL AND f.request_hash IS NULL AND NOT f.known
), stored_events AS (
    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                        trust, site, envelope, recorded_at)
    SELECT event_id, stream_id, 1, $13, $14, trust, site, envelope::jsonb, recorded_at FROM fresh
), queued AS (
    INSERT INTO outbox (event_id, topic, message_key, envelope)
    SELECT event_id, $15, message_key, envelope::jsonb FROM fresh
), refs AS (
    INSERT INTO incident_references (trust, reference, incident_id, channel)
    SELECT trust, reference, stream_id, channel FROM fresh WHERE reference IS NOT NULL
), answers AS (
    INSERT INTO idempotency_keys (idempotency_key, request_hash, status_code, response)
    SELECT key, request_hash, 200, response::jsonb FROM fresh
)
SELECT i, request_hash, response, known FROM found
"""


_CONCURRENT_CHAINS = 8  # transactions one group may run at once (each takes a pooled connection)

#: A new incident built from a message: its answer, its event and its patient's identifiers.
_Built = tuple[Outcome, EventEnvelope, PatientRecord | None]


def _chains(
    items: Sequence[tuple[Submission, RequestContext]], keys: list[str | None], indexes: list[int]
) -> list[list[int]]:
    """``indexes`` (ascending) split into chains of messages that may touch the same incident
    (same message id, or same reference): each chain keeps the given order, chains are unrelated.
    A trust's reference names one incident, so messages of unrelated chains never meet."""
    parent = {i: i for i in indexes}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, ...], int] = {}
    for i in indexes:
        submission, key = items[i][0], keys[i]
        tokens: list[tuple[str, ...]] = [("key", key)] if key is not None else []
        if submission.reference is not None:
            tokens.append(("reference", submission.tenant.trust, submission.reference))
        for token in tokens:
            if token in owner:
                a, b = root(owner[token]), root(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[token] = i
    chains: dict[int, list[int]] = {}
    for i in indexes:
        chains.setdefault(root(i), []).append(i)
    return list(chains.values())


def _stored_answer(
    stored: dict[str, Any], digest: str, submission: Submission, key: str
) -> Outcome | Exception:
    """A message whose id was stored before: the original answer, or a conflict when the content
    differs (as ``_submit_once`` answers it)."""
    body = stored["response"]
    if stored["request_hash"] != digest:
        incident = body.get("incident_id") if isinstance(body, dict) else None
        return DuplicateMessageConflictError(submission.source_message_id or key, incident)
    return Outcome.from_body(body, duplicate=True)


def _message_key(submission: Submission, ctx: RequestContext) -> str | None:
    """Idempotency key of an inbound message: the sender's message id, per trust, or the HTTP
    Idempotency-Key when the message has no id of its own."""
    if submission.source_message_id:
        return f"source:{submission.tenant.trust}:{submission.source_message_id}"
    return ctx.idempotency_key


def _submission_hash(submission: Submission) -> str:
    content = {
        "tenant": [submission.tenant.trust, submission.tenant.site],
        "reference": submission.reference,
        "facts": submission.facts,
        "birth_date": submission.birth_date.isoformat() if submission.birth_date else None,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _derive_age(raw: dict[str, Any], submission: Submission, current: IncidentFacts | None = None) -> None:
    try:
        derive_age(raw, submission.birth_date, current)
    except BirthAfterExposureError as exc:
        raise FactsInvalidError([FactProblem("patient_age_years", str(exc), ProblemKind.VALUE)]) from None


def current_facts(history: list[EventEnvelope]) -> IncidentFacts:
    """Every intake event carries the complete facts, so the latest one is the current state."""
    event = REGISTRY.decode(history[-1])
    assert isinstance(event, IncidentReported | IncidentFactsAmended)
    return event.facts


def current_pseudonym(history: list[EventEnvelope]) -> str | None:
    """The patient's pseudonym as the log last gave it (None before v2 of intake's events)."""
    event = REGISTRY.decode(history[-1])
    assert isinstance(event, IncidentReported | IncidentFactsAmended)
    return event.patient_pseudonym


def _history_entry(envelope: EventEnvelope) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "stream_version": envelope.stream_version,
        "recorded_at": envelope.recorded_at.isoformat(),
        "correlation_id": envelope.correlation_id,
        "actor": envelope.actor,
    }
    if envelope.event_type == IncidentFactsAmended.event_type:
        entry["changed_fields"] = envelope.payload.get("changed_fields", [])
        entry["reason"] = envelope.payload.get("reason")
    return entry
