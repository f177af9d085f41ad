"""An incident's case as a person reads it: open, withdrawal requested, or closed and kept until
when; and its local investigation (Regulation 8(3), guidance lines 223-227).

Input is the ``case`` block of deadlines' ``GET /v1/incidents/{id}/deadlines`` (the deadlines
service keeps every clock of a case, so it decides when one is closed, docs/deadlines.md "The
case") and reporting's ``GET /v1/incidents/{id}/local-investigation``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sievert_console.domain.coding import coding_body, recorded_category
from sievert_console.domain.labels import CASE_STATUSES, CLOSURE_BASES, label


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


@dataclass(frozen=True)
class Withdrawal:
    authority: str | None
    requested_reason: str | None
    agreed_on: dt.date | None
    authority_reference: str | None

    @property
    def agreed(self) -> bool:
        return self.agreed_on is not None


@dataclass(frozen=True)
class Case:
    status: str
    version: int
    decision_status: str | None
    needs_facts_for_notification: tuple[str, ...]
    withdrawal: Withdrawal | None
    local_investigation_closed_on: dt.date | None
    open_authority_queries: int
    closed_on: dt.date | None
    basis: str | None
    retain_until: dt.date | None

    @classmethod
    def from_api(cls, case: Mapping[str, Any]) -> Case:
        withdrawal = case.get("withdrawal")
        return cls(
            status=str(case.get("status") or "open"),
            version=int(case.get("version") or 0),
            decision_status=case.get("decision_status"),
            needs_facts_for_notification=tuple(case.get("needs_facts_for_notification") or ()),
            withdrawal=None
            if not withdrawal
            else Withdrawal(
                authority=withdrawal.get("authority"),
                requested_reason=withdrawal.get("requested_reason"),
                agreed_on=_day(withdrawal.get("agreed_on")),
                authority_reference=withdrawal.get("authority_reference"),
            ),
            local_investigation_closed_on=_day(case.get("local_investigation_closed_on")),
            open_authority_queries=int(case.get("open_authority_queries") or 0),
            closed_on=_day(case.get("closed_on")),
            basis=case.get("basis"),
            retain_until=_day(case.get("retain_until")),
        )

    @property
    def status_label(self) -> str:
        return label(CASE_STATUSES, self.status)

    @property
    def basis_label(self) -> str:
        return label(CLOSURE_BASES, self.basis) if self.basis else ""

    @property
    def awaits_withdrawal_agreement(self) -> bool:
        """A notification was made, the incident is no longer notifiable, and its report stays due
        until the authority agrees to withdraw it (lines 116-118, 221)."""
        return self.status == "withdrawal_requested" and (
            self.withdrawal is None or not self.withdrawal.agreed
        )


@dataclass(frozen=True)
class Investigation:
    owner_role: str | None
    status: str
    version: int
    findings: str | None
    duty_holder: str | None
    process_step: str | None
    corrective_actions: tuple[str, ...]
    closed_on: dt.date | None
    closed_by_role: str | None
    history: tuple[Mapping[str, Any], ...]
    #: CQC's tiers as recorded: ``duty_holder/pathway_point[/what_went_wrong]`` (None: not coded)
    error_category: str | None = None
    error_category_version: str | None = None
    #: the RTE coding as recorded (reporting's ``radiotherapy_event``), None outside radiotherapy
    radiotherapy_event: Mapping[str, Any] | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Investigation:
        cause = data.get("cause") or {}
        return cls(
            owner_role=data.get("owner_role"),
            status=str(data.get("status") or "open"),
            version=int(data.get("version") or 0),
            findings=data.get("findings"),
            duty_holder=cause.get("duty_holder"),
            process_step=cause.get("process_step"),
            corrective_actions=tuple(str(a) for a in data.get("corrective_actions") or ()),
            closed_on=_day(data.get("closed_on")),
            closed_by_role=data.get("closed_by_role"),
            history=tuple(data.get("history") or ()),
            error_category=recorded_category(data.get("error_category")),
            error_category_version=(data.get("error_category") or {}).get("taxonomy_version"),
            radiotherapy_event=data.get("radiotherapy_event") or None,
        )

    @property
    def closed(self) -> bool:
        return self.status == "closed"


def close_out_body(
    form: Mapping[str, str], closed_by_role: str, code_lists: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """The close-out form as reporting's ``POST …/local-investigation/close`` takes it, with its
    codings (``coding.coding_body``; ``code_lists``: each RTE list's ticked codes). Values are
    sent as typed (a blank findings, an impossible date): reporting names the field it refuses."""
    actions = [line.strip() for line in form.get("corrective_actions", "").splitlines() if line.strip()]
    body: dict[str, Any] = {
        "closed_on": form.get("closed_on", "").strip(),
        "findings": form.get("findings", ""),
        "closed_by_role": closed_by_role,
        "corrective_actions": actions,
        "expected_version": _version(form),
    }
    for name in ("error_duty_holder", "error_process_step"):
        if form.get(name):
            body[name] = form[name]
    return {**body, **coding_body(form, code_lists or {})}


def _version(form: Mapping[str, str]) -> int:
    try:
        return int(form.get("expected_version") or 0)
    except ValueError:
        return 0


def errors_by_field(
    errors: list[dict[str, Any]], fields: tuple[str, ...]
) -> tuple[dict[str, str], list[str]]:
    """A service's 422 ``errors`` ({path: 'body/<field>…', message}) per form field, and the ones
    that name none of them. A path written with dots ('body.agreed_on', as the deadlines
    service's withdrawal refusal writes it) is read the same."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for error in errors:
        path = [p for p in re.split(r"[/.]", str(error.get("path", ""))) if p]
        message = str(error.get("message", "invalid"))
        name = path[1] if len(path) >= 2 and path[0] == "body" else None
        if name in fields:
            assert name is not None
            by_field[name] = f"{by_field[name]}; {message}" if name in by_field else message
        else:
            general.append(f"{'/'.join(path) or 'request'}: {message}")
    return by_field, general
