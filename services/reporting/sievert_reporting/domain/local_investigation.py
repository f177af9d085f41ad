"""The local investigation as a record (Regulation 8(3), guidance lines 223-227): who owns it (a
role, never a name), its close-out with what it found, the cause in the error taxonomy the reports
use, and what was done, and its reopening. Pure.

"There must be a record of the investigations and what they found ... regardless of whether an
incident needs to be notified" (lines 225-227): every incident has one, open until closed.

The commands decide (``assign_owner``, ``close``, ``reopen``): an event, None for a repeat of what
is already recorded (the same answer, no second event), or a refusal. ``apply`` is the projection's
rule, the one the live consumer and a replay both apply. ``version`` counts the investigation's
events: the ``expected_version`` of the next command (optimistic concurrency, as intake's
amendments), so of two people closing at once one wins and the other gets 409 with the version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sievert_reporting.domain.taxonomy import (
    ErrorCategoryInput,
    IncidentBasis,
    RadiotherapyEventInput,
    Taxonomies,
    TaxonomyCodeError,
    check_error_category,
    code_radiotherapy_event,
)
from sievert_shared.errors import ConflictError, UnprocessableError
from sievert_shared.events import (
    ErrorCategory,
    LocalInvestigationClosed,
    LocalInvestigationOwnerAssigned,
    LocalInvestigationReopened,
    RadiotherapyEventCoding,
)
from sievert_shared.events.reporting import DutyHolder, ProcessStep

InvestigationEvent = LocalInvestigationOwnerAssigned | LocalInvestigationClosed | LocalInvestigationReopened

#: A close-out may be dated tomorrow at most: a trust a time zone ahead of the server's UTC day.
FUTURE_ALLOWANCE = dt.timedelta(days=1)


@dataclass(frozen=True)
class LocalInvestigation:
    owner_role: str | None = None
    status: Literal["open", "closed"] = "open"
    version: int = 0
    closed_on: dt.date | None = None
    closed_by_role: str | None = None
    findings: str | None = None
    error_duty_holder: str | None = None
    error_process_step: str | None = None
    corrective_actions: tuple[str, ...] = ()
    #: CQC's three tiers and the national radiotherapy event coding (``domain.taxonomy``)
    error_category: ErrorCategory | None = None
    radiotherapy_event: RadiotherapyEventCoding | None = None
    #: every event applied, oldest first, as the API shows it
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class CloseOut:
    """What a person records to close the investigation."""

    closed_on: dt.date
    findings: str
    closed_by_role: str
    expected_version: int
    owner_role: str | None = None
    error_duty_holder: DutyHolder | None = None
    error_process_step: ProcessStep | None = None
    corrective_actions: tuple[str, ...] = ()
    error_category: ErrorCategoryInput | None = None
    radiotherapy_event: RadiotherapyEventInput | None = None


class InvestigationVersionError(ConflictError):
    title = "Version conflict"

    def __init__(self, detail: str, current_version: int) -> None:
        super().__init__(
            f"{detail}; re-read it and send expected_version={current_version}",
            current_version=current_version,
        )


def _field_error(path: str, message: str) -> dict[str, str]:
    return {"path": f"body/{path}", "message": message}


def _refuse(errors: list[dict[str, str]]) -> None:
    if errors:
        raise UnprocessableError(
            f"{len(errors)} field(s) are invalid; nothing was stored",
            errors=errors,
        )


def _check_version(state: LocalInvestigation, expected: int | None, doing: str) -> None:
    if expected is not None and expected != state.version:
        raise InvestigationVersionError(
            f"cannot {doing}: the investigation is at version {state.version}, not {expected}", state.version
        )


def assign_owner(
    state: LocalInvestigation,
    *,
    owner_role: str,
    assigned_by_role: str,
    expected_version: int | None,
    today: dt.date,
) -> LocalInvestigationOwnerAssigned | None:
    """Assign the investigation to a role, or change it. The same owner again changes nothing."""
    if state.owner_role == owner_role:
        return None
    _check_version(state, expected_version, "change the owner")
    return LocalInvestigationOwnerAssigned(
        owner_role=owner_role, assigned_by_role=assigned_by_role, assigned_on=today
    )


def _same_close(
    state: LocalInvestigation,
    command: CloseOut,
    category: ErrorCategory | None,
    coding: RadiotherapyEventCoding | None,
) -> bool:
    return (
        state.status == "closed"
        and state.closed_on == command.closed_on
        and state.findings == command.findings.strip()
        and state.closed_by_role == command.closed_by_role
        and (command.owner_role is None or state.owner_role == command.owner_role)
        and state.error_duty_holder == _value(command.error_duty_holder)
        and state.error_process_step == _value(command.error_process_step)
        and state.corrective_actions == command.corrective_actions
        and state.error_category == category
        and state.radiotherapy_event == coding
    )


def close(
    state: LocalInvestigation,
    command: CloseOut,
    *,
    incident: IncidentBasis,
    today: dt.date,
    taxonomies: Taxonomies,
) -> LocalInvestigationClosed | None:
    """Close the investigation (lines 223-227). None: this very close-out is recorded already.

    Refused (422, naming the field) without findings, dated before the incident was discovered
    (nothing can be investigated before it is known) or later than tomorrow, or with a taxonomy
    code the version in force on the discovery day does not hold (a radiotherapy incident also
    needs its RTE level where it cannot be derived: ``domain.taxonomy``); refused (409, with the
    current version) against a version that moved on or when it is closed already."""
    discovered_on = incident.discovered_on
    errors: list[dict[str, str]] = []
    category = _coded(
        errors,
        lambda: (
            None
            if command.error_category is None
            else check_error_category(taxonomies, discovered_on, command.error_category)
        ),
    )
    coding = _coded(errors, lambda: code_radiotherapy_event(taxonomies, incident, command.radiotherapy_event))
    if not errors and _same_close(state, command, category, coding):
        return None
    if not command.findings.strip():
        errors.append(_field_error("findings", "the investigation's findings are required to close it"))
    if command.closed_on < discovered_on:
        errors.append(
            _field_error(
                "closed_on", f"{command.closed_on} is before the incident was discovered ({discovered_on})"
            )
        )
    if command.closed_on > today + FUTURE_ALLOWANCE:
        errors.append(_field_error("closed_on", f"{command.closed_on} is in the future (today is {today})"))
    _refuse(errors)
    _check_version(state, command.expected_version, "close the investigation")
    if state.status == "closed":
        raise InvestigationVersionError(
            f"the investigation was closed on {state.closed_on} by {state.closed_by_role}; reopen it first",
            state.version,
        )
    return LocalInvestigationClosed(
        owner_role=command.owner_role or state.owner_role or command.closed_by_role,
        closed_by_role=command.closed_by_role,
        closed_on=command.closed_on,
        findings=command.findings.strip(),
        error_duty_holder=command.error_duty_holder,
        error_process_step=command.error_process_step,
        corrective_actions=list(command.corrective_actions),
        error_category=category,
        radiotherapy_event=coding,
    )


def reopen(
    state: LocalInvestigation,
    *,
    reason: str,
    reopened_by_role: str,
    expected_version: int,
    today: dt.date,
) -> LocalInvestigationReopened | None:
    """Open a closed investigation again, with the reason. None: it was just reopened for this
    reason (a repeat)."""
    last = state.history[-1] if state.history else None
    if (
        state.status == "open"
        and last is not None
        and last["event"] == "reopened"
        and last["reason"] == reason.strip()
        and last["by_role"] == reopened_by_role
    ):
        return None
    if not reason.strip():
        _refuse([_field_error("reason", "say why the investigation is reopened")])
    _check_version(state, expected_version, "reopen the investigation")
    if state.status != "closed":
        raise InvestigationVersionError(
            "the investigation is open; only a closed one is reopened", state.version
        )
    return LocalInvestigationReopened(
        reopened_by_role=reopened_by_role, reopened_on=today, reason=reason.strip()
    )


def apply(
    state: LocalInvestigation, event: InvestigationEvent, recorded_at: dt.datetime
) -> LocalInvestigation:
    """The investigation after ``event`` (the projection's rule)."""
    at = recorded_at.isoformat()
    version = state.version + 1
    if isinstance(event, LocalInvestigationOwnerAssigned):
        entry = {
            "event": "owner_assigned",
            "on": event.assigned_on.isoformat(),
            "by_role": event.assigned_by_role,
            "owner_role": event.owner_role,
            "recorded_at": at,
        }
        return dataclasses.replace(
            state, owner_role=event.owner_role, version=version, history=(*state.history, entry)
        )
    if isinstance(event, LocalInvestigationClosed):
        entry = {
            "event": "closed",
            "on": event.closed_on.isoformat(),
            "by_role": event.closed_by_role,
            "owner_role": event.owner_role,
            "recorded_at": at,
        }
        return dataclasses.replace(
            state,
            owner_role=event.owner_role,
            status="closed",
            version=version,
            closed_on=event.closed_on,
            closed_by_role=event.closed_by_role,
            findings=event.findings,
            error_duty_holder=_value(event.error_duty_holder),
            error_process_step=_value(event.error_process_step),
            corrective_actions=tuple(event.corrective_actions),
            error_category=event.error_category,
            radiotherapy_event=event.radiotherapy_event,
            history=(*state.history, entry),
        )
    entry = {
        "event": "reopened",
        "on": event.reopened_on.isoformat(),
        "by_role": event.reopened_by_role,
        "reason": event.reason,
        "recorded_at": at,
    }
    # the findings of the close-out stay on record (line 225) until the next close replaces them
    return dataclasses.replace(state, status="open", version=version, history=(*state.history, entry))


def view(state: LocalInvestigation) -> dict[str, Any]:
    return {
        "owner_role": state.owner_role,
        "status": state.status,
        "version": state.version,
        "findings": state.findings,
        "cause": {"duty_holder": state.error_duty_holder, "process_step": state.error_process_step},
        "corrective_actions": list(state.corrective_actions),
        "error_category": None if state.error_category is None else state.error_category.model_dump(),
        "radiotherapy_event": (
            None if state.radiotherapy_event is None else state.radiotherapy_event.model_dump()
        ),
        "closed_on": state.closed_on.isoformat() if state.closed_on else None,
        "closed_by_role": state.closed_by_role,
        "history": list(state.history),
    }


_Coded = TypeVar("_Coded", ErrorCategory, RadiotherapyEventCoding)


def _coded(errors: list[dict[str, str]], code: Callable[[], _Coded | None]) -> _Coded | None:
    """The coding ``code`` gives, or None with its refusals added to ``errors``, so a close-out
    is refused once with every field that is wrong."""
    try:
        return code()
    except TaxonomyCodeError as refused:
        errors.extend(refused.extra["errors"])
        return None


def _value(item: DutyHolder | ProcessStep | None) -> str | None:
    return None if item is None else item.value
