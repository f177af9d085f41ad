"""Patient identity, split from the incident facts at the door, so no event carries it.

Every way in (JSON ``patient``, HL7 PID, FHIR Patient) yields ``PatientIdentifiers``; the facts
and events never carry them. The only thing that leaves this seam towards the log is a stable
pseudonym: HMAC-SHA256 of the NHS number (else the trust's hospital number) under a secret key,
scoped by trust so two trusts' pseudonyms for one person cannot be joined without the key.

Pure: no I/O. Storage and encryption are in ``adapters/identity_vault.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, fields
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class PatientIdentifiers:
    """Special-category data (UK GDPR art. 9): never logged (``repr=False`` on the class use)."""

    nhs_number: str | None = None
    hospital_number: str | None = None
    family_name: str | None = None
    given_names: str | None = None
    birth_date: str | None = None
    address: str | None = None

    def __repr__(self) -> str:  # keep identifiers out of logs and tracebacks
        return "PatientIdentifiers(<redacted>)"

    # Read the fields directly: ``asdict`` deep-copies every value, and these are plain strings.
    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in _FIELDS)

    def to_json(self) -> dict[str, Any]:
        return {name: value for name in _FIELDS if (value := getattr(self, name)) is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PatientIdentifiers:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    def updated_by(self, newer: PatientIdentifiers) -> PatientIdentifiers:
        """These identifiers with every value ``newer`` gives replacing ours (an ADT update
        carries what changed and what did not; an empty field there says nothing)."""
        return PatientIdentifiers(**{**self.to_json(), **newer.to_json()})


_FIELDS = tuple(f.name for f in fields(PatientIdentifiers))


class PatientIn(BaseModel):
    """The optional ``patient`` object of ``POST /v1/incidents``."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str | None = Field(default=None, pattern=r"^\d{3} ?\d{3} ?\d{4}$")
    hospital_number: str | None = Field(default=None, min_length=1, max_length=64)
    family_name: str | None = Field(default=None, max_length=200)
    given_names: str | None = Field(default=None, max_length=200)
    birth_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    address: str | None = Field(default=None, max_length=500)

    def __repr__(self) -> str:
        return "PatientIn(<redacted>)"

    def identifiers(self) -> PatientIdentifiers:
        data = self.model_dump()
        if data["nhs_number"]:
            data["nhs_number"] = data["nhs_number"].replace(" ", "")
        return PatientIdentifiers(**data)


def pseudonym(key: bytes, trust: str, identifiers: PatientIdentifiers) -> str:
    """Stable per patient within a trust when a number identifies them; otherwise a fresh random
    pseudonym (a name alone cannot safely say two incidents are one patient)."""
    if identifiers.nhs_number:
        return _keyed(key, trust, f"nhs:{identifiers.nhs_number}")
    if identifiers.hospital_number:
        return _keyed(key, trust, f"mrn:{identifiers.hospital_number}")
    return f"pt-{uuid.uuid4().hex[:24]}"


def known_pseudonyms(key: bytes, trust: str, identifiers: PatientIdentifiers) -> list[str]:
    """The pseudonyms an incident of this patient may have been filed under: by NHS number (the
    one chosen when a message carried it) and by hospital number (when one carried only that)."""
    found = []
    if identifiers.nhs_number:
        found.append(_keyed(key, trust, f"nhs:{identifiers.nhs_number}"))
    if identifiers.hospital_number:
        found.append(_keyed(key, trust, f"mrn:{identifiers.hospital_number}"))
    return found


def _keyed(key: bytes, trust: str, subject: str) -> str:
    digest = hmac.new(key, f"{trust}\x1f{subject}".encode(), hashlib.sha256).hexdigest()
    return f"pt-{digest[:24]}"


# --- HL7 v2 PID --------------------------------------------------------------------------------

_NHS_ASSIGNERS = {"NHS", "NHSNMBR", "2.16.840.1.113883.2.1.4.1"}


def from_hl7(text: str) -> PatientIdentifiers | None:
    """PID-3 (CX: NH -> NHS number, MR -> hospital number), PID-5 name, PID-7 birth date,
    PID-11 address. Tolerant: a PID this cannot read yields what it could read."""
    for segment in text.replace("\n", "\r").split("\r"):
        if not segment.startswith("PID|"):
            continue
        fields = segment.split("|") + [""] * 12  # absent trailing fields read as empty
        get = fields.__getitem__
        nhs = mrn = None
        for repetition in get(3).split("~"):
            parts = repetition.split("^")
            value = parts[0].strip()
            type_code = parts[4].strip().upper() if len(parts) > 4 else ""
            assigner = parts[3].split("&")[0].strip().upper() if len(parts) > 3 else ""
            if not value:
                continue
            if type_code == "NH" or assigner in _NHS_ASSIGNERS:
                nhs = nhs or value.replace(" ", "")
            elif type_code in ("MR", "PI", ""):
                mrn = mrn or value
        name = get(5).split("~")[0].split("^")
        birth = get(7)[:8]
        address = [p for p in get(11).split("~")[0].split("^") if p]
        found = PatientIdentifiers(
            nhs_number=nhs,
            hospital_number=mrn,
            family_name=name[0] or None,
            given_names=" ".join(p for p in name[1:3] if p) or None,
            birth_date=f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}"
            if len(birth) == 8 and birth.isdigit()
            else None,
            address=", ".join(address) or None,
        )
        return None if found.is_empty() else found
    return None


# --- FHIR R4 Patient ---------------------------------------------------------------------------

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def _patients(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    found: list[dict[str, Any]] = []
    if body.get("resourceType") == "Patient":
        found.append(body)
    for resource in body.get("contained") or []:
        found.extend(_patients(resource))
    for entry in body.get("entry") or []:
        if isinstance(entry, dict):
            found.extend(_patients(entry.get("resource")))
    return found


def from_fhir(body: Any) -> PatientIdentifiers | None:
    """The first Patient of an AdverseEvent (contained) or a transaction Bundle (an entry)."""
    patients = _patients(body)
    if not patients:
        return None
    patient = patients[0]
    nhs = mrn = None
    for identifier in patient.get("identifier") or []:
        if not isinstance(identifier, dict) or not identifier.get("value"):
            continue
        codes = [
            c.get("code") for c in (identifier.get("type") or {}).get("coding") or [] if isinstance(c, dict)
        ]
        if identifier.get("system") == NHS_NUMBER_SYSTEM:
            nhs = nhs or str(identifier["value"]).replace(" ", "")
        elif "MR" in codes or mrn is None:
            mrn = str(identifier["value"])
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    name = names[0] if names else {}
    addresses = [a for a in patient.get("address") or [] if isinstance(a, dict)]
    address = addresses[0] if addresses else {}
    address_text = address.get("text") or ", ".join(
        [*(address.get("line") or []), *(str(address[k]) for k in ("city", "postalCode") if address.get(k))]
    )
    found = PatientIdentifiers(
        nhs_number=nhs,
        hospital_number=mrn,
        family_name=name.get("family"),
        given_names=" ".join(name.get("given") or []) or None,
        birth_date=patient.get("birthDate"),
        address=address_text or None,
    )
    return None if found.is_empty() else found


class IdentityPort(Protocol):
    async def demographics_updated(
        self, trust: str, identifiers: PatientIdentifiers, actor: str, correlation_id: str
    ) -> int:
        """A sender's patient demographics changed (HL7 ADT^A08/A31): update what the vault holds
        for that patient; returns how many incidents' identifiers changed."""
