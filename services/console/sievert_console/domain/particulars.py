"""What a person adds to a document beyond the facts (its particulars), as a form, and what a
draft still lacks, as a person reads it.

Reporting checks each document for completeness (docs/reporting.md, "Documents: what each must
hold"): a draft lists ``missing: [{item, label, guidance_lines}]``, and issuing an incomplete one
is refused with the same list. Some items are particulars the person writes on the draft (the
preliminary investigation and the immediate actions of line 218, a code's description); the
others are facts, answered in the facts form. The fields come from the shared
``DocumentParticulars`` model, so the hints are the model's own descriptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sievert_shared.events.reporting import DocumentParticulars, LicenceMissing

Kind = Literal["text", "lines", "line", "choice", "date"]

#: Whose licence was missing (Regulation 5, lines 89-92), in words.
LICENCES_MISSING: Mapping[str, str] = {
    LicenceMissing.EMPLOYER.value: "The employer's licence",
    LicenceMissing.PRACTITIONER.value: "The practitioner's licence",
    LicenceMissing.EMPLOYER_AND_PRACTITIONER.value: "Both the employer's and the practitioner's",
}


@dataclass(frozen=True)
class ParticularField:
    name: str
    label: str
    kind: Kind
    #: asked on every notification (line 218); the others only when the draft lacks them
    always: bool = False

    @property
    def description(self) -> str:
        found = DocumentParticulars.model_fields[self.name]
        return found.description or ""

    @property
    def options(self) -> Mapping[str, str]:
        return LICENCES_MISSING if self.name == "licence_missing" else {}

    def shown(self, value: Any) -> str:
        """The value as the form's control holds it (a list is one item a line)."""
        if value is None:
            return ""
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return str(value)

    def read(self, raw: str) -> str | list[str] | None:
        """The control's text as the API takes it; None when left empty."""
        if self.kind == "lines":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            return items or None
        return raw.strip() or None


#: The particulars the console offers, in the order a document prints them. The code M doses per
#: individual are structured values the console does not edit yet: they are listed as missing
#: with their lines, and completed through reporting's API.
FIELDS: tuple[ParticularField, ...] = (
    ParticularField(
        "preliminary_investigation", "What the immediate preliminary investigation found", "text", True
    ),
    ParticularField("immediate_actions", "Immediate actions taken (one a line)", "lines", True),
    ParticularField("deterministic_effect_description", "The observed deterministic effect", "text"),
    ParticularField("radiopharmaceutical_administered", "Radiopharmaceutical administered", "line"),
    ParticularField("radiopharmaceutical_intended", "Radiopharmaceutical intended", "line"),
    ParticularField("equipment_fault_description", "The equipment failure that was the direct cause", "text"),
    ParticularField("voluntary_reason", "Why it is worth sharing (voluntary notification)", "text"),
    ParticularField("licence_missing", "Whose licence was missing", "choice"),
    ParticularField("radioactive_substance", "The radioactive substance administered", "line"),
    ParticularField("administration_purpose", "The purpose the licence did not cover", "text"),
    ParticularField("arsac_notified_on", "When the ARSAC Support Unit was told", "date"),
)
FIELDS_BY_NAME: Mapping[str, ParticularField] = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class MissingItem:
    item: str
    label: str
    guidance_lines: tuple[int, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MissingItem:
        return cls(
            item=str(data.get("item", "")),
            label=str(data.get("label") or data.get("item") or ""),
            guidance_lines=tuple(int(n) for n in data.get("guidance_lines") or ()),
        )

    @property
    def in_particulars(self) -> bool:
        """Completed on the draft (else: a fact, answered in the facts form)."""
        return self.item in FIELDS_BY_NAME

    @property
    def in_report(self) -> bool:
        """Completed in the 12-week report's findings (or its similar incidents' confirmation)."""
        return self.item in REPORT_ITEMS

    @property
    def lines_text(self) -> str:
        lines = self.guidance_lines
        if not lines:
            return ""
        return f"guidance line{'s' if len(lines) != 1 else ''} {', '.join(str(n) for n in lines)}"


#: The report's items a person records with the investigation's findings (line 229-238).
REPORT_ITEMS = frozenset(
    {
        "what_happened",
        "dose_assessment",
        "root_causes",
        "contributory_factors",
        "similar_incidents_confirmed",
        "duty_of_candour_met",
        "csaue_procedure_applied",
        "learning",
        "learning_shared_how",
        "corrective_actions",
    }
)


def missing_items(raw: Iterable[Mapping[str, Any]] | None) -> tuple[MissingItem, ...]:
    return tuple(MissingItem.from_api(m) for m in raw or ())


def fields_for(kind: str, missing: Sequence[MissingItem]) -> tuple[ParticularField, ...]:
    """The particulars to offer on a draft: those it lacks, and on a notification the line-218
    ones always (they may want correcting), in the document's order."""
    lacking = {m.item for m in missing}
    notification = kind.endswith("notification")
    return tuple(f for f in FIELDS if f.name in lacking or (f.always and notification))


def particulars_patch(form: Mapping[str, str], offered: Iterable[ParticularField]) -> dict[str, Any]:
    """The particulars the person filled in, as reporting's ``PATCH`` takes them: items given
    replace the draft's, items left out are kept (so an emptied field is left out, not erased)."""
    patch: dict[str, Any] = {}
    for field in offered:
        value = field.read(form.get(field.name, ""))
        if value is not None:
            patch[field.name] = value
    return patch


def errors_by_particular(errors: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """Reporting's 422 ``errors`` ({path: 'body/particulars/<name>/…', message}) per field, and
    the ones that name no field of the form."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for error in errors:
        path = [p for p in str(error.get("path", "")).split("/") if p]
        message = str(error.get("message", "invalid"))
        name = path[2] if len(path) >= 3 and path[:2] == ["body", "particulars"] else None
        if name in FIELDS_BY_NAME:
            assert name is not None
            by_field[name] = f"{by_field[name]}; {message}" if name in by_field else message
        else:
            general.append(f"{'/'.join(path) or 'request'}: {message}")
    return by_field, general


def drafts_offered(
    decision: Mapping[str, Any] | None,
    submissions: Iterable[Mapping[str, Any]],
    case_status: str | None = None,
) -> tuple[str, ...]:
    """The documents the decision calls for that the incident has none of yet (drafted, issued or
    sent outside Sievert), in the order they are due: a notifiable incident's notification and
    12-week report (Regulation 8(4)), unless its case is closed (the authority closed it, line
    129: nothing more is owed); a voluntary notification for one below the criteria that the
    employer offers (code V, line 268); the licensing-breach form (lines 45, 98, 112)."""
    if not decision:
        return ()
    wanted: list[str] = []
    if decision.get("notifiable") and case_status != "closed":
        wanted += ["notification", "investigation_report"]
    elif decision.get("voluntary"):
        wanted.append("voluntary_notification")
    if decision.get("licensing_breach"):
        wanted.append("licensing_breach_notification")
    present = {str(s.get("kind")) for s in submissions}
    return tuple(kind for kind in wanted if kind not in present)
