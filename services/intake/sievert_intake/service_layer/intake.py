"""Intake's one command path: a command in, ``Accepted`` out.

``IntakeService.execute`` serves every door alike (JSON reports and amendments, FHIR, HL7 v2 one
message at a time): in one transaction it looks up the answer stored under the request's key
(and the incident the sender's reference names), plans the event the command makes, and stores
that event, its outbox row, the sender's reference, the patient's encrypted identifiers and the
answer. An accepted request is therefore never half-stored: a crash can neither lose the
identifiers of a stored event nor keep identifiers without their event, and a resend gets the
stored answer. ``execute_many`` is the same path for a group of messages (MLLP's group commit):
new incidents go into one statement, everything else through ``execute``; so is
``execute_report_group`` for concurrent single JSON reports (their group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from sievert_intake.adapters import event_store, idempotency, references
from sievert_intake.adapters.idempotency import StoredAnswer
from sievert_intake.adapters.identity_vault import IdentifierVault, PatientRecord, stable
from sievert_intake.domain.commands import (
    AmendIncident,
    Command,
    RecordMessage,
    ReportIncident,
    RequestContext,
)
from sievert_intake.domain.identity import PatientIdentifiers
from sievert_intake.domain.inbound import (
    BirthAfterExposureError,
    Channel,
    FactProblem,
    FactsInvalidError,
    ProblemKind,
    Submission,
    derive_age,
    implausible_dates,
    validate_amended,
    validate_new,
)
from sievert_intake.domain.incident import apply_amendment, refuse_implausible_dates
from sievert_intake.service_layer.errors import (
    DuplicateMessageConflictError,
    IdempotencyConflictError,
    IncidentNotFoundError,
    VersionConflictError,
)
from sievert_shared.clock import Clock
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import REGISTRY, IncidentFactsAmended, IncidentReported
from sievert_shared.events.registry import Event
from sievert_shared.facts import IncidentFacts
from sievert_shared.ids import uuid4_batch
from sievert_shared.logging import get_logger
from sievert_shared.outbox import build_envelope, enqueue, sibling_envelope
from sievert_shared.topics import Topics

PRODUCER = "intake"

#: Passes of one command when a concurrent request stored the same key, reference or stream
#: version first: each pass sees what the other stored, so a few always settle it.
_ATTEMPTS = 3
#: Transactions one group commit may run at once (each takes a pooled connection).
_CONCURRENT_CHAINS = 8
#: Stored with each answer, as the door first gave it (JSON: 202 Accepted; messages: 200).
_JSON_STATUS, _MESSAGE_STATUS = 202, 200

log = get_logger(__name__)


@dataclass(frozen=True)
class Accepted:
    """What a command stored, or had stored before (``duplicate``). ``event_id`` is None when an
    amendment changed nothing. ``answer`` is the answer kept under the request's key, which a
    replay returns verbatim; its shape is the door's (JSON or message)."""

    incident_id: uuid.UUID
    stream_version: int
    event_id: uuid.UUID | None
    created: bool
    duplicate: bool
    answer: dict[str, Any]

    @classmethod
    def replayed(cls, answer: dict[str, Any], *, created: bool | None = None) -> Accepted:
        """The answer stored before, as the command's result again."""
        event_id = answer.get("event_id")
        return cls(
            incident_id=uuid.UUID(answer["incident_id"]),
            stream_version=int(answer["stream_version"]),
            event_id=uuid.UUID(event_id) if event_id else None,
            created=bool(answer.get("created")) if created is None else created,
            duplicate=True,
            answer=answer,
        )


@dataclass(frozen=True)
class _Plan:
    """What a command stores: its event (None: it changes nothing), the patient's identifiers,
    the sender's reference for a new incident, and the answer (with the status the door gives)."""

    accepted: Accepted
    envelope: EventEnvelope | None
    patient: PatientRecord | None
    channel: Channel
    status_code: int
    reference: str | None = None


@dataclass(frozen=True)
class _Candidate:
    """A message of a group that may be a new incident; ``plan`` is None when it did not map."""

    index: int
    submission: Submission
    key: str
    digest: str
    plan: _Plan | None


