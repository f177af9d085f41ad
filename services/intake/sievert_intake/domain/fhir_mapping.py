"""FHIR R4 AdverseEvent (alone, or in a transaction Bundle) to incident facts, and back. Pure.

Validation uses fhir.resources' ``R4B`` models (fhir.resources 8 ships R5 by default, R4B as a
subpackage, and needs pydantic 2; the releases that modelled R4 4.0.1 itself need pydantic 1).
R4B changed none of the resources used here (AdverseEvent, Patient, Observation, Location,
Organization, Bundle, OperationOutcome, CapabilityStatement) from R4, so an R4 client's resources
validate unchanged. Every error is reported with the FHIRPath of the bad element.

The element-to-fact table is docs/intake-mapping.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from sievert_intake.domain.hl7_mapping import Facility
from sievert_intake.domain.identity import from_fhir
from sievert_intake.domain.inbound import (
    CODE_FOR_FACT,
    FACT_CODE_SYSTEM,
    ISO_NATIONS,
    OBSERVATION_CODES,
    FactKind,
    FactProblem,
    FactSpec,
    ProblemKind,
    Submission,
    parse_code,
    parse_flag,
)
from sievert_intake.domain.units import CANONICAL_UNIT, UnitError, convert_fact, parse_decimal
from sievert_shared.envelope import Tenant
from sievert_shared.facts import IncidentFacts

FHIR_JSON = "application/fhir+json"
UCUM = "http://unitsofmeasure.org"
ODS_ORGANIZATION = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SITE = "https://fhir.nhs.uk/Id/ods-site-code"
EXPOSURE_KIND_SYSTEM = "https://fhir.sievert.example/CodeSystem/exposure-kind"
ACCEPTED_IN_BUNDLE = ("AdverseEvent", "Patient", "Observation", "Location", "Organization")

# OperationOutcome.issue.code (http://hl7.org/fhir/issue-type) for each kind of problem.
_ISSUE_CODES = {
    ProblemKind.REQUIRED: "required",
    ProblemKind.TYPE: "value",
    ProblemKind.VALUE: "code-invalid",
    ProblemKind.UNIT: "value",
    ProblemKind.DUPLICATE: "duplicate",
    ProblemKind.UNKNOWN: "not-found",
}


@dataclass(frozen=True)
class FhirIssue:
    expression: str | None
    message: str
    code: str = "invalid"


class FhirInvalid(Exception):
    def __init__(self, issues: list[FhirIssue]) -> None:
        super().__init__("; ".join(f"{i.expression}: {i.message}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class FhirIncident:
    submission: Submission
    provenance: dict[str, str]  # fact -> FHIRPath of the element it came from


# --- validation -------------------------------------------------------------------------------


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate(body: Any, expected: tuple[str, ...]) -> str:
    """Validate ``body`` as one of the ``expected`` resource types with the R4B models; returns the
    resource type."""
    if not isinstance(body, dict):
        raise FhirInvalid([FhirIssue(None, "the body is not a JSON object", "structure")])
    resource_type = body.get("resourceType")
    if resource_type not in expected:
        raise FhirInvalid(
            [
                FhirIssue(
                    "resourceType",
                    f"expected {' or '.join(expected)}, got {resource_type!r}",
                    "not-supported",
                )
            ]
        )
    if resource_type == "Bundle":
        bad = [
            FhirIssue(
                f"Bundle.entry[{i}].resource.resourceType",
                f"{t!r} is not accepted in a Sievert transaction",
                "not-supported",
            )
            for i, entry in enumerate(body.get("entry") or [])
            if isinstance(entry, dict)
            and isinstance(entry.get("resource"), dict)
            and (t := entry["resource"].get("resourceType")) not in ACCEPTED_IN_BUNDLE
        ]
        if bad:
            raise FhirInvalid(bad)
    try:
        get_fhir_model_class(resource_type).model_validate(body)
    except ValidationError as exc:
        raise FhirInvalid(
            [
                FhirIssue(
                    _fhirpath(resource_type, tuple(e["loc"])),
                    e["msg"],
                    "required" if e["type"] == "missing" else "value",
                )
                for e in exc.errors()
            ]
        ) from None
    except (KeyError, TypeError, ValueError) as exc:  # fhir.resources on shapes it cannot type
        raise FhirInvalid([FhirIssue(resource_type, f"invalid resource: {exc}", "structure")]) from None
    return str(resource_type)


# --- mapping ----------------------------------------------------------------------------------


class _Mapper:
    def __init__(self, resources: dict[str, tuple[dict[str, Any], str]]) -> None:
        self.resources = resources  # reference -> (resource, FHIRPath)
        self.facts: dict[str, Any] = {}
        self.provenance: dict[str, str] = {}
        self.issues: list[FhirIssue] = []

    def set(self, fact: str, value: Any, path: str) -> None:
        if fact in self.facts:
            self.issues.append(
                FhirIssue(path, f"{fact} is already given at {self.provenance[fact]}", "duplicate")
            )
            return
        self.facts[fact] = value
        self.provenance[fact] = path

    def resolve(self, reference: Any) -> tuple[dict[str, Any], str] | None:
        if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
            return None
        return self.resources.get(reference["reference"])

    def of_type(self, resource_type: str) -> list[tuple[dict[str, Any], str]]:
        seen: dict[str, tuple[dict[str, Any], str]] = {}
        for resource, path in self.resources.values():
            if resource.get("resourceType") == resource_type:
                seen[path] = (resource, path)
        return list(seen.values())


def map_adverse_event(body: dict[str, Any], facilities: dict[str, Facility] | None = None) -> FhirIncident:
    """A validated AdverseEvent whose Patient, Observations, Location and Organization are contained."""
    return _map(_Mapper(_contained(body, "AdverseEvent")), body, "AdverseEvent", None, facilities or {})


def _contained(resource: dict[str, Any], path: str) -> dict[str, tuple[dict[str, Any], str]]:
    """The resources contained in ``resource``, by their local reference (``#id``)."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    for i, inner in enumerate(resource.get("contained") or []):
        if isinstance(inner, dict) and inner.get("id"):
            found[f"#{inner['id']}"] = (inner, f"{path}.contained[{i}]")
    return found


def map_bundle(body: dict[str, Any], facilities: dict[str, Facility] | None = None) -> FhirIncident:
    """A validated transaction Bundle holding one AdverseEvent and the resources it refers to."""
    if body.get("type") != "transaction":
        raise FhirInvalid(
            [FhirIssue("Bundle.type", "only transaction bundles are accepted", "not-supported")]
        )
    resources: dict[str, tuple[dict[str, Any], str]] = {}
    events = []
    for i, entry in enumerate(body.get("entry") or []):
        resource = entry.get("resource") or {}
        path = f"Bundle.entry[{i}].resource"
        if entry.get("fullUrl"):
            resources[entry["fullUrl"]] = (resource, path)
        if resource.get("id"):
            resources[f"{resource['resourceType']}/{resource['id']}"] = (resource, path)
        resources.setdefault(f"{path}#", (resource, path))  # unreferenced entries still count
        if resource.get("resourceType") == "AdverseEvent":
            events.append((resource, path))
            # Its contained Location, Patient and Observations, as on POST /fhir/AdverseEvent.
            resources.update(_contained(resource, path))
    if len(events) != 1:
        raise FhirInvalid(
            [
                FhirIssue(
                    "Bundle.entry", f"expected exactly one AdverseEvent, found {len(events)}", "structure"
                )
            ]
        )
    identifier = body.get("identifier") or {}
    source_message_id = identifier.get("value") if isinstance(identifier, dict) else None
    event, path = events[0]
    return _map(_Mapper(resources), event, path, source_message_id, facilities or {})


def _map(
    m: _Mapper,
    event: dict[str, Any],
    path: str,
    source_message_id: str | None,
    facilities: dict[str, Facility],
) -> FhirIncident:
    identifier = event.get("identifier") or {}
    reference = identifier.get("value") if isinstance(identifier, dict) else None

    for i, coding in enumerate((event.get("event") or {}).get("coding") or []):
        if coding.get("system") in (EXPOSURE_KIND_SYSTEM, None) and coding.get("code"):
            m.set("exposure_kind", str(coding["code"]).lower(), f"{path}.event.coding[{i}].code")
            break
    if "exposure_kind" not in m.facts and event.get("actuality") == "potential":
        m.set("exposure_kind", "near_miss", f"{path}.actuality")
    if event.get("detected"):
        m.set("discovered_on", str(event["detected"])[:10], f"{path}.detected")
    if event.get("date"):
        m.set("occurred_on", str(event["date"])[:10], f"{path}.date")

    birth_date = None
    identifiers = None
    patient = m.resolve(event.get("subject"))
    if patient is not None and patient[0].get("resourceType") == "Patient":
        identifiers = from_fhir(patient[0])  # split off here: stored encrypted, never in the facts
        raw = str(patient[0].get("birthDate") or "")
        if len(raw) == 10:  # a year or year-month only leaves the age unknown
            birth_date = dt.date.fromisoformat(raw)

    trust, site = _tenant(m, event, path)
    for resource, obs_path in m.of_type("Observation"):
        _observation(m, resource, obs_path)
    if "nation" not in m.facts:
        nation = _nation(m, event) or (facilities.get(trust or "") or Facility()).nation
        if nation:
            m.facts["nation"] = nation
            m.provenance["nation"] = f"{path}.location"
    if m.issues:
        raise FhirInvalid(m.issues)
    assert trust is not None and site is not None
    submission = Submission(
        tenant=Tenant(trust=trust, site=site),
        channel="fhir",
        source_message_id=source_message_id,
        reference=reference,
        facts=m.facts,
        reason=f"FHIR AdverseEvent {reference or source_message_id or ''}".strip(),
        birth_date=birth_date,
        identifiers=identifiers,
    )
    return FhirIncident(submission, m.provenance)


def _identifier(resource: dict[str, Any], system: str) -> str | None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == system and identifier.get("value"):
            return str(identifier["value"])
    return None


def _tenant(m: _Mapper, event: dict[str, Any], path: str) -> tuple[str | None, str | None]:
    """Site from the Location's ODS site code; trust from its managing Organization's ODS code."""
    location = m.resolve(event.get("location"))
    if location is None:
        m.issues.append(FhirIssue(f"{path}.location", "needs a Location with an ODS site code", "required"))
        return None, None
    resource, location_path = location
    site = _identifier(resource, ODS_SITE)
    if site is None:
        m.issues.append(
            FhirIssue(
                f"{location_path}.identifier", f"needs an identifier with system {ODS_SITE}", "required"
            )
        )
    organization = m.resolve(resource.get("managingOrganization"))
    if organization is None:
        organizations = m.of_type("Organization")
        organization = organizations[0] if len(organizations) == 1 else None
    if organization is None:
        m.issues.append(
            FhirIssue(
                f"{location_path}.managingOrganization",
                "needs the trust's Organization with an ODS code",
                "required",
            )
        )
        return None, site
    trust = _identifier(organization[0], ODS_ORGANIZATION)
    if trust is None:
        m.issues.append(
            FhirIssue(
                f"{organization[1]}.identifier",
                f"needs an identifier with system {ODS_ORGANIZATION}",
                "required",
            )
        )
    return trust, site


def _nation(m: _Mapper, event: dict[str, Any]) -> str | None:
    location = m.resolve(event.get("location"))
    candidates = [location[0]] if location else []
    if location:
        organization = m.resolve(location[0].get("managingOrganization"))
        if organization:
            candidates.append(organization[0])
    for resource in candidates:
        address = resource.get("address")
        for entry in address if isinstance(address, list) else [address] if address else []:
            nation = ISO_NATIONS.get(str(entry.get("country") or "").upper())
            if nation:
                return nation
    return None


def _observation(m: _Mapper, obs: dict[str, Any], path: str) -> None:
    spec: FactSpec | None = None
    for coding in (obs.get("code") or {}).get("coding") or []:
        if coding.get("system") == FACT_CODE_SYSTEM:
            spec = OBSERVATION_CODES.get(str(coding.get("code")))
            if spec is None:
                m.issues.append(
                    FhirIssue(
                        f"{path}.code",
                        f"{coding.get('code')!r} is not a Sievert observation code",
                        "code-invalid",
                    )
                )
                return
    if spec is None:
        return  # an observation in another code system is not an incident fact
    if obs.get("dataAbsentReason") is not None:
        m.set(spec.fact, None, f"{path}.dataAbsentReason")
        return
    try:
        value, where = _value(spec, obs, path)
    except _ValueProblem as exc:
        m.issues.append(FhirIssue(exc.path, exc.message, "value"))
        return
    m.set(spec.fact, value, where)


class _ValueProblem(Exception):
    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message


def _value(spec: FactSpec, obs: dict[str, Any], path: str) -> tuple[Any, str]:
    if spec.kind is FactKind.QUANTITY:
        quantity = obs.get("valueQuantity")
        if not isinstance(quantity, dict) or quantity.get("value") is None:
            raise _ValueProblem(f"{path}.valueQuantity", "needs a valueQuantity with a value")
        unit = (
            quantity.get("code")
            if quantity.get("system") in (UCUM, None) and quantity.get("code")
            else quantity.get("unit")
        )
        try:  # the error names the fact and the units it accepts
            return convert_fact(
                spec.fact, parse_decimal(str(quantity["value"])), unit
            ), f"{path}.valueQuantity.value"
        except UnitError as exc:
            raise _ValueProblem(f"{path}.valueQuantity.code", str(exc)) from None
    if spec.kind is FactKind.COUNT:
        if "valueInteger" in obs:
            return obs["valueInteger"], f"{path}.valueInteger"
        quantity = obs.get("valueQuantity") or {}
        number = quantity.get("value")
        if number is None or Decimal(str(number)) != Decimal(str(number)).to_integral_value():
            raise _ValueProblem(f"{path}.valueInteger", f"{CODE_FOR_FACT[spec.fact]} needs a whole number")
        return int(Decimal(str(number))), f"{path}.valueQuantity.value"
    if spec.kind is FactKind.FLAG:
        if isinstance(obs.get("valueBoolean"), bool):
            return obs["valueBoolean"], f"{path}.valueBoolean"
        text = _text(obs)
        try:
            return parse_flag(text or ""), f"{path}.valueCodeableConcept"
        except ValueError as exc:
            raise _ValueProblem(f"{path}.valueBoolean", str(exc)) from None
    if spec.kind is FactKind.DATE:
        raw = obs.get("valueDateTime") or obs.get("valueString")
        if not raw:
            raise _ValueProblem(f"{path}.valueDateTime", "needs a valueDateTime")
        return str(raw)[:10], f"{path}.valueDateTime"
    if spec.kind is FactKind.TEXT:
        # A name as sent (a maker, a model): valueString, else the concept's text, never lower-cased.
        if isinstance(obs.get("valueString"), str) and obs["valueString"].strip():
            return obs["valueString"].strip(), f"{path}.valueString"
        text = (obs.get("valueCodeableConcept") or {}).get("text")
        if isinstance(text, str) and text.strip():
            return text.strip(), f"{path}.valueCodeableConcept.text"
        raise _ValueProblem(f"{path}.valueString", f"{CODE_FOR_FACT[spec.fact]} needs a valueString")
    concept = obs.get("valueCodeableConcept") or {}
    codings = concept.get("coding") or []
    if codings and codings[0].get("code"):
        system = "DCM" if "dicom" in str(codings[0].get("system") or "").lower() else None
        return parse_code(
            spec, str(codings[0]["code"]), system
        ), f"{path}.valueCodeableConcept.coding[0].code"
    if obs.get("valueString"):
        return parse_code(spec, str(obs["valueString"])), f"{path}.valueString"
    raise _ValueProblem(f"{path}.valueCodeableConcept", f"{CODE_FOR_FACT[spec.fact]} needs a coded value")


def _text(obs: dict[str, Any]) -> str | None:
    concept = obs.get("valueCodeableConcept") or {}
    codings = concept.get("coding") or []
    if codings and codings[0].get("code"):
        return str(codings[0]["code"])
    value = obs.get("valueString")
    return str(value) if value is not None else None


def locate(problems: list[FactProblem], provenance: dict[str, str], root: str) -> list[FhirIssue]:
    """The FHIRPath of each fact problem the service found (where it was expected, if missing)."""
    expected = {
        "discovered_on": f"{root}.detected",
        "occurred_on": f"{root}.date",
        "exposure_kind": f"{root}.event",
        "patient_age_years": "Patient.birthDate",
    }
    return [
        FhirIssue(
            provenance.get(p.fact or "")
            or expected.get(p.fact or "")
            or f"Observation.where(code.coding.code='{CODE_FOR_FACT.get(p.fact or '', p.fact)}')",
            f"{p.fact}: {p.message}" if p.fact else p.message,
            _ISSUE_CODES[p.kind],
        )
        for p in problems
    ]


# --- resources Sievert returns ----------------------------------------------------------------


def operation_outcome(issues: list[FhirIssue], severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": issue.code,
                "diagnostics": issue.message,
                **({"expression": [issue.expression]} if issue.expression else {}),
            }
            for issue in issues
        ],
    }


