"""Document content models as format-neutral views (``view.DocumentView``): every value in words,
each code with its criterion and guidance lines, and no column that would be empty."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sievert_reporting.domain.correspondence import correspondence_section
from sievert_reporting.domain.documents import (
    CriterionFact,
    Details,
    IncidentSection,
    InvestigationReportDocument,
    LicensingBreachDocument,
    NotificationDocument,
    Organisation,
    VoluntaryNotificationDocument,
    _Common,
)
from sievert_reporting.domain.labels import label, ruleset_label
from sievert_reporting.domain.view import Cell, DocumentView, Section, Table
from sievert_shared.events.reporting import IndividualDose
from sievert_shared.facts import Modality

MODALITIES = {m.value for m in Modality}


def _lines(lines: Iterable[int]) -> str:
    return ", ".join(str(n) for n in lines)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _header(doc: _Common, document_title: str) -> tuple[str, str]:
    return document_title, f"To {doc.authority.name} - incident {str(doc.incident_id)[:8]}"


def _organisation_section(doc: _Common, organisation: Organisation) -> Section:
    return Section(
        "Organisation and contact",
        fields=(
            (
                "Trust and site",
                f"{organisation.trust}, site {organisation.site} ({organisation.nation.label})",
            ),
            ("Enforcing authority", doc.authority.name),
            ("Contact", doc.contact.role),
        ),
    )


def _incident_fields(incident: IncidentSection) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = [
        (
            "Discovered on",
            incident.discovered_on.isoformat()
            + (f" (exposure on {incident.occurred_on.isoformat()})" if incident.occurred_on else ""),
        ),
        ("Exposure", incident.exposure_kind.label),
        ("Modality", incident.modality.label),
    ]
    if incident.individuals_affected is not None:
        fields.append(("Individuals exposed", str(incident.individuals_affected)))
    fields.append(("Clinically significant (CSAUE)", _yes_no(incident.csaue)))
    if incident.other_bodies:
        fields.append(("Other bodies told", "; ".join(b.label for b in incident.other_bodies)))
    fields.append(("Criteria applied", ruleset_label(incident.ruleset)))
    return tuple(fields)


def _codes_table(incident: IncidentSection) -> Table:
    codes = " ".join(c.code for c in incident.notification_codes)
    return Table(
        name="codes",
        caption=f"Notification code{'s' if len(incident.notification_codes) > 1 else ''} {codes}",
        headers=("Code", "Category", "Criterion", "Guidance lines"),
        rows=tuple(
            (m.code, m.category, m.criterion, _lines(m.guidance_lines))
            for c in incident.notification_codes
            for m in c.meanings
        ),
    )


def _criterion_facts_table(facts: list[CriterionFact]) -> Table:
    return Table(
        name="criterion_facts",
        caption="The facts behind the criterion",
        headers=("Fact", "Value", "Guidance lines"),
        rows=tuple((f.label[:1].upper() + f.label[1:], f.value, _lines(f.guidance_lines)) for f in facts),
    )


def _details_table(details: Details) -> Table:
    return Table(
        name="details",
        caption=f"Measurements ({details.modality})",
        headers=("Item", "Value"),
        rows=tuple((r.item, f"{_number(r.value)} {r.unit}".strip()) for r in details.rows),
    )


def _doses_table(doses: list[IndividualDose]) -> Table:
    with_notes = any(d.notes for d in doses)
    headers: tuple[str, ...] = ("Individual", "Dose received") + (("Notes",) if with_notes else ())
    rows: list[tuple[Cell, ...]] = []
    for d in doses:
        row: tuple[Cell, ...] = (d.individual, f"{d.dose:g} {d.unit}")
        rows.append(row + ((d.notes or "-",) if with_notes else ()))
    return Table("individual_doses", "Dose received by each individual (line 232)", headers, tuple(rows))


def _number(value: float | int | str) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _incident_section(incident: IncidentSection, facts: list[CriterionFact]) -> Section:
    return Section(
        "Incident",
        fields=_incident_fields(incident),
        tables=(_codes_table(incident), _criterion_facts_table(facts)),
    )


def employers_section(incident: IncidentSection) -> Section:
    """Several employers: who they are, their part, and which one notifies (lines 43, 51, 216);
    empty (and left out) when the trust was the only employer."""
    employers = incident.employers or []
    notifier = next((e.name for e in employers if e.notifies), None)
    if not employers or notifier is None:
        return Section("Employers involved")
    others = [e.name for e in employers if not e.notifies]
    reading = f"{notifier} makes this notification and sends the report for the exposure"
    if others:
        reading += f"; the other employer{'s' if len(others) > 1 else ''} ({', '.join(others)}) "
        reading += "are informed" if len(others) > 1 else "is informed"
    return Section(
        "Employers involved (lines 43, 51, 216)",
        paragraphs=(reading + ".",),
        tables=(
            Table(
                "employers",
                "The IR(ME)R employers of the exposure",
                ("Employer", "Part in the exposure", "Notifies"),
                tuple((e.name, e.role.label, e.notifies) for e in employers),
            ),
        ),
    )


def _preliminary(preliminary: str, actions: list[str]) -> Section:
    return Section(
        "Immediate preliminary investigation (line 218)",
        paragraphs=(preliminary,),
        bullets=tuple(f"Action taken: {a}" for a in actions),
    )


def _measurements(details: Details, doses: list[IndividualDose]) -> Section:
    tables = tuple(t for t in (_details_table(details), _doses_table(doses)) if t.rows)
    return Section("Measurements", tables=tables)


def notification_view(doc: NotificationDocument | VoluntaryNotificationDocument) -> DocumentView:
    voluntary = isinstance(doc, VoluntaryNotificationDocument)
    title = "IR(ME)R voluntary notification (code V)" if voluntary else "IR(ME)R statutory notification"
    sections = [
        _organisation_section(doc, doc.organisation),
        _incident_section(doc.incident, doc.criterion_facts),
        employers_section(doc.incident),
    ]
    if isinstance(doc, VoluntaryNotificationDocument):
        sections.append(Section("Why it is shared (line 268)", paragraphs=(doc.voluntary_reason,)))
    sections += [
        _preliminary(doc.preliminary_investigation, doc.immediate_actions),
        _measurements(doc.details, doc.individual_doses),
        Section("Summary", paragraphs=(doc.summary,)),
    ]
    return DocumentView(*_header(doc, title), sections=tuple(s for s in sections if _has_content(s)))


def licensing_breach_view(doc: LicensingBreachDocument) -> DocumentView:
    breach = doc.breach
    sections = [
        _organisation_section(doc, doc.organisation),
        Section(
            "Licensing breach (Regulation 5)",
            fields=(
                ("Licence missing", breach.licence_missing.label),
                ("Radioactive substance administered", breach.radioactive_substance),
                ("Purpose of the administration", breach.administration_purpose),
                ("ARSAC Support Unit notified on", breach.arsac_notified_on.isoformat()),
            ),
        ),
        Section("Incident", fields=_incident_fields(doc.incident)),
        employers_section(doc.incident),
        _preliminary(doc.preliminary_investigation, doc.immediate_actions),
        _measurements(doc.details, []),
        Section("Summary", paragraphs=(doc.summary,)),
    ]
    title = "IR(ME)R licensing breach notification"
    return DocumentView(*_header(doc, title), sections=tuple(s for s in sections if _has_content(s)))


def report_view(doc: InvestigationReportDocument) -> DocumentView:
    doses = doc.estimated_doses
    similar = doc.similar_incidents
    confirmation = similar.confirmation
    sections = [
        _organisation_section(doc, doc.organisation),
        _incident_section(doc.incident, doc.criterion_facts),
        employers_section(doc.incident),
        Section(
            "What happened (line 231)",
            paragraphs=tuple(p for p in (doc.what_happened, doc.preliminary_investigation) if p),
        ),
        Section(
            "Estimated doses, intended and unintended (lines 232, 248)",
            fields=(("Estimate", doses.estimate), ("Assessment", doses.assessment)),
            tables=tuple(
                t for t in (_details_table(doses.details), _doses_table(doses.individual_doses)) if t.rows
            ),
        ),
        Section(
            "Root causes and contributory factors (line 233)",
            tables=(
                Table(
                    "causes",
                    "Root causes and contributory factors",
                    ("Kind", "Description"),
                    tuple(("Root cause", c) for c in doc.root_causes)
                    + tuple(("Contributory factor", c) for c in doc.contributory_factors),
                ),
            ),
            paragraphs=() if doc.contributory_factors else ("No contributory factor was found.",),
        ),
        Section(
            "Similar previous incidents and trends (line 234)",
            fields=(
                (
                    "Confirmed by",
                    f"{confirmation.confirmed_by_role} on {confirmation.confirmed_on.isoformat()}"
                    + (" (edited from the proposed text)" if confirmation.edited else ""),
                ),
                ("Possible systematic failure", _yes_no(similar.possible_systematic_failure)),
                (
                    "Searched",
                    f"{similar.searched_from.isoformat()} to {similar.searched_to.isoformat()}; {similar.criteria}",
                ),
            ),
            paragraphs=(confirmation.summary,),
            tables=(
                Table(
                    "similar_incidents",
                    "Similar previous incidents",
                    ("Reference", "Discovered on", "Site", "Modality", "Codes", "Notifiable", "Matched on"),
                    tuple(
                        (
                            i.reference,
                            i.discovered_on.isoformat() if i.discovered_on else "-",
                            i.site,
                            label(Modality(i.modality)) if i.modality in MODALITIES else "-",
                            " ".join(i.codes) or "-",
                            "-" if i.notifiable is None else _yes_no(i.notifiable),
                            " and ".join(i.matched_on),
                        )
                        for i in similar.items
                    ),
                ),
                Table(
                    "similar_by_year",
                    "Similar incidents by year",
                    ("Year", "Count"),
                    tuple((y.year, y.count) for y in similar.by_year),
                ),
            ),
        ),
        Section(
            "Duty of candour (line 235)",
            fields=(("Requirements met", _yes_no(doc.duty_of_candour.answer)),),
            paragraphs=(doc.duty_of_candour.notes,) if doc.duty_of_candour.notes else (),
        ),
        Section(
            "CSAUE procedure, Regulation 8(1), schedule 2(l) (line 236)",
            fields=(("Applied", _yes_no(doc.csaue_procedure.answer)),),
            paragraphs=(doc.csaue_procedure.notes,) if doc.csaue_procedure.notes else (),
        ),
        Section(
            "Learning and how it was shared (line 237)",
            fields=(("Learning", doc.learning.learning), ("How shared", doc.learning.shared_how)),
        ),
        Section(
            "Corrective measures and remedial actions (line 238)",
            tables=(
                Table(
                    "corrective_actions",
                    "Corrective measures and remedial actions",
                    ("Number", "Action"),
                    tuple((n, a) for n, a in enumerate(doc.corrective_actions, start=1)),
                ),
            ),
        ),
        Section(
            "Error category",
            fields=tuple(
                (name, value.label)
                for name, value in (
                    ("Duty holder", doc.error_category.duty_holder),
                    ("Process step", doc.error_category.process_step),
                )
                if value is not None
            ),
        ),
    ]
    if doc.authority_correspondence is not None:
        sections.append(correspondence_section(doc.authority_correspondence))
    title = "IR(ME)R investigation report"
    return DocumentView(*_header(doc, title), sections=tuple(s for s in sections if _has_content(s)))


def _has_content(section: Section) -> bool:
    return bool(section.fields or section.paragraphs or section.bullets or section.tables or section.images)


def legacy_view(content: dict[str, Any]) -> DocumentView:
    """A document issued in an earlier shape, shown as it was sent: its items as fields, its
    lists of records as tables."""
    title = str(content.get("document", "document")).replace("_", " ")
    sections: list[Section] = []
    loose: list[tuple[str, str]] = []
    for key, value in content.items():
        name = key.replace("_", " ").capitalize()
        if isinstance(value, dict):
            sections.append(Section(name, fields=tuple(_flatten(value))))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            headers = tuple(value[0])
            rows = tuple(tuple(_cell(v.get(h)) for h in headers) for v in value)
            sections.append(Section(name, tables=(Table(key, name, headers, rows),)))
        else:
            loose.append((name, _cell(value)))
    return DocumentView(
        f"IR(ME)R {title} (as issued, version {content.get('document_version', 1)})",
        f"Incident {str(content.get('incident_id', ''))[:8]}",
        sections=(Section("Document", fields=tuple(loose)), *sections),
    )


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, item in value.items():
        name = f"{prefix}{key.replace('_', ' ')}"
        if isinstance(item, dict):
            out.extend(_flatten(item, f"{name}: "))
        else:
            out.append((name.capitalize(), _cell(item)))
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, list):
        return (
            "; ".join(
                _cell(v) if not isinstance(v, dict) else ", ".join(map(_cell, v.values())) for v in value
            )
            or "-"
        )
    return str(value)


_CURRENT = {
    ("notification", 2): lambda c: notification_view(NotificationDocument.model_validate(c)),
    ("voluntary_notification", 1): lambda c: notification_view(
        VoluntaryNotificationDocument.model_validate(c)
    ),
    ("licensing_breach_notification", 1): lambda c: licensing_breach_view(
        LicensingBreachDocument.model_validate(c)
    ),
    ("investigation_report", 2): lambda c: report_view(InvestigationReportDocument.model_validate(c)),
}


def view_of(content: dict[str, Any]) -> DocumentView:
    """The view of a stored document (its JSON), whichever kind and version it is."""
    render = _CURRENT.get((content["document"], content.get("document_version", 1)))
    return render(content) if render is not None else legacy_view(content)