@dataclass(frozen=True)
class _ChunkStore:
    """How ``execute_reports`` stores its chunks (its keyword arguments)."""

    conn: Connection | None
    traces: Sequence[str | None] | None
    isolate_failures: bool
    log_recorded: bool


@dataclass
class _Planning:
    """What the reports of one request share, worked out once for all of them: the day their
    dates are judged on, their ids (drawn together), each tenant, and each tenant's first
    envelope, whose checked fields the others copy (``sibling_envelope``)."""

    today: dt.date
    ids: Iterator[uuid.UUID]
    tenants: dict[tuple[str, str], Tenant] = field(default_factory=dict)
    templates: dict[tuple[Tenant, str, str | None], EventEnvelope] = field(default_factory=dict)

    def tenant(self, trust: str, site: str) -> Tenant:
        tenant = self.tenants.get((trust, site))
        if tenant is None:
            tenant = self.tenants[trust, site] = Tenant(trust=trust, site=site)
        return tenant


class _KeyTakenError(Exception):
    """A concurrent request stored an answer under the same key first."""


class IntakeService:
    """``pool`` gives the service's pool, which exists only once the service has started."""

    def __init__(
        self, pool: Callable[[], asyncpg.Pool], topics: Topics, clock: Clock, vault: IdentifierVault
    ) -> None:
        self._pool = pool
        self._topics = topics
        self._clock = clock
        self._vault = vault

    # --- the command path ------------------------------------------------------------------

    async def execute(self, command: Command, *, log_recorded: bool = True) -> Accepted:
        """Store what ``command`` asks for, or give the answer stored for it before.
        ``log_recorded=False``: the caller logs the event recorded (a group commit's writer
        runs outside the request's context, so its log line would lack the correlation id)."""
        for _ in range(_ATTEMPTS):
            try:
                return await self._execute_once(command, log_recorded)
            except (_KeyTakenError, references.ReferenceTakenError, event_store.ConcurrencyError):
                continue  # a concurrent request got there first: the next pass sees what it stored
            except event_store.DuplicateSourceMessageError:
                # The sender's message id made an incident before, maybe through another door.
                return await self._reported_before(command)
        raise RuntimeError("the incident kept changing under concurrent requests")

    async def _execute_once(self, command: Command, log_recorded: bool = True) -> Accepted:
        key, digest = _answer_key(command)
        async with self._pool().acquire() as conn, conn.transaction():
            stored, referenced = await _stored_answer(conn, command, key)
            if stored is not None:
                return _replay(command, stored, digest, key)
            plan = await self._plan(conn, command, referenced)
            await self._record(conn, plan, key, digest)
        if log_recorded:
            _log_recorded(plan)
        return plan.accepted

    async def _plan(self, conn: Connection, command: Command, referenced: uuid.UUID | None) -> _Plan:
        if isinstance(command, ReportIncident):
            return self._report(command)
        if isinstance(command, AmendIncident):
            return await self._amend(conn, command)
        if referenced is None:
            return self._new_incident(command)
        return await self._message_amendment(conn, command, referenced)

    async def _record(self, conn: Connection, plan: _Plan, key: str | None, digest: str) -> None:
        """Inside the command's transaction: the event and its outbox row, the sender's
        reference, the identifiers and the answer, in that order."""
        envelope = plan.envelope
        if envelope is not None:
            await event_store.append(conn, [envelope])
            await enqueue(conn, self._topics, [envelope])
            if plan.reference:
                await references.add(
                    conn, envelope.tenant.trust, plan.reference, plan.accepted.incident_id, plan.channel
                )
        await self._vault.store(conn, [plan.patient] if plan.patient is not None else [])
        if key is not None and not await idempotency.remember(
            conn, key, digest, plan.status_code, plan.accepted.answer
        ):
            raise _KeyTakenError

    async def _reported_before(self, command: Command) -> Accepted:
        """A new incident whose source message id already reported one: the same facts get the
        original incident, other facts are a conflict (migration 0002's unique index)."""
        if isinstance(command, AmendIncident):  # pragma: no cover - only a report carries the id
            raise RuntimeError("an amendment has no source message id")
        trust = (
            command.report.trust if isinstance(command, ReportIncident) else command.submission.tenant.trust
        )
        source_message_id = _source_message_id(command)
        assert source_message_id is not None
        async with self._pool().acquire() as conn:
            original = await event_store.find_reported(conn, trust, source_message_id)
            if original is None:  # pragma: no cover - the index said it exists
                raise RuntimeError("duplicate source message not found")
            name = await self._vault.pseudonym_in(conn, original.stream_id)
        reported = REGISTRY.decode(original)
        assert isinstance(reported, IncidentReported)
        if _facts_of(command) != reported.facts:
            raise DuplicateMessageConflictError(source_message_id, str(original.stream_id))
        if isinstance(command, ReportIncident):
            answer = _report_answer(original.stream_id, original.event_id, name)
            answer["stream_version"] = original.stream_version
        else:
            answer = _message_answer(original.stream_id, original.stream_version, original.event_id, True)
        return Accepted.replayed(answer, created=True)

    # --- what each command records ---------------------------------------------------------

    def _report(self, command: ReportIncident, planning: _Planning | None = None) -> _Plan:
        """A JSON report; its facts already hold the age ``IncidentReport`` derived. With
        ``planning``, one of many reports of one request."""
        report = command.report
        refuse_implausible_dates(report.facts, planning.today if planning else self._today())
        identifiers = report.patient.identifiers() if report.patient is not None else None
        tenant = planning.tenant(report.trust, report.site) if planning else report.tenant
        envelope, patient = self._reported(
            tenant, report.facts, "json", report.source_message_id, identifiers, command.context, planning
        )
        answer = _report_answer(envelope.stream_id, envelope.event_id, patient.pseudonym if patient else None)
        accepted = Accepted(envelope.stream_id, 1, envelope.event_id, True, False, answer)
        return _Plan(accepted, envelope, patient, "json", _JSON_STATUS)

    def _new_incident(self, command: RecordMessage) -> _Plan:
        """A message whose reference names no incident yet: a new one (or ``FactsInvalidError``)."""
        submission = command.submission
        raw = dict(submission.facts)
        _refuse_implausible_dates(raw, self._today())  # before an age is reckoned from them
        _derive_age(raw, submission)
        facts = validate_new(raw, self._today())
        envelope, patient = self._reported(
            submission.tenant,
            facts,
            submission.channel,
            submission.source_message_id,
            submission.identifiers,
            command.context,
        )
        answer = _message_answer(envelope.stream_id, 1, envelope.event_id, True)
        accepted = Accepted(envelope.stream_id, 1, envelope.event_id, True, False, answer)
        return _Plan(accepted, envelope, patient, submission.channel, _MESSAGE_STATUS, submission.reference)

    def _reported(
        self,
        tenant: Tenant,
        facts: IncidentFacts,
        channel: Channel,
        source_message_id: str | None,
        identifiers: PatientIdentifiers | None,
        ctx: RequestContext,
        planning: _Planning | None = None,
    ) -> tuple[EventEnvelope, PatientRecord | None]:
        """``IncidentReported`` of a new incident, and its patient's identifiers to store with it
        (the event carries only their pseudonym)."""
        incident_id = next(planning.ids) if planning else uuid.uuid4()
        patient = None
        if identifiers is not None and not identifiers.is_empty():
            name = self._vault.pseudonym(tenant.trust, identifiers)
            patient = PatientRecord(tenant.trust, incident_id, name, identifiers)
        event = IncidentReported(
            facts=facts,
            channel=channel,
            source_message_id=source_message_id,
            patient_pseudonym=patient.pseudonym if patient else None,
        )
        if planning is None:
            return self._envelope(event, incident_id, 1, tenant, ctx), patient
        shared = (tenant, ctx.correlation_id, ctx.actor)
        template = planning.templates.get(shared)
        if template is None:
            envelope = planning.templates[shared] = self._envelope(event, incident_id, 1, tenant, ctx)
            return envelope, patient
        envelope = sibling_envelope(
            template, event, event_id=next(planning.ids), stream_id=incident_id, now=self._clock.now()
        )
        return envelope, patient

    async def _amend(self, conn: Connection, command: AmendIncident) -> _Plan:
        incident_id, amendment = command.incident_id, command.amendment
        history = await event_store.read_stream(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        name = await self._vault.pseudonym_in(conn, incident_id)
        latest = history[-1]
        if amendment.expected_version != latest.stream_version:
            raise VersionConflictError(incident_id, amendment.expected_version, latest.stream_version)
        corrected, changed = apply_amendment(
            current_facts(history), amendment.facts, self._today(), trust=latest.tenant.trust
        )
        event = IncidentFactsAmended(
            facts=corrected,
            changed_fields=changed,
            reason=amendment.reason,
            channel="json",
            patient_pseudonym=name or current_pseudonym(history),
        )
        version = latest.stream_version + 1
        envelope = self._envelope(event, incident_id, version, latest.tenant, command.context)
        answer = {
            "incident_id": str(incident_id),
            "stream_version": version,
            "event_id": str(envelope.event_id),
            "changed_fields": changed,
        }
        accepted = Accepted(incident_id, version, envelope.event_id, False, False, answer)
        return _Plan(accepted, envelope, None, "json", _JSON_STATUS)

    async def _message_amendment(
        self, conn: Connection, command: RecordMessage, incident_id: uuid.UUID
    ) -> _Plan:
        """The amendment a message makes of the incident its reference names (no event when it
        changes nothing), and the identifiers it carries."""
        submission = command.submission
        history = await event_store.read_stream(conn, incident_id)
        held = await self._vault.pseudonym_in(conn, incident_id)
        current = current_facts(history)
        latest = history[-1]
        trust = submission.tenant.trust
        if latest.tenant.trust != trust:  # pragma: no cover - references are per trust
            raise IncidentNotFoundError(incident_id)
        patch = dict(submission.facts)
        _refuse_implausible_dates(patch, self._today())
        _derive_age(patch, submission, current)
        corrected, changed = validate_amended(current, patch, self._today())
        name, patient = self._patient_of_amendment(
            submission, incident_id, held or current_pseudonym(history)
        )
        if name != current_pseudonym(history):
            changed = [*changed, "patient_pseudonym"]  # the message names another patient
        if not changed:
            # A resend of an amendment already applied, or a report that repeats what is known.
            answer = _message_answer(incident_id, latest.stream_version, None, False)
            accepted = Accepted(incident_id, latest.stream_version, None, False, False, answer)
            return _Plan(accepted, None, patient, submission.channel, _MESSAGE_STATUS)
        event = IncidentFactsAmended(
            facts=corrected,
            changed_fields=changed,
            reason=submission.reason[:500],
            channel=submission.channel,
            patient_pseudonym=name,
        )
        envelope = self._envelope(
            event, incident_id, latest.stream_version + 1, latest.tenant, command.context
        )
        answer = _message_answer(incident_id, envelope.stream_version, envelope.event_id, False, changed)
        accepted = Accepted(incident_id, envelope.stream_version, envelope.event_id, False, False, answer)
        return _Plan(accepted, envelope, patient, submission.channel, _MESSAGE_STATUS)

    def _patient_of_amendment(
        self, submission: Submission, incident_id: uuid.UUID, before: str | None
    ) -> tuple[str | None, PatientRecord | None]:
        """The pseudonym after an amending message (``before``: the one the incident has) and
        the identifiers it carries."""
        identifiers = submission.identifiers
        if identifiers is None or identifiers.is_empty():
            return before, None
        trust = submission.tenant.trust
        # Without a number the patient cannot be told apart: keep the pseudonym they have.
        name = before if before and not stable(identifiers) else self._vault.pseudonym(trust, identifiers)
        return name, PatientRecord(trust, incident_id, name, identifiers)

    def _today(self) -> dt.date:
        return self._clock.now().date()

    def _envelope(
        self, event: Event, incident_id: uuid.UUID, version: int, tenant: Tenant, ctx: RequestContext
    ) -> EventEnvelope:
        return build_envelope(
            event,
            stream_id=incident_id,
            stream_version=version,
            tenant=tenant,
            correlation_id=ctx.correlation_id,
            producer=PRODUCER,
            now=self._clock.now(),
            actor=ctx.actor,
        )

    # --- group commit ----------------------------------------------------------------------

    async def execute_many(
        self,
        commands: Sequence[RecordMessage],
        traces: Sequence[str | None] | None = None,
        conn: Connection | None = None,
    ) -> list[Accepted | Exception]:
        """``execute`` for several messages at once, each answered as ``execute`` would answer it
        alone (an ``Accepted``, or the exception it would raise), in far fewer round trips.

        New incidents whose message id and reference are new (to the database and to the rest of
        ``commands``) are stored together in one statement: events, outbox rows, references,
        answers and identifiers commit atomically. Everything else (resends, amendments, messages
        sharing a reference), and every message of a group a concurrent writer raced, goes
        through ``execute`` one at a time, in the given order. Messages of the group do not
        depend on each other, so storing them first keeps each sender's order.
        """
        results: list[Accepted | Exception | None] = [None] * len(commands)
        keys = [_message_key(command) for command in commands]
        single, candidates = self._sort_group(commands, keys, results)
        if candidates:
            found = await self._store_group(conn, candidates, traces)
            for candidate, finding in zip(candidates, found, strict=True):
                i, plan = candidate.index, candidate.plan
                if finding.stored is not None:
                    results[i] = _replayed_or_refused(
                        commands[i], finding.stored, candidate.digest, candidate.key
                    )
                elif finding.known_reference:
                    results[i] = None  # an amendment after all: through ``execute``
                    single.append(i)
                elif plan is not None:
                    results[i] = plan.accepted
                    _log_recorded(plan)
        if single:
            await self._execute_chains(commands, keys, sorted(single), results)
        return results  # type: ignore[return-value]

    def _sort_group(
        self,
        commands: Sequence[RecordMessage],
        keys: list[str | None],
        results: list[Accepted | Exception | None],
    ) -> tuple[list[int], list[_Candidate]]:
        """The messages to store one by one, and those that may be new incidents (planned; a
        message that does not map keeps its error in ``results`` unless it was stored before)."""
        shared_references = Counter(
            (c.submission.tenant.trust, c.submission.reference)
            for c in commands
            if c.submission.reference is not None
        )
        shared_keys = Counter(keys)
        single: list[int] = []
        candidates: list[_Candidate] = []
        for i, command in enumerate(commands):
            key, submission = keys[i], command.submission
            if (
                key is None
                or shared_keys[key] > 1
                or (
                    submission.reference is not None
                    and shared_references[(submission.tenant.trust, submission.reference)] > 1
                )
            ):
                single.append(i)
                continue
            plan: _Plan | None = None
            try:
                plan = self._new_incident(command)
            except Exception as exc:  # FactsInvalidError, mostly
                results[i] = exc
            candidates.append(_Candidate(i, submission, key, _submission_hash(submission), plan))
        return single, candidates

    async def _store_group(
        self, conn: Connection | None, candidates: list[_Candidate], traces: Sequence[str | None] | None
    ) -> list[event_store.Found]:
        """One statement for the group's new incidents, their identifiers in its transaction.
        A concurrent writer of the same id or reference stores nothing of the group: then every
        candidate is reported as known, to be taken one by one."""
        incidents = [
            event_store.NewIncident(
                key=c.key,
                trust=c.submission.tenant.trust,
                reference=c.submission.reference,
                request_hash=c.digest,
                channel=c.submission.channel,
                envelope=c.plan.envelope if c.plan else None,
                answer=c.plan.accepted.answer if c.plan else None,
                trace_context=traces[c.index] if traces is not None else None,
            )
            for c in candidates
        ]
        with_patients = any(c.plan is not None and c.plan.patient is not None for c in candidates)
        async with contextlib.AsyncExitStack() as stack:
            if conn is None:
                conn = await stack.enter_async_context(self._pool().acquire())
            try:
                # Without identifiers the one statement is its own transaction (no BEGIN/COMMIT trips).
                async with conn.transaction() if with_patients else contextlib.nullcontext():
                    found = await event_store.store_new_incidents(conn, incidents, self._topics)
                    await self._vault.store(
                        conn,
                        [
                            c.plan.patient
                            for c, f in zip(candidates, found, strict=True)
                            if c.plan is not None and c.plan.patient is not None and f.fresh
                        ],
                    )
                return found
            except asyncpg.UniqueViolationError:
                return [event_store.Found(None, True)] * len(candidates)

    async def _execute_chains(
        self,
        commands: Sequence[RecordMessage],
        keys: list[str | None],
        indexes: list[int],
        results: list[Accepted | Exception | None],
    ) -> None:
        slots = asyncio.Semaphore(_CONCURRENT_CHAINS)

        async def one_by_one(chain: list[int]) -> None:
            async with slots:
                for i in chain:
                    try:
                        results[i] = await self.execute(commands[i])
                    except Exception as exc:
                        results[i] = exc

        await asyncio.gather(*(one_by_one(chain) for chain in _chains(commands, keys, indexes)))

    # --- bulk intake ------------------------------------------------------------------------

    async def execute_reports(
        self,
        commands: Sequence[ReportIncident],
        *,
        chunk_lines: int = 500,
        chains: int = 2,
        conn: Connection | None = None,
        traces: Sequence[str | None] | None = None,
        isolate_failures: bool = False,
        log_recorded: bool = True,
    ) -> list[Accepted | Exception]:
        """``execute`` for the reports of one bulk file, each answered as ``execute`` would answer
        it alone (an ``Accepted``, or the exception it would raise), in one transaction per chunk
        of ``chunk_lines`` instead of one per report (``chains`` chunks commit at once).

        Every report is planned first (a refused one is answered and goes no further), so a chunk
        only ever stores reports that can be stored: one statement per chunk stores the events,
        outbox rows and answers, and the patients' identifiers follow in its transaction. A chunk
        that meets a concurrent writer (same key or source message id, caught by the unique
        indexes) stores nothing and its reports go through ``execute`` one by one, which gives
        each the stored answer or its conflict. So do reports repeating the key or the source
        message id of an earlier one in the file, after the rest and in file order.

        ``conn``: the connection to store on (one chain only); ``traces``: each report's
        ``traceparent`` for its outbox row. ``isolate_failures``: a chunk that fails for any
        other reason stores nothing either and its reports go through ``execute`` one by one, so
        one report's failure is never another's answer (group commit of single reports).
        """
        results: list[Accepted | Exception | None] = [None] * len(commands)
        later: list[int] = []
        planned: list[tuple[int, _Plan]] = []
        seen: set[tuple[str, ...]] = set()
        # Two ids a report: its incident and its event.
        planning = _Planning(today=self._today(), ids=iter(uuid4_batch(2 * len(commands))))
        for i, command in enumerate(commands):
            report, key = command.report, command.context.idempotency_key
            tokens: set[tuple[str, ...]] = {("key", key)} if key else set()
            if report.source_message_id:
                tokens.add(("source", report.trust, report.source_message_id))
            if tokens & seen:
                later.append(i)
                continue
            seen |= tokens
            try:
                planned.append((i, self._report(command, planning)))
            except Exception as exc:
                if key:
                    later.append(i)  # a stored answer under its key replays before any planning
                else:
                    results[i] = exc
        slots = asyncio.Semaphore(1 if conn is not None else chains)
        store = _ChunkStore(conn, traces, isolate_failures, log_recorded)

        async def one_chunk(chunk: list[tuple[int, _Plan]]) -> None:
            async with slots:
                await self._store_reports(commands, chunk, results, store)

        chunks = [planned[start : start + chunk_lines] for start in range(0, len(planned), chunk_lines)]
        await asyncio.gather(*(one_chunk(chunk) for chunk in chunks))
        for i in sorted(later):
            try:
                results[i] = await self.execute(commands[i], log_recorded=log_recorded)
            except Exception as exc:
                results[i] = exc
        return results  # type: ignore[return-value]

    async def execute_report_group(
        self, commands: Sequence[ReportIncident], traces: Sequence[str | None], conn: Connection
    ) -> list[Accepted | Exception]:
        """Concurrent single reports (``POST /v1/incidents``) stored together on ``conn``: one
        statement and, with patients, their identifiers in its transaction, instead of a
        transaction of four or more round trips each. Each report is answered as ``execute``
        would answer it alone; the caller logs what was recorded."""
        return await self.execute_reports(
            commands,
            chunk_lines=max(1, len(commands)),
            conn=conn,
            traces=traces,
            isolate_failures=True,
            log_recorded=False,
        )

    async def _store_reports(
        self,
        commands: Sequence[ReportIncident],
        chunk: list[tuple[int, _Plan]],
        results: list[Accepted | Exception | None],
        store: _ChunkStore,
    ) -> None:
        incidents = [
            event_store.NewIncident(
                key=commands[i].context.idempotency_key,
                trust=commands[i].report.trust,
                reference=None,
                request_hash=commands[i].context.request_hash,
                channel="json",
                envelope=plan.envelope,
                answer=plan.accepted.answer,
                trace_context=store.traces[i] if store.traces is not None else None,
            )
            for i, plan in chunk
        ]
        with_patients = any(plan.patient is not None for _, plan in chunk)
        found: list[event_store.Found] | None = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                conn = store.conn
                if conn is None:
                    conn = await stack.enter_async_context(self._pool().acquire())
                # Without identifiers the one statement is its own transaction (no BEGIN/COMMIT trips).
                async with conn.transaction() if with_patients else contextlib.nullcontext():
                    found = await event_store.store_new_incidents(
                        conn, incidents, self._topics, status_code=_JSON_STATUS
                    )
                    await self._vault.store(
                        conn,
                        [
                            plan.patient
                            for (_, plan), f in zip(chunk, found, strict=True)
                            if plan.patient is not None and f.fresh
                        ],
                    )
        except asyncpg.UniqueViolationError:
            found = None  # a concurrent writer: nothing of the chunk was stored
        except Exception as exc:
            if not store.isolate_failures:
                raise
            log.warning("intake.report_group_failed", reports=len(chunk), error=repr(exc))
            found = None  # rolled back: each report alone gets its own answer
        if found is None:
            for i, _ in chunk:
                try:
                    results[i] = await self.execute(commands[i], log_recorded=store.log_recorded)
                except Exception as exc:
                    results[i] = exc
            return
        if store.log_recorded:  # a group of single reports: each request logs its own
            log.info("intake.batch_chunk_recorded", events=sum(1 for f in found if f.fresh), lines=len(chunk))
        for (i, plan), finding in zip(chunk, found, strict=True):
            if finding.stored is None:
                results[i] = plan.accepted
                continue
            try:
                results[i] = _replay(commands[i], finding.stored, commands[i].context.request_hash, None)
            except IdempotencyConflictError as exc:
                results[i] = exc

    # --- reading incidents back ------------------------------------------------------------

    async def current(self, incident_id: uuid.UUID) -> tuple[EventEnvelope, IncidentFacts]:
        """The latest event and the current facts of an incident."""
        async with self._pool().acquire() as conn:
            history = await event_store.read_stream(conn, incident_id)
        if not history:
            raise IncidentNotFoundError(incident_id)
        return history[-1], current_facts(history)

    async def reference_of(self, incident_id: uuid.UUID) -> str | None:
        async with self._pool().acquire() as conn:
            return await references.of_incident(conn, incident_id)

    async def get(self, incident_id: uuid.UUID) -> dict[str, Any]:
        """The current facts and the history of an incident (its tenant as ``trust``/``site``)."""
        async with self._pool().acquire() as conn:
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


# --- keys, answers and hashes ----------------------------------------------------------------


def _answer_key(command: Command) -> tuple[str | None, str]:
    """The key an answer is stored under and the hash a replay must match: for a message, the
    hash of its content; for a JSON request, the hash of its body."""
    if isinstance(command, RecordMessage):
        return _message_key(command), _submission_hash(command.submission)
    return command.context.idempotency_key, command.context.request_hash


def _message_key(command: RecordMessage) -> str | None:
    """A message's answer is kept under the sender's message id, per trust, else under the HTTP
    Idempotency-Key (already scoped to the caller's trust)."""
    submission = command.submission
    if submission.source_message_id:
        return f"source:{submission.tenant.trust}:{submission.source_message_id}"
    return command.context.idempotency_key


async def _stored_answer(
    conn: Connection, command: Command, key: str | None
) -> tuple[StoredAnswer | None, uuid.UUID | None]:
    """The answer stored under ``key`` and, for a message, the incident its reference names."""
    if isinstance(command, RecordMessage) and command.submission.reference is not None:
        submission = command.submission
        return await references.resolve(
            conn, message_key=key, trust=submission.tenant.trust, reference=submission.reference
        )
    if key is None:
        return None, None
    return await idempotency.lookup(conn, key), None


def _replay(command: Command, stored: StoredAnswer, digest: str, key: str | None) -> Accepted:
    """The stored answer again, if the request is the same one; else the door's conflict."""
    if stored.request_hash == digest:
        return Accepted.replayed(stored.response)
    if isinstance(command, RecordMessage):
        incident = stored.response.get("incident_id") if isinstance(stored.response, dict) else None
        raise DuplicateMessageConflictError(command.submission.source_message_id or str(key), incident)
    raise IdempotencyConflictError


def _replayed_or_refused(
    command: Command, stored: StoredAnswer, digest: str, key: str
) -> Accepted | Exception:
    try:
        return _replay(command, stored, digest, key)
    except DuplicateMessageConflictError as exc:
        return exc


def _report_answer(incident_id: uuid.UUID, event_id: uuid.UUID, pseudonym: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"incident_id": str(incident_id), "stream_version": 1, "event_id": str(event_id)}
    if pseudonym is not None:
        answer["patient_pseudonym"] = pseudonym
    return answer


def _message_answer(
    incident_id: uuid.UUID,
    version: int,
    event_id: uuid.UUID | None,
    created: bool,
    changed_fields: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "incident_id": str(incident_id),
        "stream_version": version,
        "event_id": str(event_id) if event_id else None,
        "created": created,
        "changed_fields": changed_fields or [],
    }


def _refuse_implausible_dates(raw: dict[str, Any], today: dt.date) -> None:
    problems = implausible_dates(raw, today)
    if problems:
        raise FactsInvalidError(problems)


def _source_message_id(command: ReportIncident | RecordMessage) -> str | None:
    if isinstance(command, ReportIncident):
        return command.report.source_message_id
    return command.submission.source_message_id


def _facts_of(command: ReportIncident | RecordMessage) -> IncidentFacts | None:
    """The facts a new incident would have (None: a message that would not map)."""
    if isinstance(command, ReportIncident):
        return command.report.facts
    raw = dict(command.submission.facts)
    try:
        _derive_age(raw, command.submission)
        return validate_new(raw)
    except FactsInvalidError:
        return None


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


def _chains(commands: Sequence[RecordMessage], keys: list[str | None], indexes: list[int]) -> list[list[int]]:
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
        submission, key = commands[i].submission, keys[i]
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


# --- the incident as the log gives it --------------------------------------------------------


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


def log_reported(command: ReportIncident, accepted: Accepted) -> None:
    """``_log_recorded`` of a report stored by a group commit, in the request's own context."""
    if accepted.duplicate or accepted.event_id is None:
        return
    log.info(
        "intake.event_recorded",
        event_type=IncidentReported.event_type,
        incident_id=str(accepted.incident_id),
        stream_version=accepted.stream_version,
        channel="json",
        trust=command.report.trust,
        site=command.report.site,
    )


def _log_recorded(plan: _Plan) -> None:
    envelope = plan.envelope
    if envelope is None:
        return
    log.info(
        "intake.event_recorded",
        event_type=envelope.event_type,
        incident_id=str(envelope.stream_id),
        stream_version=envelope.stream_version,
        channel=plan.channel,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
    )
