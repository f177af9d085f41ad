"""What every way in (JSON, HL7 v2, FHIR) hands to the intake service, and the rules they share.

A message becomes a ``Submission``: the tenant, the channel, the sender's message id, the sender's
own reference for the incident (so a later message can amend it), and raw fact values already in
Sievert's units. The service decides whether it is a new incident or an amendment, because only
the event store knows which references exist; validation errors come back as ``FactProblem``s
naming the fact, and each edge turns the fact name into its own location (an HL7 segment and
field, a FHIRPath) with the provenance it recorded while mapping.

The observation codes below are the one vocabulary for facts carried as observations: HL7 v2
OBX-3 (coding system ``99SVT``) and FHIR ``Observation.code`` (system ``FACT_CODE_SYSTEM``) use
the same codes, listed in docs/intake-mapping.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import ValidationError

from sievert_intake.domain.identity import PatientIdentifiers
from sievert_intake.domain.units import Dimension, FactUnitsError, UnitError, quantities_in_fact_units
from sievert_shared.door_dates import implausible
from sievert_shared.envelope import Tenant
from sievert_shared.facts import IncidentFacts

Channel = Literal["json", "hl7v2", "fhir"]

#: HL7 v2 local coding system for Sievert observation codes ("99zzz" is HL7's local-table form).
HL7_FACT_CODING_SYSTEM = "99SVT"
#: FHIR CodeSystem for the same codes. A placeholder namespace until the trust publishes one.
FACT_CODE_SYSTEM = "https://fhir.sievert.example/CodeSystem/incident-fact"


class FactKind(StrEnum):
    QUANTITY = "quantity"  # a number with a unit, converted to the fact's unit
    COUNT = "count"  # a whole number, no unit
    CODE = "code"  # one of the fact's enumerated values
    FLAG = "flag"  # yes / no
    TEXT = "text"  # a name as sent (a maker, a model): kept as written, never lower-cased
    DATE = "date"


@dataclass(frozen=True)
class FactSpec:
    fact: str
    kind: FactKind
    dimension: Dimension | None = None


def _q(fact: str, dimension: Dimension) -> FactSpec:
    return FactSpec(fact, FactKind.QUANTITY, dimension)


#: Observation code -> fact. Quantities are coded without their unit: the unit travels with the
#: value (OBX-6, Quantity.code) and is converted explicitly (domain/units.py).
OBSERVATION_CODES: dict[str, FactSpec] = {
    "nation": FactSpec("nation", FactKind.CODE),
    "discovered_on": FactSpec("discovered_on", FactKind.DATE),
    "occurred_on": FactSpec("occurred_on", FactKind.DATE),
    "exposure_kind": FactSpec("exposure_kind", FactKind.CODE),
    "modality": FactSpec("modality", FactKind.CODE),
    "patient_age_years": FactSpec("patient_age_years", FactKind.COUNT),
    "individuals_affected": FactSpec("individuals_affected", FactKind.COUNT),
    "patient_pregnant": FactSpec("patient_pregnant", FactKind.FLAG),
    "patient_breastfeeding": FactSpec("patient_breastfeeding", FactKind.FLAG),
    "intended_effective_dose": _q("intended_effective_dose_msv", Dimension.EFFECTIVE_DOSE),
    "total_effective_dose": _q("total_effective_dose_msv", Dimension.EFFECTIVE_DOSE),
    "foetal_dose": _q("foetal_dose_mgy", Dimension.ABSORBED_DOSE),
    "breastfed_infant_effective_dose": _q("breastfed_infant_effective_dose_msv", Dimension.EFFECTIVE_DOSE),
    "prior_cumulative_effective_dose": _q("prior_cumulative_effective_dose_msv", Dimension.EFFECTIVE_DOSE),
    "rt_course_dose_ratio": _q("rt_course_dose_ratio", Dimension.RATIO),
    "rt_max_fraction_dose_ratio": _q("rt_max_fraction_dose_ratio", Dimension.RATIO),
    "rt_dose_volume": FactSpec("rt_dose_volume", FactKind.CODE),
    "geographical_miss": FactSpec("geographical_miss", FactKind.CODE),
    "geographical_miss_margin_ratio": _q("geographical_miss_margin_ratio", Dimension.RATIO),
    "planning_scans": FactSpec("planning_scans", FactKind.COUNT),
    "verification_images_in_fraction": FactSpec("verification_images_in_fraction", FactKind.COUNT),
    "verification_images_intended": FactSpec("verification_images_intended", FactKind.COUNT),
    "verification_images_additional": FactSpec("verification_images_additional", FactKind.COUNT),
    "verification_imaging_cause": FactSpec("verification_imaging_cause", FactKind.CODE),
    "nm_prescribed_activity": _q("nm_prescribed_activity_mbq", Dimension.ACTIVITY),
    "nm_delivered_activity": _q("nm_delivered_activity_mbq", Dimension.ACTIVITY),
    "deterministic_effect": FactSpec("deterministic_effect", FactKind.CODE),
    "deterministic_effect_anticipated": FactSpec("deterministic_effect_anticipated", FactKind.FLAG),
    "procedural_failure": FactSpec("procedural_failure", FactKind.FLAG),
    "equipment_fault": FactSpec("equipment_fault", FactKind.FLAG),
    "incorrect_radiopharmaceutical": FactSpec("incorrect_radiopharmaceutical", FactKind.FLAG),
    "clinically_significant": FactSpec("clinically_significant", FactKind.FLAG),
    "voluntary": FactSpec("voluntary", FactKind.FLAG),
    "outside_arsac_licence": FactSpec("outside_arsac_licence", FactKind.FLAG),
    "worker_effective_dose": _q("worker_effective_dose_msv", Dimension.EFFECTIVE_DOSE),
    "public_effective_dose": _q("public_effective_dose_msv", Dimension.EFFECTIVE_DOSE),
    "equipment_type": FactSpec("equipment_type", FactKind.CODE),
    "setting": FactSpec("setting", FactKind.CODE),
    # Added with IncidentReported v3. Radiotherapy doses are absorbed doses as radiotherapy records
    # them, in Gy (guidance line 155, 246: a recognised alternative unit where mSv does not fit).
    "rt_prescribed_dose": _q("rt_prescribed_dose_gy", Dimension.THERAPY_DOSE),
    "rt_delivered_dose": _q("rt_delivered_dose_gy", Dimension.THERAPY_DOSE),
    "rt_prescribed_fraction_dose": _q("rt_prescribed_fraction_dose_gy", Dimension.THERAPY_DOSE),
    "rt_max_fraction_delivered_dose": _q("rt_max_fraction_delivered_dose_gy", Dimension.THERAPY_DOSE),
    "rt_fractions_prescribed": FactSpec("rt_fractions_prescribed", FactKind.COUNT),
    "rt_fractions_delivered": FactSpec("rt_fractions_delivered", FactKind.COUNT),
    "rt_whole_course_delivered": FactSpec("rt_whole_course_delivered", FactKind.FLAG),
    "anatomy_error": FactSpec("anatomy_error", FactKind.CODE),
    "equipment_fault_thematic": FactSpec("equipment_fault_thematic", FactKind.FLAG),
    "medicine_defect": FactSpec("medicine_defect", FactKind.FLAG),
    "equipment_manufacturer": FactSpec("equipment_manufacturer", FactKind.TEXT),
    "equipment_model": FactSpec("equipment_model", FactKind.TEXT),
    # Earlier exposures of the same body area: context for the decision, never a gate (UKHSA/BIR).
    "prior_same_area_exposures": FactSpec("prior_same_area_exposures", FactKind.COUNT),
    "prior_same_area_period_days": FactSpec("prior_same_area_period_days", FactKind.COUNT),
    "prior_same_area_dose": _q("prior_same_area_dose_mgy", Dimension.ABSORBED_DOSE),
    "ct_perfusion": FactSpec("ct_perfusion", FactKind.FLAG),
    "deterministic_effects_expected": FactSpec("deterministic_effects_expected", FactKind.FLAG),
}

#: Facts that are not one observation's value: a list of structured entries (the employers
#: involved, each with a name, a trust code, a role and whether it notifies) has no OBX or
#: Observation form, so only the JSON door (``POST /v1/incidents``, amendments) carries them.
NOT_OBSERVATIONS = frozenset({"employers"})

CODE_FOR_FACT: dict[str, str] = {spec.fact: code for code, spec in OBSERVATION_CODES.items()}

#: DICOM modality codes (PS3.3 C.7.3.1.1.1) an engine may send instead of Sievert's modality
#: values. Only the unambiguous ones: RTIMAGE could be planning or verification, so it is not here.
DICOM_MODALITIES: dict[str, str] = {
    "CT": "ct",
    "CR": "radiography",
    "DX": "radiography",
    "RF": "fluoroscopy",
    "MG": "mammography",
    "IO": "dental",
    "PX": "dental",
    "XA": "interventional",
    "NM": "diagnostic_nuclear_medicine",
    "PT": "diagnostic_nuclear_medicine",
}

#: ISO 3166-2 subdivision codes of the UK nations, as FHIR ``Address.country`` may carry them.
ISO_NATIONS: dict[str, str] = {
    "GB-ENG": "england",
    "GB-WLS": "wales",
    "GB-SCT": "scotland",
    "GB-NIR": "northern_ireland",
}

_REQUIRED = ("nation", "discovered_on", "exposure_kind", "modality")


class ProblemKind(StrEnum):
    REQUIRED = "required"  # HL7 table 0357 code 101
    TYPE = "type"  # 102: data type error
    VALUE = "value"  # 103: table value not found / out of range
    UNIT = "unit"  # 103: the unit cannot be converted
    DUPLICATE = "duplicate"  # 205: duplicate key identifier
    UNKNOWN = "unknown"  # 204: unknown key identifier


@dataclass(frozen=True)
class FactProblem:
    """A problem with one fact; ``fact`` is None for problems about the message as a whole."""

    fact: str | None
    message: str
    kind: ProblemKind


class FactsInvalidError(ValueError):
    def __init__(self, problems: list[FactProblem]) -> None:
        super().__init__("; ".join(f"{p.fact}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Submission:
    """Incident facts from one inbound message, in Sievert's units.

    ``facts`` is complete for a new incident and a merge patch for an amendment. ``birth_date``
    is there so the age can be derived once the exposure or discovery date is known (it may come
    from the stored incident); it reaches no event and is never printed (``repr=False``).
    """

    tenant: Tenant
    channel: Channel
    source_message_id: str | None
    reference: str | None
    facts: dict[str, Any]
    reason: str
    birth_date: dt.date | None = field(default=None, repr=False)
    #: The message's patient identifiers, stored encrypted in the same transaction as its event
    #: (``adapters/identity_vault.py``); only their pseudonym reaches the event.
    identifiers: PatientIdentifiers | None = field(default=None, repr=False)


#: The facts that are days something happened: bounded at the door (``implausible_dates``).
EVENT_DATE_FACTS = ("discovered_on", "occurred_on")


def implausible_dates(raw: dict[str, Any], today: dt.date) -> list[FactProblem]:
    """A problem for each date in ``raw`` that cannot be the day an incident happened or was
    discovered: before IR(ME)R 2017 came into force, or after tomorrow
    (``sievert_shared.door_dates``). Dates that are not dates are the facts model's to refuse."""
    problems = []
    for name in EVENT_DATE_FACTS:
        value = raw.get(name)
        day = _as_date(value) if isinstance(value, dt.date | str) else None
        why = implausible(day, today) if day is not None else None
        if why:
            problems.append(FactProblem(name, why, ProblemKind.VALUE))
    return problems


