"""Document content models as format-neutral views (``view.DocumentView``)."""

from __future__ import annotations

from typing import Any

from sievert_reporting.domain.correspondence import correspondence_section
from sievert_reporting.domain.documents import (
    Details,
    IncidentSection,
    InvestigationReportDocument,
    NotificationDocument,
)
from sievert_reporting.domain.view import DocumentView, Section, Table


def _incident_fields(incident: IncidentSection) -> tuple[tuple[str, str], ...]:
    return (
        ("Discovered on", incident.discovered_on.isoformat()),
        ("Occurred on", incident.occurred_on.isoformat() if incident.occurred_on else "not known"),
        ("Exposure kind", incident.exposure_kind.replace("_", " ")),
        ("Modality", incident.modality.replace("_", " ")),
        (
            "Individuals affected",
            str(incident.individuals_affected) if incident.individuals_affected is not None else "not known",
        ),
        ("Clinically significant (CSAUE)", "yes" if incident.csaue else "no"),
        ("Other bodies to tell", ", ".join(incident.other_bodies).upper() or "none"),
        ("Ruleset", incident.ruleset),
    )


def _codes_table(incident: IncidentSection) -> Table:
    return Table(
        name="codes",
        caption="Notification codes, with their complementary prefixes",
        headers=("code", "category", "complementary_prefixes", "meaning"),
        rows=tuple(
            (
                c.code,
                c.category,
                "".join(c.complementary_prefixes) or "-",
                "; ".join(c.complementary_meanings),
            )
            for c in incident.notification_codes
        ),
    )


def _details_table(details: Details) -> Table:
    return Table(
        name="details",
        caption=f"Details for {details.modality.replace('_', ' ')} ({details.basis.replace('_', ' ')})",
        headers=("item", "value", "unit"),
        rows=tuple((r.item, r.value, r.unit) for r in details.rows),
    )


def notification_view(doc: NotificationDocument) -> DocumentView:
    return DocumentView(
        title="IR(ME)R statutory notification",
        subtitle=f"To {doc.authority.name} - incident {str(doc.incident_id)[:8]}",
        sections=(
            Section(
                "Organisation",
                fields=(
                    ("Trust", doc.organisation.trust),
                    ("Site", doc.organisation.site),
                    ("Nation", doc.organisation.nation.replace("_", " ")),
                ),
            ),
            Section("Contact", fields=(("Contact role", doc.contact.role),)),
            Section("Incident", fields=_incident_fields(doc.incident), tables=(_codes_table(doc.incident),)),
            Section("Details", tables=(_details_table(doc.details),)),
            Section("Summary", paragraphs=(doc.summary,)),
        ),
    )


def report_view(doc: InvestigationReportDocument) -> DocumentView:
    doses = doc.estimated_doses
    similar = doc.similar_incidents
    return DocumentView(
        title="IR(ME)R investigation report",
        subtitle=f"To {doc.authority.name} - incident {str(doc.incident_id)[:8]}",
        sections=(
            Section(
                "Organisation and contact",
                fields=(
                    ("Trust", doc.organisation.trust),
                    ("Site", doc.organisation.site),
                    ("Contact role", doc.contact.role),
                ),
            ),
            Section("Incident", fields=_incident_fields(doc.incident), tables=(_codes_table(doc.incident),)),
            Section("What happened", paragraphs=(doc.what_happened,)),
            Section(
                "Estimated doses, intended and unintended",
                fields=tuple(
                    (label, f"{value:g}{unit}" if value is not None else "not known")
                    for label, value, unit in (
                        ("Intended effective dose", doses.intended_effective_dose_msv, " mSv"),
                        ("Received effective dose", doses.received_effective_dose_msv, " mSv"),
                        ("Unintended effective dose", doses.unintended_effective_dose_msv, " mSv"),
                        ("Multiplication factor", doses.multiplication_factor, "x"),
                    )
                ),
                paragraphs=(doses.assessment,) if doses.assessment else (),
                tables=(_details_table(doses.details),),
            ),
            Section(
                "Root causes and contributory factors",
                tables=(
                    Table(
                        "causes",
                        "Root causes and contributory factors",
                        ("kind", "description"),
                        tuple(("root cause", c) for c in doc.root_causes)
                        + tuple(("contributory factor", c) for c in doc.contributory_factors),
                    ),
                ),
            ),
            Section(
                "Similar previous incidents and trends",
                fields=(
                    ("Searched", f"{similar.searched_from.isoformat()} to {similar.searched_to.isoformat()}"),
                    ("Criteria", similar.criteria),
                    ("Possible systematic failure", "yes" if similar.possible_systematic_failure else "no"),
                ),
                paragraphs=(similar.reading,),
                tables=(
                    Table(
                        "similar_incidents",
                        "Similar previous incidents",
                        (
                            "reference",
                            "discovered_on",
                            "site",
                            "modality",
                            "codes",
                            "notifiable",
                            "matched_on",
                        ),
                        tuple(
                            (
                                i.reference,
                                i.discovered_on.isoformat() if i.discovered_on else None,
                                i.site,
                                i.modality,
                                " ".join(i.codes),
                                i.notifiable,
                                " ".join(i.matched_on),
                            )
                            for i in similar.items
                        ),
                    ),
                    Table(
                        "similar_by_year",
                        "Similar incidents by year",
                        ("year", "count"),
                        tuple((y.year, y.count) for y in similar.by_year),
                    ),
                ),
            ),
            Section(
                "Duty of candour",
                fields=(("Met", "yes" if doc.duty_of_candour.answer else "no"),),
                paragraphs=(doc.duty_of_candour.notes,) if doc.duty_of_candour.notes else (),
            ),
            Section(
                "CSAUE procedure (Regulation 8(1), schedule 2(l))",
                fields=(("Applied", "yes" if doc.csaue_procedure.answer else "no"),),
                paragraphs=(doc.csaue_procedure.notes,) if doc.csaue_procedure.notes else (),
            ),
            Section(
                "Learning and how it was shared",
                fields=(("Learning", doc.learning.learning), ("How shared", doc.learning.shared_how)),
            ),
            Section(
                "Corrective actions",
                tables=(
                    Table(
                        "corrective_actions",
                        "Corrective measures and remedial actions",
                        ("number", "action"),
                        tuple((n, a) for n, a in enumerate(doc.corrective_actions, start=1)),
                    ),
                ),
            ),
            Section(
                "Error category",
                fields=(
                    ("Duty holder", (doc.error_category.duty_holder or "not recorded").replace("_", " ")),
                    ("Process step", (doc.error_category.process_step or "not recorded").replace("_", " ")),
                ),
            ),
            *(
                (correspondence_section(doc.authority_correspondence),)
                if doc.authority_correspondence is not None
                else ()
            ),
        ),
    )


def view_of(content: dict[str, Any]) -> DocumentView:
    """The view of a stored document (its JSON), whichever kind it is."""
    if content["document"] == "notification":
        return notification_view(NotificationDocument.model_validate(content))
    return report_view(InvestigationReportDocument.model_validate(content))