def render_adverse_event(
    incident_id: str, tenant: Tenant, facts: IncidentFacts, reference: str | None, version: int
) -> dict[str, Any]:
    """The incident as an AdverseEvent with its facts as contained Observations. It carries no
    patient: the subject is a display-only reference, as Sievert holds no identifier."""
    values = facts.model_dump(mode="json")
    contained: list[dict[str, Any]] = [
        {
            "resourceType": "Organization",
            "id": "trust",
            "identifier": [{"system": ODS_ORGANIZATION, "value": tenant.trust}],
        },
        {
            "resourceType": "Location",
            "id": "site",
            "identifier": [{"system": ODS_SITE, "value": tenant.site}],
            "managingOrganization": {"reference": "#trust"},
        },
    ]
    structural = {"discovered_on", "occurred_on", "exposure_kind"}
    for fact, value in values.items():
        if value is None or fact in structural:
            continue
        code = CODE_FOR_FACT[fact]
        spec = OBSERVATION_CODES[code]
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": code.replace("_", "-"),
            "status": "final",
            "code": {"coding": [{"system": FACT_CODE_SYSTEM, "code": code}]},
        }
        if spec.kind is FactKind.QUANTITY:
            assert spec.dimension is not None
            unit = CANONICAL_UNIT[spec.dimension]
            observation["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        elif spec.kind is FactKind.COUNT:
            observation["valueInteger"] = value
        elif spec.kind is FactKind.FLAG:
            observation["valueBoolean"] = value
        elif spec.kind is FactKind.DATE:
            observation["valueDateTime"] = value
        elif spec.kind is FactKind.TEXT:
            observation["valueString"] = value
        else:
            observation["valueCodeableConcept"] = {"coding": [{"code": value}]}
        contained.append(observation)
    event: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": incident_id,
        "meta": {"versionId": str(version)},
        "contained": contained,
        "actuality": "potential" if values["exposure_kind"] == "near_miss" else "actual",
        "event": {"coding": [{"system": EXPOSURE_KIND_SYSTEM, "code": values["exposure_kind"]}]},
        "subject": {"display": "patient identity is not held by Sievert"},
        "detected": values["discovered_on"],
        "location": {"reference": "#site"},
    }
    if reference:
        event["identifier"] = {"value": reference}
    if values.get("occurred_on"):
        event["date"] = values["occurred_on"]
    return event


def capability_statement(now: dt.datetime) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "kind": "instance",
        "software": {"name": "Sievert intake"},
        "implementation": {"description": "IR(ME)R incident intake"},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "AdverseEvents become IR(ME)R incident facts; see docs/intake-mapping.md.",
                "resource": [
                    {
                        "type": "AdverseEvent",
                        "interaction": [{"code": "create"}, {"code": "read"}],
                        "documentation": "Patient, Observation, Location and Organization travel as contained resources.",
                    }
                ],
                "interaction": [{"code": "transaction"}],
            }
        ],
    }