def validate_new(raw: dict[str, Any], today: dt.date | None = None) -> IncidentFacts:
    """Complete facts for a new incident, or every problem at once. With ``today``, the dates
    must also be plausible then (``implausible_dates``)."""
    missing = [
        FactProblem(name, "is required", ProblemKind.REQUIRED) for name in _REQUIRED if raw.get(name) is None
    ]
    missing += implausible_dates(raw, today) if today is not None else []
    converted, unit_problems = in_fact_units(raw)
    try:
        facts = IncidentFacts.model_validate(converted)
    except ValidationError as exc:
        raise FactsInvalidError(_merge(missing + unit_problems, _problems(exc))) from exc
    if missing or unit_problems:  # the facts model passed, but a date is implausible
        raise FactsInvalidError(missing + unit_problems)
    return facts


def validate_amended(
    current: IncidentFacts, patch: dict[str, Any], today: dt.date | None = None
) -> tuple[IncidentFacts, list[str]]:
    """The facts after a merge patch and the names that changed; with ``today``, the dates the
    patch gives must be plausible then."""
    converted, unit_problems = in_fact_units(patch)
    unit_problems += implausible_dates(patch, today) if today is not None else []
    merged = current.model_dump(mode="json")
    merged.update(converted)
    try:
        corrected = IncidentFacts.model_validate(merged)
    except ValidationError as exc:
        raise FactsInvalidError(_merge(unit_problems, _problems(exc))) from exc
    if unit_problems:
        raise FactsInvalidError(unit_problems)
    before = current.model_dump(mode="json")
    after = corrected.model_dump(mode="json")
    return corrected, sorted(name for name in after if after[name] != before.get(name))


