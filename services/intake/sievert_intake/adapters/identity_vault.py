"""Encrypted store of patient identifiers: envelope encryption with a per-patient data key.

A patient's identifiers are encrypted with AES-256-GCM under their own data key; the data key is
stored only wrapped by the key-encryption key (KEK), behind ``KeyWrapper`` so a cloud KMS or an
HSM can replace the local KEK without touching this module. The GCM associated data binds each
ciphertext to its incident and pseudonym, so a row copied onto another incident will not decrypt.

Identifiers are written by ``store`` inside the caller's transaction, the one that appends the
incident's event and its outbox row: a crash can neither keep an event without its identifiers
nor identifiers without their event.

Erasure deletes the wrapped data key (crypto-shredding): the ciphertexts stay, unreadable. The end
of a closed case's retention (``retention_expired``) does the same once none of the patient's
incidents is still retained; until then only that incident's copy is deleted.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sievert_intake.domain.identity import PatientIdentifiers, known_pseudonyms, pseudonym
from sievert_shared.db import Connection
from sievert_shared.logging import get_logger

log = get_logger(__name__)

_NONCE_BYTES = 12  # GCM's standard nonce; random per encryption, keys are never reused 2^32 times
_WRAP_AAD = b"sievert-patient-data-key"


class KeyWrapper(Protocol):
    """The KMS port: wraps and unwraps data keys under a key the database never sees."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalKek:
    """A KEK from settings. Fine for one site; a KMS adapter keeps the KEK out of the process.

    Its id is a fingerprint of the key (not the key), so rows say which KEK wrapped them and a
    rotation knows which rows it has still to re-wrap."""

    def __init__(self, kek_base64: str, key_id: str | None = None) -> None:
        kek = base64.b64decode(kek_base64)
        if len(kek) != 32:
            raise ValueError("the identifier KEK must be 32 bytes (AES-256), base64-encoded")
        self._aead = AESGCM(kek)
        self._key_id = key_id or "local-" + hashlib.sha256(b"sievert-kek-id\x1f" + kek).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, _WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _WRAP_AAD)


