"""Intake's pure rules: what a report and an amendment are, and how facts fold."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sievert_intake.domain.identity import PatientIn
from sievert_intake.domain.inbound import (
    EVENT_DATE_FACTS,
    BirthAfterExposureError,
    age_at_exposure,
    implausible_dates,
    in_fact_units,
)
from sievert_intake.domain.unit_errors import validated_beside_unit_errors
from sievert_shared.envelope import SiteId, Tenant, TrustId
from sievert_shared.errors import UnprocessableError
from sievert_shared.facts import IncidentFacts, reporting_trust_problem


class IncidentReport(BaseModel):
    """``POST /v1/incidents``: a new incident from an integration engine or a person."""

    model_config = ConfigDict(extra="forbid")

    trust: TrustId
    site: SiteId
    facts: IncidentFacts
    source_message_id: str | None = Field(default=None, max_length=128)
    patient: PatientIn | None = Field(
        default=None,
        description="Patient identifiers, split off at the door: stored encrypted, never in events.",
    )

    @property
    def tenant(self) -> Tenant:
        return Tenant(trust=self.trust, site=self.site)

    @field_validator("facts", mode="wrap")
    @classmethod
    def _quantities_in_fact_units(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A quantity may come as ``{"value": 180, "unit": "cGy"}``: it is converted to its fact's
        unit (docs/intake-mapping.md), and a unit of another quantity is refused at
        ``facts/<fact>`` naming the units the fact accepts, alongside every other bad fact."""
        if not isinstance(value, dict):
            return handler(value)
        converted, unit_problems = in_fact_units(value)
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("unit", "{fact}: {message}", {"fact": p.fact, "message": p.message}),
                loc=(str(p.fact),),
                input=value.get(str(p.fact)),
            )
            for p in unit_problems
        ]
        return validated_beside_unit_errors(handler, converted, errors, "IncidentFacts")

    @field_validator("facts")
    @classmethod
    def _reporting_trust_among_employers(cls, facts: IncidentFacts, info: ValidationInfo) -> IncidentFacts:
        """A trust that names several employers names itself among them (docs/classifier.md,
        "Several employers"): refused at ``facts/employers``."""
        trust = info.data.get("trust")
        problem = reporting_trust_problem(facts.employers, trust) if isinstance(trust, str) else None
        if problem is not None:
            raise ValidationError.from_exception_data(
                "IncidentFacts",
                [
                    InitErrorDetails(
                        type="value_error", loc=("employers",), input=None, ctx={"error": ValueError(problem)}
                    )
                ],
            )
        return facts

    @model_validator(mode="after")
    def _age_from_birth_date(self) -> IncidentReport:
        """Without an age in the facts, ``patient.birth_date`` gives it: completed years at the
        exposure, else at its discovery (docs/intake-mapping.md). The birth date goes no further."""
        if (
            self.patient is None
            or self.patient.birth_date is None
            or self.facts.patient_age_years is not None
        ):
            return self
        try:
            born = dt.date.fromisoformat(self.patient.birth_date)
            age = age_at_exposure(born, self.facts.occurred_on, self.facts.discovered_on)
            if age is not None:
                self.facts = IncidentFacts.model_validate(
                    {**self.facts.model_dump(), "patient_age_years": age}
                )
        except BirthAfterExposureError as exc:
            raise ValueError(f"patient.birth_date: {exc}") from None
        except ValidationError:
            raise ValueError("patient.birth_date: gives an age over 150 years") from None
        except ValueError:
            raise ValueError("patient.birth_date: not a calendar date") from None
        return self


class Amendment(BaseModel):
    """``POST /v1/incidents/{id}/amendments``: corrected facts, as a JSON merge patch.

    A key present in ``facts`` replaces the current value (``null`` clears an optional fact);
    absent keys keep theirs. ``expected_version`` is the stream version the correction was
    written against, so two people correcting at once cannot overwrite each other silently.
    """

    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=1)
    facts: dict[str, Any] = Field(min_length=1, description="Fact names and their corrected values.")
    reason: str = Field(min_length=1, max_length=500)


class AmendmentInvalidError(UnprocessableError):
    """The merge patch gives facts that are not valid; ``errors`` names each bad field's path."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("the corrected facts are invalid; nothing was stored", errors=errors)
        self.errors = errors


class ImplausibleDateError(UnprocessableError):
    """A date that cannot be the day the incident happened or was discovered; ``errors`` names it."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} field(s) are invalid; nothing was stored", errors=errors)


def _date_errors(facts: dict[str, Any], today: dt.date) -> list[dict[str, str]]:
    return [
        {"path": f"body/facts/{p.fact}", "message": p.message, "type": "date_implausible"}
        for p in implausible_dates(facts, today)
    ]


def refuse_implausible_dates(facts: IncidentFacts, today: dt.date) -> None:
    """A report's dates must be plausible on ``today`` (``sievert_shared.door_dates``)."""
    # Read the two dates off the model: a dump of the facts cost more than the check itself.
    errors = _date_errors({name: getattr(facts, name) for name in EVENT_DATE_FACTS}, today)
    if errors:
        raise ImplausibleDateError(errors)


def apply_amendment(
    current: IncidentFacts, patch: dict[str, Any], today: dt.date | None = None, *, trust: str | None = None
) -> tuple[IncidentFacts, list[str]]:
    """The corrected facts and the names that changed; raises with every bad field's path.
    With the incident's ``trust``, employers the correction names must include it.

    A quantity may come as ``{"value": v, "unit": u}`` and is converted to its fact's unit; a unit
    that cannot be is refused naming the units the fact accepts (docs/intake-mapping.md). With
    ``today``, the dates the patch gives must be plausible then."""
    converted, unit_problems = in_fact_units(patch)
    errors = [
        {"path": f"body/facts/{p.fact}", "message": f"{p.fact}: {p.message}", "type": "unit"}
        for p in unit_problems
    ]
    errors += _date_errors(patch, today) if today is not None else []
    merged = current.model_dump(mode="json")
    merged.update(converted)
    try:
        corrected = IncidentFacts.model_validate(merged)
    except ValidationError as exc:
        errors += [
            {
                "path": "/".join(["body", "facts", *(str(p) for p in e["loc"])]),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
    else:
        problem = reporting_trust_problem(corrected.employers, trust) if trust is not None else None
        if problem is not None:
            errors.append({"path": "body/facts/employers", "message": problem, "type": "value_error"})
    if errors:
        raise AmendmentInvalidError(errors)
    before = current.model_dump(mode="json")
    after = corrected.model_dump(mode="json")
    changed = sorted(name for name in after if after[name] != before.get(name))
    return corrected, changed


def request_hash(body: bytes) -> str:
    """Hash of the request's meaning, not its bytes: key order and spacing don't matter."""
    try:
        return parsed_hash(json.loads(body))
    except ValueError:
        return hashlib.sha256(body).hexdigest()


def parsed_hash(value: Any) -> str:
    """``request_hash`` of a body already parsed (a bulk file's line: parsed once, not twice)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