def in_fact_units(raw: dict[str, Any]) -> tuple[dict[str, Any], list[FactProblem]]:
    """``raw`` with every quantity sent as ``{"value": v, "unit": u}`` in its fact's own unit, and
    a problem for each whose unit cannot be converted (a dose in Gy for an effective dose in mSv,
    or in mSv for a radiotherapy dose in Gy), naming the units the fact accepts. The facts with
    such a unit are left out, so the facts model still reports every other bad field at once."""
    try:
        return quantities_in_fact_units(raw), []
    except FactUnitsError as exc:
        refused = {error.fact for error in exc.errors}
        rest = quantities_in_fact_units({name: value for name, value in raw.items() if name not in refused})
        return rest, [FactProblem(error.fact, _unnamed(error), ProblemKind.UNIT) for error in exc.errors]


def _unnamed(error: UnitError) -> str:
    """The error's message without the fact's name: each door puts the name (or its location)
    in front of a problem's message itself."""
    return str(UnitError(error.unit, error.dimension))


def _problems(exc: ValidationError) -> list[FactProblem]:
    problems = []
    for err in exc.errors():
        loc = err.get("loc", ())
        name = str(loc[0]) if loc else None
        kind = ProblemKind.REQUIRED if err["type"] == "missing" else _kind_of(err["type"])
        problems.append(FactProblem(name, err["msg"], kind))
    return problems


