"""Encrypted store of patient identifiers: envelope encryption with a per-patient data key.

A patient's identifiers are encrypted with AES-256-GCM under their own data key; the data key is
stored only wrapped by the key-encryption key (KEK), behind ``KeyWrapper`` so a cloud KMS or an
HSM can replace the local KEK without touching this module. The GCM associated data binds each
ciphertext to its incident and pseudonym, so a row copied onto another incident will not decrypt.

Erasure deletes the wrapped data key (crypto-shredding): the ciphertexts stay, unreadable.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sievert_intake.domain.identity import PatientIdentifiers, pseudonym
from sievert_shared.logging import get_logger

log = get_logger(__name__)

_NONCE_BYTES = 12  # GCM's standard nonce; random per encryption, keys are never reused 2^32 times


class KeyWrapper(Protocol):
    """The KMS port: wraps and unwraps data keys under a key the database never sees."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalKek:
    """A KEK from settings. Fine for one site; a KMS adapter keeps the KEK out of the process."""

    def __init__(self, kek_base64: str, key_id: str = "local-1") -> None:
        kek = base64.b64decode(kek_base64)
        if len(kek) != 32:
            raise ValueError("the identifier KEK must be 32 bytes (AES-256), base64-encoded")
        self._aead = AESGCM(kek)
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, b"sievert-patient-data-key")

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], b"sievert-patient-data-key")


@dataclass(frozen=True)
class Revealed:
    incident_id: uuid.UUID
    trust: str
    pseudonym: str
    identifiers: PatientIdentifiers | None  # None: erased (the data key is gone)


Action = Literal["identifiers_read", "patient_erased"]


class IdentifierVault:
    def __init__(self, pool: asyncpg.Pool, kek: KeyWrapper, pseudonym_key: bytes) -> None:
        self._pool = pool
        self._kek = kek
        self._pseudonym_key = pseudonym_key

    # The MLLP handler and the HTTP routes call this through ``IdentityPort``.
    async def demographics_updated(self, update: Any) -> None:
        return None  # ADT without an incident: nothing to attach identifiers to yet

    async def incident_identifiers(
        self, trust: str, incident_id: uuid.UUID, identifiers: PatientIdentifiers, actor: str
    ) -> str:
        return await self.record(trust, incident_id, identifiers)

    async def record(self, trust: str, incident_id: uuid.UUID, identifiers: PatientIdentifiers) -> str:
        """Store (or replace, on a resend or amendment) an incident's patient identifiers."""
        name = pseudonym(self._pseudonym_key, trust, identifiers)
        async with self._pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT pseudonym, trust FROM incident_patients WHERE incident_id = $1", incident_id
            )
            if existing is not None and existing["trust"] != trust:
                raise PermissionError("the incident belongs to another trust")
            if existing is not None and not _stable(identifiers):
                name = existing["pseudonym"]  # a resend without a number keeps its pseudonym
            fresh_key = os.urandom(32)
            await conn.execute(
                """INSERT INTO patient_keys (pseudonym, trust, wrapped_key, kek_id) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (pseudonym) DO NOTHING""",
                name,
                trust,
                self._kek.wrap(fresh_key),
                self._kek.key_id,
            )
            wrapped = await conn.fetchval("SELECT wrapped_key FROM patient_keys WHERE pseudonym = $1", name)
            data_key = self._kek.unwrap(wrapped)
            nonce = os.urandom(_NONCE_BYTES)
            plaintext = json.dumps(identifiers.to_json(), sort_keys=True).encode()
            ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _aad(incident_id, name))
            await conn.execute(
                """INSERT INTO incident_patients (incident_id, trust, pseudonym, nonce, ciphertext)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (incident_id) DO UPDATE
                   SET pseudonym = EXCLUDED.pseudonym, nonce = EXCLUDED.nonce,
                       ciphertext = EXCLUDED.ciphertext, recorded_at = now()""",
                incident_id,
                trust,
                name,
                nonce,
                ciphertext,
            )
        return name

    async def pseudonym_of(self, incident_id: uuid.UUID) -> str | None:
        async with self._pool.acquire() as conn:
            found: str | None = await conn.fetchval(
                "SELECT pseudonym FROM incident_patients WHERE incident_id = $1", incident_id
            )
            return found

    async def reveal(self, incident_id: uuid.UUID, *, actor: str, correlation_id: str) -> Revealed | None:
        """Decrypt an incident's identifiers and write the access row in the same transaction:
        no read without its audit row."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT p.trust, p.pseudonym, p.nonce, p.ciphertext, k.wrapped_key
                   FROM incident_patients p LEFT JOIN patient_keys k USING (pseudonym)
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
        async with self._pool.acquire() as conn:
            trust: str | None = await conn.fetchval(
                "SELECT trust FROM incident_patients WHERE pseudonym = $1 LIMIT 1", name
            )
            return trust

    async def erase(self, name: str, *, actor: str, correlation_id: str) -> bool:
        """Crypto-shred a patient: delete their data key. True when there was one."""
        async with self._pool.acquire() as conn, conn.transaction():
            trust = await conn.fetchval("DELETE FROM patient_keys WHERE pseudonym = $1 RETURNING trust", name)
            if trust is None:
                return False
            await _audit(conn, None, trust, name, "patient_erased", actor, correlation_id)
        log.info("intake.patient_erased", pseudonym=name)
        return True

    async def access_log(self, incident_id: uuid.UUID) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT a.action, a.actor, a.correlation_id, a.at, a.pseudonym FROM identifier_access a
                   WHERE a.incident_id = $1
                      OR (a.incident_id IS NULL AND a.pseudonym IN
                          (SELECT pseudonym FROM incident_patients WHERE incident_id = $1))
                   ORDER BY a.at, a.id""",
                incident_id,
            )
        return [dict(r) for r in rows]


def _stable(identifiers: PatientIdentifiers) -> bool:
    return bool(identifiers.nhs_number or identifiers.hospital_number)


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
