"""The 12-week report's findings as a form, and the authority's correspondence as a person reads
it. Pure.

Reporting checks the report for completeness (guidance lines 229-238; docs/reporting.md,
"Documents: what each must hold"): most of its items are the investigation's findings
(``POST /v1/incidents/{id}/findings``, where an item given replaces the recorded one and an item
left out is kept), one is a person's confirmation of the similar incidents it proposes (line
234), and the dose estimate comes from the facts. The fields are the findings' own names, so a
refusal (``body/<name>``) lands beside its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sievert_console.domain import labels

Kind = Literal["text", "lines", "yes_no", "choice"]

#: Findings that may be recorded as "none" (an explicit empty list, line 233).
MAY_BE_NONE = frozenset({"contributory_factors"})


@dataclass(frozen=True)
class FindingField:
    name: str
    label: str
    kind: Kind
    hint: str = ""
    lines: str = ""  # the guidance lines that ask for it

    @property
    def options(self) -> Mapping[str, str]:
        if self.kind == "yes_no":
            return {"true": "Yes", "false": "No"}
        if self.name == "error_duty_holder":
            return labels.DUTY_HOLDERS
        if self.name == "error_process_step":
            return labels.PROCESS_STEPS
        return {}

    def shown(self, value: Any) -> str:
        """The recorded value as the control holds it (a list is one item a line)."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return str(value)

    def read(self, raw: str) -> Any:
        """The control's text as reporting takes it; None when left empty (kept as recorded).
        A yes/no is sent as typed when it is neither, so reporting names the field it refuses."""
        text = raw.strip()
        if not text:
            return None
        if self.kind == "lines":
            return [line.strip() for line in raw.splitlines() if line.strip()]
        if self.kind == "yes_no":
            return {"true": True, "false": False}.get(text, text)
        return text


FINDINGS: tuple[FindingField, ...] = (
    FindingField("what_happened", "What happened", "text", "", "231"),
    FindingField("dose_assessment", "Assessment of the intended and unintended dose", "text", "", "248"),
    FindingField("root_causes", "Root causes (one a line)", "lines", "", "233"),
    FindingField(
        "contributory_factors",
        "Contributory factors (one a line)",
        "lines",
        "Or tick “none” below: the report states there were none.",
        "233",
    ),
    FindingField("duty_of_candour_met", "Duty of candour requirements met", "yes_no", "", "85, 235"),
    FindingField("duty_of_candour_notes", "Duty of candour: notes", "text"),
    FindingField(
        "csaue_procedure_applied",
        "The CSAUE procedure (Regulation 8(1)) applied",
        "yes_no",
        "",
        "78, 236",
    ),
    FindingField("csaue_procedure_notes", "CSAUE procedure: notes", "text"),
    FindingField("learning", "The learning from the investigation", "text", "", "237"),
    FindingField("learning_shared_how", "How the learning has been shared", "text", "", "237"),
    FindingField("corrective_actions", "Corrective or remedial actions (one a line)", "lines", "", "238"),
    FindingField("error_duty_holder", "Cause: whose part of the process failed", "choice"),
    FindingField("error_process_step", "Cause: at which step", "choice"),
)
FINDING_NAMES: tuple[str, ...] = tuple(f.name for f in FINDINGS)


def findings_body(form: Mapping[str, str], recorded_by_role: str) -> dict[str, Any]:
    """The findings the person filled in, as reporting's ``POST …/findings`` takes them. An empty
    field is left out (reporting keeps what is recorded); "none" sends an explicit empty list."""
    body: dict[str, Any] = {"recorded_by_role": recorded_by_role}
    for field in FINDINGS:
        value = field.read(form.get(field.name, ""))
        if value is not None:
            body[field.name] = value
    for name in MAY_BE_NONE:
        if form.get(f"{name}_none") and name not in body:
            body[name] = []
    return body


def shown_findings(findings: Mapping[str, Any]) -> dict[str, str]:
    """The recorded findings as the form's controls hold them."""
    return {f.name: f.shown(findings.get(f.name)) for f in FINDINGS}


@dataclass(frozen=True)
class Query:
    query_id: str
    received_on: str
    summary: str
    recorded_by_role: str
    answered_on: str | None
    answer: str | None
    answered_by_role: str | None

    @property
    def open(self) -> bool:
        return self.answered_on is None


@dataclass(frozen=True)
class Correspondence:
    """Reporting's ``GET /v1/incidents/{id}/authority``."""

    notified: bool
    authority: str | None
    reference: str | None
    submitted_on: str | None
    channel: str | None
    queries: tuple[Query, ...]
    closure: Mapping[str, Any] | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Correspondence:
        notification = data.get("notification") or {}
        return cls(
            notified=bool(data.get("notified")),
            authority=data.get("authority"),
            reference=data.get("reference"),
            submitted_on=notification.get("submitted_on"),
            channel=notification.get("channel"),
            queries=tuple(
                Query(
                    query_id=str(q["query_id"]),
                    received_on=str(q["received_on"]),
                    summary=str(q.get("summary") or ""),
                    recorded_by_role=str(q.get("recorded_by_role") or ""),
                    answered_on=q.get("answered_on"),
                    answer=q.get("answer"),
                    answered_by_role=q.get("answered_by_role"),
                )
                for q in data.get("queries") or ()
            ),
            closure=data.get("closure"),
        )

    @property
    def open_queries(self) -> int:
        return sum(1 for q in self.queries if q.open)