def _kind_of(error_type: str) -> ProblemKind:
    if error_type.endswith(("_type", "_parsing")) or error_type in ("date_from_datetime_parsing",):
        return ProblemKind.TYPE
    return ProblemKind.VALUE


def _merge(first: list[FactProblem], second: list[FactProblem]) -> list[FactProblem]:
    seen = {p.fact for p in first}
    return first + [p for p in second if p.fact not in seen]


def age_in_years(birth_date: dt.date, on: dt.date) -> int:
    """Completed years of age on ``on``. A birthday counts from the day itself; someone born on
    29 February is a year older from 1 March in a year without one (as UK law reckons it)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


class BirthAfterExposureError(ValueError):
    """The date of birth is after the date the age is reckoned at: one of them is wrong."""


def age_at_exposure(birth_date: dt.date | None, occurred_on: Any, discovered_on: Any) -> int | None:
    """Patient age in completed years at the exposure (``occurred_on``), else at its discovery
    (``discovered_on``): the classifier's child rules are about the patient when exposed.

    Dates may be ``date`` or ISO strings (raw facts). None when there is no birth date or no
    usable date to reckon at; ``BirthAfterExposureError`` when the birth date is after it.
    """
    if birth_date is None:
        return None
    on = _as_date(occurred_on) or _as_date(discovered_on)
    if on is None:
        return None
    age = age_in_years(birth_date, on)
    if age < 0:
        raise BirthAfterExposureError(f"the date of birth {birth_date} is after {on}")
    return age


def derive_age(raw: dict[str, Any], birth_date: dt.date | None, current: IncidentFacts | None = None) -> None:
    """Put the patient's age into ``raw`` (facts, or a merge patch of ``current``) when a birth
    date came with the message and the facts give no age: at the exposure, else at its discovery,
    taking each date from the message, else from the incident. The birth date goes no further."""
    if birth_date is None or raw.get("patient_age_years") is not None:
        return
    dates = {**(current.model_dump(mode="json") if current is not None else {}), **raw}
    age = age_at_exposure(birth_date, dates.get("occurred_on"), dates.get("discovered_on"))
    if age is not None:
        raw["patient_age_years"] = age


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_flag(text: str) -> bool:
    """HL7 table 0136 (Y/N), also FHIR-style true/false."""
    value = text.strip().lower()
    if value in ("y", "yes", "true"):
        return True
    if value in ("n", "no", "false"):
        return False
    raise ValueError(f"{text!r} is not a yes/no value (Y or N)")


def parse_code(spec: FactSpec, code: str, coding_system: str | None = None) -> str:
    """Sievert's enumerated value, lower-cased; DICOM modality codes (upper case, or any case
    under coding system ``DCM``) become Sievert's modality values."""
    code = code.strip()
    if spec.fact == "modality" and (
        code in DICOM_MODALITIES or (coding_system == "DCM" and code.upper() in DICOM_MODALITIES)
    ):
        return DICOM_MODALITIES[code.upper()]
    return code.lower()