class KeyRing:
    """The current KEK, and the previous ones while a rotation re-wraps their data keys.

    Wraps under the current KEK only; unwraps under whichever KEK wrapped the key (GCM's tag
    says which: a wrong KEK fails authentication, it never yields a wrong key)."""

    def __init__(self, current: KeyWrapper, *previous: KeyWrapper) -> None:
        self.current = current
        self.previous = previous

    @property
    def key_id(self) -> str:
        return self.current.key_id

    def wrap(self, data_key: bytes) -> bytes:
        return self.current.wrap(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        for kek in (self.current, *self.previous):
            try:
                return kek.unwrap(wrapped)
            except InvalidTag:
                continue
        raise InvalidTag("no configured KEK unwraps this data key")


@dataclass(frozen=True)
class Revealed:
    incident_id: uuid.UUID
    trust: str
    pseudonym: str
    identifiers: PatientIdentifiers | None  # None: erased (the data key is gone)


@dataclass(frozen=True)
class PatientRecord:
    """One incident's patient identifiers, to be stored with the incident's event."""

    trust: str
    incident_id: uuid.UUID
    pseudonym: str
    identifiers: PatientIdentifiers  # its repr is redacted


Action = Literal["identifiers_read", "identifiers_updated", "patient_erased", "identifiers_expired"]

RETENTION_ACTOR = "retention"
"""The actor of what the end of a case's retention does: no person asked for it."""


class KeyVanishedError(RuntimeError):
    """A patient's data key was erased while their identifiers were being stored: nothing was
    stored; a resend stores them under a fresh key."""


class IdentifierVault:
    """``pool`` gives the service's pool, which exists only once the service has started."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], kek: KeyWrapper, pseudonym_key: bytes) -> None:
        self._pool = pool
        self._kek = kek
        self._pseudonym_key = pseudonym_key

    def pseudonym(self, trust: str, identifiers: PatientIdentifiers) -> str:
        return pseudonym(self._pseudonym_key, trust, identifiers)

    @staticmethod
    async def pseudonym_in(conn: Connection, incident_id: uuid.UUID) -> str | None:
        found: str | None = await conn.fetchval(
            "SELECT pseudonym FROM incident_patients WHERE incident_id = $1", incident_id
        )
        return found

    async def store(self, conn: Connection, records: Sequence[PatientRecord]) -> None:
        """Store (or replace, on an amendment) incidents' patient identifiers, inside the
        caller's transaction: two statements however many records."""
        by_incident = {r.incident_id: r for r in records}  # one row per incident per statement
        if not by_incident:
            return
        trusts = {r.pseudonym: r.trust for r in by_incident.values()}
        keys: dict[str, bytes] = {}
        for _ in range(2):
            missing = sorted(n for n in trusts if n not in keys)
            made = {n: os.urandom(32) for n in missing}
            # One round trip: a new patient's key is inserted (and its plaintext is the one made
            # here, so it is not unwrapped again); a known patient's is read FOR KEY SHARE, so an
            # erasure of one of these patients waits for this transaction. The read's snapshot
            # predates the statement, so a key a concurrent transaction committed meanwhile is in
            # neither half: the second pass reads it.
            rows = await conn.fetch(
                """WITH made AS (
                       INSERT INTO patient_keys (pseudonym, trust, wrapped_key, kek_id)
                       SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[])
                       ON CONFLICT (pseudonym) DO NOTHING
                       RETURNING pseudonym
                   ), held AS (
                       SELECT pseudonym, trust, wrapped_key FROM patient_keys
                       WHERE pseudonym = ANY($1::text[]) FOR KEY SHARE
                   )
                   SELECT pseudonym, NULL AS trust, NULL::bytea AS wrapped_key, true AS made FROM made
                   UNION ALL
                   SELECT pseudonym, trust, wrapped_key, false FROM held
                   WHERE pseudonym NOT IN (SELECT pseudonym FROM made)""",
                missing,
                [trusts[n] for n in missing],
                [self._kek.wrap(made[n]) for n in missing],
                [self._kek.key_id] * len(missing),
            )
            for row in rows:
                name = row["pseudonym"]
                if row["made"]:
                    keys[name] = made[name]
                    continue
                if row["trust"] != trusts[name]:
                    raise PermissionError("the pseudonym belongs to another trust")
                keys[name] = self._kek.unwrap(row["wrapped_key"])
            if len(keys) == len(trusts):
                break
        else:
            raise KeyVanishedError("a patient's data key was erased while storing their identifiers")
        columns: list[list[Any]] = [[], [], [], [], []]
        for r in by_incident.values():
            nonce = os.urandom(_NONCE_BYTES)
            plaintext = json.dumps(r.identifiers.to_json(), sort_keys=True).encode()
            ciphertext = AESGCM(keys[r.pseudonym]).encrypt(nonce, plaintext, _aad(r.incident_id, r.pseudonym))
            for column, value in zip(
                columns, (r.incident_id, r.trust, r.pseudonym, nonce, ciphertext), strict=True
            ):
                column.append(value)
        await conn.execute(
            """INSERT INTO incident_patients (incident_id, trust, pseudonym, nonce, ciphertext)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bytea[])
               ON CONFLICT (incident_id) DO UPDATE
               SET pseudonym = EXCLUDED.pseudonym, nonce = EXCLUDED.nonce,
                   ciphertext = EXCLUDED.ciphertext, recorded_at = now()
               WHERE incident_patients.trust = EXCLUDED.trust""",
            *columns,
        )

    async def demographics_updated(
        self, trust: str, identifiers: PatientIdentifiers, actor: str, correlation_id: str
    ) -> int:
        """HL7 ADT^A08/A31: the sender's current demographics of a patient replace what each of
        that patient's incidents holds, field by field (an absent field keeps its value). The
        patient is found by the pseudonym of their NHS or hospital number; a patient with no
        incident here is not stored (no incident, no reason to hold their data), and an erased
        patient stays erased (no key, nothing to update). Returns the incidents updated."""
        names = known_pseudonyms(self._pseudonym_key, trust, identifiers)
        if not names:
            return 0  # a name alone cannot say which patient this is
        async with self._pool().acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT p.incident_id, p.pseudonym, p.nonce, p.ciphertext, k.wrapped_key
                   FROM incident_patients p JOIN patient_keys k USING (pseudonym)
                   WHERE p.trust = $1 AND p.pseudonym = ANY($2::text[])
                     AND NOT EXISTS (SELECT 1 FROM retention_expiries r WHERE r.incident_id = p.incident_id)
                   ORDER BY p.incident_id FOR UPDATE OF p FOR KEY SHARE OF k""",
                trust,
                names,
            )
            for row in rows:
                data_key = self._kek.unwrap(row["wrapped_key"])
                aad = _aad(row["incident_id"], row["pseudonym"])
                held = PatientIdentifiers.from_json(
                    json.loads(AESGCM(data_key).decrypt(row["nonce"], row["ciphertext"], aad))
                )
                nonce = os.urandom(_NONCE_BYTES)
                plaintext = json.dumps(held.updated_by(identifiers).to_json(), sort_keys=True).encode()
                await conn.execute(
                    """UPDATE incident_patients SET nonce = $2, ciphertext = $3, recorded_at = now()
                       WHERE incident_id = $1""",
                    row["incident_id"],
                    nonce,
                    AESGCM(data_key).encrypt(nonce, plaintext, aad),
                )
                await _audit(
                    conn,
                    row["incident_id"],
                    trust,
                    row["pseudonym"],
                    "identifiers_updated",
                    actor,
                    correlation_id,
                )
        log.info("intake.demographics_updated", incidents=len(rows))
        return len(rows)

    async def pseudonym_of(self, incident_id: uuid.UUID) -> str | None:
        async with self._pool().acquire() as conn:
            return await self.pseudonym_in(conn, incident_id)

    async def reveal(self, incident_id: uuid.UUID, *, actor: str, correlation_id: str) -> Revealed | None:
        """Decrypt an incident's identifiers and write the access row in the same transaction:
        no read without its audit row."""
        async with self._pool().acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT p.trust, p.pseudonym, p.nonce, p.ciphertext,
                          CASE WHEN r.incident_id IS NULL THEN k.wrapped_key END AS wrapped_key
                   FROM incident_patients p LEFT JOIN patient_keys k USING (pseudonym)
                   LEFT JOIN retention_expiries r ON r.incident_id = p.incident_id
                   WHERE p.incident_id = $1""",
                incident_id,
            )
            if row is None:
                return None
            await _audit(
                conn, incident_id, row["trust"], row["pseudonym"], "identifiers_read", actor, correlation_id
            )
            identifiers = None
            if row["wrapped_key"] is not None:
                try:
                    data_key = self._kek.unwrap(row["wrapped_key"])
                    plaintext = AESGCM(data_key).decrypt(
                        row["nonce"], row["ciphertext"], _aad(incident_id, row["pseudonym"])
                    )
                    identifiers = PatientIdentifiers.from_json(json.loads(plaintext))
                except InvalidTag:
                    log.error("intake.identifiers_undecryptable", incident_id=str(incident_id))
                    raise
        return Revealed(incident_id, row["trust"], row["pseudonym"], identifiers)

    async def trust_of_patient(self, name: str) -> str | None:
        async with self._pool().acquire() as conn:
            trust: str | None = await conn.fetchval(
                "SELECT trust FROM incident_patients WHERE pseudonym = $1 LIMIT 1", name
            )
            return trust

    async def erase(self, name: str, *, actor: str, correlation_id: str) -> bool:
        """Crypto-shred a patient: delete their data key. True when there was one."""
        async with self._pool().acquire() as conn, conn.transaction():
            trust = await conn.fetchval("DELETE FROM patient_keys WHERE pseudonym = $1 RETURNING trust", name)
            if trust is None:
                return False
            await _audit(conn, None, trust, name, "patient_erased", actor, correlation_id)
        log.info("intake.patient_erased", pseudonym=name)
        return True

    @staticmethod
    async def retention_expired(
        conn: Connection, incident_id: uuid.UUID, *, trust: str, retain_until: dt.date, correlation_id: str
    ) -> str | None:
        """The incident's case is past its retention (deadlines' ``CaseRetentionExpired``), inside
        the consumer's transaction. Its identifiers are no longer served (its ciphertext is
        deleted); when none of the patient's incidents is still retained, the patient's data key
        is shredded exactly as on erasure. Both audited with the event's correlation id. Returns
        what was done (``identifiers_expired`` or ``patient_erased``), or None if nothing was held
        or it was done already."""
        recorded = await conn.fetchval(
            """INSERT INTO retention_expiries (incident_id, trust, retain_until, correlation_id)
               VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id) DO NOTHING RETURNING incident_id""",
            incident_id,
            trust,
            retain_until,
            correlation_id,
        )
        row = await conn.fetchrow(
            "SELECT trust, pseudonym FROM incident_patients WHERE incident_id = $1 AND trust = $2",
            incident_id,
            trust,
        )
        if recorded is None or row is None:
            return None
        name = row["pseudonym"]
        # Lock the key first: an incident being stored for this patient holds it FOR KEY SHARE
        # until it commits, and is then counted below as still retained.
        key = await conn.fetchval("SELECT pseudonym FROM patient_keys WHERE pseudonym = $1 FOR UPDATE", name)
        await conn.execute(
            "UPDATE incident_patients SET nonce = ''::bytea, ciphertext = ''::bytea WHERE incident_id = $1",
            incident_id,
        )
        retained = await conn.fetchval(
            """SELECT count(*) FROM incident_patients p WHERE p.pseudonym = $1
               AND NOT EXISTS (SELECT 1 FROM retention_expiries r WHERE r.incident_id = p.incident_id)""",
            name,
        )
        action: Action = "identifiers_expired"
        if key is not None and retained == 0:
            await conn.execute("DELETE FROM patient_keys WHERE pseudonym = $1", name)
            action = "patient_erased"
        await _audit(conn, incident_id, trust, name, action, RETENTION_ACTOR, correlation_id)
        log.info("intake.retention_expired", incident_id=str(incident_id), action=action)
        return action

    async def access_log(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        async with self._pool().acquire() as conn:
            rows = await conn.fetch(
                """SELECT a.action, a.actor, a.correlation_id, a.at, a.pseudonym FROM identifier_access a
                   WHERE a.incident_id = $1
                      OR (a.incident_id IS NULL AND a.pseudonym IN
                          (SELECT pseudonym FROM incident_patients WHERE incident_id = $1))
                   ORDER BY a.at, a.id""",
                incident_id,
            )
        return [dict(r) for r in rows]


def stable(identifiers: PatientIdentifiers) -> bool:
    """Whether the pseudonym of these identifiers is the same every time (a number is there)."""
    return bool(identifiers.nhs_number or identifiers.hospital_number)


async def rewrap_keys(
    pool: asyncpg.Pool,
    ring: KeyWrapper,
    *,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """KEK rotation: re-wrap every data key not yet under ``ring``'s current KEK, a batch per
    transaction (so intake keeps serving, and an interrupted run resumes where it stopped).
    ``ring`` must unwrap the old keys (a ``KeyRing`` of the new and the previous KEKs). The data
    keys themselves, and so every ciphertext, stay as they are. Returns the keys re-wrapped."""
    async with pool.acquire() as conn:
        total = int(await conn.fetchval("SELECT count(*) FROM patient_keys WHERE kek_id <> $1", ring.key_id))
        done, after = 0, ""
        while True:
            async with conn.transaction():
                rows = await conn.fetch(
                    """SELECT pseudonym, wrapped_key FROM patient_keys
                       WHERE kek_id <> $1 AND pseudonym > $2
                       ORDER BY pseudonym LIMIT $3 FOR NO KEY UPDATE""",
                    ring.key_id,
                    after,
                    batch_size,
                )
                if not rows:
                    break
                await conn.execute(
                    """UPDATE patient_keys k SET wrapped_key = n.wrapped_key, kek_id = $3
                       FROM unnest($1::text[], $2::bytea[]) AS n(pseudonym, wrapped_key)
                       WHERE k.pseudonym = n.pseudonym""",
                    [r["pseudonym"] for r in rows],
                    [ring.wrap(ring.unwrap(r["wrapped_key"])) for r in rows],
                    ring.key_id,
                )
            done += len(rows)
            after = rows[-1]["pseudonym"]
            if progress is not None:
                progress(done, max(total, done))
    return done


async def keys_under_other_keks(pool: asyncpg.Pool, ring: KeyWrapper) -> int:
    """Data keys not (yet) wrapped under ``ring``'s current KEK: 0 once a rotation is done."""
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM patient_keys WHERE kek_id <> $1", ring.key_id))


def _aad(incident_id: uuid.UUID, name: str) -> bytes:
    return f"{incident_id}\x1f{name}".encode()


async def _audit(
    conn: Any,
    incident_id: uuid.UUID | None,
    trust: str,
    name: str,
    action: Action,
    actor: str,
    correlation_id: str,
) -> None:
    await conn.execute(
        """INSERT INTO identifier_access (incident_id, trust, pseudonym, action, actor, correlation_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        incident_id,
        trust,
        name,
        action,
        actor,
        correlation_id,
    )
