"""How one incident's case reads in ``GET /v1/incidents/{id}/deadlines`` and the withdrawal
route's answer."""

from __future__ import annotations

from typing import Any

from sievert_deadlines.domain import IncidentDeadlines


def case_view(deadlines: IncidentDeadlines) -> dict[str, Any]:
    case = deadlines.case
    withdrawal = case.withdrawal
    return {
        "status": case.status.value,
        "version": deadlines.version,
        "decision_status": deadlines.status.value,
        "needs_facts_for_notification": list(deadlines.needs_facts),
        "theme_identified_on": _day(deadlines.theme_identified_on),
        "withdrawal": None
        if withdrawal is None
        else {
            "authority": withdrawal.authority,
            "requested_reason": withdrawal.requested_reason,
            "agreed_on": _day(withdrawal.agreed_on),
            "authority_reference": withdrawal.authority_reference,
            "recorded_by_role": withdrawal.recorded_by_role,
        },
        "local_investigation_closed_on": _day(case.local_closed_on),
        "authority_closed_on": _day(case.authority_closed_on),
        "open_authority_queries": len(case.open_queries),
        "closed_on": _day(case.closed_on),
        "basis": case.basis.value if case.basis else None,
        "retain_until": _day(case.retain_until),
    }


def _day(day: Any) -> str | None:
    return None if day is None else str(day.isoformat())
